/* Suspend and resume's pure parts (airlock/snapshot.h) and the store's snapshot rows: file
 * names, the atomic write and its digest, corruption noticed on read, the cap, members checked
 * on the way back (names, types, links that would leave their area), retention, the manifest,
 * and the rows' lifecycle and totals. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "airlock/file_records.h"
#include "airlock/files.h"
#include "airlock/snapshot.h"
#include "airlock/store.h"

static char dir[64];
static int dirfd_;

static void setup(void)
{
        snprintf(dir, sizeof(dir), "/tmp/airlock-snap-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
        ck_assert_int_ge(dirfd_, 0);
}

static void teardown(void)
{
        char cmd[128];

        close(dirfd_);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static void add(struct buf *b, char kind, const char *path, const char *data)
{
        uint8_t hdr[FILE_RECORD_HEADER + FILE_RECORD_PATH_MAX];
        struct file_record r = {.kind = kind, .mode = kind == 'D' ? 0755 : 0644, .mtime = 1};

        r.size = data ? strlen(data) : 0;
        snprintf(r.path, sizeof(r.path), "%s", path);
        ck_assert_int_eq(buf_append(b, hdr, file_record_header(&r, hdr)), 0);
        if (data)
                ck_assert_int_eq(buf_append(b, data, r.size), 0);
}

/* The records of a small sandbox: /tmp with a file and a link, the home with a package. */
static void sample(struct buf recs[2])
{
        buf_init(&recs[0], 1 << 20);
        buf_init(&recs[1], 1 << 20);
        add(&recs[0], 'D', "tmp", NULL);
        add(&recs[0], 'F', "tmp/data.csv", "a,b\n1,2\n");
        add(&recs[0], 'L', "tmp/latest", "data.csv");
        add(&recs[0], 'L', "tmp/passwd", "/etc/passwd");
        add(&recs[1], 'D', "home", NULL);
        add(&recs[1], 'D', "home/.local", NULL);
        add(&recs[1], 'F', "home/.local/pkg.py", "ANSWER = 42\n");
}

START_TEST(file_names)
{
        char *n = snapshot_file_name("0123456789abcdef");

        ck_assert_str_eq(n, "0123456789abcdef.tar");
        free(n);
        ck_assert_ptr_null(snapshot_file_name("0123456789a"));        /* too short */
        ck_assert_ptr_null(snapshot_file_name("../../etc/passwdxx")); /* not hex */
        ck_assert_ptr_null(snapshot_file_name("0123456789ABCDEF"));   /* hex is lowercase */
        ck_assert_ptr_null(snapshot_file_name(NULL));
}
END_TEST

START_TEST(write_read_round_trip_and_corruption)
{
        struct buf recs[2], tar, outs[SNAPSHOT_AREAS];
        struct al_error err = {0};
        char sha[SHA256_HEX_LEN], other[SHA256_HEX_LEN], path[128];
        int64_t bytes = 0;
        size_t skipped = 9;
        struct file_record rec;
        size_t off = 0;
        struct stat st;
        int fd;

        sample(recs);
        ck_assert_int_eq(snapshot_write(dirfd_, "a.tar", recs, 2, 1 << 20, &bytes, sha, &err), 0);
        ck_assert_int_gt(bytes, 1024);
        ck_assert_int_eq(fstatat(dirfd_, "a.tar", &st, 0), 0);
        ck_assert_int_eq(st.st_size, bytes);
        /* No temporary file is left. */
        ck_assert_int_ne(fstatat(dirfd_, ".a.tar.partial", &st, 0), 0);

        buf_init(&tar, (size_t)bytes + 1);
        ck_assert_int_eq(snapshot_read(dirfd_, "a.tar", bytes, sha, &tar, &err), 0);
        for (int i = 0; i < SNAPSHOT_AREAS; i++)
                buf_init(&outs[i], 1 << 20);
        ck_assert_int_eq(snapshot_tar_to_records(tar.data, tar.len, 100, outs, &skipped, &err), 0);
        /* The link out of /tmp is dropped; the one inside comes back. */
        ck_assert_uint_eq(skipped, 1);
        ck_assert_int_eq(file_record_next((uint8_t *)outs[0].data, outs[0].len, &off, &rec), 1);
        ck_assert_str_eq(rec.path, "data.csv");
        ck_assert_int_eq(rec.kind, 'F');
        ck_assert_int_eq(memcmp(rec.data, "a,b\n1,2\n", 8), 0);
        ck_assert_int_eq(file_record_next((uint8_t *)outs[0].data, outs[0].len, &off, &rec), 1);
        ck_assert_int_eq(rec.kind, 'L');
        ck_assert_str_eq(rec.path, "latest");
        ck_assert_int_eq(file_record_next((uint8_t *)outs[0].data, outs[0].len, &off, &rec), 0);
        off = 0;
        ck_assert_int_eq(file_record_next((uint8_t *)outs[1].data, outs[1].len, &off, &rec), 1);
        ck_assert_str_eq(rec.path, ".local");
        ck_assert_int_eq(file_record_next((uint8_t *)outs[1].data, outs[1].len, &off, &rec), 1);
        ck_assert_str_eq(rec.path, ".local/pkg.py");
        buf_free(&tar);

        /* A byte changed: noticed by the digest, whatever its place. */
        fd = openat(dirfd_, "a.tar", O_RDWR);
        ck_assert_int_eq(pwrite(fd, "X", 1, 600), 1);
        close(fd);
        buf_init(&tar, (size_t)bytes + 1);
        ck_assert_int_eq(snapshot_read(dirfd_, "a.tar", bytes, sha, &tar, &err), -EBADMSG);
        buf_free(&tar);
        /* Cut short, and missing. */
        snprintf(path, sizeof(path), "%s/a.tar", dir);
        ck_assert_int_eq(truncate(path, 512), 0);
        buf_init(&tar, (size_t)bytes + 1);
        ck_assert_int_eq(snapshot_read(dirfd_, "a.tar", bytes, sha, &tar, &err), -EBADMSG);
        buf_free(&tar);
        buf_init(&tar, (size_t)bytes + 1);
        ck_assert_int_eq(snapshot_read(dirfd_, "none.tar", bytes, sha, &tar, &err), -ENOENT);
        buf_free(&tar);
        /* The same content gives the same digest (nothing of the time of writing in it). */
        ck_assert_int_eq(snapshot_write(dirfd_, "b.tar", recs, 2, 1 << 20, &bytes, other, &err), 0);
        ck_assert_str_eq(sha, other);
        for (int i = 0; i < 2; i++)
                buf_free(&recs[i]);
        for (int i = 0; i < SNAPSHOT_AREAS; i++)
                buf_free(&outs[i]);
}
END_TEST

START_TEST(cap_leaves_nothing)
{
        struct buf recs[2];
        struct al_error err = {0};
        char sha[SHA256_HEX_LEN], big[8192];
        int64_t bytes = 0;
        struct stat st;

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        sample(recs);
        add(&recs[0], 'F', "tmp/big", big);
        ck_assert_int_eq(snapshot_write(dirfd_, "c.tar", recs, 2, 4096, &bytes, sha, &err),
                         -AL_E_TOO_LARGE);
        ck_assert_ptr_nonnull(strstr(err.msg, "cap"));
        ck_assert_int_ne(fstatat(dirfd_, "c.tar", &st, 0), 0);
        ck_assert_int_ne(fstatat(dirfd_, ".c.tar.partial", &st, 0), 0);
        /* A malformed record stream (from the sandbox) is refused, nothing left either. */
        buf_reset(&recs[1]);
        buf_append(&recs[1], "Fgarbage", 8);
        ck_assert_int_eq(snapshot_write(dirfd_, "d.tar", recs, 2, 1 << 20, &bytes, sha, &err),
                         -EPROTO);
        ck_assert_int_ne(fstatat(dirfd_, "d.tar", &st, 0), 0);
        for (int i = 0; i < 2; i++)
                buf_free(&recs[i]);
}
END_TEST

START_TEST(links_inside_their_area)
{
        ck_assert(snapshot_link_inside("/tmp", "a", "b"));
        ck_assert(snapshot_link_inside("/tmp", "d/a", "../b"));
        ck_assert(snapshot_link_inside("/tmp", "d/e/a", "../../b/./c"));
        ck_assert(snapshot_link_inside("/tmp", "a", "/tmp/b"));
        ck_assert(snapshot_link_inside("/tmp", "a", "/tmp"));
        ck_assert(snapshot_link_inside("/home/airlock", "bin/py", "/home/airlock/.local/x"));
        ck_assert(!snapshot_link_inside("/tmp", "a", "../etc/passwd"));
        ck_assert(!snapshot_link_inside("/tmp", "d/a", "../../x"));
        ck_assert(!snapshot_link_inside("/tmp", "d/a", "x/../../../y"));
        ck_assert(!snapshot_link_inside("/tmp", "a", "/etc/passwd"));
        ck_assert(!snapshot_link_inside("/tmp", "a", "/tmpx/b"));
        ck_assert(!snapshot_link_inside("/tmp", "a", "/tmp/../etc"));
        ck_assert(!snapshot_link_inside("/tmp", "a", "/home/airlock/x"));
        ck_assert(!snapshot_link_inside("/tmp", "a", ""));
}
END_TEST

/* A tar made by hand (what a tampered file could hold). */
static void tar_one(struct buf *out, const char *name, mode_t type, const char *link,
                    const char *hardlink)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;
        static char mem[1 << 16];

        archive_write_set_format_pax_restricted(a);
        ck_assert_int_eq(archive_write_open_memory(a, mem, sizeof(mem), &used), ARCHIVE_OK);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, 0644);
        if (link)
                archive_entry_set_symlink(e, link);
        if (hardlink)
                archive_entry_set_hardlink(e, hardlink);
        archive_entry_set_size(e, 0);
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        buf_init(out, sizeof(mem));
        buf_append(out, mem, used);
}

START_TEST(bad_members_are_refused)
{
        static const struct {
                const char *name;
                mode_t type;
                const char *link, *hardlink;
        } bad[] = {
            {"tmp/../etc/passwd", AE_IFREG, NULL, NULL}, {"/tmp/x", AE_IFREG, NULL, NULL},
            {"etc/passwd", AE_IFREG, NULL, NULL},        {"workspace/x", AE_IFREG, NULL, NULL},
            {"tmp/dev", AE_IFCHR, NULL, NULL},           {"tmp/fifo", AE_IFIFO, NULL, NULL},
            {"tmp/h", AE_IFREG, NULL, "tmp/x"},          {"tmp", AE_IFREG, NULL, NULL},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct buf tar, outs[SNAPSHOT_AREAS];
                struct al_error err = {0};
                size_t skipped;

                tar_one(&tar, bad[i].name, bad[i].type, bad[i].link, bad[i].hardlink);
                for (int k = 0; k < SNAPSHOT_AREAS; k++)
                        buf_init(&outs[k], 1 << 16);
                ck_assert_msg(
                    snapshot_tar_to_records(tar.data, tar.len, 10, outs, &skipped, &err) == -EINVAL,
                    "member '%s' accepted", bad[i].name);
                buf_free(&tar);
                for (int k = 0; k < SNAPSHOT_AREAS; k++)
                        buf_free(&outs[k]);
        }
}
END_TEST

START_TEST(retention_and_manifest)
{
        struct sandbox_spec spec = {.image = "airlock/python:3.11",
                                    .limits = {.cpu_cores = 1, .memory_mb = 512, .disk_mb = 256}};
        char *m;
        json_t *o;

        ck_assert(!snapshot_expired(1000, 5000, 0)); /* 0: kept */
        ck_assert(!snapshot_expired(1000, 5999, 5));
        ck_assert(snapshot_expired(1000, 6000, 5));
        ck_assert(snapshot_expired(0, 7 * 86400 * 1000LL, 7 * 86400));
        m = snapshot_manifest(&spec, NULL);
        o = json_loads(m, 0, NULL);
        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_string_value(json_object_get(o, "image")), "airlock/python:3.11");
        ck_assert_str_eq(json_string_value(json_object_get(o, "tier")), "container");
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_object_get(o, "limits"), "memory_mb")), 512);
        ck_assert_int_eq(json_array_size(json_object_get(o, "areas")), SNAPSHOT_AREAS);
        ck_assert(json_is_false(json_object_get(o, "memory")));
        json_decref(o);
        free(m);
}
END_TEST

START_TEST(store_rows)
{
        char path[128];
        struct store *s = NULL;
        struct al_error err = {0};
        struct store_snapshot sn = {.scope_key = "session/a/s/img",
                                    .id = "0123456789abcdef",
                                    .scope = "session",
                                    .agent = "a",
                                    .session = "s",
                                    .image = "img",
                                    .state = "suspending",
                                    .file = "0123456789abcdef.tar"};
        int64_t count = -1, bytes = -1;
        json_t *row = NULL, *rows = NULL;

        snprintf(path, sizeof(path), "%s/db/airlock.db", dir);
        ck_assert_int_eq(store_open(path, &s, &err), 0);
        ck_assert_int_eq(store_snapshot_put(s, &sn, &err), 0);
        ck_assert_int_eq(store_snapshot_get(s, sn.scope_key, &row, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(row, "state")), "suspending");
        ck_assert_str_eq(json_string_value(json_object_get(row, "tier")), "container");
        json_decref(row);
        /* Completed: the same key's row replaced, counted in the totals. */
        sn.state = "complete";
        sn.bytes = 4096;
        sn.sha256 = "ab";
        ck_assert_int_eq(store_snapshot_put(s, &sn, &err), 0);
        sn.scope_key = "agent/b/img";
        sn.agent = "b";
        sn.bytes = 100;
        ck_assert_int_eq(store_snapshot_put(s, &sn, &err), 0);
        ck_assert_int_eq(store_snapshots_total(s, NULL, &count, &bytes, &err), 0);
        ck_assert_int_eq(count, 2);
        ck_assert_int_eq(bytes, 4196);
        ck_assert_int_eq(store_snapshots_total(s, "a", &count, &bytes, &err), 0);
        ck_assert_int_eq(count, 1);
        ck_assert_int_eq(bytes, 4096);
        ck_assert_int_eq(store_snapshots_list(s, "b", &rows, &err), 0);
        ck_assert_int_eq(json_array_size(rows), 1);
        json_decref(rows);
        /* A state outside the two is refused. */
        sn.state = "half";
        ck_assert_int_eq(store_snapshot_put(s, &sn, &err), -EINVAL);
        ck_assert_int_eq(store_snapshot_delete(s, "session/a/s/img", &err), 0);
        ck_assert_int_eq(store_snapshot_delete(s, "session/a/s/img", &err), -ENOENT);
        ck_assert_int_eq(store_snapshot_get(s, "session/a/s/img", &row, &err), -ENOENT);
        store_close(s);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("snapshot");
        TCase *tc = tcase_create("pure");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, file_names);
        tcase_add_test(tc, write_read_round_trip_and_corruption);
        tcase_add_test(tc, cap_leaves_nothing);
        tcase_add_test(tc, links_inside_their_area);
        tcase_add_test(tc, bad_members_are_refused);
        tcase_add_test(tc, retention_and_manifest);
        tcase_add_test(tc, store_rows);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
