/* The egress proxy's record: one row per connection attempt, with its execution. */
#include <errno.h>
#include <string.h>

#include "store/store_private.h"

int store_egress_add(struct store *s, const struct store_egress *e, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        STORE_LOCKED(s);
        r = store_prepare(s,
                          "INSERT INTO egress (execution_id, sandbox, host, port, address, "
                          "protocol, allowed, reason, bytes_out, bytes_in, started_at, "
                          "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, e->execution_id ? e->execution_id : "");
        store_bind_text(st, 2, e->sandbox ? e->sandbox : "");
        store_bind_text(st, 3, e->host ? e->host : "");
        sqlite3_bind_int(st, 4, e->port);
        store_bind_text(st, 5, e->address ? e->address : "");
        store_bind_text(st, 6, e->protocol ? e->protocol : "");
        sqlite3_bind_int(st, 7, e->allowed);
        store_bind_text(st, 8, e->reason ? e->reason : "");
        sqlite3_bind_int64(st, 9, e->bytes_out);
        sqlite3_bind_int64(st, 10, e->bytes_in);
        sqlite3_bind_int64(st, 11, e->started_at);
        sqlite3_bind_int64(st, 12, e->duration_ms);
        return store_step_done(s, st, err, "recording an egress connection");
}

int store_egress_list(struct store *s, const char *execution_id, json_t **ret, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_t *rows;
        int r, rc;

        STORE_LOCKED(s);
        r = store_prepare(s,
                          "SELECT host, port, address, protocol, allowed, reason, bytes_out, "
                          "bytes_in, started_at, duration_ms FROM egress WHERE execution_id = ? "
                          "ORDER BY id LIMIT " STORE_STRINGIFY(STORE_QUERY_LIMIT_MAX),
                          &st, err);
        if (r < 0)
                return r;
        store_bind_text(st, 1, execution_id);
        rows = json_array();
        if (!rows)
                return al_err(err, -ENOMEM, "out of memory");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *reason = (const char *)sqlite3_column_text(st, 5);
                json_t *o = json_pack(
                    "{s:s, s:i, s:s, s:s, s:b, s:s?, s:I, s:I, s:I, s:I}", "host",
                    (const char *)sqlite3_column_text(st, 0), "port", sqlite3_column_int(st, 1),
                    "address", (const char *)sqlite3_column_text(st, 2), "protocol",
                    (const char *)sqlite3_column_text(st, 3), "allowed", sqlite3_column_int(st, 4),
                    "reason", reason && reason[0] ? reason : NULL, "bytes_out",
                    (json_int_t)sqlite3_column_int64(st, 6), "bytes_in",
                    (json_int_t)sqlite3_column_int64(st, 7), "started_at",
                    (json_int_t)sqlite3_column_int64(st, 8), "duration_ms",
                    (json_int_t)sqlite3_column_int64(st, 9));

                if (!o || json_array_append_new(rows, o) < 0) {
                        json_decref(rows);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        }
        if (rc != SQLITE_DONE) {
                json_decref(rows);
                return store_sql_err(s, rc, err, "listing egress connections");
        }
        *ret = rows;
        return 0;
}
