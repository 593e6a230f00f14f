/* The policy object: built-in defaults, reference counting, lookups and the JSON view.
 * The settings file parser lives in parse*.c. Slightly over 800 lines: the defaults and the
 * JSON view list every setting once each, side by side with the struct they fill. */
#include "airlock/policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include "airlock/cleanup.h"
#include "airlock/sha256.h"
#include "airlock/util.h"
#include "policy/policy_private.h"

/* The images images/build-local.sh makes. A bare name is the seed's default version: Python
 * 3.11 with the data-science packages, Node 20; a versioned name pins one. */
static const struct {
        const char *name, *image, *run, *shell;
} builtin_runtimes[] = {
    {"python", "airlock/python:3.11", "python3 -c", "sh -c"},
    {"python3.11", "airlock/python:3.11", "python3 -c", "sh -c"},
    {"python3.13", "airlock/python:3.13", "python3 -c", "sh -c"},
    {"node", "airlock/node:20", "node -e", "sh -c"},
    {"node18", "airlock/node:18", "node -e", "sh -c"},
    {"node20", "airlock/node:20", "node -e", "sh -c"},
    {"node22", "airlock/node:22", "node -e", "sh -c"},
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

int policy_runtime_pool(const struct policy *p, const struct runtime *rt)
{
        if (rt->pool >= 0)
                return rt->pool;
        return p->default_runtime && strcmp(rt->name, p->default_runtime) == 0 ? (int)p->pool_size
                                                                               : 0;
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
        free(rt->image_gvisor);
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
        rt->pool = -1;
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

static void agent_clear(struct policy_agent *a)
{
        free(a->name);
        free(a->default_runtime);
        util_strv_free(a->runtimes);
        util_strv_free(a->allowed_domains);
        util_strv_free(a->blocked_domains);
        free(a->provider);
        util_strv_free(a->allowed_cidrs);
        memset(a, 0, sizeof(*a));
}

int policy_agent_index(const struct policy *p, const char *name)
{
        if (!p || !name)
                return -1;
        for (size_t i = 0; i < p->n_agents; i++)
                if (strcmp(p->agents[i].name, name) == 0)
                        return (int)i;
        return -1;
}

const struct policy_agent *policy_agent(const struct policy *p, const char *name)
{
        int i = policy_agent_index(p, name);

        return i < 0 ? NULL : &p->agents[i];
}

int policy_agent_add(struct policy *p, const char *name, int line)
{
        struct policy_agent *nv;

        if (p->n_agents >= POLICY_AGENTS_MAX)
                return -E2BIG;
        nv = realloc(p->agents, (p->n_agents + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        p->agents = nv;
        nv = &p->agents[p->n_agents];
        memset(nv, 0, sizeof(*nv));
        nv->line = line;
        nv->name = strdup(name);
        if (!nv->name)
                return -ENOMEM;
        return (int)p->n_agents++;
}

int policy_strv_push(char ***v, const char *s)
{
        size_t n = util_strv_len(*v);
        char **nv, *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[n] = copy;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

bool policy_strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

static void policy_host_free(struct host_options *o)
{
        struct policy_host *h = (struct policy_host *)o;

        if (!h)
                return;
        free(h->user);
        free(h->seccomp_deny);
        free(h->cgroup_parent);
        free(h->default_path);
        free(h);
}

int policy_host_set(struct policy *p, enum policy_host_string which, const char *v)
{
        struct policy_host *h = (struct policy_host *)p->host;
        char *copy = strdup(v);

        if (!copy)
                return -ENOMEM;
        switch (which) {
        case POLICY_HOST_USER:
                free(h->user);
                h->opt.user = h->user = copy;
                break;
        case POLICY_HOST_SECCOMP_DENY:
                free(h->seccomp_deny);
                h->opt.seccomp_deny = h->seccomp_deny = copy;
                break;
        case POLICY_HOST_CGROUP_PARENT:
                free(h->cgroup_parent);
                h->opt.cgroup_parent = h->cgroup_parent = copy;
                break;
        case POLICY_HOST_PATH:
                free(h->default_path);
                h->opt.default_path = h->default_path = copy;
                break;
        }
        return 0;
}

/* The host backend's defaults, with the strings copied so that the policy owns them. */
static struct host_options *policy_host_new(void)
{
        struct policy_host *h = calloc(1, sizeof(*h));
        struct host_options d;

        if (!h)
                return NULL;
        host_options_default(&d);
        h->opt = d;
        h->opt.user = h->user = strdup(d.user ? d.user : "");
        h->opt.seccomp_deny = h->seccomp_deny = strdup(d.seccomp_deny ? d.seccomp_deny : "");
        h->opt.cgroup_parent = h->cgroup_parent = strdup(d.cgroup_parent ? d.cgroup_parent : "");
        h->opt.default_path = h->default_path = strdup(d.default_path ? d.default_path : "");
        /* The daemon's own paths, not settings: it fills them in. */
        h->opt.workspace_root = NULL;
        memset(h->opt.hide_paths, 0, sizeof(h->opt.hide_paths));
        if (!h->user || !h->seccomp_deny || !h->cgroup_parent || !h->default_path) {
                policy_host_free(&h->opt);
                return NULL;
        }
        return &h->opt;
}

int policy_set_state_dir(struct policy *p, const char *dir)
{
        char *sd = strdup(dir), *ws = NULL;

        if (!sd || (!p->workspace_root_set && asprintf(&ws, "%s/workspaces", dir) < 0)) {
                free(sd);
                return -ENOMEM;
        }
        free(p->state_dir);
        p->state_dir = sd;
        if (ws) {
                free(p->workspace_root);
                p->workspace_root = ws;
        }
        return 0;
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
        free(p->selective_rules);
        free(p->monitor_listen);
        free(p->mcp_listen);
        free(p->e2b_listen);
        for (size_t i = 0; i < p->n_runtimes; i++)
                runtime_clear(&p->runtimes[i]);
        free(p->runtimes);
        util_strv_free(p->network.allowed);
        util_strv_free(p->network.blocked);
        util_strv_free(p->network.cidrs);
        for (size_t i = 0; i < p->n_agents; i++)
                agent_clear(&p->agents[i]);
        free(p->agents);
        for (size_t i = 0; i < p->n_providers; i++)
                policy_provider_clear(&p->providers[i]);
        free(p->providers);
        policy_host_free(p->host);
        policy_access_free(p);
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
        p->files.upload_bytes = 64ll << 20;
        p->files.download_bytes = 64ll << 20;
        p->files.entries_max = 10000;
        p->files.artifacts_max = 32;
        p->files.artifact_inline_bytes = 1 << 20;
        p->files.artifact_bytes = 64ll << 20;
        p->max_connections = 256;
        if (policy_access_init(p) < 0)
                return NULL;
        p->engine_kind = ENGINE_DOCKER;
        p->mode = MODE_ALL;
        p->scope = SCOPE_SESSION;
        p->workspace = WORKSPACE_NONE;
        p->exec_uid = p->exec_gid = POLICY_EXEC_ID_DEFAULT;
        p->keeper_uid = p->keeper_gid = POLICY_KEEPER_ID_DEFAULT;
        p->idle_timeout_s = 1800;
        p->pool_size = 1;
        p->max_contexts_per_sandbox = 8;
        p->context_idle_timeout_s = 1800;
        p->snapshots.max_bytes = 1ll << 30;
        p->snapshots.quota_bytes = 4ll << 30;
        p->snapshots.retention_s = 7 * 86400;
        p->limits = (struct limits){
            .cpu_cores = 1.0,
            .memory_mb = 512,
            .disk_mb = 256,
            .max_processes = 128,
            .timeout_s = 60,
            .output_bytes = 1024 * 1024,
            .workspace_mb = 1024,
        };
        if (!(p->socket_path = strdup("/run/airlock/airlock.sock")) ||
            !(p->socket_group = strdup("airlock")) ||
            !(p->state_dir = strdup("/var/lib/airlock")) || !(p->log_level = strdup("info")) ||
            !(p->engine_socket = strdup("/var/run/docker.sock")) ||
            !(p->seccomp_profile = strdup("")) ||
            !(p->workspace_root = strdup("/var/lib/airlock/workspaces")) ||
            !(p->default_runtime = strdup("bash")) ||
            !(p->exec_user = strdup("2000100000:2000100000")) ||
            !(p->keeper_user = strdup("2000100001:2000100001")) || !(p->text = strdup("")) ||
            !(p->selective_rules = strdup("")) || !(p->monitor_listen = strdup("")) ||
            !(p->mcp_listen = strdup("")) || !(p->e2b_listen = strdup("")) ||
            !(p->network.allowed = calloc(1, sizeof(char *))) ||
            !(p->network.blocked = calloc(1, sizeof(char *))) ||
            !(p->network.cidrs = calloc(1, sizeof(char *))) || !(p->host = policy_host_new()))
                return NULL;
        p->network.tier = NETWORK_RESTRICTED;
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

const char *policy_isolation_name(enum isolation_tier t)
{
        switch (t) {
        case ISOLATION_CONTAINER:
                return "container";
        case ISOLATION_GVISOR:
                return "gvisor";
        case ISOLATION_TIERS:
                break;
        }
        return "unknown";
}

int policy_isolation_parse(const char *s, enum isolation_tier *ret)
{
        for (int t = 0; s && t < ISOLATION_TIERS; t++)
                if (strcmp(s, policy_isolation_name((enum isolation_tier)t)) == 0) {
                        *ret = (enum isolation_tier)t;
                        return 0;
                }
        return -EINVAL;
}

const char *policy_runtime_image(const struct runtime *rt, enum isolation_tier t)
{
        return t == ISOLATION_GVISOR && rt->image_gvisor ? rt->image_gvisor : rt->image;
}

const char *policy_network_tier_name(enum policy_network_tier t)
{
        switch (t) {
        case NETWORK_RESTRICTED:
                return "restricted";
        case NETWORK_STANDARD:
                return "standard";
        case NETWORK_ELEVATED:
                return "elevated";
        }
        return "unknown";
}

bool policy_domain_valid(const char *s)
{
        size_t n, label = 0;

        if (!s)
                return false;
        if (s[0] == '*' && s[1] == '.')
                s += 2;
        n = strlen(s);
        if (n == 0 || n > POLICY_DOMAIN_LEN_MAX)
                return false;
        for (size_t i = 0; i <= n; i++) {
                char ch = s[i];

                if (ch == '.' || ch == '\0') {
                        /* Empty labels ("a..b", ".a", "a.") and '-' at a label's ends are not
                         * host names any resolver would ask for. */
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
                        return false;
                label++;
        }
        return true;
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

json_t *policy_strv_to_json(char *const *v)
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
                json_t *e = json_pack(
                    "{s:s?, s:s?, s:o?, s:o?, s:b, s:i, s:i}", "image", rt->image, "image_gvisor",
                    policy_runtime_image(rt, ISOLATION_GVISOR), "run", policy_strv_to_json(rt->run),
                    "shell", policy_strv_to_json(rt->shell), "builtin", rt->line == 0, "pool",
                    policy_runtime_pool(p, rt), "pool_gvisor", rt->pool_gvisor);

                if (!e || json_object_set_new(o, rt->name, e) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

json_t *policy_network_to_json(enum policy_network_tier tier, char *const *allowed,
                               char *const *blocked, char *const *cidrs)
{
        return json_pack("{s:s, s:o, s:o, s:o}", "tier", policy_network_tier_name(tier),
                         "allowed_domains", policy_strv_to_json(allowed), "blocked_domains",
                         policy_strv_to_json(blocked), "allowed_cidrs", policy_strv_to_json(cidrs));
}

/* Set key to v in o, consuming v; false (o left as is) when either is NULL or on failure. */
static bool set_new(json_t *o, const char *key, json_t *v)
{
        return v && json_object_set_new(o, key, v) == 0;
}

json_t *policy_agent_to_json(const struct policy_agent *a)
{
        json_t *o = json_object();
        bool ok = o != NULL;
        unsigned set = a->set;

        if (ok && (set & POLICY_AGENT_MODE))
                ok = set_new(o, "mode", json_string(policy_mode_name(a->mode)));
        if (ok && (set & POLICY_AGENT_SCOPE))
                ok = set_new(o, "scope", json_string(policy_scope_name(a->scope)));
        if (ok && (set & POLICY_AGENT_WORKSPACE))
                ok = set_new(o, "workspace", json_string(policy_workspace_name(a->workspace)));
        if (ok && (set & POLICY_AGENT_CPU_CORES))
                ok = set_new(o, "cpu_cores", json_real(a->limits.cpu_cores));
        if (ok && (set & POLICY_AGENT_MEMORY_MB))
                ok = set_new(o, "memory_mb", json_integer(a->limits.memory_mb));
        if (ok && (set & POLICY_AGENT_DISK_MB))
                ok = set_new(o, "disk_mb", json_integer(a->limits.disk_mb));
        if (ok && (set & POLICY_AGENT_MAX_PROCESSES))
                ok = set_new(o, "max_processes", json_integer(a->limits.max_processes));
        if (ok && (set & POLICY_AGENT_TIMEOUT_S))
                ok = set_new(o, "timeout_s", json_integer(a->limits.timeout_s));
        if (ok && (set & POLICY_AGENT_OUTPUT_KB))
                ok = set_new(o, "output_kb", json_integer(a->limits.output_bytes / 1024));
        if (ok && (set & POLICY_AGENT_WORKSPACE_MB))
                ok = set_new(o, "workspace_mb", json_integer(a->limits.workspace_mb));
        if (ok && (set & POLICY_AGENT_NETWORK))
                ok = set_new(o, "network", json_string(policy_network_tier_name(a->network)));
        if (ok && (set & POLICY_AGENT_DEFAULT_RUNTIME))
                ok = set_new(o, "default_runtime", json_string(a->default_runtime));
        if (ok && (set & POLICY_AGENT_RUNTIMES))
                ok = set_new(o, "runtimes", policy_strv_to_json(a->runtimes));
        if (ok && (set & POLICY_AGENT_ALLOWED_DOMAINS))
                ok = set_new(o, "allowed_domains", policy_strv_to_json(a->allowed_domains));
        if (ok && (set & POLICY_AGENT_BLOCKED_DOMAINS))
                ok = set_new(o, "blocked_domains", policy_strv_to_json(a->blocked_domains));
        if (ok && a->provider)
                ok = set_new(o, "backend", json_sprintf("provider:%s", a->provider));
        if (ok && (set & POLICY_AGENT_ALLOWED_CIDRS))
                ok = set_new(o, "allowed_cidrs", policy_strv_to_json(a->allowed_cidrs));
        if (ok && (set & POLICY_AGENT_ISOLATION))
                ok = set_new(o, "isolation", json_string(policy_isolation_name(a->isolation)));
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *agents_to_json(const struct policy *p)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < p->n_agents; i++) {
                if (!set_new(o, p->agents[i].name, policy_agent_to_json(&p->agents[i]))) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

/* An rlimit setting: "auto", or the number (0 = unlimited). */
static json_t *rlimit_to_json(int64_t v)
{
        return v == HOST_RLIMIT_AUTO ? json_string("auto") : json_integer(v);
}

static json_t *host_to_json(const struct host_options *h)
{
        return json_pack("{s:s?, s:s?, s:b, s:b, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:s?,"
                         " s:I, s:o, s:o, s:o, s:o, s:o, s:s?}",
                         "user", h->user, "seccomp_deny", h->seccomp_deny, "no_new_privs",
                         h->no_new_privs, "drop_capabilities", h->drop_capabilities,
                         "network_namespace", host_toggle_name(h->network_namespace),
                         "mount_namespace", host_toggle_name(h->mount_namespace), "pid_namespace",
                         host_toggle_name(h->pid_namespace), "ipc_namespace",
                         host_toggle_name(h->ipc_namespace), "cgroup", host_toggle_name(h->cgroup),
                         "read_only_root", h->read_only_root, "private_tmp", h->private_tmp,
                         "mount_proc", h->mount_proc, "cgroup_parent", h->cgroup_parent, "prestart",
                         (json_int_t)h->prestart, "rlimit_cpu_s", rlimit_to_json(h->rlimit_cpu_s),
                         "rlimit_as_mb", rlimit_to_json(h->rlimit_as_mb), "rlimit_fsize_mb",
                         rlimit_to_json(h->rlimit_fsize_mb), "rlimit_nofile",
                         rlimit_to_json(h->rlimit_nofile), "rlimit_nproc",
                         rlimit_to_json(h->rlimit_nproc), "path", h->default_path);
}

json_t *policy_to_json(const struct policy *p)
{
        json_t *o;

        if (!p)
                return NULL;
        /* json_pack steals the "o" arguments, also when it fails. */
        o = json_pack(
            "{s:s?, s:s, s:{s:s, s:s, s:s, s:I, s:I, s:s}, s:{s:s, s:s, s:s},"
            " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s},"
            " s:{s:f, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
            "source", p->source_path, "sha256", "", "daemon", "socket", p->socket_path,
            "socket_group", p->socket_group, "state_dir", p->state_dir, "max_body_kb",
            (json_int_t)(p->max_body_bytes / 1024), "max_connections",
            (json_int_t)p->max_connections, "log_level", p->log_level, "engine", "kind",
            engine_kind_name(p->engine_kind), "socket", p->engine_socket, "seccomp_profile",
            p->seccomp_profile, "sandbox", "mode", policy_mode_name(p->mode), "scope",
            policy_scope_name(p->scope), "workspace", policy_workspace_name(p->workspace),
            "workspace_root", p->workspace_root, "default_runtime", p->default_runtime, "exec_user",
            p->exec_user, "keeper_user", p->keeper_user, "idle_timeout_s",
            (json_int_t)p->idle_timeout_s, "pool_size", (json_int_t)p->pool_size,
            "max_contexts_per_sandbox", (json_int_t)p->max_contexts_per_sandbox,
            "context_idle_timeout_s", (json_int_t)p->context_idle_timeout_s, "selective_rules",
            p->selective_rules, "limits", "cpu_cores", p->limits.cpu_cores, "memory_mb",
            (json_int_t)p->limits.memory_mb, "disk_mb", (json_int_t)p->limits.disk_mb,
            "max_processes", (json_int_t)p->limits.max_processes, "timeout_s",
            (json_int_t)p->limits.timeout_s, "output_kb",
            (json_int_t)(p->limits.output_bytes / 1024), "workspace_mb",
            (json_int_t)p->limits.workspace_mb, "runtimes", runtimes_to_json(p));
        if (o) {
                char sha[65];

                policy_text_sha256(p, sha);
                if (!set_new(o, "sha256", json_string(sha)) ||
                    !set_new(o, "network",
                             policy_network_to_json(p->network.tier, p->network.allowed,
                                                    p->network.blocked, p->network.cidrs)) ||
                    !set_new(o, "agents", agents_to_json(p)) ||
                    !set_new(o, "providers", policy_providers_to_json(p)) ||
                    !set_new(json_object_get(o, "sandbox"), "isolation",
                             json_string(policy_isolation_name(p->isolation))) ||
                    !set_new(o, "monitor", json_pack("{s:s}", "listen", p->monitor_listen)) ||
                    !set_new(o, "mcp", json_pack("{s:s}", "listen", p->mcp_listen)) ||
                    !set_new(o, "e2b", json_pack("{s:s}", "listen", p->e2b_listen)) ||
                    !set_new(o, "files",
                             json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "upload_mb",
                                       (json_int_t)(p->files.upload_bytes >> 20), "download_mb",
                                       (json_int_t)(p->files.download_bytes >> 20), "entries_max",
                                       (json_int_t)p->files.entries_max, "artifacts_max",
                                       (json_int_t)p->files.artifacts_max, "artifact_inline_kb",
                                       (json_int_t)(p->files.artifact_inline_bytes >> 10),
                                       "artifact_mb",
                                       (json_int_t)(p->files.artifact_bytes >> 20))) ||
                    !set_new(o, "host", host_to_json(p->host)) || !policy_access_to_json(p, o) ||
                    !set_new(o, "snapshots",
                             json_pack("{s:I, s:I, s:I, s:I, s:s}", "idle_suspend_s",
                                       (json_int_t)p->snapshots.idle_suspend_s, "snapshot_max_mb",
                                       (json_int_t)(p->snapshots.max_bytes >> 20),
                                       "snapshot_quota_mb",
                                       (json_int_t)(p->snapshots.quota_bytes >> 20),
                                       "snapshot_retention_s", (json_int_t)p->snapshots.retention_s,
                                       "memory_snapshots", p->snapshots.memory ? "criu" : "off"))) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

void policy_text_sha256(const struct policy *p, char out[65])
{
        const char *text = p && p->text ? p->text : "";

        sha256_hex(text, strlen(text), out);
}

int policy_read_admin_file(const char *path, size_t max, char **ret_text,
                           struct policy_problems *problems, struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        const char *nul;
        int r, line = 1;

        if (problems) {
                problems->items = NULL;
                problems->n = 0;
        }
        r = util_read_admin_file(path, max, &text, &len, err);
        if (r < 0)
                return r;
        nul = memchr(text, '\0', len);
        if (!nul) {
                *ret_text = TAKE_PTR(text);
                return 0;
        }
        for (const char *s = text; s < nul; s++)
                line += *s == '\n';
        if (problems) {
                problems->items = calloc(1, sizeof(*problems->items));
                if (problems->items) {
                        problems->n = 1;
                        problems->items[0].line = line;
                        snprintf(problems->items[0].msg, sizeof(problems->items[0].msg),
                                 "contains a NUL byte");
                }
        }
        return al_err(err, -EINVAL, "%s:%d: contains a NUL byte", path, line);
}

int policy_problems_fail(struct policy_problems *ps, const char *source, struct al_error *err)
{
        /* By line; a stable insertion sort keeps the order found within a line. */
        for (size_t i = 1; i < ps->n; i++) {
                struct policy_problem tmp = ps->items[i];
                size_t j = i;

                while (j > 0 && ps->items[j - 1].line > tmp.line) {
                        ps->items[j] = ps->items[j - 1];
                        j--;
                }
                ps->items[j] = tmp;
        }
        if (ps->items[0].line > 0)
                al_err(err, -EINVAL, "%s:%d: %s", source, ps->items[0].line, ps->items[0].msg);
        else
                al_err(err, -EINVAL, "%s: %s", source, ps->items[0].msg);
        if (ps->n > 1 && err) {
                size_t n = strlen(err->msg);

                snprintf(err->msg + n, sizeof(err->msg) - n, " (%zu problems)", ps->n);
        }
        return -EINVAL;
}

int policy_problems_addv(struct policy_problems *ps, int line, const char *fmt, va_list ap)
{
        struct policy_problem *nv;

        if (ps->n >= POLICY_PROBLEMS_MAX)
                return 0;
        nv = realloc(ps->items, (ps->n + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        ps->items = nv;
        nv = &ps->items[ps->n++];
        nv->line = line;
        if (ps->n == POLICY_PROBLEMS_MAX) {
                /* A file of garbage must not cost unbounded memory. */
                snprintf(nv->msg, sizeof(nv->msg), "too many problems; stopped reporting here");
                return 0;
        }
        vsnprintf(nv->msg, sizeof(nv->msg), fmt, ap);
        return 0;
}
