/* Settings: the admin's file, parsed and validated into an immutable policy object.
 * A policy is reference-counted so that a reload never pulls it from under a running exec. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"
#include "airlock/types.h"

#define POLICY_FILE_MAX       (1024 * 1024) /* settings files larger than this are refused */
#define POLICY_RUNTIMES_MAX   64            /* runtime catalog entries, built-ins included */
#define POLICY_PROBLEMS_MAX   100           /* problems reported before giving up */
#define POLICY_AGENTS_MAX     1024          /* [agent "name"] sections */
#define POLICY_DOMAINS_MAX    1024 /* entries in each of allowed_domains, blocked_domains */
#define POLICY_DOMAIN_LEN_MAX 253  /* a domain pattern, "*." not counted */
#define POLICY_NAME_LEN_MAX   64   /* runtime and agent names */
#define POLICY_CLIENTS_MAX    256  /* [client "name"] sections */
#define POLICY_IDS_MAX        1024 /* entries in each uid, group or agent list */

struct runtime {
        char *name;         /* "python" */
        char *image;        /* "airlock/python:3.11" */
        char **run;         /* argv prefix the code is appended to, e.g. {"python3","-c",NULL} */
        char **shell;       /* argv prefix for "command", e.g. {"sh","-c",NULL} */
        int line;           /* where it was defined, for messages */
        int pool;           /* [runtime] pool: ready sandboxes to keep; -1 when not set */
        char *image_gvisor; /* [runtime] image_gvisor: the gvisor tier's image; NULL: image */
        int pool_gvisor;    /* [runtime] pool_gvisor: ready gvisor-tier sandboxes besides */
};

/* [network]. Domain patterns are lower case: "pypi.org" or "*.github.com". */
struct policy_network {
        enum policy_network_tier tier;
        char **allowed; /* NULL-terminated, never NULL (maybe empty) */
        char **blocked; /* NULL-terminated, never NULL (maybe empty) */
        char **cidrs;   /* allowed_cidrs, as written ("10.9.0.0/16"); never NULL */
};

/* Which keys an [agent "name"] section set (struct policy_agent.set). */
enum policy_agent_key {
        POLICY_AGENT_MODE = 1u << 0,
        POLICY_AGENT_SCOPE = 1u << 1,
        POLICY_AGENT_WORKSPACE = 1u << 2,
        POLICY_AGENT_CPU_CORES = 1u << 3,
        POLICY_AGENT_MEMORY_MB = 1u << 4,
        POLICY_AGENT_DISK_MB = 1u << 5,
        POLICY_AGENT_MAX_PROCESSES = 1u << 6,
        POLICY_AGENT_TIMEOUT_S = 1u << 7,
        POLICY_AGENT_OUTPUT_KB = 1u << 8,
        POLICY_AGENT_NETWORK = 1u << 9,
        POLICY_AGENT_DEFAULT_RUNTIME = 1u << 10,
        POLICY_AGENT_RUNTIMES = 1u << 11,
        POLICY_AGENT_WORKSPACE_MB = 1u << 12,
        POLICY_AGENT_ALLOWED_DOMAINS = 1u << 13,
        POLICY_AGENT_BLOCKED_DOMAINS = 1u << 14,
        POLICY_AGENT_ALLOWED_CIDRS = 1u << 15,
        POLICY_AGENT_ISOLATION = 1u << 16,
};

/* [agent "name"]: per-agent overrides. A field counts only when its POLICY_AGENT_* bit is in
 * set; everything else comes from the global sections (see policy_resolve). */
struct policy_agent {
        char *name;
        int line;     /* of the section header */
        unsigned set; /* POLICY_AGENT_* bits */
        enum policy_mode mode;
        enum policy_scope scope;
        enum policy_workspace workspace;
        struct limits limits;
        enum policy_network_tier network; /* "network = restricted|standard|elevated" */
        char *default_runtime;
        char **runtimes; /* NULL-terminated names from the catalog; NULL when not set */
        /* allowed_domains, blocked_domains replacing [network]'s for this agent; NULL when
         * not set */
        char **allowed_domains, **blocked_domains;
        /* backend = provider:NAME: the provider's name; NULL for the local engine */
        char *provider;
        int provider_line;
        char **allowed_cidrs;          /* replacing [network]'s for this agent; NULL when not set */
        enum isolation_tier isolation; /* "isolation = container|gvisor" */
};

/* [client "name"]: callers (by uid, or by group) and the agents they may act as. */
struct policy_client {
        char *name;
        int line;       /* of the section header */
        uint32_t *uids; /* n_uids numeric uids */
        size_t n_uids;
        char **groups;          /* group names, NULL-terminated, never NULL */
        char **agents;          /* agent names or fnmatch patterns, NULL-terminated, never NULL */
        int64_t rate_per_min;   /* requests per minute; -1: [daemon] rate_per_min */
        int64_t max_concurrent; /* requests at once; -1: [daemon] max_concurrent */
};

struct host_options; /* airlock/host_options.h */

struct policy {
        int refs;
        /* [daemon] */
        char *socket_path;
        char *socket_group;
        char *state_dir;
        int64_t max_body_bytes;
        /* [files]: the files API and artifacts (docs/files.md) */
        struct {
                int64_t upload_bytes;          /* one upload (a file or a tar) */
                int64_t download_bytes;        /* one download (a file or a tar) */
                int64_t entries_max;           /* entries of a listing or a tar */
                int64_t artifacts_max;         /* artifacts of one exec; 0: none collected */
                int64_t artifact_inline_bytes; /* inline (base64) at most this size */
                int64_t artifact_bytes;        /* larger files are listed, not hashed */
        } files;
        int64_t max_connections;
        char *log_level;
        /* [daemon]: caps on what clients may ask of the daemon (docs/security.md) */
        int64_t max_header_bytes;        /* request line and headers, per connection */
        int64_t max_connections_per_uid; /* 0 = only the share (api/limits.h), root included */
        int64_t reserved_connections;    /* the last slots: GET /v1/health and /v1/version only */
        int64_t read_timeout_s;          /* to read a whole request, from accept or last answer */
        int64_t rate_per_min;            /* per client; 0 = unlimited */
        int64_t max_concurrent;          /* requests in progress per client; 0 = unlimited */
        int64_t max_execs;               /* execs running at once, daemon-wide */
        int64_t queue_max;               /* execs waiting for one of those slots */
        int64_t queue_timeout_s;         /* how long one waits before 429 */
        int64_t max_sandboxes;           /* live sandboxes in all */
        int64_t max_sandboxes_per_agent; /* live sandboxes of one agent */
        /* [access] */
        uint32_t *admin_uids;
        size_t n_admin_uids;
        char **admin_groups; /* NULL-terminated, never NULL */
        /* [client "name"], in file order */
        struct policy_client *clients;
        size_t n_clients;
        /* [engine] */
        enum engine_kind engine_kind;
        char *engine_socket;
        char *seccomp_profile; /* path to the Docker-format seccomp profile */
        /* [sandbox] */
        enum policy_mode mode;
        enum policy_scope scope;
        enum policy_workspace workspace;
        char *workspace_root;
        bool workspace_root_set; /* workspace_root came from the file, not from state_dir */
        char *default_runtime;
        char *exec_user;                 /* uid:gid the code runs as inside a sandbox */
        char *keeper_user;               /* uid:gid of the sandbox's init and keeper process */
        uint32_t exec_uid, exec_gid;     /* exec_user, parsed (never 0) */
        uint32_t keeper_uid, keeper_gid; /* keeper_user, parsed (never 0) */
        int64_t idle_timeout_s;
        int64_t pool_size; /* [sandbox] pool_size: ready sandboxes of the default runtime */
        int64_t max_contexts_per_sandbox; /* live contexts (interpreters) in one sandbox */
        int64_t context_idle_timeout_s;   /* a context idle this long ends; 0: never */
        char *selective_rules; /* SELECTIVE rule file; "" = the shipped one (the daemon finds it) */
        /* [sandbox] suspend and resume (docs/suspend.md) */
        struct {
                int64_t idle_suspend_s; /* suspend instead of removing after this idle; 0: off */
                int64_t max_bytes;      /* one snapshot's cap */
                int64_t quota_bytes;    /* an agent's snapshots in all; 0: no quota */
                int64_t retention_s;    /* snapshots older than this are deleted; 0: kept */
                bool memory;            /* memory snapshots (CRIU) asked for */
        } snapshots;
        enum isolation_tier isolation; /* [sandbox] isolation: the tier sandboxes are made in */
        /* [limits] */
        struct limits limits;
        /* [runtime "name"] */
        struct runtime *runtimes;
        size_t n_runtimes;
        /* [network] */
        struct policy_network network;
        /* [agent "name"], in file order */
        struct policy_agent *agents;
        size_t n_agents;
        /* [host]: options of the host backend, never NULL. Its strings belong to the policy
         * (valid while a reference is held); workspace_root and hide_paths are left NULL for
         * the daemon to fill in from its own paths. */
        struct host_options *host;
        /* [monitor] listen: loopback "host:port" of the health and metrics listener; "" is
         * off. Validated by policy_parse_listen. */
        char *monitor_listen;
        /* [mcp] listen: loopback "host:port" of the MCP listener (Streamable HTTP, bearer
         * tokens only); "" is off. */
        char *mcp_listen;
        /* [e2b] listen: loopback "host:port" of the E2B-compatible API (docs/e2b.md); "" is
         * off. */
        char *e2b_listen;
        /* [provider "NAME"], in file order (docs/providers.md) */
        struct policy_provider *providers;
        size_t n_providers;
        /* provenance */
        char *source_path; /* NULL for policy_new_default() */
        char *text;        /* the file as read ("" for the defaults) */
};

/* One problem found in a settings file, as "file:line: message". */
struct policy_problem {
        int line;
        char msg[256];
};

struct policy_problems {
        struct policy_problem *items;
        size_t n;
};

/* The default sandbox users: no host account, above what useradd hands out for subordinate ids
 * (SUB_UID_MAX 600100000) and inside what systemd leaves unused (1879048192-2147352575). */
#define POLICY_EXEC_ID_DEFAULT   2000100000u
#define POLICY_KEEPER_ID_DEFAULT 2000100001u

/* The host's account databases as policy_check_host_ids sees them. NULL members mean the
 * system's: getpwuid_r / getgrgid_r (NSS: /etc/passwd, /etc/group and whatever nsswitch.conf
 * adds), /etc/subuid and /etc/subgid. */
struct policy_id_db {
        /* 1 with the account's name in name when id is one, 0 when not, < 0 (-errno) when the
         * database cannot say. */
        int (*user_of_uid)(uint32_t uid, char *name, size_t size);
        int (*group_of_gid)(uint32_t gid, char *name, size_t size);
        const char *subuid_path;
        const char *subgid_path;
};

/* The sandbox users ([sandbox] exec_user and keeper_user) must be nobody on the host: no uid a
 * host user has, no gid a host group has, no id inside a subordinate range of /etc/subuid or
 * /etc/subgid (whose owner can become it in a user namespace), and the code's uid is not the
 * keeper's. A process of a host account with the same uid could otherwise read a sandbox's
 * files through /proc/PID/root and signal its processes. 0, or -EEXIST with err naming the
 * setting, the id and the account; < 0 with err set when a database cannot be read. db may be
 * NULL for the system's. */
int policy_check_host_ids(const struct policy *p, const struct policy_id_db *db,
                          struct al_error *err);

/* The built-in defaults, as if from an empty file. Caller owns the result (policy_unref). */
struct policy *policy_new_default(void);

/* Sets p->state_dir to a copy of dir; unless the file placed the workspaces elsewhere
 * (workspace_root_set), the workspaces follow it to DIR/workspaces. Used for the file's own
 * state_dir and for the --state-dir flag, which wins over the file for both. */
int policy_set_state_dir(struct policy *p, const char *dir);

/* Parse and validate settings text. On success *ret gets a new policy (refs = 1).
 * Every problem found goes to problems, sorted by line (it is overwritten, may be NULL; caller
 * frees with policy_problems_free); any problem means -EINVAL, err says
 * "<source>:<line>: <first problem> (N problems)" and nothing is returned. source names the
 * file in messages and becomes source_path. */
int policy_parse(const char *text, const char *source, struct policy **ret,
                 struct policy_problems *problems, struct al_error *err);
/* Read and parse a file (at most POLICY_FILE_MAX bytes, not writable by every user);
 * problems as above. */
int policy_load(const char *path, struct policy **ret, struct policy_problems *problems,
                struct al_error *err);
void policy_problems_free(struct policy_problems *p);
/* Add a problem at line; past POLICY_PROBLEMS_MAX the last entry says reporting stopped and
 * further ones are dropped. Returns 0, or -ENOMEM (nothing added). */
int policy_problems_addv(struct policy_problems *ps, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* The parsers' end when problems (n > 0) were found: sorts them by line (stable), sets err to
 * "<source>:<line>: <first>" ("<source>: <first>" for line 0) with " (N problems)" appended when
 * there are several, and returns -EINVAL. */
int policy_problems_fail(struct policy_problems *ps, const char *source, struct al_error *err);
/* Read a file admins edit (settings, rules): a regular file of at most max bytes, not writable
 * by every user (whoever can write it decides what runs), without NUL bytes (reported as a
 * problem with its line). problems is reset first; may be NULL. Caller frees *ret_text. */
int policy_read_admin_file(const char *path, size_t max, char **ret_text,
                           struct policy_problems *problems, struct al_error *err);

struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);
static inline void policy_unrefp(struct policy **p)
{
        policy_unref(*p);
}

/* The runtime entry named name, or NULL. */
const struct runtime *policy_runtime(const struct policy *p, const char *name);
/* How many ready sandboxes of rt the warm pool keeps: its [runtime] pool, else [sandbox]
 * pool_size for the default runtime and 0 for the others. */
int policy_runtime_pool(const struct policy *p, const struct runtime *rt);

const char *policy_mode_name(enum policy_mode m);
const char *policy_scope_name(enum policy_scope s);
const char *policy_workspace_name(enum policy_workspace w);
const char *engine_kind_name(enum engine_kind k);
const char *policy_network_tier_name(enum policy_network_tier t);
/* "container", "gvisor"; and back: -EINVAL for anything else. */
const char *policy_isolation_name(enum isolation_tier t);
int policy_isolation_parse(const char *s, enum isolation_tier *ret);
/* The image rt's sandboxes are made from in tier t: image_gvisor for gvisor when set. */
const char *policy_runtime_image(const struct runtime *rt, enum isolation_tier t);

/* The [agent "name"] section for name, or NULL. */
const struct policy_agent *policy_agent(const struct policy *p, const char *name);

/* True when s is an agent name or an fnmatch pattern of one, as [client] agents takes it:
 * 1..POLICY_NAME_LEN_MAX characters of [A-Za-z0-9._-] and the pattern characters * ? [ ] !,
 * brackets balanced. */
bool policy_agent_pattern_valid(const char *s);

/* True when s is a domain pattern as allowed_domains takes it: 1..253 characters of lower-case
 * letters, digits, '-' and '.', in labels of 1..63 that neither start nor end with '-',
 * optionally after a leading "*." (any subdomain). */
bool policy_domain_valid(const char *s);

/* SHA-256 of the settings text the policy was parsed from, as 64 lowercase hex digits and a
 * NUL ("" for the defaults hashes the empty string). */
void policy_text_sha256(const struct policy *p, char out[65]);

/* The policy in force for one agent: its [agent] section's values where it sets them, the
 * global ones everywhere else. Strings and vectors are borrowed from the policy: valid only
 * while the caller holds its reference to it. */
struct policy_effective {
        const struct policy *policy;
        const char *agent;                  /* as asked; NULL for the global policy */
        const struct policy_agent *section; /* the agent's section; NULL when it has none */
        enum policy_mode mode;
        enum policy_scope scope;
        enum policy_workspace workspace;
        const char *workspace_root;
        struct limits limits;
        enum policy_network_tier network_tier;
        char *const *allowed_domains; /* never NULL */
        char *const *blocked_domains; /* never NULL */
        char *const *allowed_cidrs;   /* never NULL */
        const char *default_runtime;
        char *const *runtimes; /* the runtimes the agent may use; NULL = the whole catalog */
        enum isolation_tier isolation;
};

/* Fill *ret with the effective policy for agent (NULL: the global one). An agent without a
 * section gets the global policy. -EINVAL for a NULL policy or an agent name that could
 * never have a section (not [A-Za-z0-9._-]{1,64}); *ret is untouched then. */
int policy_resolve(const struct policy *p, const char *agent, struct policy_effective *ret);
/* True when runtime is in the catalog and, where the agent has a runtimes list, in it. */
bool policy_effective_runtime_allowed(const struct policy_effective *e, const char *runtime);
/* The effective policy as a new JSON object (caller json_decref's it); agent overrides
 * e->agent in the "agent" member when not NULL. NULL when out of memory. */
struct json_t *policy_effective_to_json(const struct policy_effective *e, const char *agent);

/* The effective policy as a new JSON object (jansson json_t, caller json_decref's it), keys
 * named as in the settings file; NULL when out of memory. */
struct json_t *policy_to_json(const struct policy *p);

/* [monitor] listen: "127.0.0.1:PORT" (any 127.0.0.0/8 address) or "[::1]:PORT", PORT 1..65535.
 * The listener has no authentication, so only loopback addresses are taken. Copies the
 * address without brackets into host (host_len >= 46) and sets *ret_port. -EINVAL when
 * malformed (names such as "localhost" included), -EPERM when not a loopback address. */
int policy_parse_listen(const char *s, char *host, size_t host_len, uint16_t *ret_port);

/* yes|no|true|false|on|off|1|0 (any case); returns -EINVAL on anything else. */
int policy_parse_bool(const char *s, bool *ret);
/* "uid:gid" with numeric ids in 1..4294967294; -EINVAL if malformed, -EPERM for a 0 (root). */
int policy_parse_user(const char *s, uint32_t *ret_uid, uint32_t *ret_gid);

/* [provider "NAME"]: a remote sandbox provider (docs/providers.md). Only the kinds with a
 * backend that the tests exercise are accepted; naming another is a file:line error. */
#define POLICY_PROVIDERS_MAX 16
enum provider_kind { PROVIDER_E2B = 0 };

struct policy_provider_template {
        char *runtime;  /* a runtime of the catalog */
        char *template; /* the provider's template (image) for it */
        int line;
};

struct policy_provider {
        char *name;
        int line; /* of the section header */
        enum provider_kind kind;
        char *api_url;      /* the control plane, "https://api.e2b.app" */
        char *sandbox_url;  /* one URL for every sandbox's envd (E2b-Sandbox-Id header); or NULL */
        char *domain;       /* envd at https://PORT-ID.DOMAIN when sandbox_url is NULL */
        char *api_key_file; /* path of the key; the key itself is read when used, never kept here */
        char *template;     /* for runtimes without their own template; NULL: none */
        struct policy_provider_template *templates;
        size_t n_templates;
        int64_t sandbox_timeout_s; /* the remote sandbox's time to live, renewed on use */
        int64_t request_timeout_s; /* one control-plane request */
        int64_t retries;           /* further attempts after a 429, 5xx or a failed connection */
};

/* The [provider] section named name, or NULL. */
const struct policy_provider *policy_provider(const struct policy *p, const char *name);
/* The provider's template for runtime, or NULL when it has none. */
const char *policy_provider_template(const struct policy_provider *pr, const char *runtime);
/* The agent's backend: the provider it is routed to ([agent] backend = provider:NAME), or NULL
 * for the local engine. */
const struct policy_provider *policy_agent_provider(const struct policy *p, const char *agent);
/* The [provider] sections as JSON (no secrets: the key file's path only). NULL on ENOMEM. */
struct json_t *policy_providers_to_json(const struct policy *p);
