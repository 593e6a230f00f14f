/* The settings file's keys: the table of what each key is and accepts, and the value parsers
 * that check a value and store it in the policy. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "policy/parse_private.h"
#include "policy/policy_private.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const engine_kinds[] = {"docker", "podman", NULL};
static const char *const modes[] = {"off", "selective", "all", NULL};
static const char *const scopes[] = {"session", "agent", "shared", NULL};
static const char *const workspaces[] = {"none", "ro", "rw", NULL};
static const char *const tiers[] = {"restricted", "standard", "elevated", NULL};
static const char *const memory_snapshots[] = {"off", "criu", NULL};
static const char *const isolations[] = {"container", "gvisor", NULL};

/* Indexed by enum key_id; the ranges are the documented ones (docs/configuration.md). */
const struct key_def parse_keys[K__MAX] = {
    [K_SOCKET] = {SEC_DAEMON, "socket", V_SOCKET},
    [K_SOCKET_GROUP] = {SEC_DAEMON, "socket_group", V_NAME, .max = 32},
    [K_STATE_DIR] = {SEC_DAEMON, "state_dir", V_PATH},
    [K_MAX_BODY_KB] = {SEC_DAEMON, "max_body_kb", V_INT, 1, 65536, 1024},
    [K_MAX_CONNECTIONS] = {SEC_DAEMON, "max_connections", V_INT, 1, 65536, 1},
    [K_LOG_LEVEL] = {SEC_DAEMON, "log_level", V_ENUM, .choices = log_levels},
    /* The caps on clients: docs/security.md. */
    [K_MAX_HEADER_KB] = {SEC_DAEMON, "max_header_kb", V_INT, 4, 1024, 1024},
    [K_MAX_CONNECTIONS_PER_UID] = {SEC_DAEMON, "max_connections_per_uid", V_INT, 0, 65536, 1},
    [K_RESERVED_CONNECTIONS] = {SEC_DAEMON, "reserved_connections", V_INT, 0, 16384, 1},
    [K_READ_TIMEOUT_S] = {SEC_DAEMON, "read_timeout_s", V_INT, 1, 3600, 1},
    [K_RATE_PER_MIN] = {SEC_DAEMON, "rate_per_min", V_INT, 0, 1000000, 1},
    [K_MAX_CONCURRENT] = {SEC_DAEMON, "max_concurrent", V_INT, 0, 65536, 1},
    [K_MAX_EXECS] = {SEC_DAEMON, "max_execs", V_INT, 1, 65536, 1},
    [K_QUEUE_MAX] = {SEC_DAEMON, "queue_max", V_INT, 0, 65536, 1},
    [K_QUEUE_TIMEOUT_S] = {SEC_DAEMON, "queue_timeout_s", V_INT, 0, 3600, 1},
    [K_MAX_SANDBOXES] = {SEC_DAEMON, "max_sandboxes", V_INT, 1, 65536, 1},
    [K_MAX_SANDBOXES_PER_AGENT] = {SEC_DAEMON, "max_sandboxes_per_agent", V_INT, 1, 65536, 1},
    [K_ADMIN_UIDS] = {SEC_ACCESS, "admin_uids", V_UIDS},
    [K_ADMIN_GROUPS] = {SEC_ACCESS, "admin_groups", V_GROUPS},
    [K_ENGINE_KIND] = {SEC_ENGINE, "kind", V_ENUM, .choices = engine_kinds},
    [K_ENGINE_SOCKET] = {SEC_ENGINE, "socket", V_SOCKET},
    [K_SECCOMP_PROFILE] = {SEC_ENGINE, "seccomp_profile", V_PATH_OR_EMPTY},
    [K_MODE] = {SEC_SANDBOX, "mode", V_ENUM, .choices = modes},
    [K_SCOPE] = {SEC_SANDBOX, "scope", V_ENUM, .choices = scopes},
    [K_WORKSPACE] = {SEC_SANDBOX, "workspace", V_ENUM, .choices = workspaces},
    [K_WORKSPACE_ROOT] = {SEC_SANDBOX, "workspace_root", V_PATH},
    [K_DEFAULT_RUNTIME] = {SEC_SANDBOX, "default_runtime", V_NAME, .max = 64},
    [K_EXEC_USER] = {SEC_SANDBOX, "exec_user", V_USER},
    [K_KEEPER_USER] = {SEC_SANDBOX, "keeper_user", V_USER},
    [K_IDLE_TIMEOUT] = {SEC_SANDBOX, "idle_timeout_s", V_INT, 0, 604800, 1},
    [K_POOL_SIZE] = {SEC_SANDBOX, "pool_size", V_INT, 0, 64, 1},
    [K_MAX_CONTEXTS] = {SEC_SANDBOX, "max_contexts_per_sandbox", V_INT, 0, 32, 1},
    [K_CONTEXT_IDLE_TIMEOUT] = {SEC_SANDBOX, "context_idle_timeout_s", V_INT, 0, 604800, 1},
    [K_SELECTIVE_RULES] = {SEC_SANDBOX, "selective_rules", V_PATH_OR_EMPTY},
    /* Suspend and resume: docs/suspend.md. */
    [K_IDLE_SUSPEND] = {SEC_SANDBOX, "idle_suspend_s", V_INT, 0, 604800, 1},
    [K_SNAPSHOT_MAX_MB] = {SEC_SANDBOX, "snapshot_max_mb", V_INT, 1, 65536, 1 << 20},
    [K_SNAPSHOT_QUOTA_MB] = {SEC_SANDBOX, "snapshot_quota_mb", V_INT, 0, 16777216, 1 << 20},
    [K_SNAPSHOT_RETENTION] = {SEC_SANDBOX, "snapshot_retention_s", V_INT, 0, 31536000, 1},
    [K_MEMORY_SNAPSHOTS] = {SEC_SANDBOX, "memory_snapshots", V_ENUM, .choices = memory_snapshots},
    [K_ISOLATION] = {SEC_SANDBOX, "isolation", V_ENUM, .choices = isolations},
    [K_CPU_CORES] = {SEC_LIMITS, "cpu_cores", V_DOUBLE, .dmin = 0.01, .dmax = 64},
    [K_MEMORY_MB] = {SEC_LIMITS, "memory_mb", V_INT, 16, 1048576, 1},
    [K_DISK_MB] = {SEC_LIMITS, "disk_mb", V_INT, 1, 1048576, 1},
    [K_MAX_PROCESSES] = {SEC_LIMITS, "max_processes", V_INT, 8, 65536, 1},
    [K_TIMEOUT_S] = {SEC_LIMITS, "timeout_s", V_INT, 1, 86400, 1},
    [K_OUTPUT_KB] = {SEC_LIMITS, "output_kb", V_INT, 1, 65536, 1024},
    /* 0: no cap (a host without loop devices); at most 16 TiB, ext4's limit with 4 KiB blocks. */
    [K_WORKSPACE_MB] = {SEC_LIMITS, "workspace_mb", V_INT, 0, 16777216, 1},
    [K_TIER] = {SEC_NETWORK, "tier", V_ENUM, .choices = tiers},
    [K_ALLOWED_DOMAINS] = {SEC_NETWORK, "allowed_domains", V_DOMAINS},
    [K_BLOCKED_DOMAINS] = {SEC_NETWORK, "blocked_domains", V_DOMAINS},
    [K_ALLOWED_CIDRS] = {SEC_NETWORK, "allowed_cidrs", V_DOMAINS},
    /* The host backend's settings: docs/host-backend.md. */
    [K_H_USER] = {SEC_HOST, "user", V_HOST_USER},
    [K_H_SECCOMP_DENY] = {SEC_HOST, "seccomp_deny", V_PATH_OR_EMPTY},
    [K_H_NO_NEW_PRIVS] = {SEC_HOST, "no_new_privs", V_BOOL},
    [K_H_DROP_CAPABILITIES] = {SEC_HOST, "drop_capabilities", V_BOOL},
    [K_H_NETWORK_NAMESPACE] = {SEC_HOST, "network_namespace", V_TOGGLE},
    [K_H_MOUNT_NAMESPACE] = {SEC_HOST, "mount_namespace", V_TOGGLE},
    [K_H_PID_NAMESPACE] = {SEC_HOST, "pid_namespace", V_TOGGLE},
    [K_H_IPC_NAMESPACE] = {SEC_HOST, "ipc_namespace", V_TOGGLE},
    [K_H_CGROUP] = {SEC_HOST, "cgroup", V_TOGGLE},
    [K_H_READ_ONLY_ROOT] = {SEC_HOST, "read_only_root", V_BOOL},
    [K_H_PRIVATE_TMP] = {SEC_HOST, "private_tmp", V_BOOL},
    [K_H_MOUNT_PROC] = {SEC_HOST, "mount_proc", V_BOOL},
    [K_H_CGROUP_PARENT] = {SEC_HOST, "cgroup_parent", V_NAME, .max = 63},
    [K_H_PRESTART] = {SEC_HOST, "prestart", V_INT, 0, 64, 1},
    [K_H_RLIMIT_CPU_S] = {SEC_HOST, "rlimit_cpu_s", V_RLIMIT, 0, 604800},
    [K_H_RLIMIT_AS_MB] = {SEC_HOST, "rlimit_as_mb", V_RLIMIT, 0, 16777216},
    [K_H_RLIMIT_FSIZE_MB] = {SEC_HOST, "rlimit_fsize_mb", V_RLIMIT, 0, 16777216},
    [K_H_RLIMIT_NOFILE] = {SEC_HOST, "rlimit_nofile", V_RLIMIT, 0, 1048576},
    [K_H_RLIMIT_NPROC] = {SEC_HOST, "rlimit_nproc", V_RLIMIT, 0, 4194304},
    [K_H_PATH] = {SEC_HOST, "path", V_SEARCH_PATH},
    [K_MONITOR_LISTEN] = {SEC_MONITOR, "listen", V_LISTEN},
    [K_MCP_LISTEN] = {SEC_MCP, "listen", V_LISTEN},
    [K_E2B_LISTEN] = {SEC_E2B, "listen", V_LISTEN},
    [K_F_UPLOAD_MB] = {SEC_FILES, "upload_mb", V_INT, 1, 4096, 1024 * 1024},
    [K_F_DOWNLOAD_MB] = {SEC_FILES, "download_mb", V_INT, 1, 4096, 1024 * 1024},
    [K_F_ENTRIES_MAX] = {SEC_FILES, "entries_max", V_INT, 1, 1000000, 1},
    [K_F_ARTIFACTS_MAX] = {SEC_FILES, "artifacts_max", V_INT, 0, 1000, 1},
    [K_F_ARTIFACT_INLINE_KB] = {SEC_FILES, "artifact_inline_kb", V_INT, 0, 65536, 1024},
    [K_F_ARTIFACT_MB] = {SEC_FILES, "artifact_mb", V_INT, 1, 4096, 1024 * 1024},
    [K_IMAGE] = {SEC_RUNTIME, "image", V_IMAGE},
    [K_RUN] = {SEC_RUNTIME, "run", V_WORDS},
    [K_SHELL] = {SEC_RUNTIME, "shell", V_WORDS},
    [K_RT_POOL] = {SEC_RUNTIME, "pool", V_INT, 0, 64, 1},
    [K_IMAGE_GVISOR] = {SEC_RUNTIME, "image_gvisor", V_IMAGE},
    [K_RT_POOL_GVISOR] = {SEC_RUNTIME, "pool_gvisor", V_INT, 0, 64, 1},
    /* The same checks as the global keys they override. */
    [K_A_MODE] = {SEC_AGENT, "mode", V_ENUM, .choices = modes},
    [K_A_SCOPE] = {SEC_AGENT, "scope", V_ENUM, .choices = scopes},
    [K_A_WORKSPACE] = {SEC_AGENT, "workspace", V_ENUM, .choices = workspaces},
    [K_A_CPU_CORES] = {SEC_AGENT, "cpu_cores", V_DOUBLE, .dmin = 0.01, .dmax = 64},
    [K_A_MEMORY_MB] = {SEC_AGENT, "memory_mb", V_INT, 16, 1048576, 1},
    [K_A_DISK_MB] = {SEC_AGENT, "disk_mb", V_INT, 1, 1048576, 1},
    [K_A_MAX_PROCESSES] = {SEC_AGENT, "max_processes", V_INT, 8, 65536, 1},
    [K_A_TIMEOUT_S] = {SEC_AGENT, "timeout_s", V_INT, 1, 86400, 1},
    [K_A_OUTPUT_KB] = {SEC_AGENT, "output_kb", V_INT, 1, 65536, 1024},
    [K_A_NETWORK] = {SEC_AGENT, "network", V_ENUM, .choices = tiers},
    [K_A_DEFAULT_RUNTIME] = {SEC_AGENT, "default_runtime", V_NAME, .max = POLICY_NAME_LEN_MAX},
    [K_A_RUNTIMES] = {SEC_AGENT, "runtimes", V_NAMES},
    [K_A_WORKSPACE_MB] = {SEC_AGENT, "workspace_mb", V_INT, 0, 16777216, 1},
    [K_A_ALLOWED_DOMAINS] = {SEC_AGENT, "allowed_domains", V_DOMAINS},
    [K_A_BLOCKED_DOMAINS] = {SEC_AGENT, "blocked_domains", V_DOMAINS},
    [K_A_ALLOWED_CIDRS] = {SEC_AGENT, "allowed_cidrs", V_DOMAINS},
    [K_A_ISOLATION] = {SEC_AGENT, "isolation", V_ENUM, .choices = isolations},
    [K_C_UIDS] = {SEC_CLIENT, "uids", V_UIDS},
    [K_C_GROUPS] = {SEC_CLIENT, "groups", V_GROUPS},
    [K_C_AGENTS] = {SEC_CLIENT, "agents", V_PATTERNS},
    [K_C_RATE_PER_MIN] = {SEC_CLIENT, "rate_per_min", V_INT, 0, 1000000, 1},
    [K_C_MAX_CONCURRENT] = {SEC_CLIENT, "max_concurrent", V_INT, 0, 65536, 1},
};

/* The POLICY_AGENT_* bit of each per-agent key. */
static const unsigned agent_bits[K_AGENT_KEYS] = {
    [K_A_MODE - K_AGENT_FIRST] = POLICY_AGENT_MODE,
    [K_A_SCOPE - K_AGENT_FIRST] = POLICY_AGENT_SCOPE,
    [K_A_WORKSPACE - K_AGENT_FIRST] = POLICY_AGENT_WORKSPACE,
    [K_A_CPU_CORES - K_AGENT_FIRST] = POLICY_AGENT_CPU_CORES,
    [K_A_MEMORY_MB - K_AGENT_FIRST] = POLICY_AGENT_MEMORY_MB,
    [K_A_DISK_MB - K_AGENT_FIRST] = POLICY_AGENT_DISK_MB,
    [K_A_MAX_PROCESSES - K_AGENT_FIRST] = POLICY_AGENT_MAX_PROCESSES,
    [K_A_TIMEOUT_S - K_AGENT_FIRST] = POLICY_AGENT_TIMEOUT_S,
    [K_A_OUTPUT_KB - K_AGENT_FIRST] = POLICY_AGENT_OUTPUT_KB,
    [K_A_NETWORK - K_AGENT_FIRST] = POLICY_AGENT_NETWORK,
    [K_A_DEFAULT_RUNTIME - K_AGENT_FIRST] = POLICY_AGENT_DEFAULT_RUNTIME,
    [K_A_RUNTIMES - K_AGENT_FIRST] = POLICY_AGENT_RUNTIMES,
    [K_A_WORKSPACE_MB - K_AGENT_FIRST] = POLICY_AGENT_WORKSPACE_MB,
    [K_A_ALLOWED_DOMAINS - K_AGENT_FIRST] = POLICY_AGENT_ALLOWED_DOMAINS,
    [K_A_BLOCKED_DOMAINS - K_AGENT_FIRST] = POLICY_AGENT_BLOCKED_DOMAINS,
    [K_A_ALLOWED_CIDRS - K_AGENT_FIRST] = POLICY_AGENT_ALLOWED_CIDRS,
    [K_A_ISOLATION - K_AGENT_FIRST] = POLICY_AGENT_ISOLATION,
};

static bool path_ok(const char *v)
{
        if (v[0] != '/' || strlen(v) > PATH_LEN_MAX)
                return false;
        for (const char *s = v; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static bool image_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > IMAGE_LEN_MAX)
                return false;
        for (const char *s = v; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._-/:@+", *s))
                        return false;
        return true;
}

int parse_set_string(struct parse_ctx *c, char **field, const char *v)
{
        char *copy = strdup(v);

        if (!copy)
                return c->oom = -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

static int set_words(struct parse_ctx *c, char ***field, const char *v)
{
        char **w = util_split_words(v);

        if (!w)
                return c->oom = -ENOMEM;
        util_strv_free(*field);
        *field = w;
        return 0;
}

struct policy_agent *parse_cur_agent(struct parse_ctx *c)
{
        return &c->p->agents[c->agent];
}

/* Record that the current agent section set key id. */
void parse_agent_mark(struct parse_ctx *c, enum key_id id)
{
        parse_cur_agent(c)->set |= agent_bits[id - K_AGENT_FIRST];
}

static bool search_path_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > PATH_LEN_MAX)
                return false;
        for (const char *s = v; *s;) {
                size_t len = strcspn(s, ":");

                if (len == 0 || s[0] != '/')
                        return false;
                for (size_t i = 0; i < len; i++)
                        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                                return false;
                s += len;
                if (*s == ':' && *++s == '\0')
                        return false;
        }
        return true;
}

static void choices_text(const char *const *choices, char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (size_t i = 0; choices[i] && o < size; i++)
                o += (size_t)snprintf(dst + o, size - o, "%s%s", i ? ", " : "", choices[i]);
}

static void apply_enum(struct parse_ctx *c, enum key_id id, int idx)
{
        struct policy *p = c->p;

        switch (id) {
        case K_ENGINE_KIND:
                p->engine_kind = (enum engine_kind)idx;
                break;
        case K_MODE:
                p->mode = (enum policy_mode)idx;
                break;
        case K_SCOPE:
                p->scope = (enum policy_scope)idx;
                break;
        case K_WORKSPACE:
                p->workspace = (enum policy_workspace)idx;
                break;
        case K_TIER:
                p->network.tier = (enum policy_network_tier)idx;
                break;
        case K_MEMORY_SNAPSHOTS:
                p->snapshots.memory = idx == 1;
                break;
        case K_A_MODE:
                parse_cur_agent(c)->mode = (enum policy_mode)idx;
                break;
        case K_A_SCOPE:
                parse_cur_agent(c)->scope = (enum policy_scope)idx;
                break;
        case K_A_WORKSPACE:
                parse_cur_agent(c)->workspace = (enum policy_workspace)idx;
                break;
        case K_A_NETWORK:
                parse_cur_agent(c)->network = (enum policy_network_tier)idx;
                break;
        case K_ISOLATION:
                p->isolation = (enum isolation_tier)idx;
                break;
        case K_A_ISOLATION:
                parse_cur_agent(c)->isolation = (enum isolation_tier)idx;
                break;
        default:
                return;
        }
        if (parse_keys[id].section == SEC_AGENT)
                parse_agent_mark(c, id);
}

static void apply_int(struct parse_ctx *c, enum key_id id, int64_t v)
{
        struct policy *p = c->p;
        struct limits *l =
            parse_keys[id].section == SEC_AGENT ? &parse_cur_agent(c)->limits : &p->limits;

        switch (id) {
        case K_MAX_BODY_KB:
                p->max_body_bytes = v;
                break;
        case K_F_UPLOAD_MB:
                p->files.upload_bytes = v;
                break;
        case K_F_DOWNLOAD_MB:
                p->files.download_bytes = v;
                break;
        case K_F_ENTRIES_MAX:
                p->files.entries_max = v;
                break;
        case K_F_ARTIFACTS_MAX:
                p->files.artifacts_max = v;
                break;
        case K_F_ARTIFACT_INLINE_KB:
                p->files.artifact_inline_bytes = v;
                break;
        case K_F_ARTIFACT_MB:
                p->files.artifact_bytes = v;
                break;
        case K_MAX_CONNECTIONS:
                p->max_connections = v;
                break;
        case K_MAX_HEADER_KB:
                p->max_header_bytes = v;
                break;
        case K_MAX_CONNECTIONS_PER_UID:
                p->max_connections_per_uid = v;
                break;
        case K_RESERVED_CONNECTIONS:
                p->reserved_connections = v;
                break;
        case K_READ_TIMEOUT_S:
                p->read_timeout_s = v;
                break;
        case K_RATE_PER_MIN:
                p->rate_per_min = v;
                break;
        case K_MAX_CONCURRENT:
                p->max_concurrent = v;
                break;
        case K_MAX_EXECS:
                p->max_execs = v;
                break;
        case K_QUEUE_MAX:
                p->queue_max = v;
                break;
        case K_QUEUE_TIMEOUT_S:
                p->queue_timeout_s = v;
                break;
        case K_MAX_SANDBOXES:
                p->max_sandboxes = v;
                break;
        case K_MAX_SANDBOXES_PER_AGENT:
                p->max_sandboxes_per_agent = v;
                break;
        case K_C_RATE_PER_MIN:
                p->clients[c->client].rate_per_min = v;
                return;
        case K_C_MAX_CONCURRENT:
                p->clients[c->client].max_concurrent = v;
                return;
        case K_IDLE_TIMEOUT:
                p->idle_timeout_s = v;
                break;
        case K_POOL_SIZE:
                p->pool_size = v;
                break;
        case K_MAX_CONTEXTS:
                p->max_contexts_per_sandbox = v;
                break;
        case K_CONTEXT_IDLE_TIMEOUT:
                p->context_idle_timeout_s = v;
                break;
        case K_IDLE_SUSPEND:
                p->snapshots.idle_suspend_s = v;
                break;
        case K_SNAPSHOT_MAX_MB:
                p->snapshots.max_bytes = v;
                break;
        case K_SNAPSHOT_QUOTA_MB:
                p->snapshots.quota_bytes = v;
                break;
        case K_SNAPSHOT_RETENTION:
                p->snapshots.retention_s = v;
                break;
        case K_RT_POOL:
                p->runtimes[c->runtime].pool = (int)v;
                return;
        case K_RT_POOL_GVISOR:
                p->runtimes[c->runtime].pool_gvisor = (int)v;
                return;
        case K_MEMORY_MB:
        case K_A_MEMORY_MB:
                l->memory_mb = v;
                break;
        case K_DISK_MB:
        case K_A_DISK_MB:
                l->disk_mb = v;
                break;
        case K_MAX_PROCESSES:
        case K_A_MAX_PROCESSES:
                l->max_processes = v;
                break;
        case K_TIMEOUT_S:
        case K_A_TIMEOUT_S:
                l->timeout_s = v;
                break;
        case K_OUTPUT_KB:
        case K_A_OUTPUT_KB:
                l->output_bytes = v;
                break;
        case K_WORKSPACE_MB:
        case K_A_WORKSPACE_MB:
                l->workspace_mb = v;
                break;
        case K_H_PRESTART:
                p->host->prestart = v;
                break;
        default:
                return;
        }
        if (parse_keys[id].section == SEC_AGENT)
                parse_agent_mark(c, id);
}

static char **string_field(struct parse_ctx *c, enum key_id id)
{
        struct policy *p = c->p;

        switch (id) {
        case K_SOCKET:
                return &p->socket_path;
        case K_SOCKET_GROUP:
                return &p->socket_group;
        case K_STATE_DIR:
                return &p->state_dir;
        case K_LOG_LEVEL:
                return &p->log_level;
        case K_ENGINE_SOCKET:
                return &p->engine_socket;
        case K_SECCOMP_PROFILE:
                return &p->seccomp_profile;
        case K_WORKSPACE_ROOT:
                return &p->workspace_root;
        case K_DEFAULT_RUNTIME:
                return &p->default_runtime;
        case K_EXEC_USER:
                return &p->exec_user;
        case K_KEEPER_USER:
                return &p->keeper_user;
        case K_MONITOR_LISTEN:
                return &p->monitor_listen;
        case K_MCP_LISTEN:
                return &p->mcp_listen;
        case K_E2B_LISTEN:
                return &p->e2b_listen;
        case K_SELECTIVE_RULES:
                return &p->selective_rules;
        case K_A_DEFAULT_RUNTIME:
                parse_agent_mark(c, id);
                return &parse_cur_agent(c)->default_runtime;
        default:
                return NULL;
        }
}

/* Store a string value: in the policy, the current agent, or the [host] options. */
static int store_string(struct parse_ctx *c, enum key_id id, const char *v)
{
        int r;

        switch (id) {
        case K_H_USER:
                r = policy_host_set(c->p, POLICY_HOST_USER, v);
                break;
        case K_H_SECCOMP_DENY:
                r = policy_host_set(c->p, POLICY_HOST_SECCOMP_DENY, v);
                break;
        case K_H_CGROUP_PARENT:
                r = policy_host_set(c->p, POLICY_HOST_CGROUP_PARENT, v);
                break;
        case K_H_PATH:
                r = policy_host_set(c->p, POLICY_HOST_PATH, v);
                break;
        default:
                return parse_set_string(c, string_field(c, id), v);
        }
        if (r < 0)
                c->oom = r;
        return r;
}

static int64_t *host_int_field(struct host_options *h, enum key_id id)
{
        switch (id) {
        case K_H_PRESTART:
                return &h->prestart;
        case K_H_RLIMIT_CPU_S:
                return &h->rlimit_cpu_s;
        case K_H_RLIMIT_AS_MB:
                return &h->rlimit_as_mb;
        case K_H_RLIMIT_FSIZE_MB:
                return &h->rlimit_fsize_mb;
        case K_H_RLIMIT_NOFILE:
                return &h->rlimit_nofile;
        case K_H_RLIMIT_NPROC:
                return &h->rlimit_nproc;
        default:
                return NULL;
        }
}

static bool *host_bool_field(struct host_options *h, enum key_id id)
{
        switch (id) {
        case K_H_NO_NEW_PRIVS:
                return &h->no_new_privs;
        case K_H_DROP_CAPABILITIES:
                return &h->drop_capabilities;
        case K_H_READ_ONLY_ROOT:
                return &h->read_only_root;
        case K_H_PRIVATE_TMP:
                return &h->private_tmp;
        case K_H_MOUNT_PROC:
                return &h->mount_proc;
        default:
                return NULL;
        }
}

static enum host_toggle *host_toggle_field(struct host_options *h, enum key_id id)
{
        switch (id) {
        case K_H_NETWORK_NAMESPACE:
                return &h->network_namespace;
        case K_H_MOUNT_NAMESPACE:
                return &h->mount_namespace;
        case K_H_PID_NAMESPACE:
                return &h->pid_namespace;
        case K_H_IPC_NAMESPACE:
                return &h->ipc_namespace;
        case K_H_CGROUP:
                return &h->cgroup;
        default:
                return NULL;
        }
}

/* PATH for host execs: absolute directories only. An empty or relative entry would make
 * execve look in the working directory, which the code itself controls. */

void parse_set_value(struct parse_ctx *c, enum key_id id, const char *v)
{
        const struct key_def *k = &parse_keys[id];
        struct policy *p = c->p;
        char q[UTIL_QUOTE_SIZE], list[128];
        uint32_t uid, gid;
        int64_t i;
        double d;
        char *end;
        int r;

        util_quote(q, sizeof(q), v);
        switch (k->type) {
        case V_PATH:
        case V_PATH_OR_EMPTY:
                if (!(k->type == V_PATH_OR_EMPTY && v[0] == '\0') && !path_ok(v)) {
                        parse_problem(c, c->line, "%s must be an absolute path%s, got '%s'",
                                      k->name, k->type == V_PATH_OR_EMPTY ? " or empty" : "", q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_SOCKET:
                if (v[0] != '\0' && (!path_ok(v) || strlen(v) > SOCKET_PATH_MAX)) {
                        parse_problem(
                            c, c->line,
                            "%s must be an absolute path of at most %d bytes or empty, got "
                            "'%s'",
                            k->name, SOCKET_PATH_MAX, q);
                        return;
                }
                /* Empty means the default, which for the engine depends on its kind. */
                if (v[0] != '\0' || id == K_ENGINE_SOCKET)
                        store_string(c, id, v);
                return;
        case V_NAME:
                if (!util_name_valid(v, (size_t)k->max)) {
                        parse_problem(
                            c, c->line,
                            "%s must be a name of 1 to %d characters from [A-Za-z0-9._-], "
                            "got '%s'",
                            k->name, (int)k->max, q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_INT:
                r = util_parse_int64(v, k->min, k->max, &i);
                if (r < 0) {
                        parse_problem(c, c->line,
                                      "%s must be an integer between %lld and %lld, got '%s'",
                                      k->name, (long long)k->min, (long long)k->max, q);
                        return;
                }
                apply_int(c, id, i * k->scale);
                return;
        case V_DOUBLE:
                errno = 0;
                d = strtod(v, &end);
                /* strtod takes " 1", "0x10", "inf" and "nan": a plain decimal only. */
                if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno || !isfinite(d) ||
                    strpbrk(v, "xXpPeE") || d < k->dmin || d > k->dmax) {
                        parse_problem(c, c->line, "%s must be a number between %g and %g, got '%s'",
                                      k->name, k->dmin, k->dmax, q);
                        return;
                }
                if (id == K_A_CPU_CORES) {
                        parse_cur_agent(c)->limits.cpu_cores = d;
                        parse_agent_mark(c, id);
                } else {
                        p->limits.cpu_cores = d;
                }
                return;
        case V_ENUM:
                for (int n = 0; k->choices[n]; n++) {
                        if (strcmp(v, k->choices[n]) == 0) {
                                if (id == K_LOG_LEVEL)
                                        parse_set_string(c, &p->log_level, v);
                                else
                                        apply_enum(c, id, n);
                                return;
                        }
                }
                choices_text(k->choices, list, sizeof(list));
                parse_problem(c, c->line, "%s must be one of %s, got '%s'", k->name, list, q);
                return;
        case V_USER:
                r = policy_parse_user(v, &uid, &gid);
                if (r == -EPERM) {
                        parse_problem(c, c->line,
                                      "%s must not be root: uid and gid 0 are refused, got '%s'",
                                      k->name, q);
                        return;
                }
                if (r < 0) {
                        parse_problem(
                            c, c->line,
                            "%s must be 'uid:gid' with numeric ids between 1 and 4294967294, "
                            "got '%s'",
                            k->name, q);
                        return;
                }
                if (store_string(c, id, v) < 0)
                        return;
                if (id == K_EXEC_USER) {
                        p->exec_uid = uid;
                        p->exec_gid = gid;
                } else {
                        p->keeper_uid = uid;
                        p->keeper_gid = gid;
                }
                return;
        case V_WORDS: {
                struct runtime *rt = &p->runtimes[c->runtime];
                const char *s = v;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (*s == '\0') {
                        parse_problem(c, c->line,
                                      "%s must name a program and its arguments, got '%s'", k->name,
                                      q);
                        return;
                }
                set_words(c, id == K_RUN ? &rt->run : &rt->shell, v);
                return;
        }
        case V_IMAGE:
                if (!image_ok(v)) {
                        parse_problem(c, c->line,
                                      "image must be an image reference of 1 to %d characters from "
                                      "[A-Za-z0-9._-/:@+], got '%s'",
                                      IMAGE_LEN_MAX, q);
                        return;
                }
                parse_set_string(c,
                                 id == K_IMAGE_GVISOR ? &p->runtimes[c->runtime].image_gvisor
                                                      : &p->runtimes[c->runtime].image,
                                 v);
                return;
        case V_DOMAINS:
        case V_NAMES:
        case V_UIDS:
        case V_GROUPS:
        case V_PATTERNS:
                parse_add_list(c, id, v);
                return;
        case V_BOOL: {
                bool b;

                if (policy_parse_bool(v, &b) < 0) {
                        parse_problem(c, c->line,
                                      "%s must be yes, no, true, false, on, off, 1 or 0, got '%s'",
                                      k->name, q);
                        return;
                }
                *host_bool_field(p->host, id) = b;
                return;
        }
        case V_TOGGLE: {
                enum host_toggle t;

                if (host_toggle_parse(v, &t) < 0) {
                        parse_problem(
                            c, c->line,
                            "%s must be auto, required (or true, yes, on) or off (or false, "
                            "no), got '%s'",
                            k->name, q);
                        return;
                }
                *host_toggle_field(p->host, id) = t;
                return;
        }
        case V_RLIMIT:
                if (strcmp(v, "auto") == 0) {
                        *host_int_field(p->host, id) = HOST_RLIMIT_AUTO;
                        return;
                }
                if (util_parse_int64(v, k->min, k->max, &i) < 0) {
                        parse_problem(c, c->line,
                                      "%s must be auto or an integer between %lld and %lld (0: not "
                                      "set), got '%s'",
                                      k->name, (long long)k->min, (long long)k->max, q);
                        return;
                }
                *host_int_field(p->host, id) = i;
                return;
        case V_HOST_USER:
                if (strchr(v, ':')) {
                        r = policy_parse_user(v, &uid, &gid);
                        if (r == -EPERM) {
                                parse_problem(
                                    c, c->line,
                                    "%s must not be root: uid and gid 0 are refused, got '%s'",
                                    k->name, q);
                                return;
                        }
                        if (r < 0) {
                                parse_problem(
                                    c, c->line,
                                    "%s must be a user name or 'uid:gid' with numeric ids "
                                    "between 1 and 4294967294, got '%s'",
                                    k->name, q);
                                return;
                        }
                } else if (!util_name_valid(v, 32)) {
                        parse_problem(c, c->line,
                                      "%s must be a user name of 1 to 32 characters from "
                                      "[A-Za-z0-9._-] or 'uid:gid', got '%s'",
                                      k->name, q);
                        return;
                } else if (strcmp(v, "root") == 0) {
                        /* Other names of uid 0 are refused when the backend looks them up. */
                        parse_problem(c, c->line, "%s must not be root, got '%s'", k->name, q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_SEARCH_PATH:
                if (!search_path_ok(v)) {
                        parse_problem(c, c->line,
                                      "%s must be absolute directories separated by ':', with no "
                                      "empty entry, got '%s'",
                                      k->name, q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_LISTEN: {
                char host[64];
                uint16_t port;

                r = v[0] ? policy_parse_listen(v, host, sizeof(host), &port) : 0;
                if (r == -EPERM) {
                        parse_problem(
                            c, c->line,
                            "%s must be a loopback address (127.0.0.1:PORT or [::1]:PORT): "
                            "%s, got '%s'",
                            k->name,
                            id == K_MCP_LISTEN   ? "the MCP listener must never face a network"
                            : id == K_E2B_LISTEN ? "the E2B listener must never face a network"
                                                 : "the monitor listener has no authentication",
                            q);
                        return;
                }
                if (r < 0) {
                        parse_problem(
                            c, c->line,
                            "%s must be empty (off), 127.0.0.1:PORT or [::1]:PORT with PORT "
                            "between 1 and 65535, got '%s'",
                            k->name, q);
                        return;
                }
                store_string(c, id, v);
                return;
        }
        }
}

/* The per-agent keys, for messages. */
const char *parse_agent_keys_text(char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (int id = K_AGENT_FIRST; id < K_AGENT_FIRST + K_AGENT_KEYS && o < size; id++)
                o += (size_t)snprintf(dst + o, size - o, "%s%s", id > K_AGENT_FIRST ? ", " : "",
                                      parse_keys[id].name);
        return dst;
}
