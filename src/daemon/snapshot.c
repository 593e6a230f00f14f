/* Snapshot files (airlock/snapshot.h): made from the files helper's records, written
 * atomically with their digest, read back and checked, and turned into records again with
 * every member checked as an upload's are. */
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

#include "airlock/cleanup.h"
#include "airlock/file_records.h"
#include "airlock/files.h"
#include "airlock/snapshot.h"
#include "airlock/util.h"

#define SNAPSHOT_FORMAT 1

const struct snapshot_area snapshot_areas[SNAPSHOT_AREAS] = {
    {FILES_AREA_TMP, "tmp"},
    {FILES_AREA_HOME, "home"},
};

char *snapshot_file_name(const char *id)
{
        size_t n = id ? strlen(id) : 0;
        char *name;

        if (n < 12 || n > 64 || strspn(id, "0123456789abcdef") != n)
                return NULL;
        return asprintf(&name, "%s.tar", id) < 0 ? NULL : name;
}

/* ---- writing ---- */

struct sink {
        int fd;
        int64_t written, max;
        struct sha256_ctx sha;
};

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *data, size_t n)
{
        struct sink *s = ctx;
        const char *p = data;

        if (s->written + (int64_t)n > s->max) {
                archive_set_error(a, EFBIG, "larger than the snapshot cap");
                return -1;
        }
        for (size_t left = n; left > 0;) {
                ssize_t w = write(s->fd, p, left);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        archive_set_error(a, errno ? errno : EIO, "writing the snapshot");
                        return -1;
                }
                p += w;
                left -= (size_t)w;
        }
        sha256_update(&s->sha, data, n);
        s->written += (int64_t)n;
        return (la_ssize_t)n;
}

static int sink_open(struct archive *a, void *ctx)
{
        return ARCHIVE_OK;
}

static void archive_writep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

/* The tar of recs into fd through s; 0 or an error with err filled. */
static int write_tar(struct sink *s, const struct buf *recs, size_t n, struct al_error *err)
{
        __attribute__((cleanup(archive_writep))) struct archive *a = archive_write_new();
        int r;

        if (!a)
                return al_err(err, -ENOMEM, "out of memory");
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_in_last_block(a, 1);
        if (archive_write_open(a, s, sink_open, sink_write, NULL) != ARCHIVE_OK)
                return al_err(err, -ENOMEM, "cannot make a tar: %.200s", archive_error_string(a));
        r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = files_records_write(a, (const uint8_t *)recs[i].data, recs[i].len, NULL);
        if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
                r = -EIO;
        if (r == -EPROTO)
                return al_err(err, r, "the sandbox's files helper sent a malformed record");
        if (r < 0 && archive_errno(a) == EFBIG)
                return al_err(err, -AL_E_TOO_LARGE,
                              "the snapshot is larger than its cap of %lld MiB",
                              (long long)(s->max >> 20));
        if (r < 0)
                return al_err(err, r == -ENOMEM ? r : -EIO, "cannot write the snapshot: %.200s",
                              archive_error_string(a));
        return 0;
}

int snapshot_write(int dirfd, const char *name, const struct buf *recs, size_t n, int64_t max,
                   int64_t *ret_bytes, char ret_sha[SHA256_HEX_LEN], struct al_error *err)
{
        char tmp[300];
        uint8_t digest[SHA256_DIGEST_LEN];
        struct sink s = {.max = max};
        int r;

        if (snprintf(tmp, sizeof(tmp), ".%s.partial", name) >= (int)sizeof(tmp))
                return al_err(err, -ENAMETOOLONG, "snapshot name too long");
        s.fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s.fd < 0)
                return al_err_errno(err, -errno, "cannot create the snapshot file");
        sha256_init(&s.sha);
        r = write_tar(&s, recs, n, err);
        if (r == 0 && fsync(s.fd) < 0)
                r = al_err_errno(err, -errno, "cannot sync the snapshot file");
        close(s.fd);
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = al_err_errno(err, -errno, "cannot put the snapshot file in place");
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        /* The rename is durable once the directory is. */
        if (fsync(dirfd) < 0)
                return al_err_errno(err, -errno, "cannot sync the snapshots directory");
        sha256_final(&s.sha, digest);
        sha256_to_hex(digest, ret_sha);
        *ret_bytes = s.written;
        return 0;
}

/* ---- reading ---- */

int snapshot_read(int dirfd, const char *name, int64_t bytes, const char *sha, struct buf *out,
                  struct al_error *err)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char hex[SHA256_HEX_LEN];
        struct stat st;

        if (fd < 0)
                return al_err_errno(err, -errno, "cannot open snapshot '%s'", name);
        if (fstat(fd, &st) < 0)
                return al_err_errno(err, -errno, "cannot read snapshot '%s'", name);
        if (!S_ISREG(st.st_mode) || st.st_size != bytes)
                return al_err(err, -EBADMSG,
                              "snapshot '%s' is %lld bytes, its record says %lld: it is corrupt",
                              name, (long long)st.st_size, (long long)bytes);
        if ((size_t)bytes > out->max)
                return al_err(err, -AL_E_TOO_LARGE, "snapshot '%s' is larger than its cap", name);
        for (;;) {
                char chunk[65536];
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return al_err_errno(err, -errno, "cannot read snapshot '%s'", name);
                if (n == 0)
                        break;
                if (buf_append(out, chunk, (size_t)n) < 0 || buf_truncated(out))
                        return al_err(err, -EBADMSG, "snapshot '%s' grew while read", name);
        }
        sha256_hex(out->data ? out->data : "", out->len, hex);
        if ((int64_t)out->len != bytes || !sha || strcmp(hex, sha) != 0)
                return al_err(err, -EBADMSG,
                              "snapshot '%s' does not match its SHA-256: it is corrupt", name);
        return 0;
}

/* ---- members ---- */

bool snapshot_link_inside(const char *root, const char *rel, const char *target)
{
        size_t rl = strlen(root), depth = 0;
        const char *p = target;

        if (!*target)
                return false;
        if (target[0] == '/') {
                /* Beneath the area by its names, walked from the area's top. */
                if (strncmp(target, root, rl) != 0 || (target[rl] != '/' && target[rl] != '\0'))
                        return false;
                p = target + rl;
        } else {
                /* From the link's directory: rel without its last name. */
                for (const char *q = rel; (q = strchr(q, '/')); q++)
                        depth++;
        }
        while (*p) {
                size_t n;

                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (depth == 0)
                                return false;
                        depth--;
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        depth++;
                }
                p += n;
        }
        return true;
}

static void archive_readp(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

static int area_of(const char *name, const char **ret_rel)
{
        for (int i = 0; i < SNAPSHOT_AREAS; i++) {
                size_t n = strlen(snapshot_areas[i].top);

                if (strncmp(name, snapshot_areas[i].top, n) != 0)
                        continue;
                if (name[n] == '\0' || (name[n] == '/' && name[n + 1] == '\0')) {
                        *ret_rel = NULL; /* the area itself */
                        return i;
                }
                if (name[n] == '/') {
                        *ret_rel = name + n + 1;
                        return i;
                }
        }
        return -1;
}

static int put_header(struct buf *out, const struct file_record *rec)
{
        uint8_t hdr[FILE_RECORD_HEADER + FILE_RECORD_PATH_MAX];
        size_t n = file_record_header(rec, hdr);

        return buf_append(out, hdr, n) < 0 || buf_truncated(out) ? -ENOMEM : 0;
}

/* One member into its area's records; *skipped counts links left out. */
static int take_member(struct archive *a, struct archive_entry *e, struct buf outs[],
                       size_t *skipped, struct al_error *err)
{
        const char *name = archive_entry_pathname(e), *rel = NULL;
        mode_t type = archive_entry_filetype(e);
        struct file_record rec = {0};
        int area, r;

        if (!name)
                return al_err(err, -EINVAL, "a snapshot member has no name");
        if (archive_entry_hardlink(e))
                return al_err(err, -EINVAL, "snapshot member '%.200s' is a hard link", name);
        area = area_of(name, &rel);
        if (area < 0)
                return al_err(err, -EINVAL, "snapshot member '%.200s' is outside its areas", name);
        if (!rel)
                return S_ISDIR(type) ? 0
                                     : al_err(err, -EINVAL,
                                              "snapshot area '%.200s' is not a "
                                              "directory",
                                              name);
        rec.mode = (uint32_t)(archive_entry_perm(e) & 0777);
        rec.mtime = archive_entry_mtime(e);
        if (S_ISLNK(type)) {
                const char *target = archive_entry_symlink(e);

                if (!file_record_path_ok(rel, strlen(rel)))
                        return al_err(err, -EINVAL, "snapshot member '%.200s': unsafe name", name);
                if (!target || strlen(target) > FILE_RECORD_LINK_MAX ||
                    !snapshot_link_inside(snapshot_areas[area].root, rel, target)) {
                        (*skipped)++;
                        return 0;
                }
                rec.kind = 'L';
                rec.size = strlen(target);
                snprintf(rec.path, sizeof(rec.path), "%s", rel);
                if (put_header(&outs[area], &rec) < 0 ||
                    buf_append(&outs[area], target, (size_t)rec.size) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                return 0;
        }
        r = files_tar_member_check(rel, type, rec.path, err);
        if (r < 0)
                return r;
        rec.kind = S_ISDIR(type) ? 'D' : 'F';
        rec.size =
            S_ISDIR(type) ? 0 : (uint64_t)(archive_entry_size(e) > 0 ? archive_entry_size(e) : 0);
        if (put_header(&outs[area], &rec) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        if (rec.kind == 'F') {
                r = files_tar_read_body(a, rec.size, &outs[area], "snapshot", name, err);
                if (r == -EFBIG)
                        return al_err(err, -ENOMEM, "out of memory");
                return r;
        }
        return 0;
}

int snapshot_tar_to_records(const void *tar, size_t len, size_t max_entries,
                            struct buf outs[SNAPSHOT_AREAS], size_t *ret_skipped,
                            struct al_error *err)
{
        __attribute__((cleanup(archive_readp))) struct archive *a = archive_read_new();
        struct archive_entry *e;
        size_t entries = 0;
        int r;

        *ret_skipped = 0;
        if (!a)
                return al_err(err, -ENOMEM, "out of memory");
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, tar, len) != ARCHIVE_OK)
                return al_err(err, -EINVAL, "the snapshot is not a tar: %.200s",
                              archive_error_string(a));
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                if (++entries > max_entries)
                        return al_err(err, -AL_E_TOO_LARGE,
                                      "the snapshot has more than %zu members", max_entries);
                r = take_member(a, e, outs, ret_skipped, err);
                if (r < 0)
                        return r;
        }
        if (r != ARCHIVE_EOF)
                return al_err(err, -EINVAL, "the snapshot is malformed: %.200s",
                              archive_error_string(a));
        return 0;
}

/* ---- retention and manifest ---- */

bool snapshot_expired(int64_t created_ms, int64_t now_ms, int64_t retention_s)
{
        return retention_s > 0 && now_ms - created_ms >= retention_s * 1000;
}

char *snapshot_manifest(const struct sandbox_spec *spec, const char *tier)
{
        json_t *areas = json_array(), *o;
        char *text;

        for (int i = 0; areas && i < SNAPSHOT_AREAS; i++)
                json_array_append_new(areas, json_string(snapshot_areas[i].root));
        o = json_pack("{s:i, s:s, s:s, s:{s:f, s:I, s:I, s:I, s:I, s:I}, s:o, s:b}", "format",
                      SNAPSHOT_FORMAT, "image", spec->image ? spec->image : "", "tier",
                      tier ? tier : "container", "limits", "cpu_cores", spec->limits.cpu_cores,
                      "memory_mb", (json_int_t)spec->limits.memory_mb, "disk_mb",
                      (json_int_t)spec->limits.disk_mb, "max_processes",
                      (json_int_t)spec->limits.max_processes, "timeout_s",
                      (json_int_t)spec->limits.timeout_s, "output_bytes",
                      (json_int_t)spec->limits.output_bytes, "areas", areas, "memory", 0);
        if (!o)
                return NULL;
        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return text;
}
