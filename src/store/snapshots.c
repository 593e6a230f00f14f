/* Snapshots of suspended sandboxes: one row per scope key, written once the snapshot file is
 * complete and synced, so that a row always names a whole file (docs/suspend.md). */
#include <errno.h>
#include <string.h>

#include "store/store_private.h"

#define SNAPSHOT_COLUMNS                                                                           \
        "scope_key, id, scope, agent, session, image, tier, state, manifest, file, sha256, "       \
        "bytes, created_at"

int store_snapshot_put(struct store *s, const struct store_snapshot *sn, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        if (!sn->scope_key || !*sn->scope_key || strlen(sn->scope_key) > 4 * STORE_NAME_MAX)
                return al_err(err, -EINVAL, "a snapshot needs a scope key");
        if ((r = store_check_name("id", sn->id, false, err)) < 0 ||
            (r = store_check_name("file", sn->file, false, err)) < 0)
                return r;
        if (!sn->state || (strcmp(sn->state, "suspending") && strcmp(sn->state, "complete")))
                return al_err(err, -EINVAL, "a snapshot is suspending or complete");
        STORE_LOCKED(s);
        r = store_prepare(s,
                          "INSERT OR REPLACE INTO snapshots (" SNAPSHOT_COLUMNS
                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, sn->scope_key);
        store_bind_text(st, 2, sn->id);
        store_bind_text(st, 3, sn->scope);
        store_bind_text(st, 4, sn->agent);
        store_bind_text(st, 5, sn->session);
        store_bind_text(st, 6, sn->image ? sn->image : "");
        store_bind_text(st, 7, sn->tier ? sn->tier : "container");
        store_bind_text(st, 8, sn->state);
        store_bind_text(st, 9, sn->manifest ? sn->manifest : "{}");
        store_bind_text(st, 10, sn->file);
        store_bind_text(st, 11, sn->sha256 ? sn->sha256 : "");
        sqlite3_bind_int64(st, 12, sn->bytes);
        sqlite3_bind_int64(st, 13, store_time(sn->created_at));
        return store_step_done(s, st, err, "recording a snapshot");
}

int store_snapshot_get(struct store *s, const char *scope_key, json_t **ret, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_t *rows = NULL;
        int r;

        STORE_LOCKED(s);
        r = store_prepare(s, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE scope_key = ?", &st,
                          err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, scope_key);
        r = store_collect(s, st, NULL, &rows, err, "reading a snapshot");
        if (r < 0)
                return r;
        if (json_array_size(rows) == 0) {
                json_decref(rows);
                return al_err(err, -ENOENT, "no snapshot for '%s'", scope_key);
        }
        *ret = json_incref(json_array_get(rows, 0));
        json_decref(rows);
        return 0;
}

int store_snapshot_delete(struct store *s, const char *scope_key, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        STORE_LOCKED(s);
        r = store_prepare(s, "DELETE FROM snapshots WHERE scope_key = ?", &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, scope_key);
        r = store_step_done(s, st, err, "deleting a snapshot");
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0
                                          : al_err(err, -ENOENT, "no snapshot for '%s'", scope_key);
}

int store_snapshots_list(struct store *s, const char *agent, json_t **ret, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        STORE_LOCKED(s);
        r = store_prepare(
            s,
            "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE ?1 IS NULL OR "
            "agent = ?1 ORDER BY created_at, scope_key LIMIT " STORE_STRINGIFY(STORE_LIST_MAX),
            &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, agent);
        return store_collect(s, st, NULL, ret, err, "listing snapshots");
}

int store_snapshots_total(struct store *s, const char *agent, int64_t *ret_count,
                          int64_t *ret_bytes, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r, rc;

        STORE_LOCKED(s);
        r = store_prepare(s,
                          "SELECT count(*), coalesce(sum(bytes), 0) FROM snapshots "
                          "WHERE ?1 IS NULL OR agent = ?1",
                          &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, agent);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "counting snapshots");
        if (ret_count)
                *ret_count = sqlite3_column_int64(st, 0);
        if (ret_bytes)
                *ret_bytes = sqlite3_column_int64(st, 1);
        return 0;
}
