/* Tar in and out of the files API, with libarchive: a client's tar becomes the helper's record
 * stream (every member checked before anything is sent), and the helper's records (untrusted)
 * become a tar for the client. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "airlock/file_records.h"
#include "airlock/files.h"

static void archive_readp(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

static void archive_writep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

int files_tar_read_body(struct archive *a, uint64_t size, struct buf *out, const char *what,
                        const char *name, struct al_error *err)
{
        char chunk[65536];
        uint64_t got = 0;
        la_ssize_t n;

        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
                if (got + (uint64_t)n > size)
                        return al_err(err, -EINVAL,
                                      "%s member '%.200s' is longer than its header says", what,
                                      name);
                got += (uint64_t)n;
                if (buf_append(out, chunk, (size_t)n) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                if (buf_truncated(out))
                        return -EFBIG;
        }
        if (n < 0 || got != size)
                return al_err(err, -EINVAL, "%s member '%.200s' is cut short", what, name);
        return 0;
}

static int put_record(struct buf *out, const struct file_record *rec)
{
        uint8_t hdr[FILE_RECORD_HEADER + FILE_RECORD_PATH_MAX];
        size_t n = file_record_header(rec, hdr);

        if (buf_append(out, hdr, n) < 0)
                return -ENOMEM;
        return buf_truncated(out) ? -AL_E_TOO_LARGE : 0;
}

int files_tar_to_records(const void *tar, size_t len, size_t max_entries, struct buf *out,
                         struct al_error *err)
{
        __attribute__((cleanup(archive_readp))) struct archive *a = archive_read_new();
        struct archive_entry *e;
        size_t entries = 0;
        int r;

        if (!a)
                return al_err(err, -ENOMEM, "out of memory");
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_none(a);
        if (archive_read_open_memory(a, tar, len) != ARCHIVE_OK)
                return al_err(err, -EINVAL, "the body is not a tar archive: %.200s",
                              archive_error_string(a));
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                struct file_record rec = {0};
                const char *name = archive_entry_pathname(e);
                mode_t type = archive_entry_filetype(e);
                int64_t size = archive_entry_size(e);

                if (++entries > max_entries)
                        return al_err(err, -AL_E_TOO_LARGE,
                                      "the tar has more than %zu members ([files] entries_max)",
                                      max_entries);
                if (!name)
                        return al_err(err, -EINVAL, "a tar member has no name");
                /* A hard link is a regular file's type with a link target: refused too. */
                if (archive_entry_hardlink(e))
                        return al_err(err, -EINVAL,
                                      "tar member '%.200s' is a hard link: only regular files "
                                      "and directories are accepted",
                                      name);
                r = files_tar_member_check(name, type, rec.path, err);
                if (r < 0)
                        return r;
                rec.kind = S_ISDIR(type) ? 'D' : 'F';
                rec.mode = (uint32_t)(archive_entry_perm(e) & 0777);
                rec.mtime = archive_entry_mtime(e);
                rec.size = S_ISDIR(type) ? 0 : (uint64_t)(size > 0 ? size : 0);
                r = put_record(out, &rec);
                if (r < 0)
                        return al_err(err, r, "the tar unpacks to more than the upload limit");
                if (rec.kind == 'F') {
                        r = files_tar_read_body(a, rec.size, out, "tar", name, err);
                        if (r == -EFBIG)
                                return al_err(err, -AL_E_TOO_LARGE,
                                              "the tar unpacks to more than the upload limit");
                        if (r < 0)
                                return r;
                }
        }
        if (r != ARCHIVE_EOF)
                return al_err(err, -EINVAL, "the tar archive is malformed: %.200s",
                              archive_error_string(a));
        return 0;
}

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *data, size_t n)
{
        struct buf *out = ctx;

        if (buf_append(out, data, n) < 0 || buf_truncated(out)) {
                archive_set_error(a, EFBIG, "over the download limit");
                return -1;
        }
        return (la_ssize_t)n;
}

static int open_cb(struct archive *a, void *ctx)
{
        return ARCHIVE_OK;
}

int files_records_write(struct archive *a, const uint8_t *recs, size_t len, const char *prefix)
{
        struct archive_entry *e = archive_entry_new();
        struct file_record rec;
        size_t off = 0;
        int r = 0;

        if (!e)
                return -ENOMEM;
        while ((r = file_record_next(recs, len, &off, &rec)) > 0) {
                char name[FILE_RECORD_PATH_MAX + 64];

                archive_entry_clear(e);
                snprintf(name, sizeof(name), "%s%s", prefix ? prefix : "", rec.path);
                archive_entry_set_pathname(e, name);
                archive_entry_set_perm(e, rec.mode & 07777);
                archive_entry_set_mtime(e, rec.mtime, 0);
                if (rec.kind == 'D') {
                        archive_entry_set_filetype(e, AE_IFDIR);
                        archive_entry_set_size(e, 0);
                } else if (rec.kind == 'L') {
                        char target[FILE_RECORD_LINK_MAX + 1];

                        memcpy(target, rec.data, (size_t)rec.size);
                        target[rec.size] = '\0';
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, target);
                        archive_entry_set_size(e, 0);
                } else {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, (la_int64_t)rec.size);
                }
                if (archive_write_header(a, e) != ARCHIVE_OK ||
                    (rec.kind == 'F' && rec.size > 0 &&
                     archive_write_data(a, rec.data, (size_t)rec.size) != (la_ssize_t)rec.size)) {
                        r = -EIO;
                        break;
                }
        }
        archive_entry_free(e);
        return r;
}

int files_records_to_tar(const uint8_t *recs, size_t len, struct buf *out, struct al_error *err)
{
        __attribute__((cleanup(archive_writep))) struct archive *a = archive_write_new();
        int r;

        if (!a)
                return al_err(err, -ENOMEM, "out of memory");
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_in_last_block(a, 1);
        if (archive_write_open(a, out, open_cb, write_cb, NULL) != ARCHIVE_OK)
                return al_err(err, -ENOMEM, "cannot make a tar: %.200s", archive_error_string(a));
        r = files_records_write(a, recs, len, NULL);
        if (r == -EIO && buf_truncated(out))
                r = -AL_E_TOO_LARGE;
        if (r == -EPROTO)
                return al_err(err, -EPROTO, "the sandbox's files helper sent a malformed record");
        if (r == -AL_E_TOO_LARGE)
                return al_err(err, r, "the directory is larger than the download limit");
        if (r < 0)
                return al_err(err, r, "cannot make the tar: %.200s", archive_error_string(a));
        if (archive_write_close(a) != ARCHIVE_OK)
                return al_err(err, buf_truncated(out) ? -AL_E_TOO_LARGE : -EIO,
                              "cannot finish the tar");
        return 0;
}
