/* Opening, checking and closing the database, and the helpers the other store files share.
 * A database that cannot be trusted is refused, never reset: the audit log is evidence.
 * Over 800 lines on purpose: the open path's checks (header, integrity, version, application
 * id, WAL, permissions) are one sequence that is read top to bottom; the per-table queries
 * already live in records.c and executions.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "airlock/util.h"
#include "store/store_private.h"

#define BUSY_TIMEOUT_MS 5000
/* Below this size a full integrity_check is cheap; above it quick_check bounds start-up time. */
#define FULL_CHECK_MAX_BYTES (64 * 1024 * 1024)
/* The WAL is cut back to this after a checkpoint (64 MiB, docs/store.md; a literal: it goes
 * into a PRAGMA). It was never defined, so the PRAGMA read "WAL_SIZE_LIMIT", which SQLite took
 * as 0: the WAL was cut to nothing at every restart and grew again block by block, each
 * commit's sync writing the file's growth (block allocation, the inode's size) besides its
 * frames. Above what an automatic checkpoint leaves (1000 pages), the file keeps its blocks. */
#define WAL_SIZE_LIMIT   67108864
#define CHECK_MAX_ERRORS "5"
#define ADVICE                                                                                     \
        "; airlockd never resets it: restore a backup, or stop airlockd and move the file "        \
        "(with its -wal and -shm files) aside to start afresh"

int store_sql_err(struct store *s, int rc, struct al_error *err, const char *what)
{
        const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
        int code;

        switch (rc & 0xff) {
        case SQLITE_NOMEM:
                code = -ENOMEM;
                break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                code = -EBUSY;
                break;
        case SQLITE_FULL:
                code = -ENOSPC;
                break;
        case SQLITE_READONLY:
                code = -EROFS;
                break;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                code = -EACCES;
                break;
        case SQLITE_TOOBIG:
                code = -E2BIG;
                break;
        case SQLITE_CONSTRAINT:
                code = rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
                           ? -EEXIST
                           : -EINVAL;
                break;
        case SQLITE_CANTOPEN: {
                int e = s && s->db ? sqlite3_system_errno(s->db) : 0;

                code = e > 0 ? -e : -EIO;
                break;
        }
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return al_err(err, -EIO, "%s: database file '%s' is corrupted (%s)" ADVICE, what,
                              s && s->path ? s->path : "?", msg);
        default:
                code = -EIO;
                break;
        }
        return al_err(err, code, "%s: %s", what, msg);
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct al_error *err)
{
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

        if (rc != SQLITE_OK)
                return store_sql_err(s, rc, err, "preparing a query");
        return 0;
}

int store_prepare_cached(struct store *s, enum store_cached q, const char *sql, sqlite3_stmt **ret,
                         struct al_error *err)
{
        if (!s->cached[q]) {
                int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->cached[q], NULL);

                if (rc != SQLITE_OK) {
                        s->cached[q] = NULL;
                        return store_sql_err(s, rc, err, "preparing a query");
                }
        }
        *ret = s->cached[q];
        return 0;
}

static int run_cached(struct store *s, enum store_cached q, const char *sql, struct al_error *err)
{
        _cleanup_cached_ sqlite3_stmt *st = NULL;
        int r = store_prepare_cached(s, q, sql, &st, err);

        return r < 0 ? r : store_step_done(s, st, err, "running a statement");
}

void store_sync_mode_locked(struct store *s, bool full)
{
        if (full)
                run_cached(s, STORE_Q_SYNC_FULL, "PRAGMA synchronous=FULL", NULL);
        else
                run_cached(s, STORE_Q_SYNC_NORMAL, "PRAGMA synchronous=NORMAL", NULL);
}

int store_begin_locked(struct store *s, struct al_error *err)
{
        return run_cached(s, STORE_Q_BEGIN, "BEGIN", err);
}

int store_commit_locked(struct store *s, struct al_error *err)
{
        return run_cached(s, STORE_Q_COMMIT, "COMMIT", err);
}

int store_exec(struct store *s, const char *sql, struct al_error *err)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
                return store_sql_err(s, rc, err, "running a statement");
        return 0;
}

int store_step_done(struct store *s, sqlite3_stmt *st, struct al_error *err, const char *what)
{
        int rc = sqlite3_step(st);

        if (rc != SQLITE_DONE)
                return store_sql_err(s, rc, err, what);
        return 0;
}

int store_tx_begin(struct store *s, struct al_error *err)
{
        return store_exec(s, "BEGIN IMMEDIATE", err);
}

int store_tx_commit(struct store *s, struct al_error *err)
{
        int r = store_exec(s, "COMMIT", err);

        /* A failed COMMIT may leave the transaction open; never leave it for the next caller. */
        if (r < 0)
                store_tx_rollback(s);
        return r;
}

void store_tx_rollback(struct store *s)
{
        if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
        if (!text)
                return sqlite3_bind_null(st, idx);
        return sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

int64_t store_time(int64_t t)
{
        return t ? t : util_wall_ms();
}

int store_check_name(const char *what, const char *name, bool optional, struct al_error *err)
{
        size_t n;

        if (!name) {
                if (optional)
                        return 0;
                return al_err(err, -EINVAL, "%s is required", what);
        }
        n = strnlen(name, STORE_NAME_MAX + 1);
        if (n == 0 || n > STORE_NAME_MAX)
                return al_err(err, -EINVAL, "%s must be 1 to %d bytes", what, STORE_NAME_MAX);
        return 0;
}

int store_check_agents(const char *const *agents, struct al_error *err)
{
        size_t i;
        int r;

        if (!agents)
                return 0;
        for (i = 0; agents[i]; i++) {
                if (i >= STORE_AGENTS_MAX)
                        return al_err(err, -EINVAL, "agent filter lists at most %d agents",
                                      STORE_AGENTS_MAX);
                if ((r = store_check_name("agent", agents[i], false, err)) < 0)
                        return r;
        }
        return 0;
}

char *store_sql_agents(const char *sql, const char *col, const char *const *agents,
                       const char *tail)
{
        struct buf b;

        /* Placeholders only: agent names are bound, never spliced into the SQL. */
        buf_init(&b, 64 * 1024);
        if (buf_appendf(&b, "%s", sql) < 0)
                goto fail;
        if (agents) {
                if (!agents[0]) {
                        if (buf_appendf(&b, " AND 0") < 0)
                                goto fail;
                } else {
                        if (buf_appendf(&b, " AND %s IN (", col) < 0)
                                goto fail;
                        for (size_t i = 0; agents[i]; i++)
                                if (buf_appendf(&b, i ? ",?" : "?") < 0)
                                        goto fail;
                        if (buf_appendf(&b, ")") < 0)
                                goto fail;
                }
        }
        if (tail && buf_appendf(&b, " %s", tail) < 0)
                goto fail;
        if (buf_truncated(&b))
                goto fail;
        return buf_steal(&b, NULL);
fail:
        buf_free(&b);
        return NULL;
}

int store_bind_agents(sqlite3_stmt *st, int idx, const char *const *agents)
{
        for (size_t i = 0; agents && agents[i]; i++)
                sqlite3_bind_text(st, idx++, agents[i], -1, SQLITE_STATIC);
        return idx;
}

static json_t *text_json(const unsigned char *p, int len)
{
        json_t *j;
        _cleanup_free_ char *fixed = NULL;

        if (!p)
                return json_null();
        j = json_stringn((const char *)p, (size_t)len);
        if (j)
                return j;
        /* Stored text is ours or validated, but an engine's error message may carry any bytes. */
        fixed = util_utf8_sanitize((const char *)p, (size_t)len, NULL, NULL);
        return fixed ? json_string(fixed) : NULL;
}

json_t *store_row_json(sqlite3_stmt *st, const char *const *bools)
{
        json_t *o = json_object();
        int n = sqlite3_column_count(st);

        if (!o)
                return NULL;
        for (int i = 0; i < n; i++) {
                const char *name = sqlite3_column_name(st, i);
                json_t *v = NULL;
                bool is_bool = false;

                for (size_t b = 0; bools && bools[b]; b++)
                        if (strcmp(bools[b], name) == 0)
                                is_bool = true;
                switch (sqlite3_column_type(st, i)) {
                case SQLITE_INTEGER:
                        v = is_bool ? json_boolean(sqlite3_column_int64(st, i) != 0)
                                    : json_integer(sqlite3_column_int64(st, i));
                        break;
                case SQLITE_FLOAT:
                        v = json_real(sqlite3_column_double(st, i));
                        break;
                case SQLITE_TEXT:
                        v = text_json(sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
                        break;
                default:
                        v = json_null();
                        break;
                }
                if (!v || json_object_set_new(o, name, v) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

char *store_cut_text(const char *text, size_t max)
{
        size_t n = strlen(text), back = 0;
        char *out;

        if (n > max) {
                n = max;
                /* Do not split a character: back up over at most 3 continuation bytes. */
                while (n > 0 && back < 3 && ((unsigned char)text[n] & 0xc0) == 0x80) {
                        n--;
                        back++;
                }
        }
        out = malloc(n + 1);
        if (!out)
                return NULL;
        memcpy(out, text, n);
        out[n] = '\0';
        return out;
}

char *store_code_preview(const char *code, size_t len)
{
        size_t n = len, back = 0;

        if (!code)
                return NULL;
        if (n > STORE_PREVIEW_BYTES) {
                n = STORE_PREVIEW_BYTES;
                while (n > 0 && back < 3 && ((unsigned char)code[n] & 0xc0) == 0x80) {
                        n--;
                        back++;
                }
        }
        return util_utf8_sanitize(code, n, NULL, NULL);
}

/* mkdir -p for the directory holding path, new directories 0700. */
static int make_parent(const char *path, struct al_error *err)
{
        char dir[PATH_MAX];
        char *slash;
        size_t n = strlen(path);

        if (n >= sizeof(dir))
                return al_err(err, -ENAMETOOLONG, "database path is too long");
        memcpy(dir, path, n + 1);
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        for (char *p = dir + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        return al_err_errno(err, -errno, "creating directory '%s'", dir);
                *p = '/';
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return al_err_errno(err, -errno, "creating directory '%s'", dir);
        return 0;
}

static int fsync_parent(const char *path)
{
        char dir[PATH_MAX];
        char *slash;
        size_t n = strlen(path);
        _cleanup_close_ int fd = -1;

        if (n >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, n + 1);
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Create the file 0600 when missing, and check an existing one looks like an SQLite database
 * before SQLite sees it: SQLite takes a file shorter than one page for an empty database and
 * would write a new schema over what is left of a truncated one. */
static int precheck_file(const char *path, struct al_error *err)
{
        static const char magic[16] = "SQLite format 3";
        unsigned char h[100];
        struct stat st;
        _cleanup_close_ int fd = -1;
        long page;
        ssize_t n;

        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
                int r = fsync_parent(path);

                if (r < 0)
                        return al_err_errno(err, r, "syncing the directory of '%s'", path);
                return 0;
        }
        if (errno != EEXIST)
                return al_err_errno(err, -errno, "creating database file '%s'", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return al_err_errno(err, -errno, "opening database file '%s'", path);
        if (fstat(fd, &st) < 0)
                return al_err_errno(err, -errno, "inspecting database file '%s'", path);
        if (!S_ISREG(st.st_mode))
                return al_err(err, -EINVAL, "database path '%s' is not a regular file", path);
        if (st.st_size == 0)
                return 0;
        if (st.st_size < 512)
                return al_err(err, -EIO,
                              "database file '%s' is truncated or not an SQLite database "
                              "(%" PRId64 " bytes, less than one page)" ADVICE,
                              path, (int64_t)st.st_size);
        n = pread(fd, h, sizeof(h), 0);
        if (n < 0)
                return al_err_errno(err, -errno, "reading database file '%s'", path);
        if (n != (ssize_t)sizeof(h) || memcmp(h, magic, sizeof(magic)) != 0)
                return al_err(err, -EIO, "database file '%s' is not an SQLite database" ADVICE,
                              path);
        page = (long)h[16] << 8 | h[17];
        if (page == 1)
                page = 65536;
        if (page < 512 || (page & (page - 1)) != 0)
                return al_err(err, -EIO, "database file '%s' has a corrupted header" ADVICE, path);
        /* SQLite only ever writes whole pages. */
        if (st.st_size % page != 0)
                return al_err(err, -EIO,
                              "database file '%s' is truncated (%" PRId64
                              " bytes is not a whole number of %ld-byte pages)" ADVICE,
                              path, (int64_t)st.st_size, page);
        return 0;
}

static int pragma_int(struct store *s, const char *sql, int64_t *ret, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "reading the database header");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int integrity_check(struct store *s, int64_t file_bytes, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const char *sql = file_bytes <= FULL_CHECK_MAX_BYTES
                              ? "PRAGMA integrity_check(" CHECK_MAX_ERRORS ")"
                              : "PRAGMA quick_check(" CHECK_MAX_ERRORS ")";
        const unsigned char *first;
        char report[200], *p;
        int rc, r;

        r = store_prepare(s, sql, &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "checking database integrity");
        first = sqlite3_column_text(st, 0);
        if (first && strcmp((const char *)first, "ok") == 0)
                return 0;
        /* Skip the "*** in database main ***" heading and keep the report on one line. */
        snprintf(report, sizeof(report), "%s", first ? (const char *)first : "no result");
        p = report;
        if (strncmp(p, "*** ", 4) == 0 && strchr(p, '\n'))
                p = strchr(p, '\n') + 1;
        for (char *c = p; *c; c++)
                if (*c == '\n')
                        *c = ';';
        return al_err(err, -EIO,
                      "database file '%s' is corrupted: it failed its integrity check (%s)" ADVICE,
                      s->path, p);
}

static int configure(struct store *s, struct al_error *err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const unsigned char *mode;
        int rc, r;

        r = store_prepare(s, "PRAGMA journal_mode=WAL", &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_sql_err(s, rc, err, "enabling WAL");
        mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
                return al_err(err, -EOPNOTSUPP,
                              "database '%s' cannot use WAL mode (journal mode stays '%s'); put "
                              "the state directory on a local file system",
                              s->path, mode ? (const char *)mode : "?");
        /* FULL: the WAL is synced at every commit, so a record acknowledged to a client
         * survives a crash of airlockd and of the machine. */
        return store_exec(s,
                          "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                          /* Shrink the WAL back after a checkpoint instead of keeping its
                           * high-water size forever. */
                          "PRAGMA journal_size_limit=" STORE_STRINGIFY(WAL_SIZE_LIMIT),
                          err);
}

static bool sidecar_exists(const char *path, const char *suffix)
{
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s%s", path, suffix);
        return access(p, F_OK) == 0 || errno != ENOENT;
}

/* A refused WAL database gets an empty -wal and a -shm from merely being opened; remove them
 * when they were not there before, so that a refusal leaves the directory as it was. A -wal
 * with content is never removed: it may hold committed transactions. */
static void tidy_sidecars(const char *path, bool had_wal, bool had_shm)
{
        char wal[PATH_MAX], shm[PATH_MAX];
        struct stat st;

        snprintf(wal, sizeof(wal), "%s-wal", path);
        snprintf(shm, sizeof(shm), "%s-shm", path);
        if (!had_wal && stat(wal, &st) == 0) {
                if (st.st_size != 0)
                        return;
                unlink(wal);
        }
        if (!had_shm && access(wal, F_OK) < 0)
                unlink(shm);
}

static void store_free(struct store *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < STORE_Q_MAX; i++)
                sqlite3_finalize(s->cached[i]);
        if (s->db)
                sqlite3_close_v2(s->db);
        if (s->wal_fd >= 0)
                close(s->wal_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->sync_lock);
        pthread_cond_destroy(&s->sync_done);
        free(s->path);
        free(s);
}

int store_open(const char *path, struct store **ret, struct al_error *err)
{
        struct store *s = NULL;
        struct stat st;
        int64_t version, app_id, count;
        bool had_wal = true, had_shm = true;
        int rc, r;

        if (!path || !*path)
                return al_err(err, -EINVAL, "database path is empty");
        if (strlen(path) >= PATH_MAX - 8)
                return al_err(err, -ENAMETOOLONG, "database path is too long");
        r = make_parent(path, err);
        if (r < 0)
                return r;
        r = precheck_file(path, err);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->sync_lock, NULL);
        pthread_cond_init(&s->sync_done, NULL);
        s->wal_fd = -1;
        s->path = strdup(path);
        if (!s->path) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto fail;
        }
        had_wal = sidecar_exists(path, "-wal");
        had_shm = sidecar_exists(path, "-shm");
        rc = sqlite3_open_v2(
            path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                r = store_sql_err(s, rc, err, "opening the database");
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        /* Until the file has passed its checks, closing must not checkpoint a leftover WAL
         * into it: a refused database is left exactly as found. */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        /* Hardening: no schema tricks from a tampered file. */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

        r = pragma_int(s, "PRAGMA user_version", &version, err);
        if (r < 0)
                goto fail;
        if (version < 0 || version > STORE_SCHEMA_VERSION) {
                r = al_err(err, -EPROTO,
                           "database '%s' has schema version %" PRId64
                           ", which this airlockd does not understand (it knows up to %d): "
                           "run the newer airlockd that wrote it, or restore a backup made by "
                           "this version",
                           path, version, STORE_SCHEMA_VERSION);
                goto fail;
        }
        r = pragma_int(s, "PRAGMA application_id", &app_id, err);
        if (r < 0)
                goto fail;
        if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
                r = al_err(err, -EPROTO,
                           "database '%s' belongs to another application (application_id "
                           "%" PRId64 "), not airlock",
                           path, app_id);
                goto fail;
        }
        /* Before anything writes: even enabling WAL rewrites the header. */
        if (version == 0) {
                r = store_check_empty(s, err);
                if (r < 0)
                        goto fail;
        }
        if (stat(path, &st) < 0) {
                r = al_err_errno(err, -errno, "inspecting database file '%s'", path);
                goto fail;
        }
        r = integrity_check(s, (int64_t)st.st_size, err);
        if (r < 0)
                goto fail;
        r = configure(s, err);
        if (r < 0)
                goto fail;
        r = store_migrate(s, err);
        if (r < 0)
                goto fail;
        r = pragma_int(s, "SELECT count(*) FROM executions", &count, err);
        if (r < 0)
                goto fail;
        s->executions = count;
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
        *ret = s;
        return 0;
fail:
        store_free(s);
        tidy_sidecars(path, had_wal, had_shm);
        return r;
}

void store_group_begin_locked(struct store *s)
{
        store_sync_mode_locked(s, false);
}

int store_group_end_locked(struct store *s, int r, uint64_t *ret, struct al_error *err)
{
        char wal[PATH_MAX];
        struct stat st;

        store_sync_mode_locked(s, true);
        *ret = 0;
        if (r < 0)
                return r;
        /* The WAL stays the same file while the connection is open; should it ever be another
         * (no link left), this commit is made durable the slow way and the file reopened. */
        if (s->wal_fd >= 0 && fstat(s->wal_fd, &st) == 0 && st.st_nlink == 0) {
                pthread_mutex_lock(&s->sync_lock);
                while (s->syncing)
                        pthread_cond_wait(&s->sync_done, &s->sync_lock);
                close(s->wal_fd);
                s->wal_fd = -1;
                pthread_mutex_unlock(&s->sync_lock);
        }
        if (s->wal_fd < 0) {
                snprintf(wal, sizeof(wal), "%s-wal", s->path);
                s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (s->wal_fd < 0)
                        return store_exec(s, "PRAGMA wal_checkpoint(FULL)", err);
        }
        pthread_mutex_lock(&s->sync_lock);
        *ret = ++s->written;
        pthread_mutex_unlock(&s->sync_lock);
        return 0;
}

int store_group_sync(struct store *s, uint64_t ticket, struct al_error *err)
{
        int r = 0;

        if (ticket == 0)
                return 0;
        pthread_mutex_lock(&s->sync_lock);
        while (s->synced < ticket && r == 0) {
                uint64_t upto;

                if (s->syncing) {
                        pthread_cond_wait(&s->sync_done, &s->sync_lock);
                        continue;
                }
                /* Every commit numbered up to here is in the WAL already: one sync for all. */
                upto = s->written;
                s->syncing = true;
                pthread_mutex_unlock(&s->sync_lock);
                if (fdatasync(s->wal_fd) < 0)
                        r = al_err_errno(err, -errno, "syncing the store's write-ahead log");
                pthread_mutex_lock(&s->sync_lock);
                s->syncing = false;
                if (r == 0 && upto > s->synced)
                        s->synced = upto;
                pthread_cond_broadcast(&s->sync_done);
        }
        pthread_mutex_unlock(&s->sync_lock);
        return r;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        /* Fold the WAL back into the file so the database is one self-contained file at rest. */
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
        store_free(s);
}

int store_stats(struct store *s, struct store_stats *ret, struct al_error *err)
{
        STORE_LOCKED(s);
        struct store_stats out = {0};
        char wal[PATH_MAX];
        struct stat st;
        int64_t v;
        int r;

        r = pragma_int(s, "PRAGMA user_version", &v, err);
        if (r < 0)
                return r;
        out.schema_version = (int)v;
        r = pragma_int(s, "PRAGMA page_size", &out.page_size, err);
        if (r < 0)
                return r;
        r = pragma_int(s, "PRAGMA page_count", &out.page_count, err);
        if (r < 0)
                return r;
        if (stat(s->path, &st) < 0)
                return al_err_errno(err, -errno, "inspecting database file '%s'", s->path);
        out.file_bytes = (int64_t)st.st_size;
        snprintf(wal, sizeof(wal), "%s-wal", s->path);
        if (stat(wal, &st) == 0)
                out.wal_bytes = (int64_t)st.st_size;
        out.executions = s->executions;
        *ret = out;
        return 0;
}

int store_check_writable(struct store *s, int timeout_ms, struct al_error *err)
{
        STORE_LOCKED(s);
        int r;

        if (sqlite3_db_readonly(s->db, "main") == 1)
                return al_err(err, -EROFS, "database '%s' is open read-only", s->path);
        /* A shorter wait than the writers': a health check must answer within seconds. */
        sqlite3_busy_timeout(s->db, timeout_ms);
        r = store_tx_begin(s, err);
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        if (r < 0)
                return r;
        store_tx_rollback(s);
        return 0;
}
