#include "hostconfig.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "airlock/policy.h"

static json_t *strv_json(char *const *v)
{
        json_t *a = json_array();

        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

long long hostconfig_gvisor_pids(long long max_processes)
{
        return HOSTCONFIG_GVISOR_PIDS_HEADROOM + max_processes * HOSTCONFIG_GVISOR_TASKS_PER_PROC;
}

char *hostconfig_seccomp_gvisor(const char *text)
{
        json_t *prof = json_loads(text, 0, NULL), *rule;
        char *out = NULL;
        size_t i;

        json_array_foreach(json_object_get(prof, "syscalls"), i, rule)
        {
                json_t *names = json_object_get(rule, "names");

                if (json_array_size(names) == 1 &&
                    strcmp(json_string_value(json_array_get(names, 0)) ?: "", "clone3") == 0) {
                        json_object_set_new(rule, "action", json_string("SCMP_ACT_ALLOW"));
                        json_object_del(rule, "errnoRet");
                }
        }
        if (json_is_object(prof))
                out = json_dumps(prof, JSON_COMPACT);
        json_decref(prof);
        return out;
}

const char *hostconfig_runtime(enum isolation_tier t)
{
        return t == ISOLATION_GVISOR ? HOSTCONFIG_GVISOR_RUNTIME : NULL;
}

static json_t *labels_json(const struct sandbox_spec *spec, const char *kind)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "airlock.managed", "true",
                         "airlock.isolation", policy_isolation_name(spec->isolation),
                         "airlock.instance", spec->instance_id ? spec->instance_id : "",
                         "airlock.agent", spec->agent ? spec->agent : "", "airlock.session",
                         spec->session ? spec->session : "", "airlock.scope",
                         policy_scope_name(spec->scope), "airlock.kind", kind);
}

const char *const hostconfig_base_env[] = {
    "HOME=" SANDBOX_HOME,
    "PATH=" SANDBOX_PATH,
    "LANG=C.UTF-8",
    /* Plain `pip install X` installs for the user, into the install home. */
    "PYTHONUSERBASE=" SANDBOX_HOME "/.local",
    "PIP_USER=1",
    "PIP_DISABLE_PIP_VERSION_CHECK=1",
    /* `npm install -g X` goes to the install home; require() finds global and home packages. */
    "NPM_CONFIG_PREFIX=" SANDBOX_HOME "/.npm-global",
    "NODE_PATH=" SANDBOX_HOME "/.npm-global/lib/node_modules:" SANDBOX_HOME "/node_modules",
    "NPM_CONFIG_UPDATE_NOTIFIER=false",
    "NPM_CONFIG_FUND=false",
    "NPM_CONFIG_AUDIT=false",
    /* Airlock's shims (plots and images become artifacts); harmless where not mounted. */
    "PYTHONPATH=" SANDBOX_PYSHIMS,
    NULL,
};

static json_t *base_env(void)
{
        json_t *a = json_array();

        for (size_t i = 0; hostconfig_base_env[i]; i++)
                json_array_append_new(a, json_string(hostconfig_base_env[i]));
        return a;
}

void hostconfig_disk_split(int64_t disk_mb, long long *ret_tmp_kb, long long *ret_home_kb)
{
        long long kb = (long long)disk_mb * 1024;

        /* Half each; never 0, which a tmpfs reads as "no limit". */
        *ret_home_kb = kb / 2 > 512 ? kb / 2 : 512;
        *ret_tmp_kb = kb - *ret_home_kb > 512 ? kb - *ret_home_kb : 512;
}

/* Nothing of the host is mounted but airlock's exec shim (read-only) and the agent's workspace,
 * and the workspace only when the policy says. */
static json_t *bind_json(const char *src, const char *dst, bool ro)
{
        return json_pack("{s:s, s:s, s:s, s:b, s:{s:s}}", "Type", "bind", "Source", src, "Target",
                         dst, "ReadOnly", ro, "BindOptions", "Propagation", "rprivate");
}

static json_t *mounts_json(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                           const char *run_dir)
{
        json_t *m = json_array();

        if (run_dir && env->agent) {
                json_array_append_new(m, bind_json(env->agent, SANDBOX_AGENT, true));
                json_array_append_new(m, bind_json(run_dir, SANDBOX_RUN_DIR, false));
                if (env->lib_dir)
                        json_array_append_new(m, bind_json(env->lib_dir, SANDBOX_LIB, true));
        }
        if (env->hosts)
                json_array_append_new(m, bind_json(env->hosts, "/etc/hosts", true));

        if (env->exec_shim)
                json_array_append_new(m, json_pack("{s:s, s:s, s:s, s:b, s:{s:s}}", "Type", "bind",
                                                   "Source", env->exec_shim, "Target",
                                                   SANDBOX_EXEC_SHIM, "ReadOnly", 1, "BindOptions",
                                                   "Propagation", "rprivate"));

        if (env->pyshims)
                json_array_append_new(m, bind_json(env->pyshims, SANDBOX_PYSHIMS, true));

        if (spec->workspace != WORKSPACE_NONE && spec->workspace_dir)
                json_array_append_new(m, json_pack("{s:s, s:s, s:s, s:b, s:{s:s}}", "Type", "bind",
                                                   "Source", spec->workspace_dir, "Target",
                                                   SANDBOX_WORKSPACE, "ReadOnly",
                                                   spec->workspace == WORKSPACE_RO, "BindOptions",
                                                   "Propagation", "rprivate"));
        return m;
}

static const char *workdir_of(const struct sandbox_spec *spec)
{
        return spec->workspace != WORKSPACE_NONE && spec->workspace_dir ? SANDBOX_WORKSPACE
                                                                        : SANDBOX_HOME;
}

static json_t *ulimit(const char *name, long long v)
{
        return json_pack("{s:s, s:I, s:I}", "Name", name, "Soft", (json_int_t)v, "Hard",
                         (json_int_t)v);
}

static long long min_ll(long long a, long long b)
{
        return a < b ? a : b;
}

/* The fixed hardening: every field here is airlock's decision, never a client's. */
static json_t *host_config(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                           const char *run_dir)
{
        /* With the agent, it is the sandbox's first process and reaps; otherwise an init does. */
        bool agent = run_dir && env->agent;
        const struct limits *l = &spec->limits;
        char tmpfs_opts[96], home_opts[128], seccomp[32 + 4096];
        long long tmp_kb, home_kb;
        json_t *hc, *secopt;
        long long mem = l->memory_mb * 1024 * 1024;
        long long nofile = min_ll(env->ulimits.nofile > 0 ? env->ulimits.nofile : 1024, 1024);
        /* nproc counts every process of the uid on the host, across sandboxes; the pids cgroup
         * is the per-sandbox limit. Kept well under what an engine's own limits allow. */
        long long nproc = min_ll(env->ulimits.nproc > 0 ? env->ulimits.nproc : 8192, 8192);
        long long pids = spec->isolation == ISOLATION_GVISOR
                             ? hostconfig_gvisor_pids(l->max_processes)
                             : l->max_processes;

        hostconfig_disk_split(l->disk_mb, &tmp_kb, &home_kb);
        snprintf(tmpfs_opts, sizeof(tmpfs_opts), "rw,nosuid,nodev,size=%lldk,mode=1777", tmp_kb);
        /* The install home allows executing: packages' native extensions are loaded from it. */
        /* Docker: owned by the code's user through uid= and gid= (a mode alone would not do,
         * as Docker gives the tmpfs the mode of the working directory it made beneath); Podman
         * refuses those options but keeps the mode. */
        if (env->kind == ENGINE_PODMAN) {
                snprintf(home_opts, sizeof(home_opts), "rw,exec,nosuid,nodev,size=%lldk,mode=1777",
                         home_kb);
        } else {
                unsigned long uid = 0, gid = 0;

                if (!spec->exec_user || sscanf(spec->exec_user, "%lu:%lu", &uid, &gid) != 2)
                        uid = gid = 0;
                snprintf(home_opts, sizeof(home_opts),
                         "rw,exec,nosuid,nodev,size=%lldk,uid=%lu,gid=%lu,mode=0700", home_kb, uid,
                         gid);
        }
        secopt = json_pack("[s]", "no-new-privileges");
        if (env->kind == ENGINE_PODMAN && env->seccomp_path) {
                snprintf(seccomp, sizeof(seccomp), "seccomp=%s", env->seccomp_path);
                json_array_append_new(secopt, json_string(seccomp));
        } else if (env->seccomp_text) {
                const char *text = spec->isolation == ISOLATION_GVISOR && env->seccomp_text_gvisor
                                       ? env->seccomp_text_gvisor
                                       : env->seccomp_text;

                json_array_append_new(secopt, json_pack("s++", "seccomp=", text, ""));
        }
        hc = json_pack(
            "{s:b, s:[s], s:[], s:o, s:b, s:{s:s, s:s}, s:s, s:s, s:b, s:I, s:I, s:I, s:I,"
            " s:[o,o,o], s:{s:s, s:{}}, s:{s:s}, s:b, s:I, s:[], s:o, s:b, s:I}",
            "Init", !agent, "CapDrop", "ALL", "CapAdd", "SecurityOpt", secopt, "ReadonlyRootfs", 1,
            "Tmpfs", SANDBOX_WORKDIR, tmpfs_opts, SANDBOX_HOME, home_opts, "NetworkMode", "none",
            "IpcMode", "private", "Privileged", 0, "Memory", (json_int_t)mem, "MemorySwap",
            (json_int_t)mem, "NanoCpus", (json_int_t)llround(l->cpu_cores * 1e9), "PidsLimit",
            (json_int_t)pids, "Ulimits", ulimit("nofile", nofile), ulimit("nproc", nproc),
            ulimit("core", 0), "LogConfig", "Type", "none", "Config", "RestartPolicy", "Name", "no",
            "AutoRemove", 0, "ShmSize", (json_int_t)(min_ll(l->disk_mb, 64) * 1024 * 1024),
            "Devices", "Mounts", mounts_json(spec, env, run_dir), "PublishAllPorts", 0,
            "OomScoreAdj", (json_int_t)500);
        if (hc && hostconfig_runtime(spec->isolation))
                json_object_set_new(hc, "Runtime",
                                    json_string(hostconfig_runtime(spec->isolation)));
        /* gVisor 20221219 refuses every new thread under any RLIMIT_NPROC; its processes are
         * bounded by the pids cgroup alone (Docker only: Podman never makes this tier). */
        if (hc && spec->isolation == ISOLATION_GVISOR)
                json_array_remove(json_object_get(hc, "Ulimits"), 1);
        return hc;
}

static json_t *container_body(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                              const char *user, json_t *cmd, const char *kind, const char *run_dir)
{
        json_t *body =
            json_pack("{s:s, s:o, s:s, s:o, s:s, s:o, s:b, s:I, s:o}", "Image", spec->image, "Cmd",
                      cmd, "User", user, "Env", base_env(), "WorkingDir", workdir_of(spec),
                      "Labels", labels_json(spec, kind), "NetworkDisabled", 1, "StopTimeout",
                      (json_int_t)1, "HostConfig", host_config(spec, env, run_dir));
        return body;
}

json_t *hostconfig_sandbox_body(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                                const char *run_dir)
{
        json_t *cmd, *body;

        if (run_dir && env->agent) {
                /* The agent is PID 1, which code cannot signal (docs/agent-protocol.md). */
                cmd = spec->isolation == ISOLATION_GVISOR
                          ? json_pack("[s,s,s]", SANDBOX_AGENT, "--gvisor", SANDBOX_AGENT_SOCK)
                          : json_pack("[s,s]", SANDBOX_AGENT, SANDBOX_AGENT_SOCK);
                body = container_body(spec, env, spec->exec_user, cmd, "sandbox", run_dir);
                if (body)
                        json_object_set_new(json_object_get(body, "Labels"), "airlock.rundir",
                                            json_string(run_dir));
                return body;
        }
        /* The keeper runs as a different uid from the code, which cannot signal it. */
        cmd = json_pack("[s,s]", "sleep", "2147483647");
        return container_body(spec, env, spec->keeper_user, cmd, "sandbox", NULL);
}

json_t *hostconfig_oneshot_body(const struct sandbox_spec *spec, const struct hostconfig_env *env,
                                const struct exec_spec *x)
{
        json_t *body =
            container_body(spec, env, spec->exec_user, strv_json(x->argv), "oneshot", NULL);
        json_t *envs = json_object_get(body, "Env");

        for (size_t i = 0; x->env && x->env[i]; i++)
                json_array_append_new(envs, json_string(x->env[i]));
        if (x->workdir)
                json_object_set_new(body, "WorkingDir", json_string(x->workdir));
        json_object_set_new(body, "AttachStdin", json_true());
        json_object_set_new(body, "AttachStdout", json_true());
        json_object_set_new(body, "AttachStderr", json_true());
        json_object_set_new(body, "OpenStdin", json_true());
        json_object_set_new(body, "StdinOnce", json_true());
        json_object_set_new(body, "Tty", json_false());
        return body;
}

json_t *hostconfig_exec_body(const struct sandbox_spec *spec, const struct exec_spec *x,
                             const char *cgroup_name)
{
        json_t *envs = base_env(), *body, *cmd = json_pack("[s,s]", SANDBOX_EXEC_SHIM, cgroup_name);

        for (size_t i = 0; x->env && x->env[i]; i++)
                json_array_append_new(envs, json_string(x->env[i]));
        body = json_pack("{s:b, s:b, s:b, s:b, s:s, s:o, s:o, s:b}", "AttachStdin", 1,
                         "AttachStdout", 1, "AttachStderr", 1, "Tty", 0, "User", spec->exec_user,
                         "Env", envs, "Cmd", cmd, "Privileged", 0);
        for (size_t i = 0; body && x->argv && x->argv[i]; i++)
                json_array_append_new(cmd, json_string(x->argv[i]));
        /* Without a workdir the exec starts where the sandbox does (/workspace or /tmp). */
        if (body && x->workdir)
                json_object_set_new(body, "WorkingDir", json_string(x->workdir));
        return body;
}
