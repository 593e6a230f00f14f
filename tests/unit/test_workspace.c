/* The workspace cap's pure logic: what a size change asks of the image, and reading the
 * mount table. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/workspace.h"

START_TEST(test_size_plan)
{
        ck_assert_int_eq(workspace_size_plan(0, 32), 1);
        ck_assert_int_eq(workspace_size_plan(32LL << 20, 32), 0);
        ck_assert_int_eq(workspace_size_plan(32LL << 20, 48), 1);
        ck_assert_int_eq(workspace_size_plan(48LL << 20, 32), -1);
        /* A size that is not whole MiB (an image grown by hand) is no match. */
        ck_assert_int_eq(workspace_size_plan((32LL << 20) + 4096, 32), -1);
        /* The largest setting, 16 TiB, does not overflow. */
        ck_assert_int_eq(workspace_size_plan(1LL << 40, 16777216), 1);
}
END_TEST

START_TEST(test_mountinfo_line)
{
        char mnt[64], dev[16];

        ck_assert_int_eq(workspace_mountinfo_line("36 35 7:3 / /var/lib/airlock/workspaces/a "
                                                  "rw,nosuid,nodev,relatime - ext4 /dev/loop3 rw\n",
                                                  mnt, sizeof(mnt), dev, sizeof(dev)),
                         0);
        ck_assert_str_eq(mnt, "/var/lib/airlock/workspaces/a");
        ck_assert_str_eq(dev, "7:3");
        /* Spaces, tabs and backslashes in a path come escaped in octal. */
        ck_assert_int_eq(workspace_mountinfo_line("1 2 7:12 / /ws/my\\040agent\\134x\\011y rw - "
                                                  "ext4 /dev/loop12 rw",
                                                  mnt, sizeof(mnt), dev, sizeof(dev)),
                         0);
        ck_assert_str_eq(mnt, "/ws/my agent\\x\ty");
        ck_assert_str_eq(dev, "7:12");
        /* A backslash not followed by three octal digits is itself. */
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 7:1 / /a\\9 rw", mnt, sizeof(mnt), dev, sizeof(dev)), 0);
        ck_assert_str_eq(mnt, "/a\\9");
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 7:1 / /a\\04", mnt, sizeof(mnt), dev, sizeof(dev)), 0);
        ck_assert_str_eq(mnt, "/a\\04");
        /* Not a line of the table. */
        ck_assert_int_eq(workspace_mountinfo_line("", mnt, sizeof(mnt), dev, sizeof(dev)), -EINVAL);
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 7:1 /\n", mnt, sizeof(mnt), dev, sizeof(dev)), -EINVAL);
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 73 / /x rw", mnt, sizeof(mnt), dev, sizeof(dev)),
            -EINVAL);
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 7:1 / relative rw", mnt, sizeof(mnt), dev, sizeof(dev)),
            -EINVAL);
        /* Too long for the buffers: refused, never cut. */
        ck_assert_int_eq(workspace_mountinfo_line("1 2 7:1 / /a/very/long/path/indeed rw", mnt, 8,
                                                  dev, sizeof(dev)),
                         -ENAMETOOLONG);
        ck_assert_int_eq(
            workspace_mountinfo_line("1 2 7:1234567890123 / /x rw", mnt, sizeof(mnt), dev, 8),
            -EINVAL);
}
END_TEST

START_TEST(test_no_set_is_plain_directory)
{
        /* Without a set (no images directory) prepare makes the plain directory. */
        struct al_error err = {0};
        char tmpl[] = "/tmp/airlock-ws-XXXXXX", *root = mkdtemp(tmpl), *path = NULL;

        ck_assert_ptr_nonnull(root);
        ck_assert_int_eq(
            workspace_set_prepare(NULL, root, "a", getuid(), getgid(), 32, &path, &err), 0);
        ck_assert_ptr_nonnull(strstr(path, "/a"));
        ck_assert_int_eq(rmdir(path), 0);
        ck_assert_int_eq(rmdir(root), 0);
        ck_assert_int_eq(workspace_set_prepare(NULL, "/tmp", "../x", 0, 0, 32, &path, &err),
                         -EINVAL);
        free(path);
}
END_TEST

static Suite *workspace_suite(void)
{
        Suite *s = suite_create("workspace");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_size_plan);
        tcase_add_test(tc, test_mountinfo_line);
        tcase_add_test(tc, test_no_set_is_plain_directory);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(workspace_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
