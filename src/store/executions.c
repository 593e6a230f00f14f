/* The audit log: one row per execution, inserted as "running" before the code runs and
 * completed before the reply is sent, each step durable on return. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/util.h"
#include "store/store_private.h"

#define CURSOR_MAX 64

static const char exec_columns[] =
    "SELECT id, agent, session, peer_uid, peer_pid, mode, sandboxed, reason, backend, runtime, "
    "sandbox_id, code_bytes, code_preview, code_sha256, state, exit_code, signal, timed_out, "
    "oom_killed, cancelled, stdout_bytes, stderr_bytes, stdout_truncated, stderr_truncated, "
    "duration_ms, error, started_at, finished_at, background, sandbox_lost, isolation FROM "
    "executions";

static const char *const exec_bools[] = {
    "sandboxed",        "timed_out",        "oom_killed", "cancelled",
    "stdout_truncated", "stderr_truncated", "background", NULL,
};

static bool id_valid(const char *id)
{
        size_t i;

        if (!id)
                return false;
        for (i = 0; i < STORE_ID_LEN - 1; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return id[i] == '\0';
}

static bool state_valid(const char *state)
{
        static const char *const states[] = {"running", "done", "failed", "aborted"};

        for (size_t i = 0; i < ARRAY_SIZE(states); i++)
                if (strcmp(state, states[i]) == 0)
                        return true;
        return false;
}

static int check_names(const struct store_execution *e, struct al_error *err)
{
        const struct {
                const char *what, *value;
                bool optional;
        } names[] = {
            {"agent", e->agent, false},        {"session", e->session, true},
            {"mode", e->mode, true},           {"backend", e->backend, true},
            {"runtime", e->runtime, true},     {"sandbox_id", e->sandbox_id, true},
            {"isolation", e->isolation, true},
        };
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                r = store_check_name(names[i].what, names[i].value, names[i].optional, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void bind_nonneg(sqlite3_stmt *st, int idx, int64_t v)
{
        if (v < 0)
                sqlite3_bind_null(st, idx);
        else
                sqlite3_bind_int64(st, idx, v);
}

int store_execution_begin(struct store *s, struct store_execution *e, struct al_error *err)
{
        _cleanup_free_ char *preview = NULL, *reason = NULL;
        char id[STORE_ID_LEN], sha[SHA256_HEX_LEN];
        bool touch;
        int r;

        r = check_names(e, err);
        if (r < 0)
                return r;
        if (e->id[0] && !id_valid(e->id))
                return al_err(err, -EINVAL, "execution id must be 32 lowercase hex characters");
        if (!e->code && e->code_len)
                return al_err(err, -EINVAL, "code_len without code");
        if (e->code) {
                preview = store_code_preview(e->code, e->code_len);
                if (!preview)
                        return al_err(err, -ENOMEM, "out of memory");
                sha256_hex(e->code, e->code_len, sha);
        }
        if (e->reason) {
                reason = store_cut_text(e->reason, STORE_TEXT_MAX);
                if (!reason)
                        return al_err(err, -ENOMEM, "out of memory");
        }
        if (e->id[0]) {
                memcpy(id, e->id, sizeof(id));
        } else {
                r = util_random_hex(id, (STORE_ID_LEN - 1) / 2);
                if (r < 0)
                        return al_err_errno(err, r, "making an execution id");
        }

        STORE_LOCKED(s);
        _cleanup_cached_ sqlite3_stmt *st = NULL;

        /* The "running" row is not worth an fsync of its own: nothing has been acknowledged
         * yet. It reaches the disk with the next durable commit (the finish, at the latest);
         * a crash of the daemon loses nothing the kernel already holds. That saves one sync
         * per exec, the finish stays FULL. */
        store_sync_mode_locked(s, false);
        r = store_prepare_cached(
            s, STORE_Q_EXEC_BEGIN,
            "INSERT INTO executions (id, agent, session, peer_uid, peer_pid, mode, "
            "sandboxed, reason, backend, runtime, sandbox_id, code_bytes, "
            "code_preview, code_sha256, state, started_at, background, isolation) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
            &st, err);
        if (r < 0) {
                store_sync_mode_locked(s, true);
                return r;
        }
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        store_bind_text(st, 2, e->agent);
        store_bind_text(st, 3, e->session);
        bind_nonneg(st, 4, e->peer_uid);
        bind_nonneg(st, 5, e->peer_pid);
        store_bind_text(st, 6, e->mode);
        sqlite3_bind_int(st, 7, e->sandboxed);
        store_bind_text(st, 8, reason);
        store_bind_text(st, 9, e->backend);
        store_bind_text(st, 10, e->runtime);
        store_bind_text(st, 11, e->sandbox_id);
        sqlite3_bind_int64(st, 12, (int64_t)e->code_len);
        store_bind_text(st, 13, preview);
        store_bind_text(st, 14, e->code ? sha : NULL);
        sqlite3_bind_int64(st, 15, store_time(e->started_at));
        sqlite3_bind_int(st, 16, e->background);
        store_bind_text(st, 17, e->isolation);
        /* With its session's use, one commit: one set of WAL locks and frames, not two. */
        touch = e->touch_session && e->session;
        r = touch ? store_begin_locked(s, err) : 0;
        if (r >= 0)
                r = store_step_done(s, st, err, "recording an execution");
        if (r >= 0 && touch)
                r = store_session_touch_locked(s, e->agent, e->session, store_time(e->started_at),
                                               err);
        if (touch && r >= 0)
                r = store_commit_locked(s, err);
        if (touch && r < 0)
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        store_sync_mode_locked(s, true);
        if (r < 0)
                return r;
        s->executions++;
        memcpy(e->id, id, sizeof(id));
        return 0;
}

/* The finish's UPDATE, committed without a sync of its own: *ret_ticket is for
 * store_group_sync. */
static int finish_write(struct store *s, const struct store_execution *e, uint64_t *ret_ticket,
                        struct al_error *err)
{
        bool exited = e->signal == 0 && e->exit_code >= 0;
        _cleanup_free_ char *lost = NULL;
        int r;

        if (!id_valid(e->id))
                return al_err(err, -EINVAL, "execution id must be 32 lowercase hex characters");
        if ((r = store_check_name("backend", e->backend, true, err)) < 0 ||
            (r = store_check_name("runtime", e->runtime, true, err)) < 0 ||
            (r = store_check_name("sandbox_id", e->sandbox_id, true, err)) < 0)
                return r;

        if (e->sandbox_lost) {
                lost = store_cut_text(e->sandbox_lost, STORE_TEXT_MAX);
                if (!lost)
                        return al_err(err, -ENOMEM, "out of memory");
        }

        STORE_LOCKED(s);
        _cleanup_cached_ sqlite3_stmt *st = NULL;

        r = store_prepare_cached(
            s, STORE_Q_EXEC_FINISH,
            "UPDATE executions SET state = 'done', exit_code = ?, signal = ?, "
            "timed_out = ?, oom_killed = ?, cancelled = ?, stdout_bytes = ?, "
            "stderr_bytes = ?, stdout_truncated = ?, stderr_truncated = ?, "
            "duration_ms = ?, finished_at = ?, backend = coalesce(?, backend), "
            "runtime = coalesce(?, runtime), sandbox_id = coalesce(?, sandbox_id), "
            "sandbox_lost = ? WHERE id = ? AND state = 'running'",
            &st, err);
        if (r < 0)
                return r;
        if (exited)
                sqlite3_bind_int(st, 1, e->exit_code);
        if (e->signal != 0)
                sqlite3_bind_int(st, 2, e->signal);
        sqlite3_bind_int(st, 3, e->timed_out);
        sqlite3_bind_int(st, 4, e->oom_killed);
        sqlite3_bind_int(st, 5, e->cancelled);
        sqlite3_bind_int64(st, 6, e->stdout_bytes);
        sqlite3_bind_int64(st, 7, e->stderr_bytes);
        sqlite3_bind_int(st, 8, e->stdout_truncated);
        sqlite3_bind_int(st, 9, e->stderr_truncated);
        sqlite3_bind_int64(st, 10, e->duration_ms);
        sqlite3_bind_int64(st, 11, store_time(e->finished_at));
        store_bind_text(st, 12, e->backend);
        store_bind_text(st, 13, e->runtime);
        store_bind_text(st, 14, e->sandbox_id);
        store_bind_text(st, 15, lost);
        sqlite3_bind_text(st, 16, e->id, -1, SQLITE_STATIC);
        store_group_begin_locked(s);
        r = store_step_done(s, st, err, "recording an execution's result");
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = al_err(err, -ENOENT, "no running execution '%s'", e->id);
        return store_group_end_locked(s, r, ret_ticket, err);
}

int store_execution_finish(struct store *s, const struct store_execution *e, struct al_error *err)
{
        uint64_t ticket = 0;
        int r = finish_write(s, e, &ticket, err);

        /* Durable before the caller acknowledges anything; concurrent finishes share a sync. */
        return r < 0 ? r : store_group_sync(s, ticket, err);
}

int store_execution_fail(struct store *s, const char *id, const char *message, int64_t duration_ms,
                         int64_t finished_at, struct al_error *err)
{
        _cleanup_free_ char *msg = NULL;
        int r;

        if (!id_valid(id))
                return al_err(err, -EINVAL, "execution id must be 32 lowercase hex characters");
        msg = store_cut_text(message ? message : "failed", STORE_TEXT_MAX);
        if (!msg)
                return al_err(err, -ENOMEM, "out of memory");

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s,
                          "UPDATE executions SET state = 'failed', error = ?, duration_ms = ?, "
                          "finished_at = ? WHERE id = ? AND state = 'running'",
                          &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, msg, -1, SQLITE_STATIC);
        bind_nonneg(st, 2, duration_ms);
        sqlite3_bind_int64(st, 3, store_time(finished_at));
        sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
        r = store_step_done(s, st, err, "recording a failed execution");
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return al_err(err, -ENOENT, "no running execution '%s'", id);
        return 0;
}

int store_executions_abort_running(struct store *s, int64_t *ret_count, struct al_error *err)
{
        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        /* finished_at stays null: when the process actually ended is not known. */
        r = store_prepare(s,
                          "UPDATE executions SET state = 'aborted', "
                          "error = 'airlockd stopped while this execution was running' "
                          "WHERE state = 'running'",
                          &st, err);
        if (r < 0)
                return r;
        r = store_step_done(s, st, err, "aborting running executions");
        if (r < 0)
                return r;
        if (ret_count)
                *ret_count = sqlite3_changes(s->db);
        return 0;
}

/* The exec reply nests the decision; the audit row mirrors it. */
static json_t *exec_json(sqlite3_stmt *st)
{
        json_t *o = store_row_json(st, exec_bools), *d;

        if (!o)
                return NULL;
        d = json_pack("{s:O, s:O, s:O}", "mode", json_object_get(o, "mode"), "sandboxed",
                      json_object_get(o, "sandboxed"), "reason", json_object_get(o, "reason"));
        if (!d || json_object_set_new(o, "decision", d) < 0) {
                json_decref(o);
                return NULL;
        }
        json_object_del(o, "mode");
        json_object_del(o, "reason");
        return o;
}

static int parse_cursor(const char *cursor, int64_t *ret_at, char ret_id[STORE_ID_LEN],
                        struct al_error *err)
{
        char buf[CURSOR_MAX + 1];
        size_t n = strnlen(cursor, CURSOR_MAX + 1);
        char *dot;

        if (n > CURSOR_MAX)
                goto bad;
        memcpy(buf, cursor, n + 1);
        dot = strchr(buf, '.');
        if (!dot)
                goto bad;
        *dot = '\0';
        if (util_parse_int64(buf, 0, INT64_MAX, ret_at) < 0 || !id_valid(dot + 1))
                goto bad;
        memcpy(ret_id, dot + 1, STORE_ID_LEN);
        return 0;
bad:
        return al_err(err, -EINVAL, "invalid cursor");
}

enum bind_kind { BIND_TEXT, BIND_INT };

struct bind {
        enum bind_kind kind;
        const char *text;
        int64_t num;
};

int store_executions_query(struct store *s, const struct store_exec_query *q, json_t **ret_array,
                           char **ret_next_cursor, struct al_error *err)
{
        struct bind binds[16];
        size_t nb = 0;
        int64_t cur_at = 0;
        char cur_id[STORE_ID_LEN];
        int limit = q->limit ? q->limit : STORE_QUERY_LIMIT;
        _cleanup_free_ char *where = NULL, *sql = NULL, *next = NULL;
        json_t *rows = NULL;
        struct buf b;
        bool oom = false;
        int r, rc, idx, n = 0;

        if (limit < 1 || limit > STORE_QUERY_LIMIT_MAX)
                return al_err(err, -EINVAL, "limit must be 1 to %d", STORE_QUERY_LIMIT_MAX);
        if ((r = store_check_name("agent", q->agent, true, err)) < 0 ||
            (r = store_check_name("session", q->session, true, err)) < 0 ||
            (r = store_check_name("backend", q->backend, true, err)) < 0 ||
            (r = store_check_agents(q->agents, err)) < 0)
                return r;
        if (q->state && !state_valid(q->state))
                return al_err(err, -EINVAL, "state must be running, done, failed or aborted");
        if (q->since < 0 || q->until < 0)
                return al_err(err, -EINVAL, "since and until must not be negative");
        if (q->cursor) {
                r = parse_cursor(q->cursor, &cur_at, cur_id, err);
                if (r < 0)
                        return r;
        }

        buf_init(&b, 8192);
        oom |= buf_appendf(&b, "%s WHERE 1", exec_columns) < 0;
        if (q->agent) {
                oom |= buf_appendf(&b, " AND agent = ?") < 0;
                binds[nb++] = (struct bind){BIND_TEXT, q->agent, 0};
        }
        if (q->session) {
                oom |= buf_appendf(&b, " AND session = ?") < 0;
                binds[nb++] = (struct bind){BIND_TEXT, q->session, 0};
        }
        if (q->state) {
                oom |= buf_appendf(&b, " AND state = ?") < 0;
                binds[nb++] = (struct bind){BIND_TEXT, q->state, 0};
        }
        if (q->backend) {
                oom |= buf_appendf(&b, " AND backend = ?") < 0;
                binds[nb++] = (struct bind){BIND_TEXT, q->backend, 0};
        }
        if (q->since) {
                oom |= buf_appendf(&b, " AND started_at >= ?") < 0;
                binds[nb++] = (struct bind){BIND_INT, NULL, q->since};
        }
        if (q->until) {
                oom |= buf_appendf(&b, " AND started_at < ?") < 0;
                binds[nb++] = (struct bind){BIND_INT, NULL, q->until};
        }
        if (q->egress && strcmp(q->egress, "refused") != 0 && strcmp(q->egress, "any") != 0) {
                buf_free(&b);
                return al_err(err, -EINVAL, "egress must be refused or any");
        }
        if (q->egress_host && (strlen(q->egress_host) > 255 || !q->egress_host[0])) {
                buf_free(&b);
                return al_err(err, -EINVAL, "egress_host must be 1 to 255 characters");
        }
        if (q->egress)
                oom |=
                    buf_appendf(&b, " AND id IN (SELECT execution_id FROM egress%s)",
                                strcmp(q->egress, "refused") == 0 ? " WHERE allowed = 0" : "") < 0;
        if (q->egress_host) {
                oom |= buf_appendf(
                           &b, " AND id IN (SELECT execution_id FROM egress WHERE host = ?)") < 0;
                binds[nb++] = (struct bind){BIND_TEXT, q->egress_host, 0};
        }
        if (q->cursor) {
                /* Keyset paging: strictly older than the last row of the previous page. */
                oom |= buf_appendf(&b, " AND (started_at, id) < (?, ?)") < 0;
                binds[nb++] = (struct bind){BIND_INT, NULL, cur_at};
                binds[nb++] = (struct bind){BIND_TEXT, cur_id, 0};
        }
        /* A filter missing from the SQL would widen what the caller sees: fail instead. */
        if (oom || buf_truncated(&b) || !b.data) {
                buf_free(&b);
                return al_err(err, -ENOMEM, "out of memory");
        }
        where = buf_steal(&b, NULL);
        /* Agents are bound after the fixed filters; the order here matches the binding below. */
        sql = store_sql_agents(where, "agent", q->agents,
                               "ORDER BY started_at DESC, id DESC LIMIT ?");
        if (!sql)
                return al_err(err, -ENOMEM, "out of memory");

        rows = json_array();
        if (!rows)
                return al_err(err, -ENOMEM, "out of memory");

        {
                STORE_LOCKED(s);
                _cleanup_stmt_ sqlite3_stmt *st = NULL;

                r = store_prepare(s, sql, &st, err);
                if (r < 0)
                        goto fail;
                idx = 1;
                for (size_t i = 0; i < nb; i++, idx++) {
                        if (binds[i].kind == BIND_TEXT)
                                sqlite3_bind_text(st, idx, binds[i].text, -1, SQLITE_STATIC);
                        else
                                sqlite3_bind_int64(st, idx, binds[i].num);
                }
                idx = store_bind_agents(st, idx, q->agents);
                /* One row more than asked tells whether there is a next page. */
                sqlite3_bind_int(st, idx, limit + 1);
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        json_t *o;

                        if (n == limit) {
                                const json_t *last = json_array_get(rows, (size_t)n - 1);
                                char c[CURSOR_MAX + 1];

                                snprintf(c, sizeof(c), "%" PRId64 ".%s",
                                         (int64_t)json_integer_value(
                                             json_object_get(last, "started_at")),
                                         json_string_value(json_object_get(last, "id")));
                                next = strdup(c);
                                if (!next) {
                                        r = al_err(err, -ENOMEM, "out of memory");
                                        goto fail;
                                }
                                break;
                        }
                        o = exec_json(st);
                        if (!o || json_array_append_new(rows, o) < 0) {
                                r = al_err(err, -ENOMEM, "out of memory");
                                goto fail;
                        }
                        n++;
                }
                if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                        r = store_sql_err(s, rc, err, "querying executions");
                        goto fail;
                }
        }
        *ret_array = rows;
        if (ret_next_cursor)
                *ret_next_cursor = TAKE_PTR(next);
        return 0;
fail:
        json_decref(rows);
        return r;
}

int store_execution_get(struct store *s, const char *id, json_t **ret, struct al_error *err)
{
        char sql[sizeof(exec_columns) + 32];
        json_t *o;
        int r, rc;

        if (!id_valid(id))
                return al_err(err, -ENOENT, "no execution '%.64s'", id ? id : "");
        snprintf(sql, sizeof(sql), "%s WHERE id = ?", exec_columns);

        STORE_LOCKED(s);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return al_err(err, -ENOENT, "no execution '%s'", id);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "reading an execution");
        o = exec_json(st);
        if (!o)
                return al_err(err, -ENOMEM, "out of memory");
        *ret = o;
        return 0;
}
