/* The sandbox users are nobody on the host: the check against the host's users, groups and
 * subordinate id ranges, on fake databases. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/policy.h"

/* The fake host: users alice (1000) and nobody (65534), groups alice (1000) and nogroup
 * (65534); uid 4242 cannot be looked up (a broken NSS module). */
static int fake_user(uint32_t uid, char *name, size_t size)
{
        if (uid == 4242)
                return -EIO;
        if (uid == 1000 || uid == 65534) {
                snprintf(name, size, "%s", uid == 1000 ? "alice" : "nobody");
                return 1;
        }
        return 0;
}

static int fake_group(uint32_t gid, char *name, size_t size)
{
        if (gid == 1000 || gid == 65534) {
                snprintf(name, size, "%s", gid == 1000 ? "alice" : "nogroup");
                return 1;
        }
        return 0;
}

static char subuid[64], subgid[64];

static void write_file(char *path, const char *text)
{
        int fd;

        strcpy(path, "/tmp/airlock-subids-XXXXXX");
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static void setup(void)
{
        write_file(subuid, "# comment\nalice:100000:65536\nbroken line\nbob:300000:10\n");
        write_file(subgid, "alice:100000:65536\n");
}

static void teardown(void)
{
        unlink(subuid);
        unlink(subgid);
}

static const struct policy_id_db *db(void)
{
        static struct policy_id_db d;

        d = (struct policy_id_db){fake_user, fake_group, subuid, subgid};
        return &d;
}

/* Check settings text; returns the result, err filled. */
static int check(const char *text, struct al_error *err)
{
        struct policy *p = NULL;
        int r;

        ck_assert_int_eq(policy_parse(text, "t.conf", &p, NULL, err), 0);
        r = policy_check_host_ids(p, db(), err);
        policy_unref(p);
        return r;
}

START_TEST(test_defaults_are_nobody)
{
        struct policy *p = policy_new_default();
        struct al_error err = {0};

        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(policy_check_host_ids(p, db(), &err), 0);
        /* Above useradd's subordinate ranges and below 2^31 (signed 32-bit tools). */
        ck_assert_uint_gt(p->exec_uid, 600100000u);
        ck_assert_uint_lt(p->keeper_uid, 2147483648u);
        policy_unref(p);
}
END_TEST

START_TEST(test_host_user_refused)
{
        struct al_error err = {0};

        ck_assert_int_eq(check("[sandbox]\nexec_user = 1000:2000100000\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "exec_user"));
        ck_assert_ptr_nonnull(strstr(err.msg, "uid 1000 is the host's user 'alice'"));
        ck_assert_int_eq(check("[sandbox]\nkeeper_user = 65534:65534\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(
            strstr(err.msg, "keeper_user: uid 65534 is the host's user 'nobody'"));
}
END_TEST

START_TEST(test_host_group_refused)
{
        struct al_error err = {0};

        ck_assert_int_eq(check("[sandbox]\nexec_user = 2000100000:1000\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "gid 1000 is the host's group 'alice'"));
}
END_TEST

START_TEST(test_subordinate_ranges_refused)
{
        struct al_error err = {0};

        ck_assert_int_eq(check("[sandbox]\nexec_user = 100000:2000100000\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "range 100000-165535"));
        ck_assert_ptr_nonnull(strstr(err.msg, "'alice'"));
        ck_assert_int_eq(check("[sandbox]\nexec_user = 300009:2000100000\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "'bob'"));
        /* Just past the ends. */
        ck_assert_int_eq(check("[sandbox]\nexec_user = 165536:165536\n", &err), 0);
        ck_assert_int_eq(check("[sandbox]\nexec_user = 300010:300010\n", &err), 0);
        ck_assert_int_eq(check("[sandbox]\nexec_user = 99999:99999\n", &err), 0);
        /* gids are checked against /etc/subgid. */
        ck_assert_int_eq(check("[sandbox]\nkeeper_user = 2000100001:120000\n", &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "keeper_user: gid 120000"));
}
END_TEST

START_TEST(test_missing_subid_files)
{
        struct policy *p = policy_new_default();
        struct policy_id_db d = {fake_user, fake_group, "/nonexistent/subuid",
                                 "/nonexistent/subgid"};
        struct al_error err = {0};

        ck_assert_int_eq(policy_check_host_ids(p, &d, &err), 0);
        policy_unref(p);
}
END_TEST

START_TEST(test_same_uid_refused)
{
        struct al_error err = {0};

        ck_assert_int_eq(check("[sandbox]\nexec_user = 2000100000:2000100000\n"
                               "keeper_user = 2000100000:2000100001\n",
                               &err),
                         -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "share uid 2000100000"));
}
END_TEST

START_TEST(test_lookup_failure_refused)
{
        struct al_error err = {0};

        ck_assert_int_eq(check("[sandbox]\nexec_user = 4242:4242\n", &err), -EIO);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot check whether uid 4242"));
}
END_TEST

START_TEST(test_system_databases)
{
        /* The real databases (NSS): root is on every host. The parser refuses uid 0, so the
         * policy is made by hand. */
        struct policy *p = policy_new_default();
        struct al_error err = {0};

        ck_assert_ptr_nonnull(p);
        p->keeper_uid = 0; /* root: always a host user */
        ck_assert_int_eq(policy_check_host_ids(p, NULL, &err), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err.msg, "uid 0 is the host's user 'root'"));
        policy_unref(p);
}
END_TEST

static Suite *hostids_suite(void)
{
        Suite *s = suite_create("hostids");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults_are_nobody);
        tcase_add_test(tc, test_host_user_refused);
        tcase_add_test(tc, test_host_group_refused);
        tcase_add_test(tc, test_subordinate_ranges_refused);
        tcase_add_test(tc, test_missing_subid_files);
        tcase_add_test(tc, test_same_uid_refused);
        tcase_add_test(tc, test_lookup_failure_refused);
        tcase_add_test(tc, test_system_databases);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(hostids_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
