/* The files API's pure logic: client paths, tar members, the record stream between the daemon
 * and the sandbox's files helper, the helper's errors and its artifacts document (untrusted),
 * and the caps on artifacts. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "airlock/file_records.h"
#include "airlock/base64.h"
#include "airlock/files.h"
#include "airlock/sha256.h"

static int parse(const char *path, enum policy_workspace ws, bool write, struct files_path *p)
{
        struct al_error err = {0};

        return files_path_parse(path, strlen(path), ws, write, p, &err);
}

START_TEST(paths_are_split_into_areas)
{
        struct files_path p;

        ck_assert_int_eq(parse("/tmp", WORKSPACE_NONE, false, &p), 0);
        ck_assert_str_eq(p.root, "/tmp");
        ck_assert_str_eq(p.rel, ".");
        ck_assert_int_eq(parse("//home/airlock///a//b/", WORKSPACE_NONE, true, &p), 0);
        ck_assert_str_eq(p.root, "/home/airlock");
        ck_assert_str_eq(p.rel, "a/b");
        ck_assert_str_eq(p.full, "/home/airlock/a/b");
        ck_assert_int_eq(parse("/workspace/x.csv", WORKSPACE_RW, true, &p), 0);
        ck_assert_str_eq(p.root, "/workspace");
        ck_assert_int_eq(parse("/workspace/x.csv", WORKSPACE_RO, false, &p), 0);
        /* Names that only start like an area are not in it. */
        ck_assert_int_eq(parse("/tmpfoo/x", WORKSPACE_NONE, false, &p), -AL_E_FORBIDDEN);
        ck_assert_int_eq(parse("/home/airlockx", WORKSPACE_NONE, false, &p), -AL_E_FORBIDDEN);
        ck_assert_str_eq(p.full, "/home/airlockx");
        /* Dots inside names are names. */
        ck_assert_int_eq(parse("/tmp/..a/.b/...", WORKSPACE_NONE, false, &p), 0);
        ck_assert_str_eq(p.rel, "..a/.b/...");
}
END_TEST

START_TEST(bad_paths_are_refused)
{
        struct files_path p;
        struct al_error err = {0};
        char longname[300], deep[5000];

        ck_assert_int_eq(parse("", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(parse("tmp/x", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(parse("/tmp/../etc/passwd", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(parse("/tmp/a/..", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(parse("/tmp/./a", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(parse("/tmp/a\nb", WORKSPACE_NONE, false, &p), -EINVAL);
        ck_assert_int_eq(files_path_parse("/tmp/a\0b", 8, WORKSPACE_NONE, false, &p, &err),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
        ck_assert_int_eq(parse("/etc/passwd", WORKSPACE_RW, false, &p), -AL_E_FORBIDDEN);
        ck_assert_int_eq(parse("/proc/self/environ", WORKSPACE_RW, false, &p), -AL_E_FORBIDDEN);
        ck_assert_int_eq(parse("/.airlock/run/agent.sock", WORKSPACE_RW, false, &p),
                         -AL_E_FORBIDDEN);
        ck_assert_int_eq(parse("/", WORKSPACE_RW, false, &p), -AL_E_FORBIDDEN);
        /* The workspace as the policy's mode allows. */
        ck_assert_int_eq(parse("/workspace/x", WORKSPACE_NONE, false, &p), -AL_E_FORBIDDEN);
        ck_assert_int_eq(parse("/workspace/x", WORKSPACE_RO, true, &p), -AL_E_FORBIDDEN);
        memset(longname, 'n', sizeof(longname));
        memcpy(longname, "/tmp/", 5);
        longname[5 + 256] = '\0';
        ck_assert_int_eq(parse(longname, WORKSPACE_NONE, false, &p), -EINVAL);
        longname[5 + 255] = '\0';
        ck_assert_int_eq(parse(longname, WORKSPACE_NONE, false, &p), 0);
        for (size_t i = 0; i + 2 < sizeof(deep); i += 2)
                memcpy(deep + i, "/d", 2);
        deep[sizeof(deep) - 1] = '\0';
        memcpy(deep, "/tmp", 4);
        ck_assert_int_eq(parse(deep, WORKSPACE_NONE, false, &p), -EINVAL);
}
END_TEST

START_TEST(tar_members)
{
        char out[FILES_PATH_MAX + 1];
        struct al_error err = {0};

        ck_assert_int_eq(files_tar_member_check("./a/b.txt", S_IFREG, out, &err), 0);
        ck_assert_str_eq(out, "a/b.txt");
        ck_assert_int_eq(files_tar_member_check("dir/", S_IFDIR, out, &err), 0);
        ck_assert_str_eq(out, "dir");
        ck_assert_int_eq(files_tar_member_check("../x", S_IFREG, out, &err), -EINVAL);
        ck_assert_int_eq(files_tar_member_check("a/../../x", S_IFREG, out, &err), -EINVAL);
        ck_assert_int_eq(files_tar_member_check("/etc/passwd", S_IFREG, out, &err), -EINVAL);
        ck_assert_int_eq(files_tar_member_check("./", S_IFDIR, out, &err), -EINVAL);
        ck_assert_int_eq(files_tar_member_check("l", S_IFLNK, out, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
        ck_assert_int_eq(files_tar_member_check("d", S_IFCHR, out, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "device"));
        ck_assert_int_eq(files_tar_member_check("f", S_IFIFO, out, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "FIFO"));
}
END_TEST

static size_t put_rec(uint8_t *buf, char kind, const char *path, const char *data)
{
        struct file_record r = {.kind = kind, .mode = 0644, .mtime = 7};
        size_t n;

        snprintf(r.path, sizeof(r.path), "%s", path);
        r.size = data ? strlen(data) : 0;
        n = file_record_header(&r, buf);
        if (data)
                memcpy(buf + n, data, r.size);
        return n + r.size;
}

START_TEST(records_round_trip_and_refuse_bad_ones)
{
        uint8_t buf[4096];
        size_t len = 0, off = 0;
        struct file_record r;

        len += put_rec(buf + len, 'D', "d", NULL);
        len += put_rec(buf + len, 'F', "d/f", "hello");
        len += put_rec(buf + len, 'L', "d/l", "f");
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), 1);
        ck_assert(r.kind == 'D' && strcmp(r.path, "d") == 0);
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), 1);
        ck_assert(r.kind == 'F' && r.size == 5 && memcmp(r.data, "hello", 5) == 0);
        ck_assert_int_eq(r.mtime, 7);
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), 1);
        ck_assert(r.kind == 'L' && r.size == 1);
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), 0);
        /* Cut short, a size past the end, an unsafe path, an unknown kind. */
        off = 0;
        len = put_rec(buf, 'D', "dir", NULL);
        ck_assert_int_eq(file_record_next(buf, len - 1, &off, &r), -EPROTO);
        off = 0;
        len = put_rec(buf, 'F', "../x", "a");
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), -EPROTO);
        off = 0;
        len = put_rec(buf, 'X', "x", NULL);
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), -EPROTO);
        off = 0;
        len = put_rec(buf, 'F', "x", "abc");
        ck_assert_int_eq(file_record_next(buf, len - 1, &off, &r), -EPROTO);
        off = 0;
        len = put_rec(buf, 'L', "x", "");
        ck_assert_int_eq(file_record_next(buf, len, &off, &r), -EPROTO);
}
END_TEST

static size_t make_tar(uint8_t *out, size_t cap, const char *name, int type, const char *data)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;

        archive_write_set_format_pax_restricted(a);
        archive_write_open_memory(a, out, cap, &used);
        archive_entry_set_pathname(e, "ok.txt");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 2);
        archive_write_header(a, e);
        archive_write_data(a, "ok", 2);
        archive_entry_clear(e);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, (unsigned)type);
        archive_entry_set_perm(e, 0600);
        if (type == AE_IFLNK)
                archive_entry_set_symlink(e, "/etc/passwd");
        archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
        archive_write_header(a, e);
        if (data)
                archive_write_data(a, data, strlen(data));
        archive_write_close(a);
        archive_write_free(a);
        archive_entry_free(e);
        return used;
}

START_TEST(tar_to_records_and_back)
{
        static uint8_t tar[1 << 16];
        struct al_error err = {0};
        struct buf recs, back;
        size_t len = make_tar(tar, sizeof(tar), "sub/two.txt", AE_IFREG, "second");
        struct file_record r;
        size_t off = 0;

        buf_init(&recs, 1 << 20);
        ck_assert_int_eq(files_tar_to_records(tar, len, 10, &recs, &err), 0);
        ck_assert_int_eq(file_record_next((uint8_t *)recs.data, recs.len, &off, &r), 1);
        ck_assert_str_eq(r.path, "ok.txt");
        ck_assert_int_eq(file_record_next((uint8_t *)recs.data, recs.len, &off, &r), 1);
        ck_assert_str_eq(r.path, "sub/two.txt");
        ck_assert_int_eq(r.mode, 0600);
        ck_assert(r.size == 6 && memcmp(r.data, "second", 6) == 0);
        /* And back to a tar a client reads. */
        buf_init(&back, 1 << 20);
        ck_assert_int_eq(files_records_to_tar((uint8_t *)recs.data, recs.len, &back, &err), 0);
        ck_assert_int_gt(back.len, 1024);
        ck_assert_int_eq(back.len % 512, 0);
        /* Under a small cap the tar is refused as too large. */
        buf_free(&back);
        buf_init(&back, 600);
        ck_assert_int_eq(files_records_to_tar((uint8_t *)recs.data, recs.len, &back, &err),
                         -AL_E_TOO_LARGE);
        buf_free(&back);
        /* Too many members. */
        buf_reset(&recs);
        ck_assert_int_eq(files_tar_to_records(tar, len, 1, &recs, &err), -AL_E_TOO_LARGE);
        buf_free(&recs);
}
END_TEST

START_TEST(bad_tars_are_refused_whole)
{
        static uint8_t tar[1 << 16];
        struct al_error err = {0};
        struct buf recs;
        size_t len;

        buf_init(&recs, 1 << 20);
        len = make_tar(tar, sizeof(tar), "../escape", AE_IFREG, "x");
        ck_assert_int_eq(files_tar_to_records(tar, len, 10, &recs, &err), -EINVAL);
        len = make_tar(tar, sizeof(tar), "link", AE_IFLNK, NULL);
        ck_assert_int_eq(files_tar_to_records(tar, len, 10, &recs, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
        len = make_tar(tar, sizeof(tar), "dev", AE_IFCHR, NULL);
        ck_assert_int_eq(files_tar_to_records(tar, len, 10, &recs, &err), -EINVAL);
        ck_assert_int_eq(files_tar_to_records("not a tar at all", 16, 10, &recs, &err), -EINVAL);
        buf_free(&recs);
}
END_TEST

START_TEST(helper_errors_map_to_statuses)
{
        struct al_error err = {0};
        char doc[128];
        static const struct {
                int e, code;
        } map[] = {{ENOENT, -ENOENT},         {EEXIST, -AL_E_CONFLICT}, {ENOTEMPTY, -AL_E_CONFLICT},
                   {ENOSPC, -ENOSPC},         {EDQUOT, -ENOSPC},        {EFBIG, -AL_E_TOO_LARGE},
                   {EACCES, -AL_E_FORBIDDEN}, {EROFS, -AL_E_FORBIDDEN}, {ELOOP, -EINVAL},
                   {EBADFD, -EINVAL}};

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
                snprintf(doc, sizeof(doc), "{\"errno\":%d,\"message\":\"m%zu\"}\n", map[i].e, i);
                ck_assert_int_eq(files_helper_error(doc, strlen(doc), &err), map[i].code);
                ck_assert_int_eq(err.code, map[i].code);
        }
        ck_assert_int_eq(files_helper_error("garbage", 7, &err), -EIO);
        ck_assert_int_eq(files_helper_error(NULL, 0, &err), -EIO);
}
END_TEST

static const char *artifact(char *buf, size_t size, const char *path, const char *data_b64,
                            long long sz)
{
        snprintf(buf, size,
                 "{\"name\":\"a.png\",\"path\":\"%s\",\"size\":%lld,\"mime\":\"image/png\","
                 "\"sha256\":\"%064d\"%s%s%s}",
                 path, sz, 0, data_b64 ? ",\"data\":\"" : "", data_b64 ? data_b64 : "",
                 data_b64 ? "\"" : "");
        return buf;
}

START_TEST(artifacts_are_checked_and_capped)
{
        struct al_error err = {0};
        char a[1024], doc[4096], hex[SHA256_HEX_LEN];
        size_t dropped = 0;
        json_t *list;

        /* Inline: the digest is the daemon's own, of the decoded bytes. */
        snprintf(doc, sizeof(doc), "{\"artifacts\":[%s],\"found\":3}",
                 artifact(a, sizeof(a), "/tmp/outputs/x/a.png", "aGVsbG8=", 5));
        list = files_artifacts_check(doc, strlen(doc), "/tmp/outputs/x", 8, &dropped, &err);
        ck_assert_ptr_nonnull(list);
        ck_assert_int_eq(json_array_size(list), 1);
        ck_assert_int_eq(dropped, 2);
        sha256_hex("hello", 5, hex);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "sha256")),
                         hex);
        json_decref(list);
        /* At most max entries. */
        snprintf(doc, sizeof(doc), "{\"artifacts\":[%s,%s],\"found\":2}",
                 artifact(a, sizeof(a), "/tmp/outputs/x/a.png", NULL, 5),
                 artifact(a + 512, sizeof(a) - 512, "/tmp/outputs/x/a.png", NULL, 5));
        list = files_artifacts_check(doc, strlen(doc), "/tmp/outputs/x", 1, &dropped, &err);
        ck_assert_int_eq(json_array_size(list), 1);
        ck_assert_int_eq(dropped, 1);
        ck_assert(json_is_false(json_object_get(json_array_get(list, 0), "inline")));
        json_decref(list);
        /* A path outside the exec's outputs, data that is not its size, bad base64. */
        snprintf(doc, sizeof(doc), "{\"artifacts\":[%s],\"found\":1}",
                 artifact(a, sizeof(a), "/tmp/outputs/OTHER/a.png", NULL, 5));
        ck_assert_ptr_null(
            files_artifacts_check(doc, strlen(doc), "/tmp/outputs/x", 8, &dropped, &err));
        snprintf(doc, sizeof(doc), "{\"artifacts\":[%s],\"found\":1}",
                 artifact(a, sizeof(a), "/tmp/outputs/x/a.png", "aGVsbG8=", 6));
        ck_assert_ptr_null(
            files_artifacts_check(doc, strlen(doc), "/tmp/outputs/x", 8, &dropped, &err));
        snprintf(doc, sizeof(doc), "{\"artifacts\":[%s],\"found\":1}",
                 artifact(a, sizeof(a), "/tmp/outputs/x/a.png", "a$$$", 3));
        ck_assert_ptr_null(
            files_artifacts_check(doc, strlen(doc), "/tmp/outputs/x", 8, &dropped, &err));
        ck_assert_ptr_null(files_artifacts_check("[]", 2, "/tmp/outputs/x", 8, &dropped, &err));
}
END_TEST

START_TEST(base64_round_trips_and_refuses_bad_input)
{
        static const char *const bad[] = {"a", "ab=c", "a$$$", "====", "ab==cd==", "abc"};
        uint8_t all[256], *back = NULL;
        char *enc;
        ssize_t n;

        for (size_t i = 0; i < sizeof(all); i++)
                all[i] = (uint8_t)i;
        for (size_t len = 0; len <= sizeof(all); len += len < 8 ? 1 : 61) {
                enc = base64_encode(all, len);
                ck_assert_ptr_nonnull(enc);
                ck_assert_uint_eq(strlen(enc), (len + 2) / 3 * 4);
                n = base64_decode(enc, strlen(enc), &back);
                ck_assert_int_eq(n, (ssize_t)len);
                ck_assert(memcmp(back, all, len) == 0);
                free(back);
                free(enc);
        }
        enc = base64_encode((const uint8_t *)"airlock", 7);
        ck_assert_str_eq(enc, "YWlybG9jaw==");
        free(enc);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(base64_decode(bad[i], strlen(bad[i]), &back) < 0, "'%s'", bad[i]);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("files");
        TCase *tc = tcase_create("pure");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, paths_are_split_into_areas);
        tcase_add_test(tc, bad_paths_are_refused);
        tcase_add_test(tc, tar_members);
        tcase_add_test(tc, records_round_trip_and_refuse_bad_ones);
        tcase_add_test(tc, tar_to_records_and_back);
        tcase_add_test(tc, bad_tars_are_refused_whole);
        tcase_add_test(tc, helper_errors_map_to_statuses);
        tcase_add_test(tc, artifacts_are_checked_and_capped);
        tcase_add_test(tc, base64_round_trips_and_refuses_bad_input);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
