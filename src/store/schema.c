/* Schema migrations, keyed by PRAGMA user_version. Migration N takes a database from version
 * N-1 to N inside one transaction, so a crash mid-migration leaves the previous version. Never
 * edit a shipped migration: add the next one. */
#include <inttypes.h>
#include <stdio.h>

#include "store/store_private.h"

static const char *const migrations[] = {
    [1] =
        /* Every applied policy text, deduplicated against the latest by hash. */
    "CREATE TABLE policy_revisions ("
    "  revision    INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  text        TEXT NOT NULL,"
    "  sha256      TEXT NOT NULL,"
    "  applied_at  INTEGER NOT NULL,"
    "  applied_by  TEXT NOT NULL"
    ");"
    /* Sandboxes by container id; removed ones stay as history. */
    "CREATE TABLE sandboxes ("
    "  id            TEXT PRIMARY KEY,"
    "  backend       TEXT NOT NULL,"
    "  scope         TEXT NOT NULL CHECK (scope IN ('session', 'agent', 'shared')),"
    "  scope_key     TEXT NOT NULL,"
    "  agent         TEXT,"
    "  session       TEXT,"
    "  image         TEXT,"
    "  state         TEXT NOT NULL CHECK (state IN ('live', 'removed')),"
    "  created_at    INTEGER NOT NULL,"
    "  last_used_at  INTEGER NOT NULL,"
    "  removed_at    INTEGER"
    ");"
    "CREATE INDEX sandboxes_state_agent ON sandboxes(state, agent);"
    "CREATE TABLE sessions ("
    "  agent         TEXT NOT NULL,"
    "  session       TEXT NOT NULL,"
    "  created_at    INTEGER NOT NULL,"
    "  last_used_at  INTEGER NOT NULL,"
    "  ended_at      INTEGER,"
    "  PRIMARY KEY (agent, session)"
    ");"
    "CREATE INDEX sessions_active_last_used ON sessions(last_used_at) "
    "  WHERE ended_at IS NULL;"
    /* The audit log. No foreign keys on purpose: a record must be written whatever else
     * exists, and outlive the sessions and sandboxes it names. */
    "CREATE TABLE executions ("
    "  id                TEXT PRIMARY KEY,"
    "  agent             TEXT NOT NULL,"
    "  session           TEXT,"
    "  peer_uid          INTEGER,"
    "  peer_pid          INTEGER,"
    "  mode              TEXT,"
    "  sandboxed         INTEGER NOT NULL,"
    "  reason            TEXT,"
    "  backend           TEXT,"
    "  runtime           TEXT,"
    "  sandbox_id        TEXT,"
    "  code_bytes        INTEGER NOT NULL DEFAULT 0,"
    "  code_preview      TEXT,"
    "  code_sha256       TEXT,"
    "  state             TEXT NOT NULL"
    "                    CHECK (state IN ('running', 'done', 'failed', 'aborted')),"
    "  exit_code         INTEGER,"
    "  signal            INTEGER,"
    "  timed_out         INTEGER NOT NULL DEFAULT 0,"
    "  oom_killed        INTEGER NOT NULL DEFAULT 0,"
    "  cancelled         INTEGER NOT NULL DEFAULT 0,"
    "  stdout_bytes      INTEGER NOT NULL DEFAULT 0,"
    "  stderr_bytes      INTEGER NOT NULL DEFAULT 0,"
    "  stdout_truncated  INTEGER NOT NULL DEFAULT 0,"
    "  stderr_truncated  INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms       INTEGER,"
    "  error             TEXT,"
    "  started_at        INTEGER NOT NULL,"
    "  finished_at       INTEGER"
    ");"
    /* Paging is by (started_at, id), newest first, with or without an agent filter. */
    "CREATE INDEX executions_agent_started ON executions(agent, started_at, id);"
    "CREATE INDEX executions_started ON executions(started_at, id);"
    "CREATE INDEX executions_session ON executions(session);"
    "CREATE INDEX executions_running ON executions(state) WHERE state = 'running';"
    /* Bearer tokens, by SHA-256 of the token: the token itself is never stored. */
    "CREATE TABLE tokens ("
    "  id            TEXT PRIMARY KEY,"
    "  agent         TEXT NOT NULL,"
    "  token_hash    TEXT NOT NULL UNIQUE,"
    "  created_at    INTEGER NOT NULL,"
    "  last_used_at  INTEGER,"
    "  revoked_at    INTEGER"
    ");"
    "CREATE INDEX tokens_agent ON tokens(agent);",
    [2] =
        /* Why an exec's sandbox was removed under it (it could not be cleaned, or vanished),
         * and whether the exec was a background process. */
    "ALTER TABLE executions ADD COLUMN sandbox_lost TEXT;"
    "ALTER TABLE executions ADD COLUMN background INTEGER NOT NULL DEFAULT 0;",
    [STORE_MIGRATION_EGRESS] =
        /* Every connection attempt through the egress proxy, with its execution. */
    "CREATE TABLE IF NOT EXISTS egress ("
    "  id            INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  execution_id  TEXT NOT NULL,"
    "  sandbox       TEXT NOT NULL,"
    "  host          TEXT NOT NULL,"
    "  port          INTEGER NOT NULL,"
    "  address       TEXT NOT NULL,"
    "  protocol      TEXT NOT NULL,"
    "  allowed       INTEGER NOT NULL,"
    "  reason        TEXT NOT NULL,"
    "  bytes_out     INTEGER NOT NULL,"
    "  bytes_in      INTEGER NOT NULL,"
    "  started_at    INTEGER NOT NULL,"
    "  duration_ms   INTEGER NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS egress_execution ON egress(execution_id, id);"
    "CREATE INDEX IF NOT EXISTS egress_host ON egress(host);",
    [STORE_MIGRATION_SNAPSHOTS] =
        /* Suspended sandboxes: one snapshot file per scope key, recorded once it is complete
         * and synced, before the sandbox is removed (docs/suspend.md). */
    "CREATE TABLE snapshots ("
    "  scope_key     TEXT PRIMARY KEY,"
    "  id            TEXT NOT NULL,"
    "  scope         TEXT NOT NULL,"
    "  agent         TEXT,"
    "  session       TEXT,"
    "  image         TEXT NOT NULL,"
    "  tier          TEXT NOT NULL DEFAULT 'container',"
    "  state         TEXT NOT NULL CHECK (state IN ('suspending', 'complete')),"
    "  manifest      TEXT NOT NULL,"
    "  file          TEXT NOT NULL,"
    "  sha256        TEXT NOT NULL,"
    "  bytes         INTEGER NOT NULL,"
    "  created_at    INTEGER NOT NULL"
    ");"
    "CREATE INDEX snapshots_agent ON snapshots(agent);",
    [STORE_MIGRATION_ISOLATION] =
        /* The isolation tier a sandboxed exec ran in (docs/isolation.md); NULL on the host. */
    "ALTER TABLE executions ADD COLUMN isolation TEXT;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION + 1,
               "one migration per schema version");

static int user_version(struct store *s, int64_t *ret, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = store_prepare(s, "PRAGMA user_version", &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "reading the schema version");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

/* A database at version 0 must be empty: never graft our tables onto another program's data. */
int store_check_empty(struct store *s, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = store_prepare(s, "SELECT count(*) FROM sqlite_schema", &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "reading the schema");
        if (sqlite3_column_int64(st, 0) != 0)
                return al_err(err, -EPROTO,
                              "database '%s' has tables but no airlock schema version: it is "
                              "not an airlock database",
                              s->path);
        return 0;
}

static int migrate_one(struct store *s, struct al_error *err)
{
        char sql[96];
        int64_t v = 0;
        int r;

        r = store_tx_begin(s, err);
        if (r < 0)
                return r;
        /* Read the version inside the write transaction: another process may have migrated. */
        r = user_version(s, &v, err);
        if (r < 0)
                goto fail;
        if (v < 0) {
                r = al_err(err, -EPROTO, "database '%s' has an invalid schema version %" PRId64,
                           s->path, v);
                goto fail;
        }
        if (v >= STORE_SCHEMA_VERSION) {
                store_tx_rollback(s);
                return v == STORE_SCHEMA_VERSION
                           ? 0
                           : al_err(err, -EPROTO,
                                    "database '%s' has schema version %" PRId64
                                    ", newer than this airlockd understands (%d)",
                                    s->path, v, STORE_SCHEMA_VERSION);
        }
        if (v == 0) {
                r = store_check_empty(s, err);
                if (r < 0)
                        goto fail;
        }
        r = store_exec(s, migrations[v + 1], err);
        if (r < 0) {
                al_err_wrap(err, r, "migrating the schema to version %" PRId64, v + 1);
                goto fail;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64 "; PRAGMA application_id = %d",
                 v + 1, STORE_APPLICATION_ID);
        r = store_exec(s, sql, err);
        if (r < 0)
                goto fail;
        r = store_tx_commit(s, err);
        if (r < 0)
                return r;
        return 1;
fail:
        store_tx_rollback(s);
        return r;
}

int store_migrate(struct store *s, struct al_error *err)
{
        int r;

        do
                r = migrate_one(s, err);
        while (r > 0);
        return r;
}
