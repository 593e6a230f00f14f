/* Shared between the store's files: the handle, SQLite error conversion, statement and lock
 * cleanup, and small binding and JSON helpers. */
#pragma once
#include <pthread.h>
#include <sqlite3.h>

#include "airlock/cleanup.h"
#include "airlock/store.h"

/* PRAGMA application_id of airlock databases: "ARLK". */
#define STORE_APPLICATION_ID 0x41524c4b

#define STORE_STRINGIFY_(x) #x
#define STORE_STRINGIFY(x)  STORE_STRINGIFY_(x)

/* The statements of every exec (its audit row, its session's use) and the pragmas and
 * transaction verbs around them: prepared once per connection, not per call (parsing them was
 * the larger part of the daemon's own CPU per exec). */
enum store_cached {
        STORE_Q_EXEC_BEGIN,
        STORE_Q_EXEC_FINISH,
        STORE_Q_SESSION_TOUCH,
        STORE_Q_SYNC_NORMAL,
        STORE_Q_SYNC_FULL,
        STORE_Q_BEGIN,
        STORE_Q_COMMIT,
        STORE_Q_MAX
};

struct store {
        sqlite3 *db;
        sqlite3_stmt *cached[STORE_Q_MAX];
        pthread_mutex_t lock; /* one connection: every call holds it for its whole duration */
        char *path;
        int64_t executions; /* audit log row count, kept here so health checks stay O(1) */
        /* Group commit (store_group_*): commits made at synchronous=NORMAL wait, without the
         * lock, for one fdatasync of the WAL that began after them; concurrent ones share it. */
        pthread_mutex_t sync_lock;
        pthread_cond_t sync_done;
        int wal_fd;       /* the WAL, opened once by us; -1 until the first group commit */
        uint64_t written; /* group commits written to the WAL, numbered from 1 */
        uint64_t synced;  /* the last one a finished fdatasync covers */
        bool syncing;
};

/* The lock held: slot q's statement, prepared from sql on first use (sql must be the same on
 * every call for that slot). Declare the variable _cleanup_cached_: it is reset, not
 * finalized, at the end of the scope (before the lock is released). */
int store_prepare_cached(struct store *s, enum store_cached q, const char *sql, sqlite3_stmt **ret,
                         struct al_error *err);
static inline void store_stmt_resetp(sqlite3_stmt **st)
{
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_cached_ _cleanup_(store_stmt_resetp)
/* The lock held: PRAGMA synchronous=FULL (the connection's default) or NORMAL. */
void store_sync_mode_locked(struct store *s, bool full);
/* The lock held: BEGIN or COMMIT, from the cache. */
int store_begin_locked(struct store *s, struct al_error *err);
int store_commit_locked(struct store *s, struct al_error *err);

/* The lock held: switch to synchronous=NORMAL for a commit that store_group_sync makes
 * durable, and back to FULL. */
void store_group_begin_locked(struct store *s);
/* The lock held, the commit done (r >= 0) or not: back to FULL; on success, the commit's ticket
 * for store_group_sync in *ret (0: already durable). Returns r, or < 0 when the WAL cannot be
 * reached (then the commit was made durable here, under the lock, or the error says not). */
int store_group_end_locked(struct store *s, int r, uint64_t *ret, struct al_error *err);
/* Without the lock: return once the commit of ticket is on disk. */
int store_group_sync(struct store *s, uint64_t ticket, struct al_error *err);

static inline void sqlite3_finalizep(sqlite3_stmt **st)
{
        if (*st)
                sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static inline void store_unlockp(pthread_mutex_t **m)
{
        if (*m)
                pthread_mutex_unlock(*m);
}
static inline pthread_mutex_t *store_lock(struct store *s)
{
        pthread_mutex_lock(&s->lock);
        return &s->lock;
}
/* Hold the store's lock until the end of the scope; declare it before any statement so that
 * statements are finalized while it is still held. */
#define STORE_LOCKED(s) _cleanup_(store_unlockp) pthread_mutex_t *store_held_ = store_lock(s)

/* Upsert (agent, session) as used at now (already store_time()d); the lock held. */
int store_session_touch_locked(struct store *s, const char *agent, const char *session, int64_t now,
                               struct al_error *err);

/* Convert an SQLite result code to -errno and fill err with "what: sqlite message". */
int store_sql_err(struct store *s, int rc, struct al_error *err, const char *what);
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct al_error *err);
/* Run SQL without results (may be several statements). */
int store_exec(struct store *s, const char *sql, struct al_error *err);
/* Step a statement that returns no row (SQLITE_DONE expected). */
int store_step_done(struct store *s, sqlite3_stmt *st, struct al_error *err, const char *what);
/* BEGIN IMMEDIATE: take the write lock up front so the busy timeout applies. */
int store_tx_begin(struct store *s, struct al_error *err);
int store_tx_commit(struct store *s, struct al_error *err);
void store_tx_rollback(struct store *s);

/* Bind text or NULL; text must stay valid until the statement is stepped (SQLITE_STATIC). */
int store_bind_text(sqlite3_stmt *st, int idx, const char *text);
/* now when t is 0, else t. */
int64_t store_time(int64_t t);
/* -EINVAL unless name is non-empty and at most STORE_NAME_MAX bytes (NULL ok when optional). */
int store_check_name(const char *what, const char *name, bool optional, struct al_error *err);
/* Check an agent filter list: at most STORE_AGENTS_MAX names. */
int store_check_agents(const char *const *agents, struct al_error *err);
/* Append " AND <col> IN (?,...)" for the agents list; returns the SQL (caller frees). */
char *store_sql_agents(const char *sql, const char *col, const char *const *agents,
                       const char *tail);
/* Bind the agents list starting at idx; returns the next index. */
int store_bind_agents(sqlite3_stmt *st, int idx, const char *const *agents);
/* The current row as a JSON object keyed by column name; columns named in bools (NULL-
 * terminated, may be NULL) become true/false. Text that is not valid UTF-8 is repaired. */
json_t *store_row_json(sqlite3_stmt *st, const char *const *bools);
/* Step st to the end, its rows as a JSON array in *ret (as store_row_json makes them). */
int store_collect(struct store *s, sqlite3_stmt *st, const char *const *bools, json_t **ret,
                  struct al_error *err, const char *what);
/* Copy text into a new string cut at max bytes on a character boundary. */
char *store_cut_text(const char *text, size_t max);

/* Schema migrations: bring the database from user_version to STORE_SCHEMA_VERSION. */
int store_migrate(struct store *s, struct al_error *err);
/* -EPROTO when a database without an airlock schema version already has tables. */
int store_check_empty(struct store *s, struct al_error *err);
