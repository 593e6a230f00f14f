/* What the host backend checks before it forks: argv, env (no loader variables, no PATH into
 * the daemon's directories), the working directory, and how argv[0] is looked up. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/exec.h"
#include "airlock/util.h"
#include "backend/host/host_launch.h"
#include "backend/host/host_validate.h"

START_TEST(test_normalize)
{
        static const struct {
                const char *in, *out;
        } ok[] = {
            {"/", "/"},         {"//", "/"},          {"/a/b", "/a/b"},
            {"/a//b/", "/a/b"}, {"/a/./b/.", "/a/b"}, {"/./", "/"},
        };
        struct al_error err = {0};
        char *out = NULL;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ck_assert_int_eq(host_path_normalize(ok[i].in, &out, &err), 0);
                ck_assert_str_eq(out, ok[i].out);
                free(out);
        }
        ck_assert_int_eq(host_path_normalize("a/b", &out, &err), -EINVAL);
        ck_assert_int_eq(host_path_normalize("/a/../b", &out, &err), -EINVAL);
        ck_assert(strstr(err.msg, ".."));
        ck_assert_int_eq(host_path_normalize("", &out, &err), -EINVAL);
}
END_TEST

START_TEST(test_within)
{
        ck_assert(host_path_within("/a/b", "/a"));
        ck_assert(host_path_within("/a", "/a"));
        ck_assert(host_path_within("/a/", "/a//"));
        ck_assert(host_path_within("/anything", "/"));
        ck_assert(!host_path_within("/ab", "/a"));
        ck_assert(!host_path_within("/a", "/a/b"));
        ck_assert(!host_path_within("/a/../etc", "/a"));
        ck_assert(!host_path_within("relative", "/"));
}
END_TEST

START_TEST(test_argv)
{
        char *empty[] = {NULL};
        char *blank[] = {"", NULL};
        char *good[] = {"ls", "-la", NULL};
        struct al_error err = {0};

        ck_assert_int_eq(host_argv_check(NULL, &err), -EINVAL);
        ck_assert_int_eq(host_argv_check(empty, &err), -EINVAL);
        ck_assert_int_eq(host_argv_check(blank, &err), -EINVAL);
        ck_assert(strstr(err.msg, "argv[0] is empty"));
        ck_assert_int_eq(host_argv_check(good, &err), 0);
}
END_TEST

static char *protected_dirs[] = {"/usr/sbin/airlock-bin", "/var/lib/airlock", NULL};
static const char *ws = "/var/lib/airlock/workspaces/a";

static const struct {
        const char *entry;
        int want;
        const char *msg;
} env_cases[] = {
    {"K=V", 0, NULL},
    {"EMPTY=", 0, NULL},
    {"PATH=/usr/bin:/bin", 0, NULL},
    {"PATH=", 0, NULL},
    {"PATH=.:bin:/usr/bin", 0, NULL},
    {"PATH=/var/lib/airlock/workspaces/a/bin:/usr/bin", 0, NULL}, /* own workspace */
    {"LD_PRELOAD=/tmp/x.so", -EINVAL, "may not set 'LD_PRELOAD'"},
    {"LD_LIBRARY_PATH=/tmp", -EINVAL, "may not set 'LD_LIBRARY_PATH'"},
    {"LD_AUDIT=/tmp/a.so", -EINVAL, "may not set 'LD_AUDIT'"},
    {"LD_=x", -EINVAL, "dynamic loader"},
    {"NOEQUALS", -EINVAL, "not NAME=VALUE"},
    {"=V", -EINVAL, "not NAME=VALUE"},
    {"PATH=/usr/bin:/usr/sbin/airlock-bin", -EINVAL, "daemon's own directory"},
    {"PATH=/usr/sbin/airlock-bin/", -EINVAL, "daemon's own directory"},
    {"PATH=/usr/bin:/var/lib/airlock", -EINVAL, "'/var/lib/airlock'"},
    {"PATH=/var/lib/airlock/workspaces/b/bin", -EINVAL, "daemon's own directory"},
    {"PATH=/usr//sbin/airlock-bin/./x", -EINVAL, "daemon's own directory"},
    {"XPATH=/usr/sbin/airlock-bin", 0, NULL}, /* only PATH is searched */
    {"LD=x", 0, NULL},
};

START_TEST(test_env)
{
        char *env[] = {"A=1", (char *)env_cases[_i].entry, NULL};
        struct al_error err = {0};
        int r = host_env_check(env, protected_dirs, ws, &err);

        ck_assert_msg(r == env_cases[_i].want, "'%s': got %d (%s)", env_cases[_i].entry, r,
                      err.msg);
        if (env_cases[_i].msg)
                ck_assert_msg(strstr(err.msg, env_cases[_i].msg), "'%s': message '%s'",
                              env_cases[_i].entry, err.msg);
}
END_TEST

START_TEST(test_env_limits)
{
        char **env = calloc(EXEC_ENV_MAX + 2, sizeof(char *));
        char *big = malloc(HOST_ENV_ENTRY_MAX + 8);
        struct al_error err = {0};
        char *one[2] = {big, NULL};

        ck_assert(env && big);
        for (int i = 0; i <= EXEC_ENV_MAX; i++)
                env[i] = "K=V";
        ck_assert_int_eq(host_env_check(env, NULL, NULL, &err), -EINVAL);
        env[EXEC_ENV_MAX] = NULL;
        ck_assert_int_eq(host_env_check(env, NULL, NULL, &err), 0);
        ck_assert_int_eq(host_env_check(NULL, NULL, NULL, &err), 0);
        memset(big, 'a', HOST_ENV_ENTRY_MAX + 4);
        big[1] = '=';
        big[HOST_ENV_ENTRY_MAX + 4] = '\0';
        ck_assert_int_eq(host_env_check(one, NULL, NULL, &err), -EINVAL);
        free(big);
        free(env);
}
END_TEST

START_TEST(test_env_build)
{
        char *given[] = {"K=V", "HOME=/h", NULL};
        char *with_path[] = {"PATH=/opt/bin", NULL};
        char **out = NULL;
        struct al_error err = {0};

        ck_assert_int_eq(host_env_build(given, "/usr/bin:/bin", "/tmp", &out, &err), 0);
        ck_assert_uint_eq(util_strv_len(out), 3);
        ck_assert_str_eq(out[0], "K=V");
        ck_assert_str_eq(host_env_get(out, "PATH"), "/usr/bin:/bin");
        ck_assert_str_eq(host_env_get(out, "HOME"), "/h");
        util_strv_free(out);
        ck_assert_int_eq(host_env_build(with_path, "/usr/bin", "/tmp", &out, &err), 0);
        ck_assert_str_eq(host_env_get(out, "PATH"), "/opt/bin");
        ck_assert_str_eq(host_env_get(out, "HOME"), "/tmp");
        ck_assert_ptr_null(host_env_get(out, "USER"));
        util_strv_free(out);
        /* Nothing of this process's own environment leaks in. */
        setenv("AIRLOCK_TEST_SECRET", "x", 1);
        ck_assert_int_eq(host_env_build(NULL, "/usr/bin", NULL, &out, &err), 0);
        ck_assert_uint_eq(util_strv_len(out), 1);
        ck_assert_str_eq(out[0], "PATH=/usr/bin");
        util_strv_free(out);
}
END_TEST

START_TEST(test_workdir)
{
        struct al_error err = {0};
        char *out = NULL;

        ck_assert_int_eq(host_workdir_resolve(NULL, ws, "/tmp", &out, &err), 0);
        ck_assert_str_eq(out, ws);
        free(out);
        ck_assert_int_eq(host_workdir_resolve(NULL, NULL, "/tmp", &out, &err), 0);
        ck_assert_str_eq(out, "/tmp");
        free(out);
        ck_assert_int_eq(host_workdir_resolve("src/x", ws, "/tmp", &out, &err), 0);
        ck_assert_str_eq(out, "/var/lib/airlock/workspaces/a/src/x");
        free(out);
        ck_assert_int_eq(
            host_workdir_resolve("/var/lib/airlock/workspaces/a/", ws, "/", &out, &err), 0);
        ck_assert_str_eq(out, ws);
        free(out);
        ck_assert_int_eq(host_workdir_resolve("/etc", ws, "/tmp", &out, &err), -EINVAL);
        ck_assert(strstr(err.msg, "outside the workspace"));
        ck_assert_int_eq(
            host_workdir_resolve("/var/lib/airlock/workspaces/ab", ws, "/", &out, &err), -EINVAL);
        ck_assert_int_eq(host_workdir_resolve("../b", ws, "/tmp", &out, &err), -EINVAL);
        ck_assert_int_eq(host_workdir_resolve("/tmp", NULL, "/tmp", &out, &err), -EINVAL);
        ck_assert(strstr(err.msg, "no workspace"));
}
END_TEST

START_TEST(test_candidates)
{
        char **c = NULL;
        struct al_error err = {0};

        ck_assert_int_eq(host_exec_candidates("ls", "/usr/local/bin:/usr/bin/::/bin", &c, &err), 0);
        ck_assert_uint_eq(util_strv_len(c), 4);
        ck_assert_str_eq(c[0], "/usr/local/bin/ls");
        ck_assert_str_eq(c[1], "/usr/bin/ls");
        ck_assert_str_eq(c[2], "ls"); /* empty entry: the working directory */
        ck_assert_str_eq(c[3], "/bin/ls");
        util_strv_free(c);
        ck_assert_int_eq(host_exec_candidates("./run.sh", "/usr/bin", &c, &err), 0);
        ck_assert_uint_eq(util_strv_len(c), 1);
        ck_assert_str_eq(c[0], "./run.sh");
        util_strv_free(c);
        ck_assert_int_eq(host_exec_candidates("/bin/true", NULL, &c, &err), 0);
        ck_assert_str_eq(c[0], "/bin/true");
        util_strv_free(c);
}
END_TEST

/* The minimal /dev: exactly these host nodes, each a character device of the host; nothing
 * that reaches past the exec (vsock, kvm, disks, the kernel log, memory). */
START_TEST(test_dev_nodes)
{
        static const char *const want[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                           "/dev/random", "/dev/urandom", "/dev/tty"};

        ck_assert_uint_eq(HOST_DEV_NODES, sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < HOST_DEV_NODES; i++) {
                bool found = false;

                for (size_t j = 0; j < HOST_DEV_NODES; j++)
                        found = found || strcmp(host_dev_nodes[j], want[i]) == 0;
                ck_assert_msg(found, "%s missing", want[i]);
        }
}
END_TEST

static Suite *host_validate_suite(void)
{
        Suite *s = suite_create("host_validate");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_normalize);
        tcase_add_test(tc, test_within);
        tcase_add_test(tc, test_argv);
        tcase_add_loop_test(tc, test_env, 0, (int)(sizeof(env_cases) / sizeof(env_cases[0])));
        tcase_add_test(tc, test_env_limits);
        tcase_add_test(tc, test_env_build);
        tcase_add_test(tc, test_workdir);
        tcase_add_test(tc, test_candidates);
        tcase_add_test(tc, test_dev_nodes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(host_validate_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
