/* Settings: the admin's file, parsed and validated into an immutable policy object.
 * A policy is reference-counted so that a reload never pulls it from under a running exec. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"

#define POLICY_FILE_MAX     (1024 * 1024) /* settings files larger than this are refused */
#define POLICY_RUNTIMES_MAX 64            /* runtime catalog entries, built-ins included */
#define POLICY_PROBLEMS_MAX 100           /* problems reported before giving up */

enum engine_kind { ENGINE_DOCKER = 0, ENGINE_PODMAN = 1 };
enum policy_mode { MODE_OFF = 0, MODE_SELECTIVE, MODE_ALL };
enum policy_scope { SCOPE_SESSION = 0, SCOPE_AGENT, SCOPE_SHARED };
enum policy_workspace { WORKSPACE_NONE = 0, WORKSPACE_RO, WORKSPACE_RW };

struct limits {
        double cpu_cores;       /* 0 < x <= 64 */
        int64_t memory_mb;      /* container memory and swap cap */
        int64_t disk_mb;        /* size of the writable tmpfs */
        int64_t max_processes;  /* pids cgroup limit */
        int64_t timeout_s;      /* default and maximum per exec */
        int64_t output_bytes;   /* cap per stream (stdout, stderr) */
};

struct runtime {
        char *name;   /* "python" */
        char *image;  /* "airlock/python:3.11" */
        char **run;   /* argv prefix the code is appended to, e.g. {"python3","-c",NULL} */
        char **shell; /* argv prefix for "command", e.g. {"sh","-c",NULL} */
        int line;     /* where it was defined, for messages */
};

struct policy {
        int refs;
        /* [daemon] */
        char *socket_path;
        char *socket_group;
        char *state_dir;
        int64_t max_body_bytes;
        int64_t max_connections;
        char *log_level;
        /* [engine] */
        enum engine_kind engine_kind;
        char *engine_socket;
        char *seccomp_profile; /* path to the Docker-format seccomp profile */
        /* [sandbox] */
        enum policy_mode mode;
        enum policy_scope scope;
        enum policy_workspace workspace;
        char *workspace_root;
        char *default_runtime;
        char *exec_user;     /* uid:gid the code runs as inside a sandbox */
        char *keeper_user;   /* uid:gid of the sandbox's init and keeper process */
        uint32_t exec_uid, exec_gid;     /* exec_user, parsed (never 0) */
        uint32_t keeper_uid, keeper_gid; /* keeper_user, parsed (never 0) */
        int64_t idle_timeout_s;
        /* [limits] */
        struct limits limits;
        /* [runtime "name"] */
        struct runtime *runtimes;
        size_t n_runtimes;
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

/* The built-in defaults, as if from an empty file. Caller owns the result (policy_unref). */
struct policy *policy_new_default(void);

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

struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);
static inline void policy_unrefp(struct policy **p)
{
        policy_unref(*p);
}

/* The runtime entry named name, or NULL. */
const struct runtime *policy_runtime(const struct policy *p, const char *name);

const char *policy_mode_name(enum policy_mode m);
const char *policy_scope_name(enum policy_scope s);
const char *policy_workspace_name(enum policy_workspace w);
const char *engine_kind_name(enum engine_kind k);

/* The effective policy as a new JSON object (jansson json_t, caller json_decref's it), keys
 * named as in the settings file; NULL when out of memory. */
struct json_t *policy_to_json(const struct policy *p);

/* yes|no|true|false|on|off|1|0 (any case); returns -EINVAL on anything else. */
int policy_parse_bool(const char *s, bool *ret);
/* "uid:gid" with numeric ids in 1..4294967294; -EINVAL if malformed, -EPERM for a 0 (root). */
int policy_parse_user(const char *s, uint32_t *ret_uid, uint32_t *ret_gid);
