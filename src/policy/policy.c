/* The policy object: built-in defaults, reference counting, lookups and the JSON view.
 * The settings file parser lives in parse.c. */
#include "airlock/policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "policy/policy_private.h"

static const struct {
        const char *name, *image, *run, *shell;
} builtin_runtimes[] = {
    {"python", "airlock/python:3.11", "python3 -c", "sh -c"},
    {"node", "airlock/node:18", "node -e", "sh -c"},
    {"bash", "airlock/bash:5.2", "bash -c", "bash -c"},
    {"sh", "airlock/busybox:latest", "sh -c", "sh -c"},
};

bool policy_runtime_builtin(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(builtin_runtimes); i++)
                if (strcmp(builtin_runtimes[i].name, name) == 0)
                        return true;
        return false;
}

int policy_runtime_index(const struct policy *p, const char *name)
{
        if (!p || !name)
                return -1;
        for (size_t i = 0; i < p->n_runtimes; i++)
                if (strcmp(p->runtimes[i].name, name) == 0)
                        return (int)i;
        return -1;
}

const struct runtime *policy_runtime(const struct policy *p, const char *name)
{
        int i = policy_runtime_index(p, name);

        return i < 0 ? NULL : &p->runtimes[i];
}

static void runtime_clear(struct runtime *rt)
{
        free(rt->name);
        free(rt->image);
        util_strv_free(rt->run);
        util_strv_free(rt->shell);
        memset(rt, 0, sizeof(*rt));
}

int policy_runtime_add(struct policy *p, const char *name, const char *image, const char *run,
                       const char *shell, int line)
{
        struct runtime *rt, *nv;

        if (p->n_runtimes >= POLICY_RUNTIMES_MAX)
                return -E2BIG;
        nv = realloc(p->runtimes, (p->n_runtimes + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        p->runtimes = nv;
        rt = &p->runtimes[p->n_runtimes];
        memset(rt, 0, sizeof(*rt));
        rt->line = line;
        rt->name = strdup(name);
        if (!rt->name)
                goto oom;
        if (image && !(rt->image = strdup(image)))
                goto oom;
        if (run && !(rt->run = util_split_words(run)))
                goto oom;
        if (shell && !(rt->shell = util_split_words(shell)))
                goto oom;
        return (int)p->n_runtimes++;
oom:
        runtime_clear(rt);
        return -ENOMEM;
}

static void policy_free(struct policy *p)
{
        free(p->socket_path);
        free(p->socket_group);
        free(p->state_dir);
        free(p->log_level);
        free(p->engine_socket);
        free(p->seccomp_profile);
        free(p->workspace_root);
        free(p->default_runtime);
        free(p->exec_user);
        free(p->keeper_user);
        for (size_t i = 0; i < p->n_runtimes; i++)
                runtime_clear(&p->runtimes[i]);
        free(p->runtimes);
        free(p->source_path);
        free(p->text);
        free(p);
}

struct policy *policy_new_default(void)
{
        _cleanup_(policy_unrefp) struct policy *p = calloc(1, sizeof(*p));

        if (!p)
                return NULL;
        p->refs = 1;
        p->max_body_bytes = 1024 * 1024;
        p->max_connections = 256;
        p->engine_kind = ENGINE_DOCKER;
        p->mode = MODE_ALL;
        p->scope = SCOPE_SESSION;
        p->workspace = WORKSPACE_NONE;
        p->exec_uid = p->exec_gid = 1000;
        p->keeper_uid = p->keeper_gid = 65534;
        p->idle_timeout_s = 1800;
        p->limits = (struct limits){
            .cpu_cores = 1.0,
            .memory_mb = 512,
            .disk_mb = 256,
            .max_processes = 128,
            .timeout_s = 60,
            .output_bytes = 1024 * 1024,
        };
        if (!(p->socket_path = strdup("/run/airlock/airlock.sock")) ||
            !(p->socket_group = strdup("airlock")) ||
            !(p->state_dir = strdup("/var/lib/airlock")) || !(p->log_level = strdup("info")) ||
            !(p->engine_socket = strdup("/var/run/docker.sock")) ||
            !(p->seccomp_profile = strdup("")) ||
            !(p->workspace_root = strdup("/var/lib/airlock/workspaces")) ||
            !(p->default_runtime = strdup("bash")) || !(p->exec_user = strdup("1000:1000")) ||
            !(p->keeper_user = strdup("65534:65534")) || !(p->text = strdup("")))
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(builtin_runtimes); i++)
                if (policy_runtime_add(p, builtin_runtimes[i].name, builtin_runtimes[i].image,
                                       builtin_runtimes[i].run, builtin_runtimes[i].shell, 0) < 0)
                        return NULL;
        return TAKE_PTR(p);
}

struct policy *policy_ref(struct policy *p)
{
        if (p)
                __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
        return p;
}

void policy_unref(struct policy *p)
{
        /* Acquire-release so the last owner sees every other owner's reads finished. */
        if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
                policy_free(p);
}

void policy_problems_free(struct policy_problems *p)
{
        if (!p)
                return;
        free(p->items);
        p->items = NULL;
        p->n = 0;
}

const char *policy_mode_name(enum policy_mode m)
{
        switch (m) {
        case MODE_OFF:
                return "off";
        case MODE_SELECTIVE:
                return "selective";
        case MODE_ALL:
                return "all";
        }
        return "unknown";
}

const char *policy_scope_name(enum policy_scope s)
{
        switch (s) {
        case SCOPE_SESSION:
                return "session";
        case SCOPE_AGENT:
                return "agent";
        case SCOPE_SHARED:
                return "shared";
        }
        return "unknown";
}

const char *policy_workspace_name(enum policy_workspace w)
{
        switch (w) {
        case WORKSPACE_NONE:
                return "none";
        case WORKSPACE_RO:
                return "ro";
        case WORKSPACE_RW:
                return "rw";
        }
        return "unknown";
}

const char *engine_kind_name(enum engine_kind k)
{
        switch (k) {
        case ENGINE_DOCKER:
                return "docker";
        case ENGINE_PODMAN:
                return "podman";
        }
        return "unknown";
}

int policy_parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int policy_parse_user(const char *s, uint32_t *ret_uid, uint32_t *ret_gid)
{
        _cleanup_free_ char *copy = NULL;
        int64_t uid, gid;
        char *colon;
        int r1, r2;

        if (!s || !(colon = strchr(s, ':')))
                return -EINVAL;
        copy = strndup(s, (size_t)(colon - s));
        if (!copy)
                return -ENOMEM;
        /* 4294967295 is (uid_t)-1, "no change" to the kernel; 0 is root. */
        r1 = util_parse_int64(copy, 0, 4294967294LL, &uid);
        r2 = util_parse_int64(colon + 1, 0, 4294967294LL, &gid);
        if (r1 < 0 || r2 < 0)
                return -EINVAL;
        if (uid == 0 || gid == 0)
                return -EPERM;
        *ret_uid = (uint32_t)uid;
        *ret_gid = (uint32_t)gid;
        return 0;
}

static json_t *strv_to_json(char *const *v)
{
        json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; v && v[i]; i++)
                if (json_array_append_new(a, json_string(v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *runtimes_to_json(const struct policy *p)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < p->n_runtimes; i++) {
                const struct runtime *rt = &p->runtimes[i];
                json_t *e = json_pack("{s:s?, s:o?, s:o?, s:b}", "image", rt->image, "run",
                                      strv_to_json(rt->run), "shell", strv_to_json(rt->shell),
                                      "builtin", rt->line == 0);

                if (!e || json_object_set_new(o, rt->name, e) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

json_t *policy_to_json(const struct policy *p)
{
        if (!p)
                return NULL;
        /* json_pack steals the "o" arguments, also when it fails. */
        return json_pack(
            "{s:s?, s:{s:s, s:s, s:s, s:I, s:I, s:s}, s:{s:s, s:s, s:s},"
            " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I},"
            " s:{s:f, s:I, s:I, s:I, s:I, s:I}, s:o}",
            "source", p->source_path, "daemon", "socket", p->socket_path, "socket_group",
            p->socket_group, "state_dir", p->state_dir, "max_body_kb",
            (json_int_t)(p->max_body_bytes / 1024), "max_connections",
            (json_int_t)p->max_connections, "log_level", p->log_level, "engine", "kind",
            engine_kind_name(p->engine_kind), "socket", p->engine_socket, "seccomp_profile",
            p->seccomp_profile, "sandbox", "mode", policy_mode_name(p->mode), "scope",
            policy_scope_name(p->scope), "workspace", policy_workspace_name(p->workspace),
            "workspace_root", p->workspace_root, "default_runtime", p->default_runtime, "exec_user",
            p->exec_user, "keeper_user", p->keeper_user, "idle_timeout_s",
            (json_int_t)p->idle_timeout_s, "limits", "cpu_cores", p->limits.cpu_cores, "memory_mb",
            (json_int_t)p->limits.memory_mb, "disk_mb", (json_int_t)p->limits.disk_mb,
            "max_processes", (json_int_t)p->limits.max_processes, "timeout_s",
            (json_int_t)p->limits.timeout_s, "output_kb",
            (json_int_t)(p->limits.output_bytes / 1024), "runtimes", runtimes_to_json(p));
}
