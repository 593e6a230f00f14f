/* Policy revisions, sandboxes, sessions and tokens: small tables the daemon keeps so that it
 * can reconcile after a restart and answer the admin routes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "airlock/util.h"
#include "store/store_private.h"

/* A token's last_used_at is refreshed at most this often: a lookup per request must not cost a
 * synced write per request. */
#define TOKEN_TOUCH_MS 60000

static bool hex64_valid(const char *h)
{
        size_t i;

        if (!h)
                return false;
        for (i = 0; i < SHA256_HEX_LEN - 1; i++)
                if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
                        return false;
        return h[i] == '\0';
}

/* Run a SELECT whose parameters are already bound, collecting every row (capped). */
int store_collect(struct store *s, sqlite3_stmt *st, const char *const *bools, json_t **ret,
                  struct al_error *err, const char *what)
{
        json_t *rows = json_array();
        int rc;

        if (!rows)
                return al_err(err, -ENOMEM, "out of memory");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *o = store_row_json(st, bools);

                if (!o || json_array_append_new(rows, o) < 0) {
                        json_decref(rows);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        }
        if (rc != SQLITE_DONE) {
                json_decref(rows);
                return store_sql_err(s, rc, err, what);
        }
        *ret = rows;
        return 0;
}

/* ---- policy revisions ---- */

int store_policy_revision_add(struct store *s, const char *text, const char *sha256,
                              const char *who, int64_t applied_at, int64_t *ret_revision,
                              struct al_error *err)
{
        char hex[SHA256_HEX_LEN];
        size_t len;
        int64_t rev;
        int rc, r;

        if (!text)
                return al_err(err, -EINVAL, "policy text is required");
        len = strnlen(text, STORE_POLICY_TEXT_MAX + 1);
        if (len > STORE_POLICY_TEXT_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "policy text exceeds %d bytes",
                              STORE_POLICY_TEXT_MAX);
        if ((r = store_check_name("who", who, false, err)) < 0)
                return r;
        if (sha256) {
                if (!hex64_valid(sha256))
                        return al_err(err, -EINVAL, "sha256 must be 64 lowercase hex characters");
                memcpy(hex, sha256, sizeof(hex));
        } else {
                sha256_hex(text, len, hex);
        }

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *latest = NULL;
        _cleanup_stmt_ sqlite3_stmt *ins = NULL;

        r = store_tx_begin(s, err);
        if (r < 0)
                return r;
        r = store_prepare(s,
                          "SELECT revision, sha256 FROM policy_revisions "
                          "ORDER BY revision DESC LIMIT 1",
                          &latest, err);
        if (r < 0)
                goto fail;
        rc = sqlite3_step(latest);
        if (rc == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(latest, 1) ?: "", hex) == 0) {
                rev = sqlite3_column_int64(latest, 0);
                store_tx_rollback(s);
                goto done;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                r = store_sql_err(s, rc, err, "reading the latest policy revision");
                goto fail;
        }
        r = store_prepare(s,
                          "INSERT INTO policy_revisions (text, sha256, applied_at, applied_by) "
                          "VALUES (?, ?, ?, ?)",
                          &ins, err);
        if (r < 0)
                goto fail;
        sqlite3_bind_text(ins, 1, text, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, store_time(applied_at));
        sqlite3_bind_text(ins, 4, who, -1, SQLITE_STATIC);
        r = store_step_done(s, ins, err, "recording a policy revision");
        if (r < 0)
                goto fail;
        rev = sqlite3_last_insert_rowid(s->db);
        r = store_tx_commit(s, err);
        if (r < 0)
                return r;
done:
        if (ret_revision)
                *ret_revision = rev;
        return 0;
fail:
        store_tx_rollback(s);
        return r;
}

int store_policy_revision_latest(struct store *s, json_t **ret, struct al_error *err)
{
        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_t *o;
        int r, rc;

        r = store_prepare(s,
                          "SELECT revision, sha256, applied_at, applied_by, text "
                          "FROM policy_revisions ORDER BY revision DESC LIMIT 1",
                          &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return al_err(err, -ENOENT, "no policy revision recorded");
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "reading the latest policy revision");
        o = store_row_json(st, NULL);
        if (!o)
                return al_err(err, -ENOMEM, "out of memory");
        *ret = o;
        return 0;
}

int store_policy_revisions_list(struct store *s, int limit, json_t **ret, struct al_error *err)
{
        if (limit < 1 || limit > STORE_LIST_MAX)
                return al_err(err, -EINVAL, "limit must be 1 to %d", STORE_LIST_MAX);

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s,
                          "SELECT revision, sha256, applied_at, applied_by, length(text) AS bytes "
                          "FROM policy_revisions ORDER BY revision DESC LIMIT ?",
                          &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_int(st, 1, limit);
        return store_collect(s, st, NULL, ret, err, "listing policy revisions");
}

/* ---- sandboxes ---- */

int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct al_error *err)
{
        int64_t created;
        int r;

        if ((r = store_check_name("sandbox id", sb->id, false, err)) < 0 ||
            (r = store_check_name("backend", sb->backend, false, err)) < 0 ||
            (r = store_check_name("scope_key", sb->scope_key, false, err)) < 0 ||
            (r = store_check_name("agent", sb->agent, true, err)) < 0 ||
            (r = store_check_name("session", sb->session, true, err)) < 0 ||
            (r = store_check_name("image", sb->image, true, err)) < 0)
                return r;
        if (!sb->scope || (strcmp(sb->scope, "session") != 0 && strcmp(sb->scope, "agent") != 0 &&
                           strcmp(sb->scope, "shared") != 0))
                return al_err(err, -EINVAL, "scope must be session, agent or shared");
        created = store_time(sb->created_at);

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s,
                          "INSERT INTO sandboxes (id, backend, scope, scope_key, agent, session, "
                          "image, state, created_at, last_used_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, 'live', ?, ?) "
                          "ON CONFLICT (id) DO UPDATE SET backend = excluded.backend, "
                          "scope = excluded.scope, scope_key = excluded.scope_key, "
                          "agent = excluded.agent, session = excluded.session, "
                          "image = excluded.image, state = 'live', "
                          "created_at = excluded.created_at, "
                          "last_used_at = excluded.last_used_at, removed_at = NULL",
                          &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, sb->id);
        store_bind_text(st, 2, sb->backend);
        store_bind_text(st, 3, sb->scope);
        store_bind_text(st, 4, sb->scope_key);
        store_bind_text(st, 5, sb->agent);
        store_bind_text(st, 6, sb->session);
        store_bind_text(st, 7, sb->image);
        sqlite3_bind_int64(st, 8, created);
        sqlite3_bind_int64(st, 9, sb->last_used_at ? sb->last_used_at : created);
        return store_step_done(s, st, err, "recording a sandbox");
}

/* Run an UPDATE on one row by key; -ENOENT when the key matched no row at all. */
static int update_one(struct store *s, sqlite3_stmt *st, sqlite3_stmt *exists, struct al_error *err,
                      const char *what, const char *key)
{
        int r, rc;

        r = store_step_done(s, st, err, what);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) > 0)
                return 0;
        rc = sqlite3_step(exists);
        if (rc == SQLITE_ROW)
                return 0;
        if (rc == SQLITE_DONE)
                return al_err(err, -ENOENT, "%s: unknown '%s'", what, key);
        return store_sql_err(s, rc, err, what);
}

int store_sandbox_touch(struct store *s, const char *id, int64_t last_used_at, struct al_error *err)
{
        int r = store_check_name("sandbox id", id, false, err);

        if (r < 0)
                return r;

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_stmt_ sqlite3_stmt *ex = NULL;

        r = store_prepare(
            s, "UPDATE sandboxes SET last_used_at = ? WHERE id = ? AND last_used_at < ?", &st, err);
        if (r < 0)
                return r;
        r = store_prepare(s, "SELECT 1 FROM sandboxes WHERE id = ?", &ex, err);
        if (r < 0)
                return r;
        last_used_at = store_time(last_used_at);
        sqlite3_bind_int64(st, 1, last_used_at);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, last_used_at);
        sqlite3_bind_text(ex, 1, id, -1, SQLITE_STATIC);
        return update_one(s, st, ex, err, "touching a sandbox", id);
}

int store_sandbox_remove(struct store *s, const char *id, int64_t removed_at, struct al_error *err)
{
        int r = store_check_name("sandbox id", id, false, err);

        if (r < 0)
                return r;

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_stmt_ sqlite3_stmt *ex = NULL;

        r = store_prepare(s,
                          "UPDATE sandboxes SET state = 'removed', removed_at = ? "
                          "WHERE id = ? AND state = 'live'",
                          &st, err);
        if (r < 0)
                return r;
        r = store_prepare(s, "SELECT 1 FROM sandboxes WHERE id = ?", &ex, err);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, store_time(removed_at));
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ex, 1, id, -1, SQLITE_STATIC);
        return update_one(s, st, ex, err, "removing a sandbox", id);
}

int store_sandboxes_live(struct store *s, const char *const *agents, json_t **ret,
                         struct al_error *err)
{
        _cleanup_free_ char *sql = NULL;
        int r;

        r = store_check_agents(agents, err);
        if (r < 0)
                return r;
        sql = store_sql_agents("SELECT id, backend, scope, scope_key, agent, session, image, "
                               "state, created_at, last_used_at FROM sandboxes "
                               "WHERE state = 'live'",
                               "agent", agents,
                               "ORDER BY created_at, id LIMIT " STORE_STRINGIFY(STORE_LIST_MAX));
        if (!sql)
                return al_err(err, -ENOMEM, "out of memory");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        store_bind_agents(st, 1, agents);
        return store_collect(s, st, NULL, ret, err, "listing sandboxes");
}

/* ---- sessions ---- */

int store_session_touch(struct store *s, const char *agent, const char *session, int64_t now,
                        struct al_error *err)
{
        int r;

        if ((r = store_check_name("agent", agent, false, err)) < 0 ||
            (r = store_check_name("session", session, false, err)) < 0)
                return r;
        now = store_time(now);

        STORE_LOCKED(s);
        /* When a session was last used acknowledges nothing to anyone: like an exec's running
         * row it rides on the next durable commit (the exec's finish), saving a sync per exec. */
        store_sync_mode_locked(s, false);
        r = store_session_touch_locked(s, agent, session, now, err);
        store_sync_mode_locked(s, true);
        return r;
}

int store_session_touch_locked(struct store *s, const char *agent, const char *session, int64_t now,
                               struct al_error *err)
{
        _cleanup_cached_ sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare_cached(s, STORE_Q_SESSION_TOUCH,
                                 "INSERT INTO sessions (agent, session, created_at, last_used_at) "
                                 "VALUES (?, ?, ?, ?) ON CONFLICT (agent, session) DO UPDATE SET "
                                 "last_used_at = max(last_used_at, excluded.last_used_at), "
                                 "ended_at = NULL",
                                 &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, session, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now);
        return store_step_done(s, st, err, "recording a session");
}

int store_session_end(struct store *s, const char *agent, const char *session, int64_t ended_at,
                      struct al_error *err)
{
        int r;

        if ((r = store_check_name("agent", agent, false, err)) < 0 ||
            (r = store_check_name("session", session, false, err)) < 0)
                return r;

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_stmt_ sqlite3_stmt *ex = NULL;

        r = store_prepare(s,
                          "UPDATE sessions SET ended_at = ? "
                          "WHERE agent = ? AND session = ? AND ended_at IS NULL",
                          &st, err);
        if (r < 0)
                return r;
        r = store_prepare(s, "SELECT 1 FROM sessions WHERE agent = ? AND session = ?", &ex, err);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, store_time(ended_at));
        sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
        sqlite3_bind_text(ex, 1, agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(ex, 2, session, -1, SQLITE_STATIC);
        return update_one(s, st, ex, err, "ending a session", session);
}

int store_sessions_idle(struct store *s, int64_t used_before, json_t **ret, struct al_error *err)
{
        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = store_prepare(s,
                          "SELECT agent, session, created_at, last_used_at, ended_at "
                          "FROM sessions WHERE ended_at IS NULL AND last_used_at < ? "
                          "ORDER BY last_used_at LIMIT " STORE_STRINGIFY(STORE_LIST_MAX),
                          &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, used_before);
        return store_collect(s, st, NULL, ret, err, "listing idle sessions");
}

int store_sessions_list(struct store *s, const char *const *agents, bool include_ended,
                        json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *sql = NULL;
        int r;

        r = store_check_agents(agents, err);
        if (r < 0)
                return r;
        sql = store_sql_agents(include_ended ? "SELECT agent, session, created_at, last_used_at, "
                                               "ended_at FROM sessions WHERE 1"
                                             : "SELECT agent, session, created_at, last_used_at, "
                                               "ended_at FROM sessions WHERE ended_at IS NULL",
                               "agent", agents,
                               "ORDER BY last_used_at DESC, agent, session "
                               "LIMIT " STORE_STRINGIFY(STORE_LIST_MAX));
        if (!sql)
                return al_err(err, -ENOMEM, "out of memory");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        store_bind_agents(st, 1, agents);
        return store_collect(s, st, NULL, ret, err, "listing sessions");
}

/* ---- tokens ---- */

int store_token_add(struct store *s, const char *agent, const char *token_hash, int64_t created_at,
                    char **ret_id, struct al_error *err)
{
        char id[STORE_ID_LEN];
        _cleanup_free_ char *out = NULL;
        int r;

        if ((r = store_check_name("agent", agent, false, err)) < 0)
                return r;
        if (!hex64_valid(token_hash))
                return al_err(err, -EINVAL, "token hash must be 64 lowercase hex characters");
        r = util_random_hex(id, (STORE_ID_LEN - 1) / 2);
        if (r < 0)
                return al_err_errno(err, r, "making a token id");
        out = strdup(id);
        if (!out)
                return al_err(err, -ENOMEM, "out of memory");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s,
                          "INSERT INTO tokens (id, agent, token_hash, created_at) "
                          "VALUES (?, ?, ?, ?)",
                          &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, token_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, store_time(created_at));
        r = store_step_done(s, st, err, "adding a token");
        if (r == -EEXIST)
                return al_err(err, -EEXIST, "this token is already registered");
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = TAKE_PTR(out);
        return 0;
}

int store_token_lookup(struct store *s, const char *token_hash, char **ret_agent,
                       struct al_error *err)
{
        _cleanup_free_ char *agent = NULL;
        char id[STORE_ID_LEN];
        int64_t now = util_wall_ms(), last;
        const unsigned char *a;
        int r, rc;

        if (!hex64_valid(token_hash))
                return al_err(err, -ENOENT, "unknown token");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_stmt_ sqlite3_stmt *up = NULL;

        r = store_prepare(s,
                          "SELECT id, agent, coalesce(last_used_at, 0) FROM tokens "
                          "WHERE token_hash = ? AND revoked_at IS NULL",
                          &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return al_err(err, -ENOENT, "unknown or revoked token");
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "looking up a token");
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0) ?: "");
        a = sqlite3_column_text(st, 1);
        agent = strdup(a ? (const char *)a : "");
        if (!agent)
                return al_err(err, -ENOMEM, "out of memory");
        last = sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        if (now - last >= TOKEN_TOUCH_MS) {
                r = store_prepare(s, "UPDATE tokens SET last_used_at = ? WHERE id = ?", &up, err);
                if (r < 0)
                        return r;
                sqlite3_bind_int64(up, 1, now);
                sqlite3_bind_text(up, 2, id, -1, SQLITE_STATIC);
                r = store_step_done(s, up, err, "recording a token's use");
                if (r < 0)
                        return r;
        }
        *ret_agent = TAKE_PTR(agent);
        return 0;
}

int store_token_revoke(struct store *s, const char *id, int64_t revoked_at, struct al_error *err)
{
        int r = store_check_name("token id", id, false, err);

        if (r < 0)
                return r;

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_stmt_ sqlite3_stmt *ex = NULL;

        r = store_prepare(s, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                          &st, err);
        if (r < 0)
                return r;
        r = store_prepare(s, "SELECT 1 FROM tokens WHERE id = ?", &ex, err);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, store_time(revoked_at));
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ex, 1, id, -1, SQLITE_STATIC);
        return update_one(s, st, ex, err, "revoking a token", id);
}

int store_tokens_list(struct store *s, const char *const *agents, json_t **ret,
                      struct al_error *err)
{
        _cleanup_free_ char *sql = NULL;
        int r;

        r = store_check_agents(agents, err);
        if (r < 0)
                return r;
        sql = store_sql_agents("SELECT id, agent, created_at, last_used_at, revoked_at "
                               "FROM tokens WHERE 1",
                               "agent", agents,
                               "ORDER BY created_at, id LIMIT " STORE_STRINGIFY(STORE_LIST_MAX));
        if (!sql)
                return al_err(err, -ENOMEM, "out of memory");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        store_bind_agents(st, 1, agents);
        return store_collect(s, st, NULL, ret, err, "listing tokens");
}
