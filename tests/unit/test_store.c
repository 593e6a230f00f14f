/* The store keeps the audit log: it must refuse a damaged file without touching it, survive a
 * kill right after a reply, page without gaps, and never surface SQLITE_BUSY to threads. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/sha256.h"
#include "airlock/store.h"

static char dir[64];
static char db_path[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static void setup(void)
{
        snprintf(dir, sizeof(dir), "/tmp/airlock-store-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        /* A missing parent directory is created by store_open. */
        snprintf(db_path, sizeof(db_path), "%s/state/airlock.db", dir);
}

static void teardown(void)
{
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_ok(void)
{
        struct al_error err = {0};
        struct store *s = NULL;
        int r = store_open(db_path, &s, &err);

        ck_assert_msg(r == 0, "store_open: %d %s", r, err.msg);
        return s;
}

static char *read_file(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        char *data;
        long n;

        ck_assert_ptr_nonnull(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        data = malloc((size_t)n + 1);
        ck_assert_ptr_nonnull(data);
        ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        *ret_len = (size_t)n;
        return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
}

static void begin_ok(struct store *s, struct store_execution *e)
{
        struct al_error err = {0};
        int r = store_execution_begin(s, e, &err);

        ck_assert_msg(r == 0, "begin: %d %s", r, err.msg);
}

static void finish_ok(struct store *s, const struct store_execution *e)
{
        struct al_error err = {0};
        int r = store_execution_finish(s, e, &err);

        ck_assert_msg(r == 0, "finish: %d %s", r, err.msg);
}

static struct store_execution exec_for(const char *agent, const char *session, int64_t at)
{
        struct store_execution e = {
            .agent = agent,
            .session = session,
            .peer_uid = 1000,
            .peer_pid = 4242,
            .mode = "all",
            .sandboxed = true,
            .reason = "mode all: every exec runs in a sandbox",
            .backend = "docker",
            .runtime = "python",
            .code = "print(6*7)",
            .code_len = 10,
            .started_at = at,
        };
        return e;
}

/* A database of several hundred pages with real rows, closed cleanly. */
static void make_big_db(void)
{
        struct store *s = open_ok();
        char reason[900];

        memset(reason, 'r', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        for (int i = 0; i < 400; i++) {
                struct store_execution e = exec_for("a", "s", 1000 + i);

                e.reason = reason;
                begin_ok(s, &e);
        }
        store_close(s);
}

/* ---- SHA-256 (FIPS 180-4 examples) ---- */

START_TEST(test_sha256_vectors)
{
        static const struct {
                const char *in, *hex;
        } v[] = {
            {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
            {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
            {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnop"
             "qklmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        };
        char hex[SHA256_HEX_LEN];

        for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
                sha256_hex(v[i].in, strlen(v[i].in), hex);
                ck_assert_str_eq(hex, v[i].hex);
        }
}
END_TEST

START_TEST(test_sha256_million_a)
{
        static const char want[] =
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
        char chunk[1000], hex[SHA256_HEX_LEN];
        uint8_t d[SHA256_DIGEST_LEN];
        struct sha256_ctx c;
        char *all;

        memset(chunk, 'a', sizeof(chunk));
        sha256_init(&c);
        for (int i = 0; i < 1000; i++)
                sha256_update(&c, chunk, sizeof(chunk));
        sha256_final(&c, d);
        sha256_to_hex(d, hex);
        ck_assert_str_eq(hex, want);

        /* Uneven pieces cross block boundaries in every way. */
        all = malloc(1000000);
        ck_assert_ptr_nonnull(all);
        memset(all, 'a', 1000000);
        sha256_init(&c);
        for (size_t at = 0, step = 1; at < 1000000; step = step % 131 + 1) {
                size_t n = 1000000 - at < step ? 1000000 - at : step;

                sha256_update(&c, all + at, n);
                at += n;
        }
        sha256_final(&c, d);
        sha256_to_hex(d, hex);
        ck_assert_str_eq(hex, want);
        sha256_hex(all, 1000000, hex);
        ck_assert_str_eq(hex, want);
        free(all);
}
END_TEST

/* ---- opening ---- */

START_TEST(test_open_creates)
{
        struct store_stats st;
        struct al_error err = {0};
        struct stat sb;
        struct store *s = open_ok();

        ck_assert_int_eq(stat(db_path, &sb), 0);
        ck_assert_int_eq(sb.st_mode & 0777, 0600);
        ck_assert_int_eq(store_stats(s, &st, &err), 0);
        ck_assert_int_eq(st.schema_version, STORE_SCHEMA_VERSION);
        ck_assert_int_gt(st.page_count, 0);
        ck_assert_int_eq(st.executions, 0);
        store_close(s);
        /* A clean close folds the WAL into the file. */
        {
                char wal[160];

                snprintf(wal, sizeof(wal), "%s-wal", db_path);
                ck_assert(stat(wal, &sb) < 0 || sb.st_size == 0);
        }
        store_close(NULL);
}
END_TEST

START_TEST(test_migration_sets_user_version)
{
        sqlite3 *db;
        sqlite3_stmt *st;
        struct store *s = open_ok();

        store_close(s);
        ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
        sqlite3_finalize(st);
        ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        sqlite3_close(db);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
        struct al_error err = {0};
        struct store_execution e = exec_for("a", "s1", 0);
        struct store_stats st;
        json_t *j = NULL;
        struct store *s = open_ok();

        begin_ok(s, &e);
        finish_ok(s, &e);
        ck_assert_int_eq(
            store_policy_revision_add(s, "[sandbox]\n", NULL, "startup", 0, NULL, &err), 0);
        store_close(s);

        s = open_ok();
        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
        json_decref(j);
        ck_assert_int_eq(store_policy_revision_latest(s, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "[sandbox]\n");
        json_decref(j);
        ck_assert_int_eq(store_stats(s, &st, &err), 0);
        ck_assert_int_eq(st.executions, 1);
        store_close(s);
}
END_TEST

static void set_user_version(int v)
{
        sqlite3 *db;
        char sql[64];

        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
        ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* Open must fail with code and leave the file byte for byte as it was. */
static void refused_untouched(int code, const char *needle)
{
        struct al_error err = {0};
        struct store *s = NULL;
        size_t before_len, after_len;
        _cleanup_free_ char *before = read_file(db_path, &before_len);
        _cleanup_free_ char *after = NULL;
        int r = store_open(db_path, &s, &err);

        ck_assert_msg(r == code, "store_open returned %d (%s), wanted %d", r, err.msg, code);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err.msg, db_path), "message does not name the file: %s", err.msg);
        ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
        after = read_file(db_path, &after_len);
        ck_assert_uint_eq(before_len, after_len);
        ck_assert(memcmp(before, after, before_len) == 0);
        /* Nor are SQLite's side files left behind. */
        for (size_t i = 0; i < 2; i++) {
                char side[160];

                snprintf(side, sizeof(side), "%s%s", db_path, i ? "-shm" : "-wal");
                ck_assert_msg(access(side, F_OK) < 0, "%s was left behind", side);
        }
}

START_TEST(test_newer_version_refused)
{
        store_close(open_ok());
        set_user_version(STORE_SCHEMA_VERSION + 1);
        refused_untouched(-EPROTO, "schema version");
        /* Still refused the second time: nothing was reset. */
        refused_untouched(-EPROTO, "schema version");
}
END_TEST

START_TEST(test_truncated_refused)
{
        size_t len;
        _cleanup_free_ char *data = NULL;

        make_big_db();
        data = read_file(db_path, &len);
        ck_assert_uint_gt(len, 64 * 1024);
        /* Half the file, on a page boundary: the header claims pages that are gone. */
        write_file(db_path, data, len / 2 - (len / 2) % 4096);
        refused_untouched(-EIO, "backup");
        /* Cut mid-page. */
        write_file(db_path, data, len / 2 + 100);
        refused_untouched(-EIO, "truncated");
        /* Shorter than a page: SQLite alone would take it for an empty database. */
        write_file(db_path, data, 50);
        refused_untouched(-EIO, "truncated");
}
END_TEST

START_TEST(test_garbage_refused)
{
        char junk[8192];

        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char)(i * 7 + 3);
        {
                char parent[128];

                snprintf(parent, sizeof(parent), "%s/state", dir);
                ck_assert_int_eq(mkdir(parent, 0700), 0);
        }
        write_file(db_path, junk, sizeof(junk));
        refused_untouched(-EIO, "not an SQLite database");
        write_file(db_path, "hello\n", 6);
        refused_untouched(-EIO, "move");
}
END_TEST

START_TEST(test_corrupted_pages_refused)
{
        size_t len;
        _cleanup_free_ char *data = NULL;

        make_big_db();
        data = read_file(db_path, &len);
        /* Overwrite a few b-tree pages in the middle with garbage. */
        for (size_t i = len / 2; i < len / 2 + 3 * 4096 && i < len; i++)
                data[i] = (char)(0xa5 ^ i);
        write_file(db_path, data, len);
        refused_untouched(-EIO, "corrupt");
}
END_TEST

START_TEST(test_foreign_db_refused)
{
        sqlite3 *db;
        char parent[128];

        snprintf(parent, sizeof(parent), "%s/state", dir);
        ck_assert_int_eq(mkdir(parent, 0700), 0);
        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE mine (x)", NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
        refused_untouched(-EPROTO, "not an airlock database");
}
END_TEST

/* ---- executions ---- */

START_TEST(test_execution_round_trip)
{
        struct al_error err = {0};
        struct store_execution e = exec_for("analyst", "conv-42", 1700000000000);
        json_t *j = NULL, *d;
        char want_sha[SHA256_HEX_LEN];
        struct store *s = open_ok();

        begin_ok(s, &e);
        ck_assert_uint_eq(strlen(e.id), 32);
        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "running");
        ck_assert(json_is_null(json_object_get(j, "exit_code")));
        json_decref(j);

        e.exit_code = 3;
        e.stdout_bytes = 3;
        e.stderr_truncated = true;
        e.duration_ms = 48;
        e.finished_at = 1700000000048;
        e.sandbox_id = "c0ffee";
        e.backend = NULL; /* keeps "docker" */
        finish_ok(s, &e);
        ck_assert_int_eq(store_execution_finish(s, &e, &err), -ENOENT);

        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "id")), e.id);
        ck_assert_str_eq(json_string_value(json_object_get(j, "agent")), "analyst");
        ck_assert_str_eq(json_string_value(json_object_get(j, "session")), "conv-42");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "peer_uid")), 1000);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "peer_pid")), 4242);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
        ck_assert_str_eq(json_string_value(json_object_get(j, "backend")), "docker");
        ck_assert_str_eq(json_string_value(json_object_get(j, "sandbox_id")), "c0ffee");
        ck_assert_str_eq(json_string_value(json_object_get(j, "code_preview")), "print(6*7)");
        sha256_hex("print(6*7)", 10, want_sha);
        ck_assert_str_eq(json_string_value(json_object_get(j, "code_sha256")), want_sha);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "code_bytes")), 10);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 3);
        ck_assert(json_is_null(json_object_get(j, "signal")));
        ck_assert(json_is_true(json_object_get(j, "stderr_truncated")));
        ck_assert(json_is_false(json_object_get(j, "stdout_truncated")));
        ck_assert(json_is_false(json_object_get(j, "timed_out")));
        ck_assert(json_is_true(json_object_get(j, "sandboxed")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "duration_ms")), 48);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "started_at")), 1700000000000);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "finished_at")), 1700000000048);
        d = json_object_get(j, "decision");
        ck_assert_str_eq(json_string_value(json_object_get(d, "mode")), "all");
        ck_assert(json_is_true(json_object_get(d, "sandboxed")));
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d, "reason")), "sandbox"));
        json_decref(j);

        /* Killed by a signal: exit_code null, signal set. */
        e = exec_for("analyst", NULL, 0);
        begin_ok(s, &e);
        e.exit_code = -1;
        e.signal = 9;
        e.oom_killed = true;
        finish_ok(s, &e);
        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert(json_is_null(json_object_get(j, "exit_code")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "signal")), 9);
        ck_assert(json_is_true(json_object_get(j, "oom_killed")));
        ck_assert(json_is_null(json_object_get(j, "session")));
        json_decref(j);

        /* Failed before it ran. */
        e = exec_for("analyst", NULL, 0);
        begin_ok(s, &e);
        ck_assert_int_eq(store_execution_fail(s, e.id, "engine down", 5, 0, &err), 0);
        ck_assert_int_eq(store_execution_fail(s, e.id, "again", 5, 0, &err), -ENOENT);
        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "failed");
        ck_assert_str_eq(json_string_value(json_object_get(j, "error")), "engine down");
        json_decref(j);

        /* A duplicate id and unknown ids. */
        ck_assert_int_eq(store_execution_begin(s, &e, &err), -EEXIST);
        ck_assert_int_eq(store_execution_get(s, "0123456789abcdef0123456789abcdef", &j, &err),
                         -ENOENT);
        ck_assert_int_eq(store_execution_get(s, "../../etc", &j, &err), -ENOENT);
        strcpy(e.id, "NOT-HEX");
        ck_assert_int_eq(store_execution_begin(s, &e, &err), -EINVAL);
        e = exec_for(NULL, NULL, 0);
        ck_assert_int_eq(store_execution_begin(s, &e, &err), -EINVAL);
        store_close(s);
}
END_TEST

START_TEST(test_code_preview)
{
        char code[400];
        char *p;

        /* 199 ASCII bytes then a 3-byte character straddling byte 200: cut before it. */
        memset(code, 'x', 199);
        memcpy(code + 199, "\xe2\x82\xac", 3);
        memset(code + 202, 'y', 100);
        p = store_code_preview(code, 302);
        ck_assert_uint_eq(strlen(p), 199);
        free(p);
        /* Character ending exactly at 200 is kept. */
        p = store_code_preview(code + 2, 300);
        ck_assert_uint_eq(strlen(p), 200);
        ck_assert(memcmp(p + 197, "\xe2\x82\xac", 3) == 0);
        free(p);
        /* Invalid bytes become U+FFFD, so the preview is valid UTF-8 for JSON. */
        p = store_code_preview("a\xff"
                               "b",
                               3);
        ck_assert_str_eq(p, "a\xef\xbf\xbd"
                            "b");
        free(p);
        ck_assert_ptr_null(store_code_preview(NULL, 0));
}
END_TEST

static int64_t query_count(struct store *s, struct store_exec_query *q)
{
        struct al_error err = {0};
        json_t *rows = NULL;
        char *next = NULL;
        int64_t total = 0;
        int r;

        q->cursor = NULL;
        for (int page = 0; page < 1000; page++) {
                r = store_executions_query(s, q, &rows, &next, &err);
                ck_assert_msg(r == 0, "query: %d %s", r, err.msg);
                total += (int64_t)json_array_size(rows);
                json_decref(rows);
                free((char *)q->cursor);
                q->cursor = next;
                if (!next)
                        break;
        }
        return total;
}

START_TEST(test_query_filters)
{
        struct al_error err = {0};
        const char *agents[] = {"a", "b", "c"};
        const char *backends[] = {"docker", "host"};
        struct store *s = open_ok();
        json_t *rows = NULL;
        char *next = NULL;

        /* 60 executions: agent i%3, session i%4, state i%3, backend i%2, started 1000+i. */
        for (int i = 0; i < 60; i++) {
                char session[16];
                struct store_execution e;

                snprintf(session, sizeof(session), "s%d", i % 4);
                e = exec_for(agents[i % 3], session, 1000 + i);
                e.backend = backends[i % 2];
                begin_ok(s, &e);
                if (i % 3 == 0)
                        finish_ok(s, &e);
                else if (i % 3 == 1)
                        ck_assert_int_eq(store_execution_fail(s, e.id, "x", 1, 0, &err), 0);
        }
        {
                struct store_exec_query q = {.agent = "a"};

                ck_assert_int_eq(query_count(s, &q), 20);
        }
        {
                const char *allowed[] = {"a", "b", NULL};
                struct store_exec_query q = {.agents = allowed};

                ck_assert_int_eq(query_count(s, &q), 40);
        }
        {
                const char *none[] = {NULL};
                struct store_exec_query q = {.agents = none};

                ck_assert_int_eq(query_count(s, &q), 0);
        }
        {
                /* An agent outside the allowed list sees nothing. */
                const char *allowed[] = {"b", NULL};
                struct store_exec_query q = {.agent = "a", .agents = allowed};

                ck_assert_int_eq(query_count(s, &q), 0);
        }
        {
                struct store_exec_query q = {.session = "s1"};

                ck_assert_int_eq(query_count(s, &q), 15);
        }
        {
                struct store_exec_query q = {.state = "running"};

                ck_assert_int_eq(query_count(s, &q), 20);
        }
        {
                struct store_exec_query q = {.state = "failed", .agent = "b"};

                ck_assert_int_eq(query_count(s, &q), 20);
        }
        {
                struct store_exec_query q = {.backend = "host"};

                ck_assert_int_eq(query_count(s, &q), 30);
        }
        {
                struct store_exec_query q = {.since = 1010, .until = 1020};

                ck_assert_int_eq(query_count(s, &q), 10);
        }
        {
                struct store_exec_query q = {.since = 1050};

                ck_assert_int_eq(query_count(s, &q), 10);
        }
        {
                struct store_exec_query q = {.agent = "a",
                                             .session = "s0",
                                             .backend = "docker",
                                             .state = "done",
                                             .limit = 1};

                /* i%3==0, i%4==0, i%2==0: i in {0,12,24,36,48}. */
                ck_assert_int_eq(query_count(s, &q), 5);
        }
        {
                /* Newest first. */
                struct store_exec_query q = {.limit = 2};

                ck_assert_int_eq(store_executions_query(s, &q, &rows, &next, &err), 0);
                ck_assert_int_eq(
                    json_integer_value(json_object_get(json_array_get(rows, 0), "started_at")),
                    1059);
                ck_assert_int_eq(
                    json_integer_value(json_object_get(json_array_get(rows, 1), "started_at")),
                    1058);
                ck_assert_ptr_nonnull(next);
                json_decref(rows);
                free(next);
        }
        {
                struct store_exec_query bad[] = {
                    {.limit = -1},         {.limit = STORE_QUERY_LIMIT_MAX + 1},
                    {.state = "sleeping"}, {.cursor = "garbage"},
                    {.cursor = "12.zz"},   {.cursor = "-1.0123456789abcdef0123456789abcdef"},
                    {.since = -5},         {.agent = ""},
                };

                for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                        ck_assert_int_eq(store_executions_query(s, &bad[i], &rows, &next, &err),
                                         -EINVAL);
        }
        store_close(s);
}
END_TEST

START_TEST(test_query_paging)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        char ids[250][STORE_ID_LEN];
        bool seen[250] = {false};
        char *cursor = NULL;
        int64_t prev_at = INT64_MAX;
        char prev_id[STORE_ID_LEN] = "gggggggggggggggggggggggggggggggg";
        int total = 0, pages = 0;

        /* Many rows share a started_at, so paging must break ties on id. */
        for (int i = 0; i < 250; i++) {
                struct store_execution e = exec_for("a", NULL, 5000 + i / 7);

                begin_ok(s, &e);
                memcpy(ids[i], e.id, STORE_ID_LEN);
        }
        for (;;) {
                struct store_exec_query q = {.limit = 17, .cursor = cursor};
                json_t *rows = NULL, *row;
                char *next = NULL;
                size_t i;

                ck_assert_int_eq(store_executions_query(s, &q, &rows, &next, &err), 0);
                pages++;
                json_array_foreach(rows, i, row)
                {
                        const char *id = json_string_value(json_object_get(row, "id"));
                        int64_t at = json_integer_value(json_object_get(row, "started_at"));
                        int found = -1;

                        /* Strictly descending (started_at, id): no duplicate, stable order. */
                        ck_assert(at < prev_at || (at == prev_at && strcmp(id, prev_id) < 0));
                        prev_at = at;
                        snprintf(prev_id, sizeof(prev_id), "%s", id);
                        for (int k = 0; k < 250; k++)
                                if (strcmp(ids[k], id) == 0)
                                        found = k;
                        ck_assert_int_ge(found, 0);
                        ck_assert(!seen[found]);
                        seen[found] = true;
                        total++;
                }
                ck_assert_uint_le(json_array_size(rows), 17);
                json_decref(rows);
                free(cursor);
                cursor = next;
                if (!cursor)
                        break;
        }
        ck_assert_int_eq(total, 250);
        ck_assert_int_eq(pages, 15); /* 14 full pages of 17 and one of 12 */
        for (int k = 0; k < 250; k++)
                ck_assert(seen[k]);
        store_close(s);
}
END_TEST

START_TEST(test_abort_running)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        struct store_execution a = exec_for("a", NULL, 0), b = exec_for("a", NULL, 0),
                               c = exec_for("a", NULL, 0);
        json_t *j = NULL;
        int64_t n = -1;

        begin_ok(s, &a);
        begin_ok(s, &b);
        begin_ok(s, &c);
        finish_ok(s, &b);
        ck_assert_int_eq(store_executions_abort_running(s, &n, &err), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(store_execution_get(s, a.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "aborted");
        ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "error")));
        json_decref(j);
        ck_assert_int_eq(store_execution_get(s, b.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
        json_decref(j);
        /* An aborted execution cannot be finished late. */
        ck_assert_int_eq(store_execution_finish(s, &c, &err), -ENOENT);
        ck_assert_int_eq(store_executions_abort_running(s, &n, &err), 0);
        ck_assert_int_eq(n, 0);
        store_close(s);
}
END_TEST

/* ---- concurrency ---- */

#define THREAD_EXECS 40

struct worker {
        struct store *s;
        int n;
        int failures;
        char msg[AL_ERR_MSG_MAX];
};

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        char agent[16];

        snprintf(agent, sizeof(agent), "w%d", w->n);
        for (int i = 0; i < THREAD_EXECS; i++) {
                struct al_error err = {0};
                struct store_execution e = exec_for(agent, "s", 0);
                struct store_exec_query q = {.agent = agent, .limit = 5};
                json_t *rows = NULL;
                char *next = NULL;

                /* Half the time the session's use rides in the begin's own commit. */
                e.touch_session = i % 2;
                if (store_execution_begin(w->s, &e, &err) < 0 ||
                    (!e.touch_session && store_session_touch(w->s, agent, "s", 0, &err) < 0) ||
                    store_execution_finish(w->s, &e, &err) < 0 ||
                    store_executions_query(w->s, &q, &rows, &next, &err) < 0) {
                        w->failures++;
                        memcpy(w->msg, err.msg, sizeof(w->msg));
                        continue;
                }
                json_decref(rows);
                free(next);
        }
        return NULL;
}

static void run_workers(struct store *s1, struct store *s2)
{
        struct worker w[4];
        pthread_t t[4];

        for (int i = 0; i < 4; i++) {
                w[i] = (struct worker){.s = (i % 2 && s2) ? s2 : s1, .n = i};
                ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, last: %s", i,
                              w[i].failures, w[i].msg);
        }
}

START_TEST(test_concurrent_writers)
{
        struct store *s = open_ok(), *s2;
        struct store_exec_query q = {.limit = 500};

        run_workers(s, NULL);
        ck_assert_int_eq(query_count(s, &q), 4 * THREAD_EXECS);
        /* Two connections to one file, as when an admin tool writes while airlockd runs. */
        s2 = open_ok();
        run_workers(s, s2);
        ck_assert_int_eq(query_count(s, &q), 8 * THREAD_EXECS);
        {
                struct store_exec_query rq = {.state = "running"};

                ck_assert_int_eq(query_count(s2, &rq), 0);
        }
        store_close(s2);
        store_close(s);
}
END_TEST

/* ---- durability ---- */

START_TEST(test_killed_after_finish_keeps_record)
{
        struct al_error err = {0};
        struct store *s;
        json_t *j = NULL;
        int fds[2], status;
        char ids[2][STORE_ID_LEN];
        pid_t pid;
        int64_t aborted = -1;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct store_execution e = exec_for("a", NULL, 0), r = exec_for("a", NULL, 0);

                close(fds[0]);
                s = NULL;
                if (store_open(db_path, &s, &err) < 0 || store_execution_begin(s, &e, &err) < 0)
                        _exit(2);
                e.exit_code = 7;
                if (store_execution_finish(s, &e, &err) < 0 ||
                    store_execution_begin(s, &r, &err) < 0)
                        _exit(3);
                /* The reply would go out now; the daemon dies before closing anything. */
                if (write(fds[1], e.id, STORE_ID_LEN) != STORE_ID_LEN ||
                    write(fds[1], r.id, STORE_ID_LEN) != STORE_ID_LEN)
                        _exit(4);
                raise(SIGKILL);
                _exit(5);
        }
        close(fds[1]);
        ck_assert_int_eq(read(fds[0], ids[0], STORE_ID_LEN), STORE_ID_LEN);
        ck_assert_int_eq(read(fds[0], ids[1], STORE_ID_LEN), STORE_ID_LEN);
        close(fds[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        s = open_ok();
        ck_assert_int_eq(store_execution_get(s, ids[0], &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 7);
        json_decref(j);
        /* Start-up recovery: the one in flight is marked aborted. */
        ck_assert_int_eq(store_executions_abort_running(s, &aborted, &err), 0);
        ck_assert_int_eq(aborted, 1);
        ck_assert_int_eq(store_execution_get(s, ids[1], &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "aborted");
        json_decref(j);
        store_close(s);
}
END_TEST

/* ---- policy revisions, sandboxes, sessions, tokens ---- */

START_TEST(test_policy_revisions)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        char hex[SHA256_HEX_LEN];
        int64_t r1 = 0, r2 = 0, r3 = 0, r4 = 0;
        json_t *j = NULL;

        ck_assert_int_eq(store_policy_revision_latest(s, &j, &err), -ENOENT);
        ck_assert_int_eq(
            store_policy_revision_add(s, "mode = all\n", NULL, "startup", 10, &r1, &err), 0);
        ck_assert_int_eq(store_policy_revision_add(s, "mode = all\n", NULL, "uid 0", 20, &r2, &err),
                         0);
        ck_assert_int_eq(r1, r2);
        ck_assert_int_eq(store_policy_revision_add(s, "mode = off\n", NULL, "uid 0", 30, &r3, &err),
                         0);
        ck_assert_int_gt(r3, r1);
        /* Back to the first text: a new revision, deduplicated only against the latest. */
        sha256_hex("mode = all\n", 11, hex);
        ck_assert_int_eq(store_policy_revision_add(s, "mode = all\n", hex, "uid 0", 40, &r4, &err),
                         0);
        ck_assert_int_gt(r4, r3);
        ck_assert_int_eq(store_policy_revision_latest(s, &j, &err), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "revision")), r4);
        ck_assert_str_eq(json_string_value(json_object_get(j, "sha256")), hex);
        ck_assert_str_eq(json_string_value(json_object_get(j, "applied_by")), "uid 0");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "applied_at")), 40);
        json_decref(j);
        ck_assert_int_eq(store_policy_revisions_list(s, 10, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 3);
        ck_assert_ptr_null(json_object_get(json_array_get(j, 0), "text"));
        json_decref(j);
        ck_assert_int_eq(store_policy_revision_add(s, "x", "XYZ", "uid 0", 0, NULL, &err), -EINVAL);
        store_close(s);
}
END_TEST

START_TEST(test_sandboxes)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        struct store_sandbox a = {.id = "c1",
                                  .backend = "docker",
                                  .scope = "agent",
                                  .scope_key = "agent:a",
                                  .agent = "a",
                                  .image = "py",
                                  .created_at = 100};
        struct store_sandbox b = {.id = "c2",
                                  .backend = "docker",
                                  .scope = "shared",
                                  .scope_key = "shared",
                                  .created_at = 200};
        struct store_sandbox bad = {
            .id = "c3", .backend = "docker", .scope = "galaxy", .scope_key = "x"};
        const char *only_a[] = {"a", NULL};
        json_t *j = NULL;

        ck_assert_int_eq(store_sandbox_put(s, &a, &err), 0);
        ck_assert_int_eq(store_sandbox_put(s, &b, &err), 0);
        ck_assert_int_eq(store_sandbox_put(s, &bad, &err), -EINVAL);
        ck_assert_int_eq(store_sandbox_touch(s, "c1", 500, &err), 0);
        ck_assert_int_eq(store_sandbox_touch(s, "c1", 300, &err), 0); /* never moves back */
        ck_assert_int_eq(store_sandbox_touch(s, "nope", 300, &err), -ENOENT);
        ck_assert_int_eq(store_sandboxes_live(s, NULL, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "c1");
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "last_used_at")),
                         500);
        ck_assert(json_is_null(json_object_get(json_array_get(j, 1), "agent")));
        json_decref(j);
        ck_assert_int_eq(store_sandboxes_live(s, only_a, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        json_decref(j);
        ck_assert_int_eq(store_sandbox_remove(s, "c1", 600, &err), 0);
        ck_assert_int_eq(store_sandbox_remove(s, "c1", 700, &err), 0);
        ck_assert_int_eq(store_sandbox_remove(s, "nope", 700, &err), -ENOENT);
        ck_assert_int_eq(store_sandboxes_live(s, NULL, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "c2");
        json_decref(j);
        /* Put again revives it. */
        ck_assert_int_eq(store_sandbox_put(s, &a, &err), 0);
        ck_assert_int_eq(store_sandboxes_live(s, only_a, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        json_decref(j);
        store_close(s);
}
END_TEST

START_TEST(test_sessions)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        const char *only_b[] = {"b", NULL};
        json_t *j = NULL;

        ck_assert_int_eq(store_session_touch(s, "a", "s1", 100, &err), 0);
        ck_assert_int_eq(store_session_touch(s, "a", "s2", 200, &err), 0);
        ck_assert_int_eq(store_session_touch(s, "b", "s1", 300, &err), 0);
        ck_assert_int_eq(store_session_touch(s, "a", "s1", 400, &err), 0);
        ck_assert_int_eq(store_sessions_idle(s, 350, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "session")), "s2");
        json_decref(j);
        ck_assert_int_eq(store_session_end(s, "a", "s2", 500, &err), 0);
        ck_assert_int_eq(store_session_end(s, "a", "zz", 500, &err), -ENOENT);
        ck_assert_int_eq(store_sessions_idle(s, 350, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        json_decref(j);
        ck_assert_int_eq(store_sessions_list(s, NULL, false, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "created_at")),
                         100);
        json_decref(j);
        ck_assert_int_eq(store_sessions_list(s, NULL, true, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 3);
        json_decref(j);
        ck_assert_int_eq(store_sessions_list(s, only_b, true, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        json_decref(j);
        ck_assert_int_eq(store_session_touch(s, "a", "", 0, &err), -EINVAL);
        store_close(s);
}
END_TEST

/* An execution's begin marks its session used in the same commit; the finish is durable when
 * it returns (group commit), and a finish of an unknown row changes nothing. */
START_TEST(test_begin_touches_session)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        struct store_execution e = exec_for("a", "conv", 0), bad = exec_for("a", NULL, 0);
        json_t *j = NULL;

        e.touch_session = true;
        e.started_at = 700;
        ck_assert_int_eq(store_execution_begin(s, &e, &err), 0);
        ck_assert_int_eq(store_sessions_list(s, NULL, false, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "session")),
                         "conv");
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 0), "created_at")),
                         700);
        json_decref(j);
        e.exit_code = 3;
        ck_assert_int_eq(store_execution_finish(s, &e, &err), 0);
        ck_assert_int_eq(store_execution_finish(s, &e, &err), -ENOENT);
        memset(bad.id, 'f', sizeof(bad.id) - 1);
        bad.id[sizeof(bad.id) - 1] = '\0';
        ck_assert_int_eq(store_execution_finish(s, &bad, &err), -ENOENT);
        store_close(s);
        s = open_ok();
        ck_assert_int_eq(store_execution_get(s, e.id, &j, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "done");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 3);
        json_decref(j);
        store_close(s);
}
END_TEST

START_TEST(test_tokens)
{
        struct al_error err = {0};
        struct store *s = open_ok();
        char h1[SHA256_HEX_LEN], h2[SHA256_HEX_LEN];
        char *id1 = NULL, *id2 = NULL, *agent = NULL;
        json_t *j = NULL;

        sha256_hex("tok-1", 5, h1);
        sha256_hex("tok-2", 5, h2);
        ck_assert_int_eq(store_token_add(s, "a", h1, 0, &id1, &err), 0);
        ck_assert_int_eq(store_token_add(s, "b", h2, 0, &id2, &err), 0);
        ck_assert_int_eq(store_token_add(s, "b", h2, 0, NULL, &err), -EEXIST);
        ck_assert_int_eq(store_token_add(s, "b", "nothex", 0, NULL, &err), -EINVAL);
        ck_assert_int_eq(store_token_lookup(s, h1, &agent, &err), 0);
        ck_assert_str_eq(agent, "a");
        free(agent);
        ck_assert_int_eq(store_tokens_list(s, NULL, &j, &err), 0);
        ck_assert_uint_eq(json_array_size(j), 2);
        ck_assert_ptr_null(json_object_get(json_array_get(j, 0), "token_hash"));
        json_decref(j);
        ck_assert_int_eq(store_token_revoke(s, id1, 0, &err), 0);
        ck_assert_int_eq(store_token_revoke(s, id1, 0, &err), 0);
        ck_assert_int_eq(store_token_revoke(s, "nope", 0, &err), -ENOENT);
        ck_assert_int_eq(store_token_lookup(s, h1, &agent, &err), -ENOENT);
        ck_assert_int_eq(store_token_lookup(s, h2, &agent, &err), 0);
        ck_assert_str_eq(agent, "b");
        free(agent);
        free(id1);
        free(id2);
        store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
        Suite *s = suite_create("store");
        TCase *sha = tcase_create("sha256");
        TCase *tc = tcase_create("store");

        tcase_add_test(sha, test_sha256_vectors);
        tcase_add_test(sha, test_sha256_million_a);
        suite_add_tcase(s, sha);

        tcase_add_checked_fixture(tc, setup, teardown);
        /* Every write is synced to disk, so give slow disks room. */
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_open_creates);
        tcase_add_test(tc, test_migration_sets_user_version);
        tcase_add_test(tc, test_reopen_keeps_data);
        tcase_add_test(tc, test_newer_version_refused);
        tcase_add_test(tc, test_truncated_refused);
        tcase_add_test(tc, test_garbage_refused);
        tcase_add_test(tc, test_corrupted_pages_refused);
        tcase_add_test(tc, test_foreign_db_refused);
        tcase_add_test(tc, test_execution_round_trip);
        tcase_add_test(tc, test_code_preview);
        tcase_add_test(tc, test_query_filters);
        tcase_add_test(tc, test_query_paging);
        tcase_add_test(tc, test_abort_running);
        tcase_add_test(tc, test_concurrent_writers);
        tcase_add_test(tc, test_killed_after_finish_keeps_record);
        tcase_add_test(tc, test_policy_revisions);
        tcase_add_test(tc, test_sandboxes);
        tcase_add_test(tc, test_sessions);
        tcase_add_test(tc, test_begin_touches_session);
        tcase_add_test(tc, test_tokens);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(store_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
