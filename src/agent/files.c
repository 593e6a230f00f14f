/* The agent's files helper (docs/agent-protocol.md, "Files"): the daemon runs
 *
 *     /.airlock/agent --files OP ROOT REL [ARGS...]
 *
 * as an exec in the sandbox, so that every file operation of the files API and of artifact
 * collection happens inside the sandbox's own mount namespace, as the sandbox's user, under
 * its limits: whatever links code planted, nothing of the host but what the sandbox already
 * sees can be reached. ROOT is one of the sandbox's file areas (a mount point, which code
 * cannot replace), REL a relative path beneath it ("." for ROOT itself); it is walked one
 * component at a time without following symbolic links, so a link anywhere on the way is
 * refused (ELOOP) rather than followed, even one pointing inside the sandbox.
 *
 * Results go to stdout (JSON, raw bytes, or records: airlock/file_records.h); a failure is one
 * JSON object {"errno":N,"message":"..."} on stderr and exit status 1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock/base64.h"
#include "airlock/file_records.h"
#include "airlock/sha256.h"
#include "files.h"

#define DEPTH_MAX 64
#define IO_CHUNK  (64u << 10)
/* Names looked at in an exec's outputs, in all (the count reported stops there). */
#define COLLECT_NAMES_MAX 65536

/* Set while the operation reads stdin: a failure reads the rest first, so that the daemon
 * can finish sending what it sends and then reads the error, not a broken pipe. */
static bool drain_on_fail;

static void drain_stdin(void)
{
        static char buf[IO_CHUNK];
        ssize_t n;

        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                ;
}

static __attribute__((noreturn, format(printf, 2, 3))) void fail(int e, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        json_t *o;
        char *s;

        if (drain_on_fail)
                drain_stdin();

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        o = json_pack("{s:i, s:s}", "errno", e, "message", msg);
        s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
                fprintf(stderr, "%s\n", s);
        exit(1);
}

static void write_all(int fd, const void *p, size_t n)
{
        const char *c = p;

        while (n > 0) {
                ssize_t w = write(fd, c, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        fail(errno ? errno : EIO, "writing: %s", strerror(errno));
                c += w;
                n -= (size_t)w;
        }
}

/* A path beneath ROOT: the directory holding its last component (an fd) and that component
 * (NULL when REL is "."). With make_parents, missing directories on the way are made. */
struct place {
        int dirfd;
        char name[FILE_RECORD_NAME_MAX + 1];
        bool is_root;
};

static int open_root(const char *root)
{
        int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                fail(errno, "'%s' is not available in this sandbox: %s", root, strerror(errno));
        return fd;
}

static void place_resolve(const char *root, const char *rel, bool make_parents, struct place *ret)
{
        char buf[FILE_RECORD_PATH_MAX + 1], *comp, *next;
        int fd = open_root(root);

        *ret = (struct place){.dirfd = fd};
        if (strcmp(rel, ".") == 0) {
                ret->is_root = true;
                return;
        }
        if (!file_record_path_ok(rel, strlen(rel)))
                fail(EINVAL, "not a safe relative path");
        snprintf(buf, sizeof(buf), "%s", rel);
        for (comp = buf; (next = strchr(comp, '/')); comp = next + 1) {
                int nfd;

                *next = '\0';
                nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd < 0 && errno == ENOENT && make_parents) {
                        if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
                                fail(errno, "cannot make directory '%s': %s", comp,
                                     strerror(errno));
                        nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (nfd < 0) {
                        struct stat st;

                        if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                                fail(ELOOP,
                                     "'%s' is a symbolic link: paths are not followed "
                                     "through links",
                                     comp);
                        fail(errno, "'%s': %s", comp, strerror(errno));
                }
                close(fd);
                fd = nfd;
        }
        ret->dirfd = fd;
        /* file_record_path_ok bounded every component to FILE_RECORD_NAME_MAX. */
        memcpy(ret->name, comp, strnlen(comp, FILE_RECORD_NAME_MAX) + 1);
        ret->name[FILE_RECORD_NAME_MAX] = '\0';
}

static const char *type_name(mode_t m)
{
        if (S_ISREG(m))
                return "file";
        if (S_ISDIR(m))
                return "directory";
        if (S_ISLNK(m))
                return "symlink";
        if (S_ISFIFO(m))
                return "fifo";
        if (S_ISSOCK(m))
                return "socket";
        if (S_ISCHR(m) || S_ISBLK(m))
                return "device";
        return "other";
}

static json_t *entry_json(int dirfd, const char *name, const char *shown, const struct stat *st)
{
        json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:I}", "name", shown, "type",
                              type_name(st->st_mode), "size", (json_int_t)st->st_size, "mode",
                              (int)(st->st_mode & 07777), "mtime", (json_int_t)st->st_mtime);

        if (o && S_ISLNK(st->st_mode)) {
                char target[FILE_RECORD_LINK_MAX + 1];
                ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

                if (n >= 0) {
                        target[n] = '\0';
                        json_object_set_new(o, "target", json_stringn(target, (size_t)n));
                }
        }
        return o;
}

static void place_stat(const struct place *p, struct stat *st)
{
        int r =
            p->is_root ? fstat(p->dirfd, st) : fstatat(p->dirfd, p->name, st, AT_SYMLINK_NOFOLLOW);

        if (r < 0)
                fail(errno, "%s", strerror(errno));
}

static void print_json(json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

        if (!s)
                fail(ENOMEM, "out of memory");
        write_all(STDOUT_FILENO, s, strlen(s));
        write_all(STDOUT_FILENO, "\n", 1);
        free(s);
        json_decref(o);
}

/* The place as an open directory (O_RDONLY), never through a link. */
static int place_open_dir(const struct place *p)
{
        int fd = p->is_root
                     ? openat(p->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                     : openat(p->dirfd, p->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                fail(errno == ELOOP ? ELOOP : errno, "not a directory: %s", strerror(errno));
        return fd;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory fd (not . and ..), sorted, at most max (+1 to tell truncation). */
static char **dir_names(int fd, size_t max, size_t *ret_n)
{
        DIR *d = fdopendir(dup(fd));
        char **names = calloc(max + 2, sizeof(*names));
        struct dirent *de;
        size_t n = 0;

        if (!d || !names)
                fail(errno ? errno : ENOMEM, "cannot read the directory");
        while (n <= max && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                names[n] = strdup(de->d_name);
                if (!names[n++])
                        fail(ENOMEM, "out of memory");
        }
        closedir(d);
        qsort(names, n, sizeof(*names), name_cmp);
        *ret_n = n;
        return names;
}

static void op_list(const struct place *p, size_t max)
{
        int fd = place_open_dir(p);
        size_t n;
        char **names = dir_names(fd, max, &n);
        json_t *a = json_array();

        for (size_t i = 0; i < n && i < max; i++) {
                struct stat st;

                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        json_array_append_new(a, entry_json(fd, names[i], names[i], &st));
        }
        print_json(json_pack("{s:o, s:b}", "entries", a, "truncated", n > max));
}

static void op_stat(const struct place *p)
{
        struct stat st;

        place_stat(p, &st);
        print_json(
            entry_json(p->dirfd, p->is_root ? "." : p->name, p->is_root ? "." : p->name, &st));
}

/* A regular file of the place, open for reading; anything else (a FIFO, a device, a link) is
 * refused without blocking on it. */
static int open_regular(int dirfd, const char *name, struct stat *st)
{
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
                close(fd);
                return -EBADFD;
        }
        return fd;
}

static void copy_fd(int in, int out, uint64_t max)
{
        static char buf[IO_CHUNK];
        uint64_t total = 0;

        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));

                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        fail(errno, "reading: %s", strerror(errno));
                if (n == 0)
                        return;
                total += (uint64_t)n;
                if (total > max)
                        fail(EFBIG, "larger than the limit of %llu bytes", (unsigned long long)max);
                write_all(out, buf, (size_t)n);
        }
}

static void op_get(const struct place *p, uint64_t max)
{
        struct stat st;
        int fd;

        if (p->is_root)
                fail(EISDIR, "a directory: download it as a tar");
        fd = open_regular(p->dirfd, p->name, &st);
        if (fd == -ELOOP)
                fail(ELOOP, "a symbolic link: links are not followed");
        if (fd == -EBADFD)
                fail(EBADFD, "not a regular file (%s)", type_name(st.st_mode));
        if (fd < 0)
                fail(-fd, "%s", strerror(-fd));
        if ((uint64_t)st.st_size > max)
                fail(EFBIG, "%lld bytes, over the download limit of %llu", (long long)st.st_size,
                     (unsigned long long)max);
        copy_fd(fd, STDOUT_FILENO, max);
        close(fd);
}

/* Writes size bytes from data (or, with in_fd >= 0, all of in_fd) to name in dirfd through a
 * new file renamed into place: a link or anything else already there is replaced, never
 * written through. */
static void put_file(int dirfd, const char *name, unsigned mode, const void *data, size_t size,
                     int in_fd, uint64_t max)
{
        char tmp[64];
        int fd, e;

        snprintf(tmp, sizeof(tmp), ".airlock-upload.%d", (int)getpid());
        unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                fail(errno, "cannot create '%s': %s", name, strerror(errno));
        if (in_fd >= 0) {
                static char buf[IO_CHUNK];
                uint64_t total = 0;

                for (;;) {
                        ssize_t n = read(in_fd, buf, sizeof(buf));

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        total += (uint64_t)n;
                        if (total > max || write(fd, buf, (size_t)n) != n) {
                                e = total > max ? EFBIG : errno ? errno : ENOSPC;
                                unlinkat(dirfd, tmp, 0);
                                fail(e, "writing '%s': %s", name, strerror(e));
                        }
                }
        } else {
                for (size_t off = 0; off < size;) {
                        ssize_t n = write(fd, (const char *)data + off, size - off);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                e = errno ? errno : ENOSPC;
                                unlinkat(dirfd, tmp, 0);
                                fail(e, "writing '%s': %s", name, strerror(e));
                        }
                        off += (size_t)n;
                }
        }
        if (fchmod(fd, mode & 0777) < 0 || close(fd) < 0) {
                e = errno;
                unlinkat(dirfd, tmp, 0);
                fail(e, "writing '%s': %s", name, strerror(e));
        }
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                e = errno;
                unlinkat(dirfd, tmp, 0);
                fail(e, "cannot put '%s' in place: %s", name, strerror(e));
        }
}

static void op_put(const struct place *p, unsigned mode, uint64_t max)
{
        if (p->is_root)
                fail(EISDIR, "a directory: upload a file to a path beneath it, or a tar");
        put_file(p->dirfd, p->name, mode, NULL, 0, STDIN_FILENO, max);
        print_json(json_pack("{s:b}", "written", 1));
}

static void op_mkdir(const struct place *p)
{
        struct stat st;
        bool made = true;

        if (p->is_root)
                made = false;
        else if (mkdirat(p->dirfd, p->name, 0755) < 0) {
                if (errno != EEXIST)
                        fail(errno, "%s", strerror(errno));
                if (fstatat(p->dirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        fail(EEXIST, "something else than a directory is there");
                made = false;
        }
        print_json(json_pack("{s:b}", "created", made));
}

static void remove_tree(int dirfd, const char *name, int depth)
{
        int fd;
        size_t n;
        char **names;

        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return;
        if (errno != EISDIR && errno != EPERM)
                fail(errno, "cannot remove '%s': %s", name, strerror(errno));
        if (depth > DEPTH_MAX)
                fail(ELOOP, "directories nested too deep");
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                fail(errno, "cannot remove '%s': %s", name, strerror(errno));
        /* In batches: a directory may hold more names than one listing keeps. */
        do {
                names = dir_names(fd, 4096, &n);
                for (size_t i = 0; i < n; i++) {
                        remove_tree(fd, names[i], depth + 1);
                        free(names[i]);
                }
                free(names);
        } while (n > 0);
        close(fd);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                fail(errno, "cannot remove '%s': %s", name, strerror(errno));
}

static void op_rm(const struct place *p, bool recursive)
{
        struct stat st;

        if (p->is_root)
                fail(EBUSY, "a file area itself cannot be removed");
        place_stat(p, &st);
        if (S_ISDIR(st.st_mode) && !recursive) {
                if (unlinkat(p->dirfd, p->name, AT_REMOVEDIR) < 0)
                        fail(errno, "%s", strerror(errno));
        } else {
                remove_tree(p->dirfd, p->name, 0);
        }
        print_json(json_pack("{s:b}", "removed", 1));
}

static void op_mv(const struct place *from, const struct place *to)
{
        if (from->is_root || to->is_root)
                fail(EBUSY, "a file area itself cannot be moved or replaced");
        if (renameat(from->dirfd, from->name, to->dirfd, to->name) < 0)
                fail(errno, "%s", strerror(errno));
        print_json(json_pack("{s:b}", "moved", 1));
}

/* ---- many files: records ---- */

struct packer {
        uint64_t total, max;
        size_t entries, max_entries;
};

static void pack_record(struct packer *pk, char kind, const struct stat *st, const char *path,
                        const void *data, uint64_t size, int fd)
{
        uint8_t hdr[FILE_RECORD_HEADER + FILE_RECORD_PATH_MAX];
        struct file_record rec = {.kind = kind,
                                  .mode = (uint32_t)(st->st_mode & 07777),
                                  .mtime = st->st_mtime,
                                  .size = size};
        size_t n;

        if (++pk->entries > pk->max_entries)
                fail(EFBIG, "more than %zu entries", pk->max_entries);
        pk->total += FILE_RECORD_HEADER + strlen(path) + size;
        if (pk->total > pk->max)
                fail(EFBIG, "larger than the download limit of %llu bytes",
                     (unsigned long long)pk->max);
        snprintf(rec.path, sizeof(rec.path), "%s", path);
        n = file_record_header(&rec, hdr);
        write_all(STDOUT_FILENO, hdr, n);
        if (data)
                write_all(STDOUT_FILENO, data, (size_t)size);
        if (fd >= 0) {
                static char buf[IO_CHUNK];
                uint64_t left = size;

                /* Exactly the size announced, even if the file changes meanwhile. */
                while (left > 0) {
                        ssize_t r = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

                        if (r < 0 && errno == EINTR)
                                continue;
                        if (r <= 0) {
                                memset(buf, 0, sizeof(buf));
                                r = (ssize_t)(left < sizeof(buf) ? left : sizeof(buf));
                        }
                        write_all(STDOUT_FILENO, buf, (size_t)r);
                        left -= (uint64_t)r;
                }
        }
}

static void pack_tree(struct packer *pk, int dirfd, const char *name, const char *path, int depth)
{
        struct stat st;
        char target[FILE_RECORD_LINK_MAX + 1];
        ssize_t tn;
        int fd;

        if (strlen(path) > FILE_RECORD_PATH_MAX ||
            fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (S_ISLNK(st.st_mode)) {
                tn = readlinkat(dirfd, name, target, sizeof(target) - 1);
                if (tn > 0)
                        pack_record(pk, 'L', &st, path, target, (uint64_t)tn, -1);
                return;
        }
        if (S_ISREG(st.st_mode)) {
                fd = open_regular(dirfd, name, &st);
                if (fd >= 0) {
                        pack_record(pk, 'F', &st, path, NULL, (uint64_t)st.st_size, fd);
                        close(fd);
                }
                return;
        }
        /* FIFOs, sockets and devices are not carried. */
        if (!S_ISDIR(st.st_mode) || depth > DEPTH_MAX)
                return;
        pack_record(pk, 'D', &st, path, NULL, 0, -1);
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        {
                size_t n;
                char **names = dir_names(fd, pk->max_entries, &n);

                for (size_t i = 0; i < n; i++) {
                        char sub[FILE_RECORD_PATH_MAX + FILE_RECORD_NAME_MAX + 2];

                        snprintf(sub, sizeof(sub), "%s/%s", path, names[i]);
                        if (strlen(sub) <= FILE_RECORD_PATH_MAX)
                                pack_tree(pk, fd, names[i], sub, depth + 1);
                        free(names[i]);
                }
                free(names);
        }
        close(fd);
}

static void op_pack(const struct place *p, const char *top, uint64_t max, size_t max_entries)
{
        struct packer pk = {.max = max, .max_entries = max_entries};

        pack_tree(&pk, p->dirfd, p->is_root ? "." : p->name, top, 0);
}

/* Reads all of stdin, at most max bytes. */
static uint8_t *read_stdin(uint64_t max, size_t *ret_len)
{
        size_t cap = 1 << 16, len = 0;
        uint8_t *buf = malloc(cap);

        for (;;) {
                ssize_t n;

                if (!buf)
                        fail(ENOMEM, "out of memory");
                if (len == cap) {
                        if (cap > max)
                                fail(EFBIG, "the upload is larger than its limit");
                        cap *= 2;
                        buf = realloc(buf, cap);
                        continue;
                }
                n = read(STDIN_FILENO, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        fail(errno, "reading the upload: %s", strerror(errno));
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        *ret_len = len;
        return buf;
}

/* A link record: the daemon checked that its target stays inside the area (a snapshot being
 * put back); whatever was at its place goes. */
static void unpack_link(const struct place *p, const struct file_record *rec)
{
        char target[FILE_RECORD_LINK_MAX + 1];

        memcpy(target, rec->data, (size_t)rec->size);
        target[rec->size] = '\0';
        if (unlinkat(p->dirfd, p->name, 0) < 0 && errno != ENOENT)
                fail(errno, "'%s': %s", rec->path, strerror(errno));
        if (symlinkat(target, p->dirfd, p->name) < 0)
                fail(errno, "'%s': %s", rec->path, strerror(errno));
}

static void op_unpack(const char *root, const char *rel, uint64_t max, bool links)
{
        size_t len, off = 0;
        uint8_t *buf = read_stdin(max, &len);
        struct file_record rec;
        unsigned files = 0, dirs = 0;
        char full[2 * FILE_RECORD_PATH_MAX + 2];
        int r;

        while ((r = file_record_next(buf, len, &off, &rec)) > 0) {
                struct place p;

                if (strcmp(rel, ".") == 0)
                        snprintf(full, sizeof(full), "%s", rec.path);
                else
                        snprintf(full, sizeof(full), "%s/%s", rel, rec.path);
                if (rec.kind == 'L' && !links)
                        fail(EINVAL, "links are not unpacked");
                place_resolve(root, full, true, &p);
                if (rec.kind == 'L') {
                        unpack_link(&p, &rec);
                } else if (rec.kind == 'D') {
                        struct stat st;

                        if (mkdirat(p.dirfd, p.name, (rec.mode & 0777) | 0700) < 0 &&
                            (errno != EEXIST ||
                             fstatat(p.dirfd, p.name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                             !S_ISDIR(st.st_mode)))
                                fail(errno == EEXIST ? EEXIST : errno, "'%s': %s", rec.path,
                                     errno == EEXIST ? "not a directory" : strerror(errno));
                        dirs++;
                } else {
                        put_file(p.dirfd, p.name, rec.mode ? rec.mode : 0644, rec.data,
                                 (size_t)rec.size, -1, max);
                        files++;
                }
                close(p.dirfd);
        }
        if (r < 0)
                fail(EPROTO, "a malformed record");
        free(buf);
        print_json(json_pack("{s:i, s:i}", "files", files, "directories", dirs));
}

/* ---- artifacts ---- */

static const char *mime_of(const char *name, const uint8_t *head, size_t n)
{
        static const struct {
                const char *ext, *mime;
        } types[] = {
            {".png", "image/png"},       {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},
            {".gif", "image/gif"},       {".svg", "image/svg+xml"},     {".webp", "image/webp"},
            {".pdf", "application/pdf"}, {".json", "application/json"}, {".csv", "text/csv"},
            {".txt", "text/plain"},      {".md", "text/markdown"},      {".html", "text/html"},
            {".htm", "text/html"}};
        size_t len = strlen(name);

        if (n >= 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0)
                return "image/png";
        if (n >= 3 && memcmp(head, "\xff\xd8\xff", 3) == 0)
                return "image/jpeg";
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                size_t el = strlen(types[i].ext);

                if (len > el && strcasecmp(name + len - el, types[i].ext) == 0)
                        return types[i].mime;
        }
        return "application/octet-stream";
}

static char *base64(const uint8_t *p, size_t n)
{
        char *out = base64_encode(p, n);

        if (!out)
                fail(ENOMEM, "out of memory");
        return out;
}

struct collector {
        json_t *list;
        const char *base; /* the outputs directory's absolute path */
        size_t max_count, seen;
        size_t visited; /* names looked at in all, up to COLLECT_NAMES_MAX */
        uint64_t max_inline, max_size;
};

static void collect_file(struct collector *cl, int dirfd, const char *name, const char *rel)
{
        struct stat st;
        struct sha256_ctx h;
        uint8_t digest[SHA256_DIGEST_LEN], head[16], *data = NULL;
        char hex[SHA256_HEX_LEN], path[2 * FILE_RECORD_PATH_MAX + 2];
        size_t head_n = 0;
        uint64_t got = 0;
        json_t *o;
        int fd = open_regular(dirfd, name, &st);

        if (fd < 0)
                return;
        snprintf(path, sizeof(path), "%s/%s", cl->base, rel);
        o = json_pack("{s:s, s:s, s:I}", "name", rel, "path", path, "size", (json_int_t)st.st_size);
        if ((uint64_t)st.st_size > cl->max_size) {
                json_object_set_new(o, "mime", json_string(mime_of(name, head, 0)));
                json_object_set_new(o, "too_large", json_true());
                json_array_append_new(cl->list, o);
                close(fd);
                return;
        }
        if ((uint64_t)st.st_size <= cl->max_inline) {
                data = malloc((size_t)st.st_size + 1);
                if (!data)
                        fail(ENOMEM, "out of memory");
        }
        sha256_init(&h);
        for (;;) {
                static uint8_t buf[IO_CHUNK];
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                /* What was hashed is what is reported: the size read, not the one stat saw. */
                if (got + (uint64_t)n > (uint64_t)st.st_size)
                        n = (ssize_t)((uint64_t)st.st_size - got);
                if (n == 0)
                        break;
                if (head_n < sizeof(head)) {
                        size_t k =
                            sizeof(head) - head_n < (size_t)n ? sizeof(head) - head_n : (size_t)n;

                        memcpy(head + head_n, buf, k);
                        head_n += k;
                }
                sha256_update(&h, buf, (size_t)n);
                if (data)
                        memcpy(data + got, buf, (size_t)n);
                got += (uint64_t)n;
        }
        close(fd);
        sha256_final(&h, digest);
        sha256_to_hex(digest, hex);
        json_object_set_new(o, "size", json_integer((json_int_t)got));
        json_object_set_new(o, "sha256", json_string(hex));
        json_object_set_new(o, "mime", json_string(mime_of(name, head, head_n)));
        if (data) {
                char *b64 = base64(data, (size_t)got);

                json_object_set_new(o, "data", json_string(b64));
                free(b64);
                free(data);
        }
        json_array_append_new(cl->list, o);
}

static void collect_tree(struct collector *cl, int dirfd, const char *rel, int depth)
{
        size_t n;
        /* All the names (to a hard cap), sorted: the first max_count files are collected and
         * the rest counted. */
        char **names = dir_names(dirfd, COLLECT_NAMES_MAX, &n);

        for (size_t i = 0; i < n; i++) {
                char sub[FILE_RECORD_PATH_MAX + 1];
                struct stat st;

                /* A tree made to be slow to walk is walked only so far. */
                if (++cl->visited > COLLECT_NAMES_MAX) {
                        free(names[i]);
                        continue;
                }
                if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]) <
                        (int)sizeof(sub) &&
                    fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (S_ISREG(st.st_mode)) {
                                if (++cl->seen <= cl->max_count)
                                        collect_file(cl, dirfd, names[i], sub);
                        } else if (S_ISDIR(st.st_mode) && depth < 8) {
                                int fd = openat(dirfd, names[i],
                                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                                if (fd >= 0) {
                                        collect_tree(cl, fd, sub, depth + 1);
                                        close(fd);
                                }
                        }
                }
                free(names[i]);
        }
        free(names);
}

static void op_collect(const struct place *p, const char *base, size_t max_count,
                       uint64_t max_inline, uint64_t max_size)
{
        struct collector cl = {.list = json_array(),
                               .base = base,
                               .max_count = max_count,
                               .max_inline = max_inline,
                               .max_size = max_size};
        int fd = p->is_root
                     ? -1
                     : openat(p->dirfd, p->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd >= 0) {
                collect_tree(&cl, fd, "", 0);
                close(fd);
        }
        print_json(json_pack("{s:o, s:I}", "artifacts", cl.list, "found", (json_int_t)cl.seen));
}

static uint64_t num_arg(const char *s)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end)
                fail(EINVAL, "bad number '%.40s'", s);
        return v;
}

int files_main(int argc, char **argv)
{
        struct place p, q;
        const char *op;

        /* argv: agent --files OP ROOT REL [ARGS...] */
        if (argc < 5)
                fail(EINVAL, "usage: airlock-agent --files OP ROOT REL [ARGS...]");
        op = argv[2];
        drain_on_fail = strcmp(op, "put") == 0 || strcmp(op, "unpack") == 0;
        if (strcmp(op, "unpack") == 0) {
                /* "links": a snapshot's links, checked by the daemon, are made too. */
                if (argc != 6 && !(argc == 7 && strcmp(argv[6], "links") == 0))
                        fail(EINVAL, "unpack ROOT REL MAX [links]");
                op_unpack(argv[3], argv[4], num_arg(argv[5]), argc == 7);
                return 0;
        }
        place_resolve(argv[3], argv[4], strcmp(op, "put") == 0 || strcmp(op, "mkdir") == 0, &p);
        if (strcmp(op, "stat") == 0 && argc == 5)
                op_stat(&p);
        else if (strcmp(op, "list") == 0 && argc == 6)
                op_list(&p, (size_t)num_arg(argv[5]));
        else if (strcmp(op, "get") == 0 && argc == 6)
                op_get(&p, num_arg(argv[5]));
        else if (strcmp(op, "put") == 0 && argc == 7)
                op_put(&p, (unsigned)num_arg(argv[5]) & 0777, num_arg(argv[6]));
        else if (strcmp(op, "mkdir") == 0 && argc == 5)
                op_mkdir(&p);
        else if (strcmp(op, "rm") == 0 && argc == 6)
                op_rm(&p, num_arg(argv[5]) != 0);
        else if (strcmp(op, "mv") == 0 && argc == 7) {
                place_resolve(argv[5], argv[6], false, &q);
                op_mv(&p, &q);
        } else if (strcmp(op, "pack") == 0 && argc == 8)
                op_pack(&p, argv[5], num_arg(argv[6]), (size_t)num_arg(argv[7]));
        else if (strcmp(op, "collect") == 0 && argc == 9)
                op_collect(&p, argv[5], (size_t)num_arg(argv[6]), num_arg(argv[7]),
                           num_arg(argv[8]));
        else
                fail(EINVAL, "unknown operation or wrong arguments: '%.40s'", op);
        return 0;
}

char *files_outputs_dir(const char *const *envp)
{
        static const char key[] = FILES_OUTPUTS_ENV "=";

        for (size_t i = 0; envp && envp[i]; i++)
                if (strncmp(envp[i], key, sizeof(key) - 1) == 0)
                        return strdup(envp[i] + sizeof(key) - 1);
        return NULL;
}

bool files_outputs_present(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct dirent *de;
        bool any = false;
        DIR *d;

        if (fd < 0)
                return false;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return false;
        }
        /* At most a few entries are read: "." and ".." and one more. */
        for (int i = 0; i < 3 && (de = readdir(d)); i++)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        any = true;
                        break;
                }
        closedir(d);
        /* An exec that left nothing leaves no directory behind either (rmdir removes only an
         * empty directory, and never follows a link). */
        if (!any)
                rmdir(path);
        return any;
}
