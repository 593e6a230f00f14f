/* The settings parser's private parts, shared by its files:
 *   parse.c        the reader handed to libinih, section headers, the handler, policy_parse
 *   parse_keys.c   the key table and the value parsers (set_value)
 *   parse_lists.c  the list-valued keys (domains, runtime names, uids, groups, patterns)
 *   parse_finish.c the checks once the whole file is read
 * They share the handler's state, struct parse_ctx. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/policy.h"

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
        SEC_MCP,
        SEC_FILES,
        SEC_E2B,
        SEC_RUNTIME, /* the named sections from here on */
        SEC_AGENT,
        SEC_CLIENT,
        SEC_PROVIDER,
        SEC__MAX,
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
        K_POOL_SIZE,
        K_MAX_CONTEXTS,
        K_CONTEXT_IDLE_TIMEOUT,
        K_SELECTIVE_RULES,
        K_ISOLATION,
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
        K_ALLOWED_CIDRS,
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
        /* [mcp] */
        K_MCP_LISTEN,
        /* [e2b] */
        K_E2B_LISTEN,
        /* [files]: the files API and artifacts (docs/files.md) */
        K_F_UPLOAD_MB,
        K_F_DOWNLOAD_MB,
        K_F_ENTRIES_MAX,
        K_F_ARTIFACTS_MAX,
        K_F_ARTIFACT_INLINE_KB,
        K_F_ARTIFACT_MB,
        /* [runtime "NAME"] */
        K_IMAGE,
        K_RUN,
        K_SHELL,
        K_RT_POOL,
        K_IMAGE_GVISOR,
        K_RT_POOL_GVISOR,
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
        K_A_ALLOWED_DOMAINS,
        K_A_BLOCKED_DOMAINS,
        K_A_ALLOWED_CIDRS,
        K_A_ISOLATION,
        /* [client "NAME"] */
        K_C_UIDS,
        K_C_GROUPS,
        K_C_AGENTS,
        K_C_RATE_PER_MIN,
        K_C_MAX_CONCURRENT,
        /* [sandbox]: suspend and resume (docs/suspend.md) */
        K_IDLE_SUSPEND,
        K_SNAPSHOT_MAX_MB,
        K_SNAPSHOT_QUOTA_MB,
        K_SNAPSHOT_RETENTION,
        K_MEMORY_SNAPSHOTS,
        K__MAX,
};

#define K_RUNTIME_FIRST K_IMAGE
#define K_RUNTIME_KEYS  (K_RT_POOL_GVISOR - K_IMAGE + 1)
#define K_AGENT_FIRST   K_A_MODE
#define K_AGENT_KEYS    (K_A_ISOLATION - K_A_MODE + 1)
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

struct key_def {
        enum section_kind section;
        const char *name;
        enum value_type type;
        int64_t min, max, scale;
        double dmin, dmax;
        const char *const *choices;
};

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
        int runtime;           /* index into p->runtimes for SEC_RUNTIME */
        int agent;             /* index into p->agents for SEC_AGENT */
        int client;            /* index into p->clients for SEC_CLIENT */
        int provider;          /* index into p->providers for SEC_PROVIDER */
        int provider_seen[12]; /* parse_provider.c: line each fixed key was set on */
        int section_line[SEC__MAX];
        int seen[K__MAX]; /* line each key was set on, for the fixed sections */
        struct runtime_state rts[POLICY_RUNTIMES_MAX];
        struct agent_state *ags;  /* one per p->agents */
        struct client_state *cls; /* one per p->clients */
        struct runtime_ref *refs;
        size_t n_refs;
};

/* Indexed by enum key_id; the ranges are the documented ones (docs/configuration.md). */
extern const struct key_def parse_keys[K__MAX];
extern const char *const parse_section_names[SEC__MAX];

/* Record a problem at line (out of memory sets c->oom). */
__attribute__((format(printf, 3, 4))) void parse_problem(struct parse_ctx *c, int line,
                                                         const char *fmt, ...);
/* The section being read, for messages ("[agent \"x\"]"). */
const char *parse_section_label(const struct parse_ctx *c, char *dst, size_t size);
/* Check and store the value v of key id in the section being read. */
void parse_set_value(struct parse_ctx *c, enum key_id id, const char *v);
/* Replace *field with a copy of v (out of memory sets c->oom and returns < 0). */
int parse_set_string(struct parse_ctx *c, char **field, const char *v);
/* The agent of the [agent] section being read, and marking key id as set in it. */
struct policy_agent *parse_cur_agent(struct parse_ctx *c);
void parse_agent_mark(struct parse_ctx *c, enum key_id id);
/* Add each item of the list v to the list-valued key id. */
void parse_add_list(struct parse_ctx *c, enum key_id id, const char *v);
/* The per-agent keys' names, for messages. */
const char *parse_agent_keys_text(char *dst, size_t size);
/* parse_provider.c: [provider "NAME"] sections and [agent] backend. */
void parse_enter_provider(struct parse_ctx *c, const char *name);
void parse_provider_key(struct parse_ctx *c, const char *name, const char *value);
void parse_agent_backend(struct parse_ctx *c, const char *value);
void parse_finish_providers(struct parse_ctx *c);
/* Checks that need the whole file: defaults that depend on other keys, references. */
void parse_finish(struct parse_ctx *c);
