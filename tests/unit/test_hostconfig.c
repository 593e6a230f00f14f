/* The HostConfig builder: the fixed hardening is present whatever the spec, and the spec's
 * values land where they should. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/docker_backend.h"
#include "airlock/engine.h"
#include "backend/docker/hostconfig.h"

static struct sandbox_spec spec(void)
{
        struct sandbox_spec s = {
            .image = "airlock/python:3.11",
            .limits = {.cpu_cores = 1.5,
                       .memory_mb = 256,
                       .disk_mb = 64,
                       .max_processes = 50,
                       .timeout_s = 10,
                       .output_bytes = 1024},
            .network = false,
            .agent = "analyst",
            .session = "conv-42",
            .instance_id = "0123456789abcdef0123456789abcdef",
            .keeper_user = "65534:65534",
            .exec_user = "1000:1000",
        };
        return s;
}

static const struct hostconfig_env docker_env = {
    .kind = ENGINE_DOCKER,
    .seccomp_text = "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}",
    .seccomp_path = "/etc/airlock/seccomp.json",
    .ulimits = {.nofile = 1048576, .nproc = 96343},
};

static bool array_has(json_t *a, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(a, i, v)
        {
                if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
                        return true;
        }
        return false;
}

static json_t *ulimit_named(json_t *hc, const char *name)
{
        size_t i;
        json_t *v;

        json_array_foreach(json_object_get(hc, "Ulimits"), i, v)
        {
                if (strcmp(json_string_value(json_object_get(v, "Name")), name) == 0)
                        return v;
        }
        return NULL;
}

START_TEST(sandbox_is_hardened)
{
        struct sandbox_spec s = spec();
        json_t *body = hostconfig_sandbox_body(&s, &docker_env, NULL);
        json_t *hc = json_object_get(body, "HostConfig");

        ck_assert_ptr_nonnull(body);
        ck_assert(array_has(json_object_get(hc, "CapDrop"), "ALL"));
        ck_assert_int_eq(json_array_size(json_object_get(hc, "CapAdd")), 0);
        ck_assert(array_has(json_object_get(hc, "SecurityOpt"), "no-new-privileges"));
        ck_assert(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
        ck_assert(json_is_true(json_object_get(hc, "Init")));
        ck_assert(json_is_false(json_object_get(hc, "Privileged")));
        ck_assert_str_eq(json_string_value(json_object_get(hc, "NetworkMode")), "none");
        ck_assert(json_is_true(json_object_get(body, "NetworkDisabled")));
        ck_assert_str_eq(json_string_value(json_object_get(hc, "IpcMode")), "private");
        ck_assert_int_eq(json_array_size(json_object_get(hc, "Devices")), 0);
        ck_assert_ptr_null(json_object_get(hc, "Binds"));
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(hc, "LogConfig"), "Type")), "none");
        ck_assert_str_eq(json_string_value(json_object_get(body, "User")), "65534:65534");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(body, "Labels"), "airlock.managed")),
            "true");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(body, "Labels"), "airlock.instance")),
            s.instance_id);
        json_decref(body);
}
END_TEST

START_TEST(only_the_shim_is_mounted)
{
        struct sandbox_spec s = spec();
        struct hostconfig_env env = docker_env;
        json_t *body, *m, *mounts;

        env.exec_shim = "/usr/local/libexec/airlock/airlock-exec";
        body = hostconfig_sandbox_body(&s, &env, NULL);
        mounts = json_object_get(json_object_get(body, "HostConfig"), "Mounts");
        ck_assert_int_eq(json_array_size(mounts), 1);
        m = json_array_get(mounts, 0);
        ck_assert_str_eq(json_string_value(json_object_get(m, "Source")), env.exec_shim);
        ck_assert_str_eq(json_string_value(json_object_get(m, "Target")), SANDBOX_EXEC_SHIM);
        ck_assert(json_is_true(json_object_get(m, "ReadOnly")));
        json_decref(body);
        /* Without a shim path (unit tests), nothing at all. */
        body = hostconfig_sandbox_body(&s, &docker_env, NULL);
        ck_assert_int_eq(
            json_array_size(json_object_get(json_object_get(body, "HostConfig"), "Mounts")), 0);
        json_decref(body);
}
END_TEST

START_TEST(limits_land_in_hostconfig)
{
        struct sandbox_spec s = spec();
        json_t *body = hostconfig_sandbox_body(&s, &docker_env, NULL);
        json_t *hc = json_object_get(body, "HostConfig");
        json_t *tmpfs = json_object_get(hc, "Tmpfs");

        ck_assert_int_eq(json_integer_value(json_object_get(hc, "Memory")), 256LL << 20);
        /* No swap: the swap cap equals the memory cap. */
        ck_assert_int_eq(json_integer_value(json_object_get(hc, "MemorySwap")), 256LL << 20);
        ck_assert_int_eq(json_integer_value(json_object_get(hc, "NanoCpus")), 1500000000LL);
        ck_assert_int_eq(json_integer_value(json_object_get(hc, "PidsLimit")), 50);
        /* disk_mb is shared by /tmp and the install home, which alone allows executing. */
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(tmpfs, "/tmp")), "size=32768k"));
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(tmpfs, "/tmp")), "nosuid"));
        ck_assert_ptr_null(strstr(json_string_value(json_object_get(tmpfs, "/tmp")), "exec"));
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(tmpfs, SANDBOX_HOME)), "size=32768k"));
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(tmpfs, SANDBOX_HOME)), ",exec,nosuid,"));
        /* Ulimits stay within the host's hard limits (Podman refuses otherwise). */
        ck_assert_int_le(json_integer_value(json_object_get(ulimit_named(hc, "nofile"), "Hard")),
                         1048576);
        ck_assert_int_le(json_integer_value(json_object_get(ulimit_named(hc, "nproc"), "Hard")),
                         96343);
        ck_assert_int_eq(json_integer_value(json_object_get(ulimit_named(hc, "core"), "Hard")), 0);
        json_decref(body);
}
END_TEST

/* The gvisor tier: runsc from airlock's own table, its tasks' headroom in the pids limit, the
 * agent told to end exec trees itself; the container tier asks for no runtime. */
START_TEST(gvisor_tier)
{
        struct sandbox_spec s = spec();
        struct hostconfig_env env = docker_env;
        json_t *body, *hc;

        env.agent = "/usr/libexec/airlock/airlock-agent";
        body = hostconfig_sandbox_body(&s, &env, "/run/x");
        hc = json_object_get(body, "HostConfig");
        ck_assert_ptr_null(json_object_get(hc, "Runtime"));
        ck_assert_int_eq(json_integer_value(json_object_get(hc, "PidsLimit")), 50);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(body, "Cmd"), 1)),
                         SANDBOX_AGENT_SOCK);
        json_decref(body);
        s.isolation = ISOLATION_GVISOR;
        body = hostconfig_sandbox_body(&s, &env, "/run/x");
        hc = json_object_get(body, "HostConfig");
        ck_assert_str_eq(json_string_value(json_object_get(hc, "Runtime")), "airlock-runsc");
        ck_assert_ptr_null(ulimit_named(hc, "nproc"));
        ck_assert_ptr_nonnull(ulimit_named(hc, "nofile"));
        ck_assert_int_eq(json_integer_value(json_object_get(hc, "PidsLimit")), 100 + 50 * 6);
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(body, "Cmd"), 1)),
                         "--gvisor");
        ck_assert_str_eq(json_string_value(
                             json_object_get(json_object_get(body, "Labels"), "airlock.isolation")),
                         "gvisor");
        json_decref(body);
}
END_TEST

START_TEST(seccomp_by_engine)
{
        struct sandbox_spec s = spec();
        struct hostconfig_env podman = docker_env;
        json_t *d, *p;

        podman.kind = ENGINE_PODMAN;
        d = hostconfig_sandbox_body(&s, &docker_env, NULL);
        p = hostconfig_sandbox_body(&s, &podman, NULL);
        /* Docker takes the profile's text, Podman's compat API a path. */
        ck_assert(array_has(json_object_get(json_object_get(d, "HostConfig"), "SecurityOpt"),
                            "seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\"}"));
        ck_assert(array_has(json_object_get(json_object_get(p, "HostConfig"), "SecurityOpt"),
                            "seccomp=/etc/airlock/seccomp.json"));
        /* The install home: Docker owns it to the exec user by uid=/gid=, which Podman
         * refuses; Podman keeps a mode. */
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(
                       json_object_get(json_object_get(d, "HostConfig"), "Tmpfs"), SANDBOX_HOME)),
                   "uid=1000,gid=1000"));
        ck_assert_ptr_null(
            strstr(json_string_value(json_object_get(
                       json_object_get(json_object_get(p, "HostConfig"), "Tmpfs"), SANDBOX_HOME)),
                   "uid="));
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(
                       json_object_get(json_object_get(p, "HostConfig"), "Tmpfs"), SANDBOX_HOME)),
                   "mode=1777"));
        json_decref(d);
        json_decref(p);
}
END_TEST

START_TEST(small_host_limits_are_respected)
{
        struct sandbox_spec s = spec();
        struct hostconfig_env env = docker_env;
        json_t *body, *hc;

        env.ulimits.nofile = 512;
        env.ulimits.nproc = 300;
        body = hostconfig_sandbox_body(&s, &env, NULL);
        hc = json_object_get(body, "HostConfig");
        ck_assert_int_eq(json_integer_value(json_object_get(ulimit_named(hc, "nofile"), "Hard")),
                         512);
        ck_assert_int_eq(json_integer_value(json_object_get(ulimit_named(hc, "nproc"), "Hard")),
                         300);
        json_decref(body);
}
END_TEST

/* The network goes through the egress proxy, never through an interface of the sandbox's. */
START_TEST(network_when_asked)
{
        struct sandbox_spec s = spec();
        json_t *body;

        s.network = true;
        body = hostconfig_sandbox_body(&s, &docker_env, NULL);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(body, "HostConfig"), "NetworkMode")),
            "none");
        ck_assert(json_is_true(json_object_get(body, "NetworkDisabled")));
        json_decref(body);
}
END_TEST

START_TEST(exec_and_oneshot_run_as_exec_user)
{
        struct sandbox_spec s = spec();
        char *argv[] = {"python3", "-c", "print(1)", NULL};
        char *env[] = {"K=V", NULL};
        struct exec_spec x = {.argv = argv, .env = env};
        json_t *e = hostconfig_exec_body(&s, &x, "al-0123");
        json_t *cmd = json_object_get(e, "Cmd");
        json_t *o = hostconfig_oneshot_body(&s, &docker_env, &x);

        ck_assert_str_eq(json_string_value(json_object_get(e, "User")), "1000:1000");
        ck_assert(json_is_false(json_object_get(e, "Privileged")));
        ck_assert(array_has(json_object_get(e, "Env"), "K=V"));
        /* The shim comes first, with the exec's cgroup name; then the argv unchanged. */
        ck_assert_str_eq(json_string_value(json_array_get(cmd, 0)), SANDBOX_EXEC_SHIM);
        ck_assert_str_eq(json_string_value(json_array_get(cmd, 1)), "al-0123");
        ck_assert_str_eq(json_string_value(json_array_get(cmd, 2)), "python3");
        ck_assert_str_eq(json_string_value(json_array_get(cmd, 4)), "print(1)");
        ck_assert_int_eq(json_array_size(cmd), 5);
        ck_assert_str_eq(json_string_value(json_object_get(o, "User")), "1000:1000");
        ck_assert(array_has(json_object_get(o, "Env"), "K=V"));
        ck_assert(json_is_true(json_object_get(o, "OpenStdin")));
        ck_assert(json_is_true(json_object_get(o, "StdinOnce")));
        /* The one-off is as hardened as a sandbox. */
        ck_assert(
            json_is_true(json_object_get(json_object_get(o, "HostConfig"), "ReadonlyRootfs")));
        json_decref(e);
        json_decref(o);
}
END_TEST

/* The seccomp profile is an admin-edited file: the Docker backend refuses one that every user
 * may write (before it asks the engine anything: none answers here). */
START_TEST(world_writable_seccomp_profile_refused)
{
        char path[] = "/tmp/airlock-seccomp-XXXXXX";
        struct al_error err = {0};
        struct engine *e = engine_new("/nonexistent/engine.sock", ENGINE_DOCKER, &err);
        struct backend *b;
        int fd = mkstemp(path);

        ck_assert_ptr_nonnull(e);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "{}", 2), 2);
        close(fd);
        ck_assert_int_eq(chmod(path, 0646), 0);
        b = docker_backend_new(e, path, "/nonexistent/run", &err);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(err.code, -EPERM);
        ck_assert_msg(strstr(err.msg, "seccomp profile") &&
                          strstr(err.msg, "writable by every user"),
                      "%s", err.msg);
        unlink(path);
        engine_free(e);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("hostconfig");
        TCase *tc = tcase_create("builder");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, sandbox_is_hardened);
        tcase_add_test(tc, only_the_shim_is_mounted);
        tcase_add_test(tc, limits_land_in_hostconfig);
        tcase_add_test(tc, seccomp_by_engine);
        tcase_add_test(tc, small_host_limits_are_respected);
        tcase_add_test(tc, network_when_asked);
        tcase_add_test(tc, exec_and_oneshot_run_as_exec_user);
        tcase_add_test(tc, world_writable_seccomp_profile_refused);
        tcase_add_test(tc, gvisor_tier);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
