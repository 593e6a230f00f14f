/* The SQLite store: policy revisions, sandboxes, sessions, tokens and the audit log of
 * executions, in one database file in WAL mode with synchronous=FULL, so that every function
 * that writes has made its change durable when it returns 0.
 *
 * All functions are thread-safe (one connection behind a mutex). They return 0 or a negative
 * errno-like code and fill err: -EINVAL bad argument, -ENOENT no such row, -EEXIST duplicate,
 * -EIO corrupted database or I/O error, -EBUSY locked by another process past the busy
 * timeout, -ENOSPC disk full, -ENOMEM. Timestamps are milliseconds since the epoch; where a
 * timestamp argument is 0 the store uses the current wall clock. Out-parameters are set only
 * on success and owned by the caller (json_decref, free). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"
#include "airlock/sha256.h"

#define STORE_SCHEMA_VERSION 5
/* The egress table's migration. */
#define STORE_MIGRATION_EGRESS 3
/* The snapshots table's migration (suspended sandboxes). */
#define STORE_MIGRATION_SNAPSHOTS 4
/* The executions' isolation tier (docs/isolation.md). */
#define STORE_MIGRATION_ISOLATION 5
#define STORE_ID_LEN              33        /* 32 lowercase hex characters and a NUL */
#define STORE_PREVIEW_BYTES       200       /* code preview: first bytes of the code */
#define STORE_NAME_MAX            256       /* agent, session, backend, ids, ... */
#define STORE_TEXT_MAX            1024      /* reason, error: longer text is cut */
#define STORE_POLICY_TEXT_MAX     (1 << 20) /* a policy revision's text */
#define STORE_QUERY_LIMIT         50        /* executions per page by default */
#define STORE_QUERY_LIMIT_MAX     500       /* and at most */
#define STORE_AGENTS_MAX          1024      /* entries in an agent filter list */
#define STORE_LIST_MAX            10000     /* rows returned by the list functions */

struct store;

/* Open (creating if missing, with its parent directory 0700 and the file 0600) and migrate the
 * database at path. A file that is not an SQLite database, is truncated or fails its integrity
 * check is refused with -EIO and left untouched; a database from a newer airlock is refused
 * with -EPROTO. *ret is freed with store_close. */
int store_open(const char *path, struct store **ret, struct al_error *err);
/* Checkpoint the WAL into the database file and close. NULL is a no-op. */
void store_close(struct store *s);

struct store_stats {
        int schema_version;
        int64_t file_bytes; /* the database file */
        int64_t wal_bytes;  /* its -wal file, 0 when absent */
        int64_t page_size;
        int64_t page_count;
        int64_t executions; /* rows in the audit log */
};
int store_stats(struct store *s, struct store_stats *ret, struct al_error *err);
/* Health probe: take the write lock (BEGIN IMMEDIATE) and give it back at once, waiting at
 * most timeout_ms for another process that holds it. 0 when writes can proceed; -EROFS when
 * the connection is read-only, -EBUSY when the lock stays taken, else as the other calls. */
int store_check_writable(struct store *s, int timeout_ms, struct al_error *err);

/* ---- executions (the audit log) ---- */

struct store_execution {
        /* Set before store_execution_begin. Strings are borrowed for the call only. */
        char id[STORE_ID_LEN]; /* 32 lowercase hex; begin fills in a random one when empty */
        const char *agent;     /* required */
        const char *session;   /* NULL for a one-off */
        int64_t peer_uid;      /* -1 when unknown */
        int64_t peer_pid;      /* -1 when unknown */
        const char *mode;      /* policy mode that decided ("all", "selective", "off") */
        bool sandboxed;
        const char *reason;  /* why sandboxed or not; cut at STORE_TEXT_MAX */
        const char *backend; /* may be NULL at begin and set at finish */
        const char *runtime;
        const char *sandbox_id;
        const char *isolation; /* the tier of a sandboxed exec, NULL on the host */
        const char *code;      /* what was asked to run (code, command or joined argv): */
        size_t code_len;       /* only its length, preview and SHA-256 are stored */
        int64_t started_at;    /* 0 = now */
        /* Set before store_execution_finish. */
        int exit_code; /* ignored when signal != 0 or exit_code < 0 (stored as null) */
        int signal;    /* 0 = exited normally */
        bool timed_out;
        bool oom_killed;
        bool cancelled;           /* the client went away and the exec was stopped */
        bool background;          /* set at begin: a background process */
        bool touch_session;       /* set at begin: mark the session used in the same commit */
        const char *sandbox_lost; /* why its sandbox was removed under it, or NULL */
        int64_t stdout_bytes;
        int64_t stderr_bytes;
        bool stdout_truncated;
        bool stderr_truncated;
        int64_t duration_ms;
        int64_t finished_at; /* 0 = now */
};

/* Durably insert e with state "running"; fills e->id when it was empty. */
int store_execution_begin(struct store *s, struct store_execution *e, struct al_error *err);
/* Durably record the result of a running execution (state "done"); backend, runtime and
 * sandbox_id replace the stored ones when not NULL. -ENOENT when no running row has e->id.
 * Call it before the reply is sent. */
int store_execution_finish(struct store *s, const struct store_execution *e, struct al_error *err);
/* Durably mark a running execution "failed" with message (cut at STORE_TEXT_MAX). */
int store_execution_fail(struct store *s, const char *id, const char *message, int64_t duration_ms,
                         int64_t finished_at, struct al_error *err);
/* Start-up recovery: mark every "running" execution "aborted"; *ret_count (may be NULL)
 * says how many. */
int store_executions_abort_running(struct store *s, int64_t *ret_count, struct al_error *err);

struct store_exec_query {
        const char *agent;         /* only this agent, or NULL */
        const char *const *agents; /* only these agents (NULL-terminated), or NULL for all;
                                    * an empty list matches nothing */
        const char *session;
        const char *state; /* running | done | failed | aborted */
        const char *backend;
        int64_t since;      /* started_at >= since; 0 = unbounded */
        int64_t until;      /* started_at < until; 0 = unbounded */
        int limit;          /* 0 = STORE_QUERY_LIMIT, else 1..STORE_QUERY_LIMIT_MAX */
        const char *cursor; /* next_cursor of the previous page, or NULL */
        /* Egress: "refused" (an egress connection of the exec was refused or cut), "any" (it
         * made at least one), or NULL; egress_host: it tried to reach this host. */
        const char *egress;
        const char *egress_host;
};

/* One page of executions, newest first, as a JSON array of objects. *ret_next_cursor is the
 * cursor of the next page, or NULL on the last page. -EINVAL for a bad filter or cursor. */
int store_executions_query(struct store *s, const struct store_exec_query *q, json_t **ret_array,
                           char **ret_next_cursor, struct al_error *err);
/* One connection attempt through the egress proxy (store/egress.c). */
struct store_egress {
        const char *execution_id; /* "" when none was running */
        const char *sandbox;
        const char *host;
        int port;
        const char *address;
        const char *protocol;
        bool allowed;
        const char *reason;
        int64_t bytes_out, bytes_in, started_at, duration_ms;
};
int store_egress_add(struct store *s, const struct store_egress *e, struct al_error *err);
/* The connections of an execution, oldest first, as a JSON array (at most
 * STORE_QUERY_LIMIT_MAX). */
int store_egress_list(struct store *s, const char *execution_id, json_t **ret,
                      struct al_error *err);

/* One execution as a JSON object; -ENOENT when unknown. */
int store_execution_get(struct store *s, const char *id, json_t **ret, struct al_error *err);

/* The preview stored for code: its first STORE_PREVIEW_BYTES bytes, cut back to a character
 * boundary, invalid UTF-8 replaced by U+FFFD. Caller frees; NULL on ENOMEM. */
char *store_code_preview(const char *code, size_t len);

/* ---- policy revisions ---- */

/* Record an applied policy text. sha256 (hex) is computed when NULL. When the latest revision
 * has the same hash nothing is added and its number is returned. who: "startup", "uid 0", ...
 * *ret_revision (may be NULL) gets the revision number. */
int store_policy_revision_add(struct store *s, const char *text, const char *sha256,
                              const char *who, int64_t applied_at, int64_t *ret_revision,
                              struct al_error *err);
/* The latest revision {revision, sha256, applied_at, applied_by, text}; -ENOENT when none. */
int store_policy_revision_latest(struct store *s, json_t **ret, struct al_error *err);
/* Up to limit (1..STORE_LIST_MAX) revisions, newest first, without their text. */
int store_policy_revisions_list(struct store *s, int limit, json_t **ret, struct al_error *err);

/* ---- sandboxes ---- */

struct store_sandbox {
        const char *id; /* container id or backend handle */
        const char *backend;
        const char *scope; /* "session" | "agent" | "shared" */
        const char *scope_key;
        const char *agent;   /* NULL for shared */
        const char *session; /* NULL unless scope is session */
        const char *image;
        int64_t created_at;   /* 0 = now */
        int64_t last_used_at; /* 0 = created_at */
};

/* Insert or replace a sandbox as "live". */
int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct al_error *err);
/* Set last_used_at (never moves it back); -ENOENT when unknown. */
int store_sandbox_touch(struct store *s, const char *id, int64_t last_used_at,
                        struct al_error *err);
/* Mark "removed" with removed_at, keeping the row as history; removing a removed sandbox is
 * a no-op; -ENOENT when unknown. */
int store_sandbox_remove(struct store *s, const char *id, int64_t removed_at, struct al_error *err);
/* Live sandboxes as a JSON array, oldest first; agents (NULL-terminated) restricts to those
 * agents, NULL means all. */
int store_sandboxes_live(struct store *s, const char *const *agents, json_t **ret,
                         struct al_error *err);

/* ---- sessions ---- */

struct store_session {
        const char *agent;
        const char *session;
        int64_t created_at;
        int64_t last_used_at;
        int64_t ended_at; /* 0 while active */
};

/* Create the session or mark it used at now (0 = now); an ended session becomes active again. */
int store_session_touch(struct store *s, const char *agent, const char *session, int64_t now,
                        struct al_error *err);
/* Mark it ended; -ENOENT when unknown. */
int store_session_end(struct store *s, const char *agent, const char *session, int64_t ended_at,
                      struct al_error *err);
/* Active sessions last used before used_before (ms since epoch), least recently used first. */
int store_sessions_idle(struct store *s, int64_t used_before, json_t **ret, struct al_error *err);
/* Sessions of agents (NULL-terminated, NULL for all), most recently used first; ended ones
 * only when include_ended. */
int store_sessions_list(struct store *s, const char *const *agents, bool include_ended,
                        json_t **ret, struct al_error *err);

/* ---- bearer tokens (stored as SHA-256 hex of the token, never the token) ---- */

/* Add a token for agent; *ret_id (caller frees) names it for revocation. -EEXIST when the
 * hash is already known. */
int store_token_add(struct store *s, const char *agent, const char *token_hash, int64_t created_at,
                    char **ret_id, struct al_error *err);
/* The agent of a token that is not revoked (caller frees *ret_agent); -ENOENT otherwise.
 * Updates last_used_at at most once a minute, to spare a disk write per request. */
int store_token_lookup(struct store *s, const char *token_hash, char **ret_agent,
                       struct al_error *err);
/* Revoke a token by id; revoking twice is a no-op; -ENOENT when unknown. */
int store_token_revoke(struct store *s, const char *id, int64_t revoked_at, struct al_error *err);
/* Tokens {id, agent, created_at, last_used_at, revoked_at} of agents (NULL for all), without
 * their hashes. */
int store_tokens_list(struct store *s, const char *const *agents, json_t **ret,
                      struct al_error *err);

/* ---- snapshots of suspended sandboxes (store/snapshots.c, docs/suspend.md) ---- */

/* One suspended sandbox: at most one per scope key. Strings are borrowed for the call. */
struct store_snapshot {
        const char *scope_key;
        const char *id; /* the suspended sandbox's id (its container's, kept to name it) */
        const char *scope;
        const char *agent;   /* NULL for SHARED */
        const char *session; /* NULL unless SESSION */
        const char *image;
        const char *tier;     /* the isolation tier, "container" by default */
        const char *state;    /* "suspending" (begun: the sandbox is live) or "complete" */
        const char *manifest; /* JSON: limits and what the snapshot holds */
        const char *file;     /* its file's name in the snapshots directory */
        const char *sha256;   /* of the whole file */
        int64_t bytes;        /* the file's size */
        int64_t created_at;   /* 0 = now */
};
/* Durably record sn, replacing the key's earlier row: first "suspending" (before anything
 * is written), then "complete" once the file is whole and synced. */
int store_snapshot_put(struct store *s, const struct store_snapshot *sn, struct al_error *err);
/* The row of scope_key as a JSON object; -ENOENT when none. */
int store_snapshot_get(struct store *s, const char *scope_key, json_t **ret, struct al_error *err);
/* Delete the row of scope_key; -ENOENT when none. */
int store_snapshot_delete(struct store *s, const char *scope_key, struct al_error *err);
/* Every row (agent NULL) or one agent's, oldest first, as a JSON array. */
int store_snapshots_list(struct store *s, const char *agent, json_t **ret, struct al_error *err);
/* How many snapshots and how many bytes they hold, in all (agent NULL) or of one agent. */
int store_snapshots_total(struct store *s, const char *agent, int64_t *ret_count,
                          int64_t *ret_bytes, struct al_error *err);
