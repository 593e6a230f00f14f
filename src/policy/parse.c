/* The settings file: INI text read with libinih, validated key by key into a policy.
 *
 * libinih reports neither line numbers to the handler (INI_HANDLER_LINENO is 0 in Debian's
 * build) nor more than the first syntax error, and never tells the handler about section
 * headers. So the reader we hand it counts lines and reads section headers itself, mirroring
 * inih's rules for what a line is, and the handler checks keys against that state. Every
 * problem is collected; any problem rejects the whole file.
 *
 * Over 800 lines and not split yet (issue 10, item 4): the seams are the key table and value
 * parsers (key_def, keys[], apply_*, set_value), section handling (enter_*, reader, handler)
 * and the checks once the file is read (finish_agents, finish_clients); all three share the
 * handler's struct parse_ctx, which a split would move to a private header. */
#include "airlock/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "policy/policy_private.h"

#define SOCKET_PATH_MAX 107  /* sizeof(sun_path) - 1 */
#define PATH_LEN_MAX    4095 /* PATH_MAX - 1 */
#define IMAGE_LEN_MAX   255

enum section_kind {
        SEC_NONE = 0, /* before the first header */
        SEC_BAD,      /* a header we reported; its keys are skipped */
        SEC_DAEMON,
        SEC_ENGINE,
        SEC_SANDBOX,
        SEC_LIMITS,
        SEC_NETWORK,
        SEC_HOST,
        SEC_ACCESS,
        SEC_MONITOR,
        SEC_RUNTIME, /* the named sections from here on */
        SEC_AGENT,
        SEC_CLIENT,
        SEC__MAX,
};

static const char *const section_names[SEC__MAX] = {
    [SEC_DAEMON] = "daemon",   [SEC_ENGINE] = "engine",   [SEC_SANDBOX] = "sandbox",
    [SEC_LIMITS] = "limits",   [SEC_NETWORK] = "network", [SEC_HOST] = "host",
    [SEC_RUNTIME] = "runtime", [SEC_AGENT] = "agent",     [SEC_ACCESS] = "access",
    [SEC_CLIENT] = "client",   [SEC_MONITOR] = "monitor",
};

enum key_id {
        K_SOCKET,
        K_SOCKET_GROUP,
        K_STATE_DIR,
        K_MAX_BODY_KB,
        K_MAX_CONNECTIONS,
        K_LOG_LEVEL,
        K_MAX_HEADER_KB,
        K_MAX_CONNECTIONS_PER_UID,
        K_RESERVED_CONNECTIONS,
        K_READ_TIMEOUT_S,
        K_RATE_PER_MIN,
        K_MAX_CONCURRENT,
        K_MAX_EXECS,
        K_QUEUE_MAX,
        K_QUEUE_TIMEOUT_S,
        K_MAX_SANDBOXES,
        K_MAX_SANDBOXES_PER_AGENT,
        /* [access] */
        K_ADMIN_UIDS,
        K_ADMIN_GROUPS,
        K_ENGINE_KIND,
        K_ENGINE_SOCKET,
        K_SECCOMP_PROFILE,
        K_MODE,
        K_SCOPE,
        K_WORKSPACE,
        K_WORKSPACE_ROOT,
        K_DEFAULT_RUNTIME,
        K_EXEC_USER,
        K_KEEPER_USER,
        K_IDLE_TIMEOUT,
        K_SELECTIVE_RULES,
        K_CPU_CORES,
        K_MEMORY_MB,
        K_DISK_MB,
        K_MAX_PROCESSES,
        K_TIMEOUT_S,
        K_OUTPUT_KB,
        K_WORKSPACE_MB,
        K_TIER,
        K_ALLOWED_DOMAINS,
        K_BLOCKED_DOMAINS,
        /* [host] */
        K_H_USER,
        K_H_SECCOMP_DENY,
        K_H_NO_NEW_PRIVS,
        K_H_DROP_CAPABILITIES,
        K_H_NETWORK_NAMESPACE,
        K_H_MOUNT_NAMESPACE,
        K_H_PID_NAMESPACE,
        K_H_IPC_NAMESPACE,
        K_H_CGROUP,
        K_H_READ_ONLY_ROOT,
        K_H_PRIVATE_TMP,
        K_H_MOUNT_PROC,
        K_H_CGROUP_PARENT,
        K_H_PRESTART,
        K_H_RLIMIT_CPU_S,
        K_H_RLIMIT_AS_MB,
        K_H_RLIMIT_FSIZE_MB,
        K_H_RLIMIT_NOFILE,
        K_H_RLIMIT_NPROC,
        K_H_PATH,
        /* [monitor] */
        K_MONITOR_LISTEN,
        /* [runtime "NAME"] */
        K_IMAGE,
        K_RUN,
        K_SHELL,
        /* [agent "NAME"] */
        K_A_MODE,
        K_A_SCOPE,
        K_A_WORKSPACE,
        K_A_CPU_CORES,
        K_A_MEMORY_MB,
        K_A_DISK_MB,
        K_A_MAX_PROCESSES,
        K_A_TIMEOUT_S,
        K_A_OUTPUT_KB,
        K_A_NETWORK,
        K_A_DEFAULT_RUNTIME,
        K_A_RUNTIMES,
        K_A_WORKSPACE_MB,
        /* [client "NAME"] */
        K_C_UIDS,
        K_C_GROUPS,
        K_C_AGENTS,
        K_C_RATE_PER_MIN,
        K_C_MAX_CONCURRENT,
        K__MAX,
};

#define K_RUNTIME_FIRST K_IMAGE
#define K_RUNTIME_KEYS  (K_SHELL - K_IMAGE + 1)
#define K_AGENT_FIRST   K_A_MODE
#define K_AGENT_KEYS    (K_A_WORKSPACE_MB - K_A_MODE + 1)
#define K_CLIENT_FIRST  K_C_UIDS
#define K_CLIENT_KEYS   (K_C_MAX_CONCURRENT - K_C_UIDS + 1)

enum value_type {
        V_PATH,          /* absolute path */
        V_PATH_OR_EMPTY, /* absolute path, or empty for "the default" */
        V_SOCKET,        /* absolute path short enough for sun_path; empty for the default */
        V_NAME,          /* [A-Za-z0-9._-], 1..max characters */
        V_INT,           /* strict decimal in [min, max], times scale */
        V_DOUBLE,        /* finite decimal in [dmin, dmax] */
        V_ENUM,          /* one of choices, stored as its index */
        V_USER,          /* "uid:gid", not root */
        V_WORDS,         /* space-separated argv prefix, at least one word */
        V_IMAGE,         /* container image reference */
        V_DOMAINS,       /* domain patterns separated by commas or spaces; adds up if repeated */
        V_NAMES,         /* runtime names separated by commas or spaces; adds up if repeated */
        V_BOOL,          /* policy_parse_bool */
        V_TOGGLE,        /* host_toggle_parse: auto, required, off */
        V_RLIMIT,        /* "auto" or an integer in [min, max] */
        V_HOST_USER,     /* a user name or "uid:gid", not root */
        V_SEARCH_PATH,   /* ':'-separated absolute directories */
        V_LISTEN,        /* loopback "address:port" (policy_parse_listen), or empty */
        V_UIDS,          /* numeric uids separated by commas or spaces; adds up if repeated */
        V_GROUPS,        /* group names, likewise */
        V_PATTERNS,      /* agent names or fnmatch patterns, likewise */
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const engine_kinds[] = {"docker", "podman", NULL};
static const char *const modes[] = {"off", "selective", "all", NULL};
static const char *const scopes[] = {"session", "agent", "shared", NULL};
static const char *const workspaces[] = {"none", "ro", "rw", NULL};
static const char *const tiers[] = {"restricted", "standard", "elevated", NULL};

struct key_def {
        enum section_kind section;
        const char *name;
        enum value_type type;
        int64_t min, max, scale;
        double dmin, dmax;
        const char *const *choices;
};

/* Indexed by enum key_id; the ranges are the documented ones (docs/configuration.md). */
static const struct key_def keys[K__MAX] = {
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
    [K_SELECTIVE_RULES] = {SEC_SANDBOX, "selective_rules", V_PATH_OR_EMPTY},
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
    [K_IMAGE] = {SEC_RUNTIME, "image", V_IMAGE},
    [K_RUN] = {SEC_RUNTIME, "run", V_WORDS},
    [K_SHELL] = {SEC_RUNTIME, "shell", V_WORDS},
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
};

/* Per runtime entry: where each of its keys was set (0 = not set in the file). */
struct runtime_state {
        int seen[K_RUNTIME_KEYS];
};

/* Per agent section: where each of its keys was first set. */
struct agent_state {
        int seen[K_AGENT_KEYS];
};

/* Per client section: where each of its keys was first set. */
struct client_state {
        int seen[K_CLIENT_KEYS];
};

/* A runtime named in an agent's runtimes list, checked against the catalog once the whole
 * file (which may define it further down) has been read. */
struct runtime_ref {
        int agent;
        int line;
        size_t index; /* into the agent's runtimes */
};

struct parse_ctx {
        struct policy *p;
        struct policy_problems *problems;
        int oom;
        /* the reader */
        const char *text;
        size_t len, pos;
        int line;        /* number of the line last handed to inih */
        const char *cur; /* that line, without its newline */
        size_t cur_len;
        bool expect_handler; /* inih will call the handler for it... */
        bool handled;        /* ...and did */
        bool continuation;   /* inih takes it as the continuation of the previous value */
        bool prev_key;       /* inih's prev_name is set: an indented line continues a value */
        /* the section being read */
        enum section_kind section;
        int runtime; /* index into p->runtimes for SEC_RUNTIME */
        int agent;   /* index into p->agents for SEC_AGENT */
        int client;  /* index into p->clients for SEC_CLIENT */
        int section_line[SEC__MAX];
        int seen[K__MAX]; /* line each key was set on, for the fixed sections */
        struct runtime_state rts[POLICY_RUNTIMES_MAX];
        struct agent_state *ags;  /* one per p->agents */
        struct client_state *cls; /* one per p->clients */
        struct runtime_ref *refs;
        size_t n_refs;
};

__attribute__((format(printf, 3, 4))) static void problem(struct parse_ctx *c, int line,
                                                          const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (policy_problems_addv(c->problems, line, fmt, ap) < 0)
                c->oom = -ENOMEM;
        va_end(ap);
}

static bool has_problem_at(const struct parse_ctx *c, int line)
{
        for (size_t i = 0; i < c->problems->n; i++)
                if (c->problems->items[i].line == line)
                        return true;
        return false;
}

static const char *section_label(const struct parse_ctx *c, char *dst, size_t size)
{
        if (c->section == SEC_RUNTIME)
                snprintf(dst, size, "[runtime \"%s\"]", c->p->runtimes[c->runtime].name);
        else if (c->section == SEC_AGENT)
                snprintf(dst, size, "[agent \"%s\"]", c->p->agents[c->agent].name);
        else if (c->section == SEC_CLIENT)
                snprintf(dst, size, "[client \"%s\"]", c->p->clients[c->client].name);
        else
                snprintf(dst, size, "[%s]", section_names[c->section]);
        return dst;
}

/* inih's find_chars_or_comment: the first of chars, or a ';' after whitespace, or the end. */
static const char *ini_find(const char *s, const char *end, const char *chars)
{
        bool was_space = false;

        for (; s < end; s++) {
                if (chars && strchr(chars, *s))
                        break;
                if (was_space && *s == ';')
                        break;
                was_space = isspace((unsigned char)*s);
        }
        return s;
}

static void trim(const char **s, const char **end)
{
        while (*s < *end && isspace((unsigned char)**s))
                (*s)++;
        while (*end > *s && isspace((unsigned char)(*end)[-1]))
                (*end)--;
}

static void enter_runtime(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        int i;

        if (!util_name_valid(name, 64)) {
                problem(c, c->line,
                        "runtime name '%s' must be 1 to 64 characters from [A-Za-z0-9._-]",
                        util_quote(q, sizeof(q), name));
                return;
        }
        i = policy_runtime_index(c->p, name);
        if (i >= 0 && c->p->runtimes[i].line > 0) {
                problem(c, c->line, "duplicate section [runtime \"%s\"] (first at line %d)", name,
                        c->p->runtimes[i].line);
        } else if (i >= 0) {
                /* A built-in named again: the file's keys override it one by one. */
                c->p->runtimes[i].line = c->line;
        } else {
                i = policy_runtime_add(c->p, name, NULL, NULL, NULL, c->line);
                if (i == -E2BIG) {
                        problem(c, c->line, "too many runtimes (at most %d, built-ins included)",
                                POLICY_RUNTIMES_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
        }
        c->section = SEC_RUNTIME;
        c->runtime = i;
}

static void enter_agent(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        struct agent_state *nv;
        int i;

        if (!util_name_valid(name, POLICY_NAME_LEN_MAX)) {
                problem(c, c->line,
                        "agent name '%s' must be 1 to %d characters from [A-Za-z0-9._-]",
                        util_quote(q, sizeof(q), name), POLICY_NAME_LEN_MAX);
                return;
        }
        i = policy_agent_index(c->p, name);
        if (i >= 0) {
                /* Its keys are still checked, against the first one's. */
                problem(c, c->line, "duplicate section [agent \"%s\"] (first at line %d)", name,
                        c->p->agents[i].line);
        } else {
                i = policy_agent_add(c->p, name, c->line);
                if (i == -E2BIG) {
                        problem(c, c->line, "too many agent sections (at most %d)",
                                POLICY_AGENTS_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
                nv = realloc(c->ags, c->p->n_agents * sizeof(*nv));
                if (!nv) {
                        c->oom = -ENOMEM;
                        return;
                }
                c->ags = nv;
                memset(&c->ags[i], 0, sizeof(c->ags[i]));
        }
        c->section = SEC_AGENT;
        c->agent = i;
}

static void enter_client(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        struct client_state *nv;
        int i;

        if (!util_name_valid(name, POLICY_NAME_LEN_MAX)) {
                problem(c, c->line,
                        "client name '%s' must be 1 to %d characters from [A-Za-z0-9._-]",
                        util_quote(q, sizeof(q), name), POLICY_NAME_LEN_MAX);
                return;
        }
        i = policy_client_index(c->p, name);
        if (i >= 0) {
                problem(c, c->line, "duplicate section [client \"%s\"] (first at line %d)", name,
                        c->p->clients[i].line);
        } else {
                i = policy_client_add(c->p, name, c->line);
                if (i == -E2BIG) {
                        problem(c, c->line, "too many client sections (at most %d)",
                                POLICY_CLIENTS_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
                nv = realloc(c->cls, c->p->n_clients * sizeof(*nv));
                if (!nv) {
                        c->oom = -ENOMEM;
                        return;
                }
                c->cls = nv;
                memset(&c->cls[i], 0, sizeof(c->cls[i]));
        }
        c->section = SEC_CLIENT;
        c->client = i;
}

/* "[kind "NAME"]" for kind runtime, agent or client: name is the header's inside, trimmed. Returns
 * false when name is not of that kind. */
static bool enter_named(struct parse_ctx *c, const char *name, enum section_kind kind)
{
        const char *label = section_names[kind];
        size_t n = strlen(label);
        const char *rn, *rn_end;
        char q[UTIL_QUOTE_SIZE], inner[160];

        if (strncmp(name, label, n) != 0 || (name[n] != '\0' && !isspace((unsigned char)name[n])))
                return false;
        rn = name + n;
        rn_end = name + strlen(name);
        trim(&rn, &rn_end);
        if (rn_end - rn >= 2 && rn[0] == '"' && rn_end[-1] == '"' &&
            (size_t)(rn_end - rn - 2) < sizeof(inner)) {
                memcpy(inner, rn + 1, (size_t)(rn_end - rn - 2));
                inner[rn_end - rn - 2] = '\0';
                if (kind == SEC_RUNTIME)
                        enter_runtime(c, inner);
                else if (kind == SEC_AGENT)
                        enter_agent(c, inner);
                else
                        enter_client(c, inner);
                return true;
        }
        problem(c, c->line, "a%s %s section is written [%s \"NAME\"], got [%s]",
                kind == SEC_AGENT ? "n" : "", label, label, util_quote(q, sizeof(q), name));
        return true;
}

/* A "[...]" line that inih accepts as a header (it found the ']'): s..end is the header. */
static void enter_section(struct parse_ctx *c, const char *s, const char *close, const char *end)
{
        char q[UTIL_QUOTE_SIZE], name[160];
        const char *in = s + 1, *in_end = close, *rest = close + 1;

        c->section = SEC_BAD;
        trim(&rest, &end);
        if (rest < end && *rest != ';' && *rest != '#')
                problem(c, c->line, "unexpected text after the section header");
        trim(&in, &in_end);
        if ((size_t)(in_end - in) >= sizeof(name))
                in_end = in + sizeof(name) - 1;
        memcpy(name, in, (size_t)(in_end - in));
        name[in_end - in] = '\0';

        for (int k = SEC_DAEMON; k < SEC_RUNTIME; k++) {
                if (strcmp(name, section_names[k]) != 0)
                        continue;
                if (c->section_line[k])
                        problem(c, c->line, "duplicate section [%s] (first at line %d)", name,
                                c->section_line[k]);
                else
                        c->section_line[k] = c->line;
                /* Keys of a duplicate are still checked, against the first one's. */
                c->section = k;
                return;
        }
        if (enter_named(c, name, SEC_RUNTIME) || enter_named(c, name, SEC_AGENT) ||
            enter_named(c, name, SEC_CLIENT))
                return;
        problem(c, c->line,
                "unknown section [%s] (known: [daemon], [engine], [sandbox], [limits], "
                "[network], [host], [access], [monitor], [runtime \"NAME\"], [agent \"NAME\"], "
                "[client \"NAME\"])",
                util_quote(q, sizeof(q), name));
}

/* Decide what inih will make of the line just handed out, in inih's order of rules. */
static void classify(struct parse_ctx *c)
{
        const char *line = c->cur, *s = c->cur, *end = c->cur + c->cur_len, *close;

        c->expect_handler = c->handled = c->continuation = false;
        if (c->line == 1 && c->cur_len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
                s += 3;
        trim(&s, &end);
        if (s == end || *s == ';' || *s == '#')
                return;
        if (c->prev_key && s > line) {
                c->expect_handler = c->continuation = true;
                return;
        }
        if (*s == '[') {
                close = ini_find(s + 1, end, "]");
                if (close == end || *close != ']') {
                        problem(c, c->line, "section header is missing its closing ']'");
                        c->section = SEC_BAD;
                        return;
                }
                c->prev_key = false;
                enter_section(c, s, close, end);
                return;
        }
        c->expect_handler = true;
}

/* A line inih should have passed to the handler but did not: it is not "key = value". */
static void finish_line(struct parse_ctx *c)
{
        if (c->line > 0 && c->expect_handler && !c->handled)
                problem(c, c->line, "expected 'key = value', a [section] header or a comment");
        c->expect_handler = false;
}

/* inih's reader: hands out one line at a time, counting them. */
static char *reader(char *str, int num, void *stream)
{
        struct parse_ctx *c = stream;
        const char *nl;
        size_t n;

        finish_line(c);
        if (c->pos >= c->len)
                return NULL;
        c->cur = c->text + c->pos;
        nl = memchr(c->cur, '\n', c->len - c->pos);
        n = nl ? (size_t)(nl - c->cur) : c->len - c->pos;
        c->cur_len = n;
        c->pos += n + (nl ? 1 : 0);
        c->line++;
        if (num < 3 || n + 2 > (size_t)num) {
                /* inih would split it into pieces; hand it an empty line instead. */
                const char *s = c->cur, *end = c->cur + n;

                trim(&s, &end);
                if (s < end && *s != '#' && *s != ';')
                        problem(c, c->line, "line is longer than %d characters", num - 2);
                /* Keys after an unread header must not land in the previous section. */
                if (s < end && *s == '[')
                        c->section = SEC_BAD;
                c->expect_handler = false;
                snprintf(str, (size_t)num, "\n");
                return str;
        }
        memcpy(str, c->cur, n);
        str[n] = '\n';
        str[n + 1] = '\0';
        classify(c);
        return str;
}

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

static int set_string(struct parse_ctx *c, char **field, const char *v)
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

static struct policy_agent *cur_agent(struct parse_ctx *c)
{
        return &c->p->agents[c->agent];
}

/* Record that the current agent section set key id. */
static void agent_mark(struct parse_ctx *c, enum key_id id)
{
        cur_agent(c)->set |= agent_bits[id - K_AGENT_FIRST];
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
        case K_A_MODE:
                cur_agent(c)->mode = (enum policy_mode)idx;
                break;
        case K_A_SCOPE:
                cur_agent(c)->scope = (enum policy_scope)idx;
                break;
        case K_A_WORKSPACE:
                cur_agent(c)->workspace = (enum policy_workspace)idx;
                break;
        case K_A_NETWORK:
                cur_agent(c)->network = (enum policy_network_tier)idx;
                break;
        default:
                return;
        }
        if (keys[id].section == SEC_AGENT)
                agent_mark(c, id);
}

static void apply_int(struct parse_ctx *c, enum key_id id, int64_t v)
{
        struct policy *p = c->p;
        struct limits *l = keys[id].section == SEC_AGENT ? &cur_agent(c)->limits : &p->limits;

        switch (id) {
        case K_MAX_BODY_KB:
                p->max_body_bytes = v;
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
        if (keys[id].section == SEC_AGENT)
                agent_mark(c, id);
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
        case K_SELECTIVE_RULES:
                return &p->selective_rules;
        case K_A_DEFAULT_RUNTIME:
                agent_mark(c, id);
                return &cur_agent(c)->default_runtime;
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
                return set_string(c, string_field(c, id), v);
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

/* One entry of allowed_domains or blocked_domains. */
static void add_domain(struct parse_ctx *c, enum key_id id, const char *item)
{
        struct policy_network *n = &c->p->network;
        char ***list = id == K_ALLOWED_DOMAINS ? &n->allowed : &n->blocked;
        char *const *other = id == K_ALLOWED_DOMAINS ? n->blocked : n->allowed;
        const char *name = keys[id].name,
                   *other_name =
                       keys[id == K_ALLOWED_DOMAINS ? K_BLOCKED_DOMAINS : K_ALLOWED_DOMAINS].name;
        char q[UTIL_QUOTE_SIZE];

        util_quote(q, sizeof(q), item);
        if (!policy_domain_valid(item)) {
                problem(c, c->line,
                        "%s: '%s' is not a domain pattern (lower-case letters, digits, '-' and "
                        "'.', at most %d characters, optionally after '*.')",
                        name, q, POLICY_DOMAIN_LEN_MAX);
                return;
        }
        if (policy_strv_contains(*list, item)) {
                problem(c, c->line, "%s: '%s' is listed twice", name, q);
                return;
        }
        if (policy_strv_contains(other, item)) {
                problem(c, c->line, "%s: '%s' is also in %s", name, q, other_name);
                return;
        }
        if (util_strv_len(*list) >= POLICY_DOMAINS_MAX) {
                problem(c, c->line, "%s holds at most %d domains", name, POLICY_DOMAINS_MAX);
                return;
        }
        if (policy_strv_push(list, item) < 0)
                c->oom = -ENOMEM;
}

/* One entry of an agent's runtimes; whether the catalog has it is checked in finish(). */
static void add_runtime_name(struct parse_ctx *c, const char *item)
{
        struct policy_agent *a = cur_agent(c);
        struct runtime_ref *nv;
        char q[UTIL_QUOTE_SIZE];

        util_quote(q, sizeof(q), item);
        if (!util_name_valid(item, POLICY_NAME_LEN_MAX)) {
                problem(c, c->line,
                        "runtimes: '%s' is not a runtime name (1 to %d characters from "
                        "[A-Za-z0-9._-])",
                        q, POLICY_NAME_LEN_MAX);
                return;
        }
        if (policy_strv_contains(a->runtimes, item)) {
                problem(c, c->line, "runtimes: '%s' is listed twice", q);
                return;
        }
        if (util_strv_len(a->runtimes) >= POLICY_RUNTIMES_MAX) {
                problem(c, c->line, "runtimes holds at most %d names", POLICY_RUNTIMES_MAX);
                return;
        }
        nv = realloc(c->refs, (c->n_refs + 1) * sizeof(*nv));
        if (!nv || policy_strv_push(&a->runtimes, item) < 0) {
                if (nv)
                        c->refs = nv;
                c->oom = -ENOMEM;
                return;
        }
        c->refs = nv;
        c->refs[c->n_refs++] = (struct runtime_ref){
            .agent = c->agent, .line = c->line, .index = util_strv_len(a->runtimes) - 1};
}

/* One entry of admin_uids, admin_groups or a client's uids, groups or agents. */
static void add_access_item(struct parse_ctx *c, enum key_id id, const char *item)
{
        struct policy *p = c->p;
        struct policy_client *cl = c->section == SEC_CLIENT ? &p->clients[c->client] : NULL;
        const char *name = keys[id].name;
        char q[UTIL_QUOTE_SIZE];
        char ***strv = NULL;
        int64_t uid;
        uint32_t **uids;
        size_t *n_uids;

        util_quote(q, sizeof(q), item);
        switch (keys[id].type) {
        case V_UIDS:
                uids = cl ? &cl->uids : &p->admin_uids;
                n_uids = cl ? &cl->n_uids : &p->n_admin_uids;
                if (util_parse_int64(item, 0, 4294967294LL, &uid) < 0) {
                        problem(c, c->line,
                                "%s: '%s' is not a numeric uid between 0 and 4294967294", name, q);
                        return;
                }
                for (size_t i = 0; i < *n_uids; i++) {
                        if ((*uids)[i] == (uint32_t)uid) {
                                problem(c, c->line, "%s: uid %lld is listed twice", name,
                                        (long long)uid);
                                return;
                        }
                }
                if (*n_uids >= POLICY_IDS_MAX) {
                        problem(c, c->line, "%s holds at most %d uids", name, POLICY_IDS_MAX);
                        return;
                }
                if (policy_uid_push(uids, n_uids, (uint32_t)uid) < 0)
                        c->oom = -ENOMEM;
                return;
        case V_GROUPS:
                strv = cl ? &cl->groups : &p->admin_groups;
                if (!util_name_valid(item, 32)) {
                        problem(c, c->line,
                                "%s: '%s' is not a group name (1 to 32 characters from "
                                "[A-Za-z0-9._-])",
                                name, q);
                        return;
                }
                break;
        default:
                strv = &cl->agents;
                if (!policy_agent_pattern_valid(item)) {
                        problem(c, c->line,
                                "%s: '%s' is not an agent name or pattern (1 to %d characters "
                                "from [A-Za-z0-9._-] and the pattern characters * ? [ ] !)",
                                name, q, POLICY_NAME_LEN_MAX);
                        return;
                }
                break;
        }
        if (policy_strv_contains(*strv, item)) {
                problem(c, c->line, "%s: '%s' is listed twice", name, q);
                return;
        }
        if (util_strv_len(*strv) >= POLICY_IDS_MAX) {
                problem(c, c->line, "%s holds at most %d entries", name, POLICY_IDS_MAX);
                return;
        }
        if (policy_strv_push(strv, item) < 0)
                c->oom = -ENOMEM;
}

/* A list value: items separated by commas and blanks; a key given again adds to the list
 * (the line length cap would otherwise cap the list). */
static void add_list(struct parse_ctx *c, enum key_id id, const char *v)
{
        static const char seps[] = ", \t";
        char item[256];
        size_t found = 0;

        for (const char *s = v + strspn(v, seps); *s; s += strspn(s, seps)) {
                size_t n = strcspn(s, seps);

                /* Lines are capped well below sizeof(item). */
                if (n >= sizeof(item))
                        n = sizeof(item) - 1;
                memcpy(item, s, n);
                item[n] = '\0';
                s += strcspn(s, seps);
                found++;
                if (id == K_A_RUNTIMES)
                        add_runtime_name(c, item);
                else if (id == K_ALLOWED_DOMAINS || id == K_BLOCKED_DOMAINS)
                        add_domain(c, id, item);
                else
                        add_access_item(c, id, item);
        }
        if (id == K_A_RUNTIMES) {
                if (found == 0)
                        problem(c, c->line, "runtimes must name at least one runtime");
                /* Set even when empty or wrong: the agent meant to restrict its runtimes. */
                agent_mark(c, id);
        }
}

/* Check value for key id and store it in the policy being built. */
static void set_value(struct parse_ctx *c, enum key_id id, const char *v)
{
        const struct key_def *k = &keys[id];
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
                        problem(c, c->line, "%s must be an absolute path%s, got '%s'", k->name,
                                k->type == V_PATH_OR_EMPTY ? " or empty" : "", q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_SOCKET:
                if (v[0] != '\0' && (!path_ok(v) || strlen(v) > SOCKET_PATH_MAX)) {
                        problem(c, c->line,
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
                        problem(c, c->line,
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
                        problem(c, c->line, "%s must be an integer between %lld and %lld, got '%s'",
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
                        problem(c, c->line, "%s must be a number between %g and %g, got '%s'",
                                k->name, k->dmin, k->dmax, q);
                        return;
                }
                if (id == K_A_CPU_CORES) {
                        cur_agent(c)->limits.cpu_cores = d;
                        agent_mark(c, id);
                } else {
                        p->limits.cpu_cores = d;
                }
                return;
        case V_ENUM:
                for (int n = 0; k->choices[n]; n++) {
                        if (strcmp(v, k->choices[n]) == 0) {
                                if (id == K_LOG_LEVEL)
                                        set_string(c, &p->log_level, v);
                                else
                                        apply_enum(c, id, n);
                                return;
                        }
                }
                choices_text(k->choices, list, sizeof(list));
                problem(c, c->line, "%s must be one of %s, got '%s'", k->name, list, q);
                return;
        case V_USER:
                r = policy_parse_user(v, &uid, &gid);
                if (r == -EPERM) {
                        problem(c, c->line,
                                "%s must not be root: uid and gid 0 are refused, got '%s'", k->name,
                                q);
                        return;
                }
                if (r < 0) {
                        problem(c, c->line,
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
                        problem(c, c->line, "%s must name a program and its arguments, got '%s'",
                                k->name, q);
                        return;
                }
                set_words(c, id == K_RUN ? &rt->run : &rt->shell, v);
                return;
        }
        case V_IMAGE:
                if (!image_ok(v)) {
                        problem(c, c->line,
                                "image must be an image reference of 1 to %d characters from "
                                "[A-Za-z0-9._-/:@+], got '%s'",
                                IMAGE_LEN_MAX, q);
                        return;
                }
                set_string(c, &p->runtimes[c->runtime].image, v);
                return;
        case V_DOMAINS:
        case V_NAMES:
        case V_UIDS:
        case V_GROUPS:
        case V_PATTERNS:
                add_list(c, id, v);
                return;
        case V_BOOL: {
                bool b;

                if (policy_parse_bool(v, &b) < 0) {
                        problem(c, c->line,
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
                        problem(c, c->line,
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
                        problem(c, c->line,
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
                                problem(c, c->line,
                                        "%s must not be root: uid and gid 0 are refused, got '%s'",
                                        k->name, q);
                                return;
                        }
                        if (r < 0) {
                                problem(c, c->line,
                                        "%s must be a user name or 'uid:gid' with numeric ids "
                                        "between 1 and 4294967294, got '%s'",
                                        k->name, q);
                                return;
                        }
                } else if (!util_name_valid(v, 32)) {
                        problem(c, c->line,
                                "%s must be a user name of 1 to 32 characters from "
                                "[A-Za-z0-9._-] or 'uid:gid', got '%s'",
                                k->name, q);
                        return;
                } else if (strcmp(v, "root") == 0) {
                        /* Other names of uid 0 are refused when the backend looks them up. */
                        problem(c, c->line, "%s must not be root, got '%s'", k->name, q);
                        return;
                }
                store_string(c, id, v);
                return;
        case V_SEARCH_PATH:
                if (!search_path_ok(v)) {
                        problem(c, c->line,
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
                        problem(c, c->line,
                                "%s must be a loopback address (127.0.0.1:PORT or [::1]:PORT): "
                                "the monitor listener has no authentication, got '%s'",
                                k->name, q);
                        return;
                }
                if (r < 0) {
                        problem(c, c->line,
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
static const char *agent_keys_text(char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (int id = K_AGENT_FIRST; id < K_AGENT_FIRST + K_AGENT_KEYS && o < size; id++)
                o += (size_t)snprintf(dst + o, size - o, "%s%s", id > K_AGENT_FIRST ? ", " : "",
                                      keys[id].name);
        return dst;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *c = user;
        char q[UTIL_QUOTE_SIZE], label[UTIL_QUOTE_MAX + 32], allowed[256];
        int *seen = NULL;

        c->handled = true;
        util_quote(q, sizeof(q), name);
        if (c->continuation) {
                problem(c, c->line,
                        "indented line is read as a continuation of '%s', which is not "
                        "supported; remove the indentation",
                        q);
                return 1;
        }
        c->prev_key = name[0] != '\0';
        if (name[0] == '\0') {
                problem(c, c->line, "missing key name before '='");
                return 1;
        }
        if (c->section == SEC_NONE) {
                problem(c, c->line, "key '%s' comes before any [section] header", q);
                return 1;
        }
        if (c->section == SEC_BAD)
                return 1; /* the header was reported */
        for (int id = 0; id < K__MAX; id++) {
                bool list = keys[id].type == V_DOMAINS || keys[id].type == V_NAMES ||
                            keys[id].type == V_UIDS || keys[id].type == V_GROUPS ||
                            keys[id].type == V_PATTERNS;

                if (keys[id].section != c->section || strcmp(keys[id].name, name) != 0)
                        continue;
                if (c->section == SEC_RUNTIME)
                        seen = &c->rts[c->runtime].seen[id - K_RUNTIME_FIRST];
                else if (c->section == SEC_AGENT)
                        seen = &c->ags[c->agent].seen[id - K_AGENT_FIRST];
                else if (c->section == SEC_CLIENT)
                        seen = &c->cls[c->client].seen[id - K_CLIENT_FIRST];
                else
                        seen = &c->seen[id];
                if (*seen && !list) {
                        problem(c, c->line, "duplicate key '%s' in %s (first set at line %d)", name,
                                section_label(c, label, sizeof(label)), *seen);
                        return 1;
                }
                if (!*seen)
                        *seen = c->line;
                set_value(c, (enum key_id)id, value);
                return 1;
        }
        if (c->section == SEC_AGENT) {
                /* A setting of another section: say so rather than "unknown". */
                for (int id = 0; id < K__MAX; id++) {
                        if (keys[id].section == SEC_AGENT || strcmp(keys[id].name, name) != 0)
                                continue;
                        problem(c, c->line,
                                "key '%s' cannot be overridden per agent (per-agent keys: %s)", q,
                                agent_keys_text(allowed, sizeof(allowed)));
                        return 1;
                }
                problem(c, c->line, "unknown key '%s' in %s (per-agent keys: %s)", q,
                        section_label(c, label, sizeof(label)),
                        agent_keys_text(allowed, sizeof(allowed)));
                return 1;
        }
        problem(c, c->line, "unknown key '%s' in %s", q, section_label(c, label, sizeof(label)));
        return 1;
}

static char **strv_copy(char *const *v)
{
        size_t n = util_strv_len(v);
        char **copy = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; copy && i < n; i++) {
                if (!(copy[i] = strdup(v[i]))) {
                        util_strv_free(copy);
                        return NULL;
                }
        }
        return copy;
}

/* The runtime catalog's names, for messages. */
static const char *catalog_text(const struct policy *p, char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (size_t i = 0; i < p->n_runtimes && o < size; i++)
                o +=
                    (size_t)snprintf(dst + o, size - o, "%s%s", i ? ", " : "", p->runtimes[i].name);
        return dst;
}

/* An agent's references to the catalog, which may be defined anywhere in the file. */
static void finish_agents(struct parse_ctx *c)
{
        struct policy *p = c->p;
        char names[160];

        for (size_t i = 0; i < c->n_refs; i++) {
                const struct runtime_ref *ref = &c->refs[i];
                const char *rt = p->agents[ref->agent].runtimes[ref->index];

                if (!policy_runtime(p, rt))
                        problem(c, ref->line, "unknown runtime '%s' (catalog: %s)", rt,
                                catalog_text(p, names, sizeof(names)));
        }
        for (size_t i = 0; i < p->n_agents; i++) {
                const struct policy_agent *a = &p->agents[i];
                const int *seen = c->ags[i].seen;
                int dr_line = seen[K_A_DEFAULT_RUNTIME - K_AGENT_FIRST];
                const char *dr = a->default_runtime ? a->default_runtime : p->default_runtime;

                if (a->default_runtime && !policy_runtime(p, a->default_runtime)) {
                        problem(c, dr_line,
                                "default_runtime '%s' is not in the runtime catalog (%s)",
                                a->default_runtime, catalog_text(p, names, sizeof(names)));
                        continue;
                }
                /* Requests that name no runtime would otherwise be refused for this agent. */
                if (a->runtimes && a->runtimes[0] && !policy_strv_contains(a->runtimes, dr))
                        problem(c, dr_line ? dr_line : seen[K_A_RUNTIMES - K_AGENT_FIRST],
                                "default_runtime '%s'%s is not among the runtimes of [agent "
                                "\"%s\"]",
                                dr, a->default_runtime ? "" : " (from [sandbox])", a->name);
        }
}

struct uid_owner {
        uint32_t uid;
        size_t client;
};

static int uid_owner_cmp(const void *a, const void *b)
{
        const struct uid_owner *x = a, *y = b;

        if (x->uid != y->uid)
                return x->uid < y->uid ? -1 : 1;
        return x->client < y->client ? -1 : x->client > y->client;
}

/* A client that names no caller, and a uid given to two clients (which of them it is would
 * depend on the order of the file). Sorted, so that a large file costs n log n. */
static void finish_clients(struct parse_ctx *c)
{
        const struct policy *p = c->p;
        struct uid_owner *all;
        size_t n = 0;

        for (size_t i = 0; i < p->n_clients; i++) {
                if (p->clients[i].n_uids == 0 && !p->clients[i].groups[0])
                        problem(c, p->clients[i].line,
                                "[client \"%s\"] names no caller: give it uids or groups",
                                p->clients[i].name);
                n += p->clients[i].n_uids;
        }
        if (n < 2)
                return;
        all = calloc(n, sizeof(*all));
        if (!all) {
                c->oom = -ENOMEM;
                return;
        }
        n = 0;
        for (size_t i = 0; i < p->n_clients; i++)
                for (size_t k = 0; k < p->clients[i].n_uids; k++)
                        all[n++] = (struct uid_owner){p->clients[i].uids[k], i};
        qsort(all, n, sizeof(*all), uid_owner_cmp);
        for (size_t i = 1; i < n; i++) {
                const struct policy_client *first = &p->clients[all[i - 1].client];
                const struct policy_client *second = &p->clients[all[i].client];

                if (all[i].uid == all[i - 1].uid)
                        problem(c, second->line,
                                "uid %lu is in [client \"%s\"] and [client \"%s\"]; give "
                                "each uid to one client",
                                (unsigned long)all[i].uid, first->name, second->name);
        }
        free(all);
}

/* Checks that need the whole file: defaults that depend on other keys, references. */
static void finish(struct parse_ctx *c)
{
        struct policy *p = c->p;
        char names[256];

        for (size_t i = 0; i < p->n_runtimes; i++) {
                struct runtime *rt = &p->runtimes[i];

                if (rt->line == 0)
                        continue;
                if (!c->rts[i].seen[0])
                        problem(c, rt->line, "[runtime \"%s\"] has no image", rt->name);
                /* A new runtime runs code through its shell unless told otherwise. */
                if (!rt->shell && !(rt->shell = util_split_words("sh -c"))) {
                        c->oom = -ENOMEM;
                        return;
                }
                if (!rt->run && !(rt->run = strv_copy(rt->shell))) {
                        c->oom = -ENOMEM;
                        return;
                }
        }
        if (!policy_runtime(p, p->default_runtime))
                problem(c, c->seen[K_DEFAULT_RUNTIME],
                        "default_runtime '%s' is not in the runtime catalog (%s)",
                        p->default_runtime, catalog_text(p, names, sizeof(names)));
        finish_agents(c);
        finish_clients(c);
        if ((!c->seen[K_ENGINE_SOCKET] || p->engine_socket[0] == '\0') &&
            set_string(c, &p->engine_socket,
                       p->engine_kind == ENGINE_PODMAN ? "/run/podman/podman.sock"
                                                       : "/var/run/docker.sock") < 0)
                return;
        /* The workspaces live under the state directory unless placed elsewhere. */
        p->workspace_root_set = c->seen[K_WORKSPACE_ROOT];
        if (c->seen[K_STATE_DIR] && policy_set_state_dir(p, p->state_dir) < 0)
                c->oom = -ENOMEM;
}

static void parse_ctx_freep(struct parse_ctx **c)
{
        if (!*c)
                return;
        free((*c)->ags);
        free((*c)->cls);
        free((*c)->refs);
        free(*c);
}

int policy_parse(const char *text, const char *source, struct policy **ret,
                 struct policy_problems *problems, struct al_error *err)
{
        struct policy_problems local = {0};
        _cleanup_(policy_unrefp) struct policy *p = NULL;
        _cleanup_(parse_ctx_freep) struct parse_ctx *c = NULL;
        size_t len;
        int r;

        if (!problems)
                problems = &local;
        problems->items = NULL;
        problems->n = 0;
        if (!source)
                source = "<settings>";
        if (!text)
                return al_err(err, -EINVAL, "%s: no settings text", source);
        len = strlen(text);
        if (len > POLICY_FILE_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %d bytes", source,
                              POLICY_FILE_MAX);
        p = policy_new_default();
        c = calloc(1, sizeof(*c));
        if (!p || !c)
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        free(p->text);
        p->text = strdup(text);
        p->source_path = strdup(source);
        if (!p->text || !p->source_path)
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        c->p = p;
        c->problems = problems;
        c->text = text;
        c->len = len;
        r = ini_parse_stream(reader, c, handler, c);
        finish_line(c);
        if (r == -2)
                c->oom = -ENOMEM;
        else if (r > 0 && !has_problem_at(c, r))
                problem(c, r, "syntax error");
        if (!c->oom)
                finish(c);
        if (c->oom) {
                policy_problems_free(&local);
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        }
        if (problems->n > 0) {
                r = policy_problems_fail(problems, source, err);
                policy_problems_free(&local);
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, struct policy **ret, struct policy_problems *problems,
                struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = policy_read_admin_file(path, POLICY_FILE_MAX, &text, problems, err);

        return r < 0 ? r : policy_parse(text, path, ret, problems, err);
}
