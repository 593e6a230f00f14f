/* The settings parser: defaults, the shipped file, every key's good and bad values with the
 * line reported, and the whole-file rules (duplicates, unknowns, every problem at once). */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/host_backend.h"
#include "airlock/policy.h"
#include "airlock/util.h"

static struct policy *parse_ok(const char *text)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        int r = policy_parse(text, "test.conf", &p, &probs, &err);

        if (r < 0)
                ck_abort_msg("unexpected failure: %s\n--- text:\n%s", err.msg, text);
        ck_assert_uint_eq(probs.n, 0);
        ck_assert_ptr_nonnull(p);
        policy_problems_free(&probs);
        return p;
}

/* Parse text that must fail with a problem at line whose message contains frag. */
static void expect_problem(const char *text, int line, const char *frag)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        bool found = false;
        int r = policy_parse(text, "test.conf", &p, &probs, &err);

        ck_assert_msg(r == -EINVAL, "expected -EINVAL for:\n%s\ngot %d", text, r);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(err.code, -EINVAL);
        ck_assert_msg(strncmp(err.msg, "test.conf:", 10) == 0, "err: %s", err.msg);
        ck_assert_uint_gt(probs.n, 0);
        for (size_t i = 0; i < probs.n; i++)
                if (probs.items[i].line == line && strstr(probs.items[i].msg, frag))
                        found = true;
        if (!found) {
                for (size_t i = 0; i < probs.n; i++)
                        fprintf(stderr, "  problem %d: %s\n", probs.items[i].line,
                                probs.items[i].msg);
                ck_abort_msg("no problem at line %d containing '%s' for:\n%s", line, frag, text);
        }
        policy_problems_free(&probs);
}

static void assert_strv(char **v, const char *words)
{
        char **w = util_split_words(words);

        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(util_strv_len(v), util_strv_len(w));
        for (size_t i = 0; w[i]; i++)
                ck_assert_str_eq(v[i], w[i]);
        util_strv_free(w);
}

/* The [host] options equal host_options_default()'s, strings compared by value. */
static void assert_host_defaults(const struct host_options *h)
{
        struct host_options d;

        host_options_default(&d);
        ck_assert_ptr_nonnull(h);
        ck_assert_str_eq(h->user, d.user);
        ck_assert_str_eq(h->seccomp_deny, d.seccomp_deny);
        ck_assert_int_eq(h->no_new_privs, d.no_new_privs);
        ck_assert_int_eq(h->drop_capabilities, d.drop_capabilities);
        ck_assert_int_eq(h->network_namespace, d.network_namespace);
        ck_assert_int_eq(h->mount_namespace, d.mount_namespace);
        ck_assert_int_eq(h->pid_namespace, d.pid_namespace);
        ck_assert_int_eq(h->ipc_namespace, d.ipc_namespace);
        ck_assert_int_eq(h->cgroup, d.cgroup);
        ck_assert_int_eq(h->read_only_root, d.read_only_root);
        ck_assert_int_eq(h->private_tmp, d.private_tmp);
        ck_assert_int_eq(h->mount_proc, d.mount_proc);
        ck_assert_str_eq(h->cgroup_parent, d.cgroup_parent);
        ck_assert_int_eq(h->prestart, d.prestart);
        ck_assert_int_eq(h->rlimit_cpu_s, d.rlimit_cpu_s);
        ck_assert_int_eq(h->rlimit_as_mb, d.rlimit_as_mb);
        ck_assert_int_eq(h->rlimit_fsize_mb, d.rlimit_fsize_mb);
        ck_assert_int_eq(h->rlimit_nofile, d.rlimit_nofile);
        ck_assert_int_eq(h->rlimit_nproc, d.rlimit_nproc);
        ck_assert_str_eq(h->default_path, d.default_path);
        /* The daemon's paths, not settings. */
        ck_assert_ptr_null(h->workspace_root);
        ck_assert_ptr_null(h->hide_paths[0]);
}

static void assert_defaults(const struct policy *p)
{
        ck_assert_str_eq(p->socket_path, "/run/airlock/airlock.sock");
        ck_assert_str_eq(p->socket_group, "airlock");
        ck_assert_str_eq(p->state_dir, "/var/lib/airlock");
        ck_assert_int_eq(p->max_body_bytes, 1024 * 1024);
        ck_assert_int_eq(p->max_connections, 256);
        ck_assert_str_eq(p->log_level, "info");
        ck_assert_int_eq(p->engine_kind, ENGINE_DOCKER);
        ck_assert_str_eq(p->engine_socket, "/var/run/docker.sock");
        ck_assert_str_eq(p->seccomp_profile, "");
        ck_assert_int_eq(p->mode, MODE_ALL);
        ck_assert_int_eq(p->scope, SCOPE_SESSION);
        ck_assert_int_eq(p->workspace, WORKSPACE_NONE);
        ck_assert_str_eq(p->workspace_root, "/var/lib/airlock/workspaces");
        ck_assert_str_eq(p->default_runtime, "bash");
        ck_assert_str_eq(p->exec_user, "2000100000:2000100000");
        ck_assert_uint_eq(p->exec_uid, POLICY_EXEC_ID_DEFAULT);
        ck_assert_uint_eq(p->exec_gid, POLICY_EXEC_ID_DEFAULT);
        ck_assert_str_eq(p->keeper_user, "2000100001:2000100001");
        ck_assert_uint_eq(p->keeper_uid, POLICY_KEEPER_ID_DEFAULT);
        ck_assert_uint_eq(p->keeper_gid, POLICY_KEEPER_ID_DEFAULT);
        ck_assert_int_eq(p->reserved_connections, 16);
        ck_assert_int_eq(p->read_timeout_s, 10);
        ck_assert_int_eq(p->idle_timeout_s, 1800);
        ck_assert_double_eq(p->limits.cpu_cores, 1.0);
        ck_assert_int_eq(p->limits.memory_mb, 512);
        ck_assert_int_eq(p->limits.disk_mb, 256);
        ck_assert_int_eq(p->limits.max_processes, 128);
        ck_assert_int_eq(p->limits.timeout_s, 60);
        ck_assert_int_eq(p->limits.output_bytes, 1024 * 1024);
        ck_assert_uint_eq(p->n_runtimes, 9);
        ck_assert_str_eq(policy_runtime(p, "python")->image, "airlock/python:3.11");
        assert_strv(policy_runtime(p, "python")->run, "python3 -c");
        assert_strv(policy_runtime(p, "python")->shell, "sh -c");
        ck_assert_str_eq(policy_runtime(p, "python3.11")->image, "airlock/python:3.11");
        ck_assert_str_eq(policy_runtime(p, "python3.13")->image, "airlock/python:3.13");
        assert_strv(policy_runtime(p, "python3.13")->run, "python3 -c");
        /* node is the seed's default version, 20 */
        ck_assert_str_eq(policy_runtime(p, "node")->image, "airlock/node:20");
        assert_strv(policy_runtime(p, "node")->run, "node -e");
        ck_assert_str_eq(policy_runtime(p, "node18")->image, "airlock/node:18");
        ck_assert_str_eq(policy_runtime(p, "node20")->image, "airlock/node:20");
        ck_assert_str_eq(policy_runtime(p, "node22")->image, "airlock/node:22");
        assert_strv(policy_runtime(p, "node22")->run, "node -e");
        ck_assert_ptr_null(policy_runtime(p, "python3.12"));
        ck_assert_str_eq(policy_runtime(p, "bash")->image, "airlock/bash:5.2");
        assert_strv(policy_runtime(p, "bash")->run, "bash -c");
        assert_strv(policy_runtime(p, "bash")->shell, "bash -c");
        ck_assert_str_eq(policy_runtime(p, "sh")->image, "airlock/busybox:latest");
        assert_strv(policy_runtime(p, "sh")->run, "sh -c");
        ck_assert_ptr_null(policy_runtime(p, "ruby"));
        ck_assert_ptr_null(policy_runtime(p, NULL));
        ck_assert_str_eq(p->selective_rules, "");
        ck_assert_int_eq(p->network.tier, NETWORK_RESTRICTED);
        ck_assert_ptr_nonnull(p->network.allowed);
        ck_assert_ptr_null(p->network.allowed[0]);
        ck_assert_ptr_nonnull(p->network.blocked);
        ck_assert_ptr_null(p->network.blocked[0]);
        ck_assert_uint_eq(p->n_agents, 0);
        ck_assert_ptr_null(policy_agent(p, "analyst"));
        assert_host_defaults(p->host);
}

START_TEST(test_defaults)
{
        struct policy *p = policy_new_default();

        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(p->refs, 1);
        assert_defaults(p);
        ck_assert_ptr_null(p->source_path);
        ck_assert_str_eq(p->text, "");
        policy_unref(p);
}
END_TEST

START_TEST(test_empty_text_is_defaults)
{
        struct policy *p = parse_ok("");

        assert_defaults(p);
        ck_assert_str_eq(p->source_path, "test.conf");
        policy_unref(p);
        p = parse_ok("# only a comment\n\n   \n; another\n");
        assert_defaults(p);
        ck_assert_str_eq(p->text, "# only a comment\n\n   \n; another\n");
        policy_unref(p);
}
END_TEST

START_TEST(test_shipped_file)
{
        const char *dir = getenv("AIRLOCK_SOURCE_DIR");
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        char path[4096];
        int r;

        ck_assert_msg(dir != NULL, "AIRLOCK_SOURCE_DIR is not set");
        snprintf(path, sizeof(path), "%s/policies/airlock.conf", dir);
        r = policy_load(path, &p, &probs, &err);
        for (size_t i = 0; i < probs.n; i++)
                fprintf(stderr, "%s:%d: %s\n", path, probs.items[i].line, probs.items[i].msg);
        ck_assert_msg(r == 0, "%s", err.msg);
        ck_assert_uint_eq(probs.n, 0);
        assert_defaults(p);
        ck_assert_str_eq(p->source_path, path);
        ck_assert_ptr_nonnull(strstr(p->text, "[runtime \"python\"]"));
        policy_unref(p);
}
END_TEST

START_TEST(test_good_values)
{
        struct policy *p = parse_ok("[daemon]\n"
                                    "socket = /tmp/a.sock\n"
                                    "socket_group = wheel\n"
                                    "state_dir = /srv/airlock\n"
                                    "max_body_kb = 65536\n"
                                    "max_connections = 1\n"
                                    "log_level = debug\n"
                                    "[engine]\n"
                                    "kind = podman\n"
                                    "seccomp_profile = /etc/airlock/seccomp.json\n"
                                    "[sandbox]\n"
                                    "mode = selective\n"
                                    "scope = agent\n"
                                    "workspace = rw\n"
                                    "default_runtime = python\n"
                                    "exec_user = 4294967294:2\n"
                                    "keeper_user = 1:1\n"
                                    "idle_timeout_s = 0\n"
                                    "[limits]\n"
                                    "cpu_cores = 0.01\n"
                                    "memory_mb = 16\n"
                                    "disk_mb = 1048576\n"
                                    "max_processes = 8\n"
                                    "timeout_s = 86400\n"
                                    "output_kb = 1\n");

        ck_assert_str_eq(p->socket_path, "/tmp/a.sock");
        ck_assert_str_eq(p->socket_group, "wheel");
        ck_assert_str_eq(p->state_dir, "/srv/airlock");
        ck_assert_int_eq(p->max_body_bytes, 65536LL * 1024);
        ck_assert_int_eq(p->max_connections, 1);
        ck_assert_str_eq(p->log_level, "debug");
        ck_assert_int_eq(p->engine_kind, ENGINE_PODMAN);
        /* podman's socket when none is given */
        ck_assert_str_eq(p->engine_socket, "/run/podman/podman.sock");
        ck_assert_str_eq(p->seccomp_profile, "/etc/airlock/seccomp.json");
        ck_assert_int_eq(p->mode, MODE_SELECTIVE);
        ck_assert_int_eq(p->scope, SCOPE_AGENT);
        ck_assert_int_eq(p->workspace, WORKSPACE_RW);
        /* follows state_dir when not given */
        ck_assert_str_eq(p->workspace_root, "/srv/airlock/workspaces");
        ck_assert_str_eq(p->default_runtime, "python");
        ck_assert_str_eq(p->exec_user, "4294967294:2");
        ck_assert_uint_eq(p->exec_uid, 4294967294U);
        ck_assert_uint_eq(p->exec_gid, 2);
        ck_assert_uint_eq(p->keeper_uid, 1);
        ck_assert_int_eq(p->idle_timeout_s, 0);
        ck_assert_double_eq_tol(p->limits.cpu_cores, 0.01, 1e-9);
        ck_assert_int_eq(p->limits.memory_mb, 16);
        ck_assert_int_eq(p->limits.disk_mb, 1048576);
        ck_assert_int_eq(p->limits.max_processes, 8);
        ck_assert_int_eq(p->limits.timeout_s, 86400);
        ck_assert_int_eq(p->limits.output_bytes, 1024);
        policy_unref(p);

        p = parse_ok("[engine]\nkind = podman\nsocket = /tmp/podman.sock\n"
                     "[sandbox]\nmode = off\nscope = shared\nworkspace = ro\n"
                     "workspace_root = /data/ws\n[limits]\ncpu_cores = 64\n");
        ck_assert_str_eq(p->engine_socket, "/tmp/podman.sock");
        ck_assert_int_eq(p->mode, MODE_OFF);
        ck_assert_int_eq(p->scope, SCOPE_SHARED);
        ck_assert_int_eq(p->workspace, WORKSPACE_RO);
        ck_assert_str_eq(p->workspace_root, "/data/ws");
        ck_assert_double_eq(p->limits.cpu_cores, 64);
        policy_unref(p);

        /* Explicitly empty engine socket means the kind's default, in either order. */
        p = parse_ok("[engine]\nsocket =\nkind = podman\n");
        ck_assert_str_eq(p->engine_socket, "/run/podman/podman.sock");
        policy_unref(p);
        p = parse_ok("[engine]\nkind = docker ; the default\n[limits]\ncpu_cores = 2.5\n");
        ck_assert_str_eq(p->engine_socket, "/var/run/docker.sock");
        ck_assert_double_eq(p->limits.cpu_cores, 2.5);
        policy_unref(p);

        /* "key: value", CRLF line ends and a UTF-8 byte order mark are accepted. */
        p = parse_ok("\xef\xbb\xbf[limits]\r\n  memory_mb: 1024\r\ntimeout_s = 5\r\n");
        ck_assert_int_eq(p->limits.memory_mb, 1024);
        ck_assert_int_eq(p->limits.timeout_s, 5);
        policy_unref(p);
}
END_TEST

struct bad_case {
        const char *text;
        int line;
        const char *frag;
};

static const struct bad_case bad_cases[] = {
    /* [daemon] */
    {"[daemon]\nsocket = relative.sock\n", 2, "socket must be an absolute path"},
    {"[daemon]\nsocket = /a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/and/on/"
     "and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on.sock\n",
     2, "at most 107 bytes"},
    {"[daemon]\nsocket_group = \n", 2, "socket_group must be a name"},
    {"[daemon]\nsocket_group = bad group\n", 2, "socket_group must be a name"},
    {"[daemon]\nstate_dir = var/lib\n", 2, "state_dir must be an absolute path"},
    {"[daemon]\nstate_dir =\n", 2, "state_dir must be an absolute path"},
    {"[daemon]\nmax_body_kb = 0\n", 2, "max_body_kb must be an integer between 1 and 65536"},
    {"[daemon]\nmax_body_kb = 65537\n", 2, "between 1 and 65536, got '65537'"},
    {"[daemon]\nmax_connections = 12abc\n", 2, "max_connections must be an integer"},
    {"[daemon]\nmax_connections = -1\n", 2, "max_connections must be an integer"},
    {"[daemon]\nmax_connections =\n", 2, "max_connections must be an integer"},
    {"[daemon]\nlog_level = verbose\n", 2,
     "log_level must be one of error, warn, info, debug, got 'verbose'"},
    {"[daemon]\nlog_level = INFO\n", 2, "log_level must be one of"},
    /* [engine] */
    {"[engine]\nkind = containerd\n", 2, "kind must be one of docker, podman"},
    {"[engine]\nsocket = docker.sock\n", 2, "socket must be an absolute path"},
    {"[engine]\nseccomp_profile = seccomp.json\n", 2,
     "seccomp_profile must be an absolute path or empty"},
    /* [sandbox] */
    {"[sandbox]\nmode = sometimes\n", 2, "mode must be one of off, selective, all"},
    {"[sandbox]\nscope = global\n", 2, "scope must be one of session, agent, shared"},
    {"[sandbox]\nworkspace = yes\n", 2, "workspace must be one of none, ro, rw"},
    {"[sandbox]\nworkspace_root = ws\n", 2, "workspace_root must be an absolute path"},
    {"[sandbox]\ndefault_runtime = ../x\n", 2, "default_runtime must be a name"},
    {"[sandbox]\ndefault_runtime = ruby\n", 2, "default_runtime 'ruby' is not in the runtime"},
    {"[sandbox]\nexec_user = 1000\n", 2, "exec_user must be 'uid:gid'"},
    {"[sandbox]\nexec_user = nobody:nogroup\n", 2, "exec_user must be 'uid:gid'"},
    {"[sandbox]\nexec_user = 1000:\n", 2, "exec_user must be 'uid:gid'"},
    {"[sandbox]\nexec_user = 4294967295:1\n", 2, "exec_user must be 'uid:gid'"},
    {"[sandbox]\nexec_user = -5:5\n", 2, "exec_user must be 'uid:gid'"},
    {"[sandbox]\nexec_user = 0:0\n", 2, "exec_user must not be root"},
    {"[sandbox]\nexec_user = 1000:0\n", 2, "exec_user must not be root"},
    {"[sandbox]\nexec_user = 0:1000\n", 2, "exec_user must not be root"},
    {"[sandbox]\nkeeper_user = 0:65534\n", 2, "keeper_user must not be root"},
    {"[sandbox]\nkeeper_user = a:b\n", 2, "keeper_user must be 'uid:gid'"},
    {"[sandbox]\nidle_timeout_s = 604801\n", 2,
     "idle_timeout_s must be an integer between "
     "0 and 604800"},
    {"[sandbox]\nidle_timeout_s = 1h\n", 2, "idle_timeout_s must be an integer"},
    /* [limits] */
    {"[limits]\ncpu_cores = 0\n", 2, "cpu_cores must be a number between 0.01 and 64"},
    {"[limits]\ncpu_cores = 0.001\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = 65\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = -1\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = nan\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = inf\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = 1e1\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = 0x10\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores = 1.5x\n", 2, "cpu_cores must be a number"},
    {"[limits]\ncpu_cores =\n", 2, "cpu_cores must be a number"},
    {"[limits]\nmemory_mb = 15\n", 2, "memory_mb must be an integer between 16 and 1048576"},
    {"[limits]\nmemory_mb = 1048577\n", 2, "memory_mb must be an integer"},
    {"[limits]\nmemory_mb = 512MB\n", 2, "memory_mb must be an integer"},
    {"[limits]\ndisk_mb = 0\n", 2, "disk_mb must be an integer between 1 and 1048576"},
    {"[limits]\nworkspace_mb = -1\n", 2, "workspace_mb must be an integer between 0 and 16777216"},
    {"[limits]\nworkspace_mb = 16777217\n", 2, "workspace_mb must be an integer"},
    {"[limits]\nworkspace_mb = 1G\n", 2, "workspace_mb must be an integer"},
    {"[limits]\nmax_processes = 7\n", 2,
     "max_processes must be an integer between 8 and "
     "65536"},
    {"[limits]\ntimeout_s = 0\n", 2, "timeout_s must be an integer between 1 and 86400"},
    {"[limits]\ntimeout_s = 86401\n", 2, "timeout_s must be an integer"},
    {"[limits]\ntimeout_s = +5\n", 2, "timeout_s must be an integer"},
    {"[limits]\noutput_kb = 65537\n", 2, "output_kb must be an integer between 1 and 65536"},
    {"[limits]\noutput_kb = 99999999999999999999999\n", 2, "output_kb must be an integer"},
    /* # is not an inline comment: the value is wrong and says so */
    {"[limits]\nmemory_mb = 512 # half a gig\n", 2, "got '512 # half a gig'"},
    /* [runtime "NAME"] */
    {"[runtime \"ruby\"]\nrun = ruby -e\n", 1, "[runtime \"ruby\"] has no image"},
    {"[runtime \"python\"]\nrun = python3 -c\n", 1, "[runtime \"python\"] has no image"},
    {"[runtime \"ruby\"]\nimage =\n", 2, "image must be an image reference"},
    {"[runtime \"ruby\"]\nimage = my image\n", 2, "image must be an image reference"},
    {"[runtime \"ruby\"]\nimage = r:1\nrun =   \n", 3, "run must name a program"},
    {"[runtime \"ruby\"]\nimage = r:1\nshell =\n", 3, "shell must name a program"},
    {"[runtime \"ruby\"]\nimage = r:1\nentrypoint = x\n", 3,
     "unknown key 'entrypoint' in [runtime \"ruby\"]"},
    {"[runtime \"../etc\"]\nimage = x\n", 1, "runtime name '../etc' must be"},
    {"[runtime \"\"]\nimage = x\n", 1, "runtime name '' must be"},
    {"[runtime ruby]\nimage = x\n", 1, "a runtime section is written [runtime \"NAME\"]"},
    {"[runtime]\nimage = x\n", 1, "a runtime section is written"},
    /* structure */
    {"memory_mb = 5\n", 1, "key 'memory_mb' comes before any [section]"},
    {"[limits]\nmemory = 512\n", 2, "unknown key 'memory' in [limits]"},
    {"[netwrk]\ntier = none\n", 1, "unknown section [netwrk]"},
    {"[Daemon]\n", 1, "unknown section [Daemon]"},
    {"[]\n", 1, "unknown section []"},
    {"[limits\nmemory_mb = 5\n", 1, "missing its closing ']'"},
    {"[limits] trailing\n", 1, "unexpected text after the section header"},
    {"[limits]\nmemory_mb\n", 2, "expected 'key = value'"},
    {"[limits]\n= 5\n", 2, "missing key name"},
    {"[limits]\nmemory_mb = 512\n  timeout_s = 5\n", 3,
     "indented line is read as a continuation of 'memory_mb'"},
    {"[limits]\nmemory_mb = 512\n  [sandbox]\n", 3, "continuation of 'memory_mb'"},
    {"[daemon]\n[daemon]\n", 2, "duplicate section [daemon] (first at line 1)"},
    {"[limits]\ntimeout_s = 5\n\ntimeout_s = 6\n", 4,
     "duplicate key 'timeout_s' in [limits] (first set at line 2)"},
    {"[limits]\ntimeout_s = 5\n[limits]\ntimeout_s = 6\n", 4, "duplicate key 'timeout_s'"},
    {"[runtime \"ruby\"]\nimage = a\n[runtime \"ruby\"]\n", 3,
     "duplicate section [runtime \"ruby\"] (first at line 1)"},
    {"[runtime \"ruby\"]\nimage = a\nimage = b\n", 3, "duplicate key 'image'"},
    {"[daemon]\nsocket = /x\x01y\n", 2, "got '/x\\x01y'"},
    {"[sandbox]\nselective_rules = rules\n", 2,
     "selective_rules must be an absolute path or empty"},
    /* [network] */
    {"[network]\ntier = none\n", 2,
     "tier must be one of restricted, standard, elevated, got 'none'"},
    {"[network]\ntier = Standard\n", 2, "tier must be one of"},
    {"[network]\ntier = standard\ntier = elevated\n", 3, "duplicate key 'tier' in [network]"},
    {"[network]\nallowed_domains = *.com\n", 2,
     "allowed_domains: '*.com' is not a domain pattern: a wildcard must stand before at least "
     "two labels"},
    {"[network]\nallowed_domains = pypi.org, https://x.org\n", 2,
     "allowed_domains: 'https://x.org' is not"},
    {"[network]\nallowed_domains = *\n", 2, "'*' is not a domain pattern"},
    {"[network]\nallowed_domains = *.\n", 2, "'*.' is not a domain pattern"},
    {"[network]\nallowed_domains = a.*.org\n", 2, "'a.*.org' is not"},
    {"[network]\nallowed_domains = **.org\n", 2, "'**.org' is not"},
    {"[network]\nallowed_domains = .org\n", 2, "'.org' is not"},
    {"[network]\nallowed_domains = 10.0.0.1\n", 2, "'10.0.0.1' is not"},
    {"[network]\nallowed_domains = PyPI.org.\nblocked_domains = pypi.org\n", 3,
     "'pypi.org' is also in allowed_domains"},
    {"[network]\nallowed_cidrs = 10.1.2.3/16\n", 2, "allowed_cidrs: '10.1.2.3/16' is not"},
    {"[network]\nallowed_cidrs = example.org\n", 2, "allowed_cidrs: 'example.org' is not"},
    {"[network]\nallowed_domains = a..org\n", 2, "'a..org' is not"},
    {"[network]\nallowed_domains = -a.org\n", 2, "'-a.org' is not"},
    {"[network]\nallowed_domains = a-.org\n", 2, "'a-.org' is not"},
    {"[network]\nallowed_domains = a_b.org\n", 2, "'a_b.org' is not"},
    {"[network]\nallowed_domains = a.org;x\n", 2, "'a.org;x' is not"},
    {"[network]\nblocked_domains = 10.0.0.1/8\n", 2,
     "blocked_domains: '10.0.0.1/8' is not a domain pattern"},
    {"[network]\nallowed_domains = a.org b.org a.org\n", 2,
     "allowed_domains: 'a.org' is listed twice"},
    {"[network]\nallowed_domains = a.org\nallowed_domains = a.org\n", 3, "listed twice"},
    {"[network]\nallowed_domains = a.org\nblocked_domains = a.org\n", 3,
     "blocked_domains: 'a.org' is also in allowed_domains"},
    {"[network]\nmode = all\n", 2, "unknown key 'mode' in [network]"},
    /* [agent "NAME"] */
    {"[agent \"a\"]\nmode = never\n", 2, "mode must be one of off, selective, all"},
    {"[agent \"a\"]\nscope = world\n", 2, "scope must be one of"},
    {"[agent \"a\"]\nworkspace = rwx\n", 2, "workspace must be one of"},
    {"[agent \"a\"]\ncpu_cores = 100\n", 2, "cpu_cores must be a number between 0.01 and 64"},
    {"[agent \"a\"]\nmemory_mb = 1\n", 2, "memory_mb must be an integer between 16"},
    {"[agent \"a\"]\ndisk_mb = 0\n", 2, "disk_mb must be an integer"},
    {"[agent \"a\"]\nworkspace_mb = -5\n", 2, "workspace_mb must be an integer"},
    {"[agent \"a\"]\nmax_processes = 1\n", 2, "max_processes must be an integer"},
    {"[agent \"a\"]\ntimeout_s = 0\n", 2, "timeout_s must be an integer between 1 and 86400"},
    {"[agent \"a\"]\noutput_kb = 0\n", 2, "output_kb must be an integer"},
    {"[agent \"a\"]\nnetwork = open\n", 2, "network must be one of restricted, standard, elevated"},
    {"[agent \"a\"]\nisolation = kvm\n", 2, "isolation must be one of container, gvisor"},
    {"[sandbox]\nisolation = microvm\n", 2, "isolation must be one of container, gvisor"},
    {"[agent \"a\"]\ndefault_runtime = ../x\n", 2, "default_runtime must be a name"},
    {"[agent \"a\"]\ndefault_runtime = ruby\n", 2,
     "default_runtime 'ruby' is not in the runtime catalog"},
    {"[agent \"a\"]\nruntimes = python, ruby\n", 2, "unknown runtime 'ruby'"},
    {"[agent \"a\"]\nruntimes = python\nruntimes = perl\n", 3, "unknown runtime 'perl'"},
    {"[agent \"a\"]\nruntimes = bash python bash\n", 2, "runtimes: 'bash' is listed twice"},
    {"[agent \"a\"]\nruntimes = bash, ../x\n", 2, "runtimes: '../x' is not a runtime name"},
    {"[agent \"a\"]\nruntimes =\n", 2, "runtimes must name at least one runtime"},
    {"[agent \"a\"]\nruntimes = , ,\n", 2, "runtimes must name at least one runtime"},
    /* requests naming no runtime would be refused */
    {"[agent \"a\"]\nruntimes = python\n", 2,
     "default_runtime 'bash' (from [sandbox]) is not among the runtimes of [agent \"a\"]"},
    {"[agent \"a\"]\nruntimes = python\ndefault_runtime = node\n", 3,
     "default_runtime 'node' is not among the runtimes"},
    {"[agent \"a\"]\nworkspace_root = /x\n", 2,
     "key 'workspace_root' cannot be overridden per agent"},
    {"[agent \"a\"]\nexec_user = 5:5\n", 2, "key 'exec_user' cannot be overridden per agent"},
    {"[agent \"a\"]\nallowed_domains = a.org\nblocked_domains = A.org\n", 3,
     "blocked_domains: 'A.org' is also in allowed_domains"},
    {"[agent \"a\"]\nallowed_cidrs = 10.0.0.1/8\n", 2, "allowed_cidrs: '10.0.0.1/8' is not"},
    {"[agent \"a\"]\nallowed_cidrs = 10.0.0.0/8 10.0.0.0/8\n", 2,
     "allowed_cidrs: '10.0.0.0/8' is listed twice"},
    {"[agent \"a\"]\nimage = x\n", 2, "key 'image' cannot be overridden per agent"},
    {"[agent \"a\"]\ntier = standard\n", 2, "key 'tier' cannot be overridden per agent"},
    {"[agent \"a\"]\nuser = nobody\n", 2, "key 'user' cannot be overridden per agent"},
    {"[agent \"a\"]\nbogus = 1\n", 2, "unknown key 'bogus' in [agent \"a\"]"},
    {"[agent \"a\"]\nmode = all\nmode = off\n", 3,
     "duplicate key 'mode' in [agent \"a\"] (first set at line 2)"},
    {"[agent \"a\"]\n[agent \"a\"]\n", 2, "duplicate section [agent \"a\"] (first at line 1)"},
    /* the duplicate's keys are checked against the first one's */
    {"[agent \"a\"]\nmode = all\n[agent \"a\"]\nmode = off\n", 4, "duplicate key 'mode'"},
    {"[agent \"../x\"]\nmode = all\n", 1, "agent name '../x' must be 1 to 64 characters"},
    {"[agent \"\"]\n", 1, "agent name '' must be"},
    {"[agent a]\n", 1, "an agent section is written [agent \"NAME\"], got [agent a]"},
    {"[agent]\n", 1, "an agent section is written"},
    /* [host] */
    {"[host]\nuser = root\n", 2, "user must not be root"},
    {"[host]\nuser = 0:0\n", 2, "user must not be root: uid and gid 0 are refused"},
    {"[host]\nuser = 1000:0\n", 2, "user must not be root"},
    {"[host]\nuser = 1000:x\n", 2, "user must be a user name or 'uid:gid'"},
    {"[host]\nuser = no body\n", 2, "user must be a user name of 1 to 32 characters"},
    {"[host]\nuser =\n", 2, "user must be a user name"},
    {"[host]\nseccomp_deny = host.deny\n", 2, "seccomp_deny must be an absolute path or empty"},
    {"[host]\nno_new_privs = maybe\n", 2,
     "no_new_privs must be yes, no, true, false, on, off, 1 or 0, got 'maybe'"},
    {"[host]\ndrop_capabilities = 2\n", 2, "drop_capabilities must be yes, no"},
    {"[host]\nread_only_root =\n", 2, "read_only_root must be yes"},
    {"[host]\nprivate_tmp = y\n", 2, "private_tmp must be yes"},
    {"[host]\nmount_proc = nope\n", 2, "mount_proc must be yes"},
    {"[host]\nnetwork_namespace = sometimes\n", 2,
     "network_namespace must be auto, required (or true, yes, on) or off"},
    {"[host]\nmount_namespace = 1\n", 2, "mount_namespace must be auto"},
    {"[host]\npid_namespace = AUTO\n", 2, "pid_namespace must be auto"},
    {"[host]\nipc_namespace =\n", 2, "ipc_namespace must be auto"},
    {"[host]\ncgroup = v2\n", 2, "cgroup must be auto"},
    {"[host]\ncgroup_parent = a/b\n", 2, "cgroup_parent must be a name of 1 to 63"},
    {"[host]\ncgroup_parent = ..\n", 2, "cgroup_parent must be a name"},
    {"[host]\nprestart = 65\n", 2, "prestart must be an integer between 0 and 64"},
    {"[host]\nprestart = auto\n", 2, "prestart must be an integer"},
    {"[host]\nrlimit_cpu_s = -1\n", 2,
     "rlimit_cpu_s must be auto or an integer between 0 and 604800"},
    {"[host]\nrlimit_as_mb = lots\n", 2, "rlimit_as_mb must be auto or an integer"},
    {"[host]\nrlimit_fsize_mb = 16777217\n", 2, "rlimit_fsize_mb must be auto or an integer"},
    {"[host]\nrlimit_nofile = Auto\n", 2, "rlimit_nofile must be auto or an integer"},
    {"[host]\nrlimit_nproc = 1.5\n", 2, "rlimit_nproc must be auto or an integer"},
    {"[host]\npath = bin:/usr/bin\n", 2, "path must be absolute directories separated by ':'"},
    {"[host]\npath = /bin::/usr/bin\n", 2, "path must be absolute directories"},
    {"[host]\npath = /bin:\n", 2, "path must be absolute directories"},
    {"[host]\npath = :/bin\n", 2, "path must be absolute directories"},
    {"[host]\npath =\n", 2, "path must be absolute directories"},
    {"[host]\nworkspace_root = /x\n", 2, "unknown key 'workspace_root' in [host]"},
    {"[host]\n[host]\n", 2, "duplicate section [host] (first at line 1)"},
    {"[files]\nupload_mb = 0\n", 2, "upload_mb must be"},
    {"[files]\nartifacts_max = 1001\n", 2, "artifacts_max must be"},
    {"[files]\nnope = 1\n", 2, "unknown key 'nope' in [files]"},
};

START_TEST(test_files_section)
{
        struct policy *p = parse_ok("[files]\nupload_mb = 2\ndownload_mb = 3\nentries_max = 5\n"
                                    "artifacts_max = 0\nartifact_inline_kb = 7\n"
                                    "artifact_mb = 9\n");

        ck_assert_int_eq(p->files.upload_bytes, 2 << 20);
        ck_assert_int_eq(p->files.download_bytes, 3 << 20);
        ck_assert_int_eq(p->files.entries_max, 5);
        ck_assert_int_eq(p->files.artifacts_max, 0);
        ck_assert_int_eq(p->files.artifact_inline_bytes, 7 << 10);
        ck_assert_int_eq(p->files.artifact_bytes, 9 << 20);
        policy_unref(p);
        p = parse_ok("");
        ck_assert_int_eq(p->files.upload_bytes, 64 << 20);
        ck_assert_int_eq(p->files.artifacts_max, 32);
        policy_unref(p);
}
END_TEST

START_TEST(test_bad_values)
{
        const struct bad_case *c = &bad_cases[_i];

        expect_problem(c->text, c->line, c->frag);
}
END_TEST

START_TEST(test_every_problem_reported)
{
        const char *text = "[daemon]\n"                  /* 1 */
                           "max_body_kb = 0\n"           /* 2 */
                           "bogus = 1\n"                 /* 3 */
                           "[limits]\n"                  /* 4 */
                           "memory_mb = lots\n"          /* 5 */
                           "timeout_s = 5\n"             /* 6 */
                           "timeout_s = 7\n"             /* 7 */
                           "[nope]\n"                    /* 8 */
                           "ignored = because section\n" /* 9 */
                           "[sandbox]\n"                 /* 10 */
                           "exec_user = 0:0\n"           /* 11 */
                           "[runtime \"ruby\"]\n"        /* 12 */
                           "run = ruby -e\n";            /* 13 */
        static const int lines[] = {2, 3, 5, 7, 8, 11, 12};
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;

        ck_assert_int_eq(policy_parse(text, "airlock.conf", &p, &probs, &err), -EINVAL);
        ck_assert_ptr_null(p);
        if (probs.n != ARRAY_SIZE(lines))
                for (size_t i = 0; i < probs.n; i++)
                        fprintf(stderr, "  %d: %s\n", probs.items[i].line, probs.items[i].msg);
        ck_assert_uint_eq(probs.n, ARRAY_SIZE(lines));
        for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
                ck_assert_int_eq(probs.items[i].line, lines[i]);
        ck_assert_str_eq(err.msg, "airlock.conf:2: max_body_kb must be an integer between 1 and "
                                  "65536, got '0' (7 problems)");
        policy_problems_free(&probs);
        ck_assert_ptr_null(probs.items);
        ck_assert_uint_eq(probs.n, 0);

        /* One problem: no count. */
        ck_assert_int_eq(policy_parse("[limits]\ndisk_mb = 0\n", "f", &p, NULL, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "f:2: disk_mb must be an integer between 1 and 1048576, got '0'");
}
END_TEST

START_TEST(test_problem_cap)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        char *text = malloc(20 * 1000 + 16);
        size_t o = 0;

        o += (size_t)sprintf(text + o, "[limits]\n");
        for (int i = 0; i < 1000; i++)
                o += (size_t)sprintf(text + o, "x%d = 1\n", i);
        ck_assert_int_eq(policy_parse(text, "f", &p, &probs, &err), -EINVAL);
        ck_assert_uint_eq(probs.n, POLICY_PROBLEMS_MAX);
        ck_assert_ptr_nonnull(strstr(probs.items[probs.n - 1].msg, "too many problems"));
        policy_problems_free(&probs);
        free(text);
}
END_TEST

START_TEST(test_long_line)
{
        char text[1024];
        struct policy *p;

        /* Too long for inih's line buffer: reported, not split into pieces. */
        snprintf(text, sizeof(text), "[daemon]\nstate_dir = /%0300d\nmax_body_kb = 0\n", 0);
        expect_problem(text, 2, "line is longer than 198 characters");
        expect_problem(text, 3, "max_body_kb must be");
        /* A long comment is fine. */
        snprintf(text, sizeof(text), "# %0300d\n[limits]\nmemory_mb = 64\n", 0);
        p = parse_ok(text);
        ck_assert_int_eq(p->limits.memory_mb, 64);
        policy_unref(p);
}
END_TEST

START_TEST(test_runtime_catalog_merge)
{
        struct policy *p = parse_ok("[sandbox]\n"
                                    "default_runtime = ruby\n"
                                    "[runtime \"python\"]\n"
                                    "image = registry.local/python:3.12\n"
                                    "[runtime \"ruby\"]\n"
                                    "image = airlock/ruby:3.1\n"
                                    "run = ruby  -e\n"
                                    "[runtime \"custom\"]\n"
                                    "image = custom@sha256:abcdef\n"
                                    "shell = bash -lc\n");
        const struct runtime *rt;

        ck_assert_uint_eq(p->n_runtimes, 11);
        /* an override keeps the built-in's run and shell */
        rt = policy_runtime(p, "python");
        ck_assert_str_eq(rt->image, "registry.local/python:3.12");
        assert_strv(rt->run, "python3 -c");
        assert_strv(rt->shell, "sh -c");
        ck_assert_int_eq(rt->line, 3);
        /* untouched built-ins stay */
        rt = policy_runtime(p, "node");
        ck_assert_str_eq(rt->image, "airlock/node:20");
        ck_assert_int_eq(rt->line, 0);
        ck_assert_ptr_nonnull(policy_runtime(p, "bash"));
        ck_assert_ptr_nonnull(policy_runtime(p, "sh"));
        /* new names add; run words split on spaces; shell defaults to sh -c */
        rt = policy_runtime(p, "ruby");
        ck_assert_str_eq(rt->image, "airlock/ruby:3.1");
        assert_strv(rt->run, "ruby -e");
        assert_strv(rt->shell, "sh -c");
        ck_assert_int_eq(rt->line, 5);
        /* run defaults to the runtime's shell */
        rt = policy_runtime(p, "custom");
        assert_strv(rt->run, "bash -lc");
        assert_strv(rt->shell, "bash -lc");
        ck_assert_str_eq(p->default_runtime, "ruby");
        policy_unref(p);
}
END_TEST

START_TEST(test_too_many_runtimes)
{
        char *text = malloc(64 * 1024);
        size_t o = 0;

        for (int i = 0; i < POLICY_RUNTIMES_MAX; i++)
                o += (size_t)sprintf(text + o, "[runtime \"r%d\"]\nimage = img%d\n", i, i);
        /* 4 built-ins + 60 new fit; the 61st new one (line 121) does not. */
        expect_problem(text, 2 * 60 + 1, "too many runtimes (at most 64");
        free(text);
}
END_TEST

START_TEST(test_network)
{
        struct policy *p =
            parse_ok("[network]\n"
                     "tier = standard\n"
                     "allowed_domains = pypi.org, *.github.com files.pythonhosted.org\n"
                     "blocked_domains = gist.github.com\n"
                     "allowed_domains = registry.npmjs.org,,x-1.a2.io\n"
                     "allowed_domains =\n");

        ck_assert_int_eq(p->network.tier, NETWORK_STANDARD);
        /* Repeated list keys add up, in file order. */
        assert_strv(p->network.allowed,
                    "pypi.org *.github.com files.pythonhosted.org registry.npmjs.org x-1.a2.io");
        assert_strv(p->network.blocked, "gist.github.com");
        ck_assert_str_eq(policy_network_tier_name(p->network.tier), "standard");
        policy_unref(p);

        p = parse_ok("[network]\ntier = elevated\n");
        ck_assert_int_eq(p->network.tier, NETWORK_ELEVATED);
        ck_assert_ptr_null(p->network.allowed[0]);
        policy_unref(p);
        p = parse_ok("[network]\ntier = restricted\nallowed_domains =\n");
        ck_assert_int_eq(p->network.tier, NETWORK_RESTRICTED);
        ck_assert_ptr_null(p->network.allowed[0]);
        policy_unref(p);
}
END_TEST

/* An agent's allowed_cidrs replaces [network]'s; an empty one means none for that agent. */
START_TEST(test_agent_cidrs)
{
        struct policy *p = parse_ok("[network]\ntier = standard\nallowed_cidrs = 10.1.0.0/16\n"
                                    "[agent \"mirror\"]\nallowed_cidrs = 10.9.0.0/16, fd00:1::/64\n"
                                    "[agent \"none\"]\nallowed_cidrs =\n[agent \"plain\"]\n");
        struct policy_effective eff;
        json_t *j;

        ck_assert_int_eq(policy_resolve(p, "mirror", &eff), 0);
        assert_strv((char **)eff.allowed_cidrs, "10.9.0.0/16 fd00:1::/64");
        ck_assert_int_eq(policy_resolve(p, "none", &eff), 0);
        ck_assert_ptr_nonnull(eff.allowed_cidrs);
        ck_assert_ptr_null(eff.allowed_cidrs[0]);
        ck_assert_int_eq(policy_resolve(p, "plain", &eff), 0);
        assert_strv((char **)eff.allowed_cidrs, "10.1.0.0/16");
        ck_assert_int_eq(policy_resolve(p, "someone", &eff), 0);
        assert_strv((char **)eff.allowed_cidrs, "10.1.0.0/16");
        j = policy_to_json(p);
        ck_assert_str_eq(
            json_string_value(json_array_get(
                json_object_get(json_object_get(json_object_get(j, "agents"), "mirror"),
                                "allowed_cidrs"),
                1)),
            "fd00:1::/64");
        json_decref(j);
        policy_unref(p);
}
END_TEST

START_TEST(test_domain_valid)
{
        char long_label[80], long_name[300];

        ck_assert(policy_domain_valid("pypi.org"));
        ck_assert(policy_domain_valid("*.github.com"));
        ck_assert(policy_domain_valid("localhost"));
        ck_assert(policy_domain_valid("a"));
        ck_assert(policy_domain_valid("*.a"));
        ck_assert(policy_domain_valid("x-1.a2.io"));
        ck_assert(policy_domain_valid("123.example"));
        ck_assert(!policy_domain_valid(NULL));
        ck_assert(!policy_domain_valid(""));
        ck_assert(!policy_domain_valid("*"));
        ck_assert(!policy_domain_valid("*."));
        ck_assert(!policy_domain_valid("*example.com"));
        ck_assert(!policy_domain_valid("Example.com"));
        ck_assert(!policy_domain_valid("a b.com"));
        ck_assert(!policy_domain_valid("a.-b.com"));
        ck_assert(!policy_domain_valid("a.b-.com"));
        ck_assert(!policy_domain_valid("example.com."));
        ck_assert(!policy_domain_valid("ex\xc3\xa4mple.com"));
        /* labels of at most 63, names of at most 253 */
        memset(long_label, 'a', 63);
        long_label[63] = '\0';
        ck_assert(policy_domain_valid(long_label));
        long_label[63] = 'a';
        long_label[64] = '\0';
        ck_assert(!policy_domain_valid(long_label));
        for (int i = 0; i < 127; i++)
                memcpy(long_name + 2 * i, "a.", 2);
        long_name[253] = '\0'; /* "a.a.....a": 253 characters */
        ck_assert_uint_eq(strlen(long_name), 253);
        ck_assert(policy_domain_valid(long_name));
        /* "*." does not count */
        memmove(long_name + 2, long_name, 254);
        memcpy(long_name, "*.", 2);
        ck_assert(policy_domain_valid(long_name));
        memcpy(long_name, "a.", 2);
        ck_assert(!policy_domain_valid(long_name));
}
END_TEST

START_TEST(test_agents)
{
        struct policy *p = parse_ok("[agent \"analyst\"]\n"
                                    "mode = selective\n"
                                    "scope = agent\n"
                                    "workspace = rw\n"
                                    "cpu_cores = 2.5\n"
                                    "memory_mb = 2048\n"
                                    "disk_mb = 1024\n"
                                    "max_processes = 256\n"
                                    "timeout_s = 300\n"
                                    "output_kb = 4096\n"
                                    "network = standard\n"
                                    "default_runtime = python\n"
                                    "runtimes = python, ruby\n"
                                    "runtimes = sh\n"
                                    "[agent \"intern\"]\n"
                                    "timeout_s = 5\n"
                                    "[agent \"empty\"]\n"
                                    "[runtime \"ruby\"]\n"
                                    "image = airlock/ruby:3.1\n");
        const struct policy_agent *a;

        ck_assert_uint_eq(p->n_agents, 3);
        a = policy_agent(p, "analyst");
        ck_assert_ptr_eq(a, &p->agents[0]);
        ck_assert_str_eq(a->name, "analyst");
        ck_assert_int_eq(a->line, 1);
        ck_assert_uint_eq(a->set, POLICY_AGENT_MODE | POLICY_AGENT_SCOPE | POLICY_AGENT_WORKSPACE |
                                      POLICY_AGENT_CPU_CORES | POLICY_AGENT_MEMORY_MB |
                                      POLICY_AGENT_DISK_MB | POLICY_AGENT_MAX_PROCESSES |
                                      POLICY_AGENT_TIMEOUT_S | POLICY_AGENT_OUTPUT_KB |
                                      POLICY_AGENT_NETWORK | POLICY_AGENT_DEFAULT_RUNTIME |
                                      POLICY_AGENT_RUNTIMES);
        ck_assert_int_eq(a->mode, MODE_SELECTIVE);
        ck_assert_int_eq(a->scope, SCOPE_AGENT);
        ck_assert_int_eq(a->workspace, WORKSPACE_RW);
        ck_assert_double_eq(a->limits.cpu_cores, 2.5);
        ck_assert_int_eq(a->limits.memory_mb, 2048);
        ck_assert_int_eq(a->limits.disk_mb, 1024);
        ck_assert_int_eq(a->limits.max_processes, 256);
        ck_assert_int_eq(a->limits.timeout_s, 300);
        ck_assert_int_eq(a->limits.output_bytes, 4096 * 1024);
        ck_assert_int_eq(a->network, NETWORK_STANDARD);
        ck_assert_str_eq(a->default_runtime, "python");
        /* a runtime defined further down the file is known */
        assert_strv(a->runtimes, "python ruby sh");

        a = policy_agent(p, "intern");
        ck_assert_uint_eq(a->set, POLICY_AGENT_TIMEOUT_S);
        ck_assert_int_eq(a->limits.timeout_s, 5);
        ck_assert_ptr_null(a->default_runtime);
        ck_assert_ptr_null(a->runtimes);
        a = policy_agent(p, "empty");
        ck_assert_uint_eq(a->set, 0);
        ck_assert_int_eq(a->line, 17);
        ck_assert_ptr_null(policy_agent(p, "Analyst"));
        ck_assert_ptr_null(policy_agent(p, NULL));
        /* the global policy is untouched */
        ck_assert_int_eq(p->mode, MODE_ALL);
        ck_assert_int_eq(p->limits.timeout_s, 60);
        policy_unref(p);
}
END_TEST

START_TEST(test_too_many_agents)
{
        char *text = malloc((size_t)(POLICY_AGENTS_MAX + 1) * 32);
        size_t o = 0;

        for (int i = 0; i <= POLICY_AGENTS_MAX; i++)
                o += (size_t)sprintf(text + o, "[agent \"a%d\"]\n", i);
        expect_problem(text, POLICY_AGENTS_MAX + 1, "too many agent sections (at most 1024)");
        free(text);
}
END_TEST

START_TEST(test_every_problem_in_agents)
{
        /* An override for an unknown runtime, a forbidden key, a duplicate section: each at
         * its line, nothing applied. */
        const char *text = "[agent \"a\"]\n"           /* 1 */
                           "runtimes = bash, nope\n"   /* 2 */
                           "state_dir = /x\n"          /* 3 */
                           "[agent \"b\"]\n"           /* 4 */
                           "[agent \"a\"]\n"           /* 5 */
                           "[network]\n"               /* 6 */
                           "allowed_domains = *.org\n" /* 7 */
                           "tier = open\n";            /* 8 */
        static const int lines[] = {2, 3, 5, 7, 8};
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;

        ck_assert_int_eq(policy_parse(text, "f", &p, &probs, &err), -EINVAL);
        ck_assert_ptr_null(p);
        if (probs.n != ARRAY_SIZE(lines))
                for (size_t i = 0; i < probs.n; i++)
                        fprintf(stderr, "  %d: %s\n", probs.items[i].line, probs.items[i].msg);
        ck_assert_uint_eq(probs.n, ARRAY_SIZE(lines));
        for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
                ck_assert_int_eq(probs.items[i].line, lines[i]);
        ck_assert_ptr_nonnull(strstr(probs.items[0].msg,
                                     "unknown runtime 'nope' (catalog: python, python3.11, "
                                     "python3.13, node, node18, node20, node22, bash, sh)"));
        ck_assert_str_eq(err.msg, "f:2: unknown runtime 'nope' (catalog: python, python3.11, "
                                  "python3.13, node, node18, node20, node22, bash, sh) "
                                  "(5 problems)");
        policy_problems_free(&probs);
}
END_TEST

START_TEST(test_host_keys)
{
        struct policy *p = parse_ok("[host]\n"
                                    "user = 1234:5678\n"
                                    "seccomp_deny =\n"
                                    "no_new_privs = no\n"
                                    "drop_capabilities = off\n"
                                    "network_namespace = required\n"
                                    "mount_namespace = off\n"
                                    "pid_namespace = yes\n"
                                    "ipc_namespace = false\n"
                                    "cgroup = auto\n"
                                    "read_only_root = 0\n"
                                    "private_tmp = FALSE\n"
                                    "mount_proc = Off\n"
                                    "cgroup_parent = airlock-test\n"
                                    "prestart = 0\n"
                                    "rlimit_cpu_s = 0\n"
                                    "rlimit_as_mb = 8192\n"
                                    "rlimit_fsize_mb = auto\n"
                                    "rlimit_nofile = 4096\n"
                                    "rlimit_nproc = 100\n"
                                    "path = /opt/bin:/usr/bin\n");
        const struct host_options *h = p->host;

        ck_assert_str_eq(h->user, "1234:5678");
        ck_assert_str_eq(h->seccomp_deny, "");
        ck_assert(!h->no_new_privs);
        ck_assert(!h->drop_capabilities);
        ck_assert_int_eq(h->network_namespace, HOST_REQUIRED);
        ck_assert_int_eq(h->mount_namespace, HOST_OFF);
        ck_assert_int_eq(h->pid_namespace, HOST_REQUIRED);
        ck_assert_int_eq(h->ipc_namespace, HOST_OFF);
        ck_assert_int_eq(h->cgroup, HOST_AUTO);
        ck_assert(!h->read_only_root);
        ck_assert(!h->private_tmp);
        ck_assert(!h->mount_proc);
        ck_assert_str_eq(h->cgroup_parent, "airlock-test");
        ck_assert_int_eq(h->prestart, 0);
        ck_assert_int_eq(h->rlimit_cpu_s, 0);
        ck_assert_int_eq(h->rlimit_as_mb, 8192);
        ck_assert_int_eq(h->rlimit_fsize_mb, HOST_RLIMIT_AUTO);
        ck_assert_int_eq(h->rlimit_nofile, 4096);
        ck_assert_int_eq(h->rlimit_nproc, 100);
        ck_assert_str_eq(h->default_path, "/opt/bin:/usr/bin");
        ck_assert_ptr_null(h->workspace_root);
        policy_unref(p);

        p = parse_ok("[host]\nuser = daemon\nseccomp_deny = /etc/airlock/host.deny\n"
                     "rlimit_nofile = auto\npath = /bin\n");
        ck_assert_str_eq(p->host->user, "daemon");
        ck_assert_str_eq(p->host->seccomp_deny, "/etc/airlock/host.deny");
        ck_assert_int_eq(p->host->rlimit_nofile, HOST_RLIMIT_AUTO);
        ck_assert_str_eq(p->host->default_path, "/bin");
        /* untouched keys keep the backend's defaults */
        ck_assert(p->host->no_new_privs);
        ck_assert_int_eq(p->host->prestart, 4);
        policy_unref(p);

        p = parse_ok("[host]\n");
        assert_host_defaults(p->host);
        policy_unref(p);
        p = parse_ok("[sandbox]\nselective_rules = /etc/airlock/selective.rules\n");
        ck_assert_str_eq(p->selective_rules, "/etc/airlock/selective.rules");
        policy_unref(p);
}
END_TEST

/* --state-dir wins over the file's state_dir for the workspaces too, unless the file placed
 * the workspaces elsewhere (issue 9, item 7). */
START_TEST(test_state_dir_override)
{
        struct policy *p = policy_new_default();

        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(policy_set_state_dir(p, "/tmp/t/state"), 0);
        ck_assert_str_eq(p->state_dir, "/tmp/t/state");
        ck_assert_str_eq(p->workspace_root, "/tmp/t/state/workspaces");
        policy_unref(p);

        p = parse_ok("[daemon]\nstate_dir = /var/lib/airlock\n");
        ck_assert(!p->workspace_root_set);
        ck_assert_str_eq(p->workspace_root, "/var/lib/airlock/workspaces");
        ck_assert_int_eq(policy_set_state_dir(p, "/tmp/t/state"), 0);
        ck_assert_str_eq(p->workspace_root, "/tmp/t/state/workspaces");
        policy_unref(p);

        p = parse_ok("[daemon]\nstate_dir = /srv/a\n[sandbox]\nworkspace_root = /data/ws\n");
        ck_assert(p->workspace_root_set);
        ck_assert_int_eq(policy_set_state_dir(p, "/tmp/t/state"), 0);
        ck_assert_str_eq(p->state_dir, "/tmp/t/state");
        ck_assert_str_eq(p->workspace_root, "/data/ws");
        policy_unref(p);
}
END_TEST

START_TEST(test_text_sha256)
{
        struct policy *p = policy_new_default();
        char sha[65];

        policy_text_sha256(p, sha);
        /* SHA-256 of the empty string */
        ck_assert_str_eq(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        policy_unref(p);
        /* The text as written: a change that parses the same still changes the hash. */
        p = parse_ok("[limits]\ntimeout_s = 5\n");
        policy_text_sha256(p, sha);
        ck_assert_str_eq(sha, "351e02b08c2b6ef915b9770816a13ea0080ceb7abfe63ea57a2a56c0693bdf51");
        policy_unref(p);
        p = parse_ok("[limits]\ntimeout_s = 5 \n");
        policy_text_sha256(p, sha);
        ck_assert_str_eq(sha, "510438387dd95b232abd5b49b2c136ebf845a8dc8796ada8a5a38a4ed50f2b1b");
        policy_unref(p);
}
END_TEST

static char tmpdir[64];

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        close(fd);
}

START_TEST(test_load)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        char path[128];
        char *big;

        snprintf(tmpdir, sizeof(tmpdir), "/tmp/airlock-test-policy-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        snprintf(path, sizeof(path), "%s/airlock.conf", tmpdir);

        /* missing file */
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), -ENOENT);
        ck_assert_ptr_nonnull(strstr(err.msg, path));

        /* good file */
        write_file(path, "[limits]\ntimeout_s = 30\n", 24, 0640);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), 0);
        ck_assert_int_eq(p->limits.timeout_s, 30);
        ck_assert_str_eq(p->source_path, path);
        ck_assert_str_eq(p->text, "[limits]\ntimeout_s = 30\n");
        policy_unref(p);
        p = NULL;

        /* bad file: the message names the file and line */
        write_file(path, "[limits]\n\ntimeout_s = 0\n", 24, 0640);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_uint_eq(probs.n, 1);
        ck_assert_int_eq(probs.items[0].line, 3);
        ck_assert_ptr_nonnull(strstr(err.msg, "airlock.conf:3: timeout_s must be"));
        policy_problems_free(&probs);

        /* world-writable: refused */
        write_file(path, "[limits]\n", 9, 0666);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), -EPERM);
        ck_assert_ptr_nonnull(strstr(err.msg, "writable by every user"));

        /* NUL byte */
        write_file(path, "[limits]\nx\0y = 1\n", 17, 0600);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, ":2: contains a NUL byte"));
        ck_assert_uint_eq(probs.n, 1);
        policy_problems_free(&probs);

        /* over the cap */
        big = malloc(POLICY_FILE_MAX + 1);
        memset(big, '#', POLICY_FILE_MAX + 1);
        write_file(path, big, POLICY_FILE_MAX + 1, 0600);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), -AL_E_TOO_LARGE);
        /* at the cap: fine (one long comment line) */
        write_file(path, big, POLICY_FILE_MAX, 0600);
        ck_assert_int_eq(policy_load(path, &p, &probs, &err), 0);
        policy_unref(p);
        free(big);

        /* a directory */
        ck_assert_int_eq(policy_load(tmpdir, &p, &probs, &err), -EINVAL);

        unlink(path);
        rmdir(tmpdir);
}
END_TEST

START_TEST(test_refcount)
{
        struct policy *p = policy_new_default();

        ck_assert_ptr_eq(policy_ref(p), p);
        ck_assert_int_eq(p->refs, 2);
        policy_unref(p);
        ck_assert_int_eq(p->refs, 1);
        policy_unref(p);
        policy_unref(NULL);
        ck_assert_ptr_null(policy_ref(NULL));
}
END_TEST

START_TEST(test_to_json)
{
        struct policy *p = parse_ok("[limits]\ncpu_cores = 1.5\noutput_kb = 64\n"
                                    "[runtime \"ruby\"]\nimage = r:1\nrun = ruby -e\n");
        json_t *j = policy_to_json(p), *rt;

        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(j, "source")), "test.conf");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "daemon"), "socket")),
                         "/run/airlock/airlock.sock");
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_object_get(j, "daemon"), "max_body_kb")), 1024);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "engine"), "kind")),
                         "docker");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "sandbox"), "mode")),
                         "all");
        ck_assert_double_eq(
            json_real_value(json_object_get(json_object_get(j, "limits"), "cpu_cores")), 1.5);
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_object_get(j, "limits"), "output_kb")), 64);
        rt = json_object_get(json_object_get(j, "runtimes"), "ruby");
        ck_assert_str_eq(json_string_value(json_object_get(rt, "image")), "r:1");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(rt, "run"), 1)), "-e");
        ck_assert(json_is_false(json_object_get(rt, "builtin")));
        ck_assert(json_is_true(
            json_object_get(json_object_get(json_object_get(j, "runtimes"), "node"), "builtin")));
        json_decref(j);
        policy_unref(p);

        p = parse_ok("[network]\ntier = standard\nallowed_domains = pypi.org *.github.com\n"
                     "[agent \"analyst\"]\nmemory_mb = 2048\nruntimes = bash python\n"
                     "network = elevated\n[agent \"quiet\"]\n[host]\nrlimit_nofile = 64\n");
        j = policy_to_json(p);
        ck_assert_ptr_nonnull(j);
        {
                json_t *net = json_object_get(j, "network");
                json_t *agents = json_object_get(j, "agents");
                json_t *a = json_object_get(agents, "analyst");
                json_t *host = json_object_get(j, "host");

                ck_assert_str_eq(json_string_value(json_object_get(net, "tier")), "standard");
                ck_assert_uint_eq(json_array_size(json_object_get(net, "allowed_domains")), 2);
                ck_assert_str_eq(
                    json_string_value(json_array_get(json_object_get(net, "allowed_domains"), 1)),
                    "*.github.com");
                ck_assert_uint_eq(json_array_size(json_object_get(net, "blocked_domains")), 0);
                ck_assert_uint_eq(json_object_size(agents), 2);
                /* only the keys the section set */
                ck_assert_uint_eq(json_object_size(a), 3);
                ck_assert_int_eq(json_integer_value(json_object_get(a, "memory_mb")), 2048);
                ck_assert_str_eq(json_string_value(json_object_get(a, "network")), "elevated");
                ck_assert_str_eq(
                    json_string_value(json_array_get(json_object_get(a, "runtimes"), 1)), "python");
                ck_assert_uint_eq(json_object_size(json_object_get(agents, "quiet")), 0);
                ck_assert_int_eq(json_integer_value(json_object_get(host, "rlimit_nofile")), 64);
                ck_assert_str_eq(json_string_value(json_object_get(host, "rlimit_cpu_s")), "auto");
                ck_assert_str_eq(json_string_value(json_object_get(host, "user")), "nobody");
                ck_assert(json_is_true(json_object_get(host, "no_new_privs")));
                ck_assert_str_eq(json_string_value(json_object_get(host, "pid_namespace")), "auto");
                ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "sandbox"),
                                                                   "selective_rules")),
                                 "");
                ck_assert_uint_eq(strlen(json_string_value(json_object_get(j, "sha256"))), 64);
        }
        json_decref(j);
        policy_unref(p);

        p = policy_new_default();
        j = policy_to_json(p);
        ck_assert_ptr_nonnull(j);
        ck_assert(json_is_null(json_object_get(j, "source")) || !json_object_get(j, "source"));
        json_decref(j);
        policy_unref(p);
}
END_TEST

START_TEST(test_helpers)
{
        uint32_t uid, gid;
        bool b;

        ck_assert_int_eq(policy_parse_bool("yes", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(policy_parse_bool("On", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(policy_parse_bool("1", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(policy_parse_bool("TRUE", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(policy_parse_bool("no", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(policy_parse_bool("off", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(policy_parse_bool("false", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(policy_parse_bool("0", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(policy_parse_bool("", &b), -EINVAL);
        ck_assert_int_eq(policy_parse_bool("2", &b), -EINVAL);
        ck_assert_int_eq(policy_parse_bool("yess", &b), -EINVAL);

        ck_assert_int_eq(policy_parse_user("1000:100", &uid, &gid), 0);
        ck_assert_uint_eq(uid, 1000);
        ck_assert_uint_eq(gid, 100);
        ck_assert_int_eq(policy_parse_user("0:0", &uid, &gid), -EPERM);
        ck_assert_int_eq(policy_parse_user("1:0", &uid, &gid), -EPERM);
        ck_assert_int_eq(policy_parse_user("1:2:3", &uid, &gid), -EINVAL);
        ck_assert_int_eq(policy_parse_user(" 1:2", &uid, &gid), -EINVAL);
        ck_assert_int_eq(policy_parse_user("", &uid, &gid), -EINVAL);

        ck_assert_str_eq(policy_mode_name(MODE_SELECTIVE), "selective");
        ck_assert_str_eq(policy_scope_name(SCOPE_SHARED), "shared");
        ck_assert_str_eq(policy_workspace_name(WORKSPACE_RO), "ro");
        ck_assert_str_eq(policy_network_tier_name(NETWORK_RESTRICTED), "restricted");
        ck_assert_str_eq(policy_network_tier_name(NETWORK_ELEVATED), "elevated");
        ck_assert_str_eq(engine_kind_name(ENGINE_PODMAN), "podman");
}
END_TEST

/* The workspace cap: 1024 MiB by default, 0 allowed (no cap), overridable per agent. */
START_TEST(test_workspace_mb)
{
        struct policy_effective e;
        struct policy *p = parse_ok("[limits]\nworkspace_mb = 32\n"
                                    "[agent \"big\"]\nworkspace_mb = 4096\n"
                                    "[agent \"free\"]\nworkspace_mb = 0\n"
                                    "[agent \"other\"]\ndisk_mb = 8\n");
        json_t *j;

        ck_assert_int_eq(p->limits.workspace_mb, 32);
        ck_assert_int_eq(policy_resolve(p, "big", &e), 0);
        ck_assert_int_eq(e.limits.workspace_mb, 4096);
        ck_assert_int_eq(policy_resolve(p, "free", &e), 0);
        ck_assert_int_eq(e.limits.workspace_mb, 0);
        ck_assert_int_eq(policy_resolve(p, "other", &e), 0);
        ck_assert_int_eq(e.limits.workspace_mb, 32);
        ck_assert_int_eq(e.limits.disk_mb, 8);
        j = policy_to_json(p);
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_object_get(j, "limits"), "workspace_mb")), 32);
        json_decref(j);
        policy_unref(p);
        p = parse_ok("");
        ck_assert_int_eq(p->limits.workspace_mb, 1024);
        policy_unref(p);
}
END_TEST

static Suite *policy_suite(void)
{
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_empty_text_is_defaults);
        tcase_add_test(tc, test_shipped_file);
        tcase_add_test(tc, test_files_section);
        tcase_add_test(tc, test_good_values);
        tcase_add_loop_test(tc, test_bad_values, 0, (int)ARRAY_SIZE(bad_cases));
        tcase_add_test(tc, test_every_problem_reported);
        tcase_add_test(tc, test_problem_cap);
        tcase_add_test(tc, test_long_line);
        tcase_add_test(tc, test_runtime_catalog_merge);
        tcase_add_test(tc, test_too_many_runtimes);
        tcase_add_test(tc, test_network);
        tcase_add_test(tc, test_agent_cidrs);
        tcase_add_test(tc, test_domain_valid);
        tcase_add_test(tc, test_agents);
        tcase_add_test(tc, test_too_many_agents);
        tcase_add_test(tc, test_every_problem_in_agents);
        tcase_add_test(tc, test_host_keys);
        tcase_add_test(tc, test_text_sha256);
        tcase_add_test(tc, test_state_dir_override);
        tcase_add_test(tc, test_load);
        tcase_add_test(tc, test_refcount);
        tcase_add_test(tc, test_to_json);
        tcase_add_test(tc, test_helpers);
        tcase_add_test(tc, test_workspace_mb);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(policy_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
