/* Host backend settings: safe defaults, toggle words, and a backend that refuses to start on
 * settings that would weaken it (root, a deny-list that does not load). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/host_backend.h"

START_TEST(test_defaults)
{
        struct host_options o;

        memset(&o, 0xa5, sizeof(o));
        host_options_default(&o);
        ck_assert_str_eq(o.user, "nobody");
        ck_assert_ptr_nonnull(o.seccomp_deny);
        ck_assert(strstr(o.seccomp_deny, "host-seccomp.deny"));
        ck_assert(o.no_new_privs);
        ck_assert(o.drop_capabilities);
        ck_assert_int_eq(o.network_namespace, HOST_AUTO);
        ck_assert_int_eq(o.mount_namespace, HOST_AUTO);
        ck_assert_int_eq(o.pid_namespace, HOST_AUTO);
        ck_assert_int_eq(o.ipc_namespace, HOST_AUTO);
        ck_assert_int_eq(o.cgroup, HOST_AUTO);
        ck_assert(o.read_only_root);
        ck_assert(o.private_tmp);
        ck_assert(o.mount_proc);
        ck_assert_str_eq(o.cgroup_parent, "airlock");
        ck_assert_int_eq(o.prestart, 4);
        ck_assert_int_eq(o.rlimit_cpu_s, HOST_RLIMIT_AUTO);
        ck_assert_int_eq(o.rlimit_as_mb, HOST_RLIMIT_AUTO);
        ck_assert_int_eq(o.rlimit_fsize_mb, HOST_RLIMIT_AUTO);
        ck_assert_int_eq(o.rlimit_nofile, 1024);
        ck_assert_int_eq(o.rlimit_nproc, HOST_RLIMIT_AUTO);
        ck_assert_ptr_null(o.workspace_root);
        ck_assert_ptr_null(o.hide_paths[0]);
        ck_assert_str_eq(o.default_path, "/usr/local/bin:/usr/bin:/bin");
}
END_TEST

START_TEST(test_toggle)
{
        static const struct {
                const char *s;
                enum host_toggle t;
        } ok[] = {
            {"auto", HOST_AUTO},     {"required", HOST_REQUIRED},
            {"true", HOST_REQUIRED}, {"yes", HOST_REQUIRED},
            {"on", HOST_REQUIRED},   {"off", HOST_OFF},
            {"false", HOST_OFF},     {"no", HOST_OFF},
        };
        enum host_toggle t;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ck_assert_int_eq(host_toggle_parse(ok[i].s, &t), 0);
                ck_assert_int_eq(t, ok[i].t);
        }
        ck_assert_int_eq(host_toggle_parse("maybe", &t), -EINVAL);
        ck_assert_int_eq(host_toggle_parse("", &t), -EINVAL);
        ck_assert_int_eq(host_toggle_parse(NULL, &t), -EINVAL);
        ck_assert_str_eq(host_toggle_name(HOST_AUTO), "auto");
        ck_assert_str_eq(host_toggle_name(HOST_REQUIRED), "required");
        ck_assert_str_eq(host_toggle_name(HOST_OFF), "off");
}
END_TEST

static const struct {
        const char *user;
        const char *msg;
} bad_users[] = {
    {"root", "is root"},
    {"0:0", "is root"},
    {"1000:0", "is root"},
    {"0:1000", "is root"},
    {"no-such-user-airlock", "does not exist"},
    {"12:x", "not uid:gid"},
    {"", "empty"},
};

START_TEST(test_refuses_user)
{
        struct host_options o;
        struct al_error err = {0};
        struct backend *b;

        host_options_default(&o);
        o.user = bad_users[_i].user;
        b = host_backend_new(&o, &err);
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(err.msg, bad_users[_i].msg), "'%s': %s", bad_users[_i].user, err.msg);
}
END_TEST

START_TEST(test_refuses_bad_deny_list)
{
        char path[] = "/tmp/airlock-deny-XXXXXX";
        struct host_options o;
        struct al_error err = {0};
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "mount\nnot_a_syscall\n", 20), 20);
        close(fd);
        host_options_default(&o);
        o.seccomp_deny = path;
        ck_assert_ptr_null(host_backend_new(&o, &err));
        ck_assert_msg(strstr(err.msg, ":2: unknown syscall 'not_a_syscall'"), "%s", err.msg);
        unlink(path);
        o.seccomp_deny = "/nonexistent/host-seccomp.deny";
        ck_assert_ptr_null(host_backend_new(&o, &err));
        ck_assert_int_eq(err.code, -ENOENT);
}
END_TEST

static Suite *host_options_suite(void)
{
        Suite *s = suite_create("host_options");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_toggle);
        tcase_add_loop_test(tc, test_refuses_user, 0,
                            (int)(sizeof(bad_users) / sizeof(bad_users[0])));
        tcase_add_test(tc, test_refuses_bad_deny_list);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(host_options_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
