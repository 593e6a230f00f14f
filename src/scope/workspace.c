/* Agents' workspaces: symlink-safe preparation, and the size cap (an ext4 image per agent on an
 * auto-clearing loop device, mounted on the workspace directory). Slightly over 800 lines:
 * the loop-device and mount bookkeeping must be read together with the set that owns it. */
#include "airlock/workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

extern char **environ;

#define MIB             (1024LL * 1024)
#define LOOP_TRIES      8
#define TOOL_STDERR_MAX 400

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* <root>/<agent>: made when missing, opened without following a symlink. */
static int open_agent_dir(const char *root, const char *agent, char **ret_root, int *ret_rootfd,
                          int *ret_dirfd, struct al_error *err)
{
        _cleanup_free_ char *real_root = NULL;
        _cleanup_close_ int rootfd = -1;
        int dirfd, r;

        if (!util_name_valid(agent, 64))
                return al_err(err, -EINVAL, "invalid agent name for a workspace");
        r = util_mkdir_p(root, 0755);
        if (r < 0)
                return al_err_errno(err, r, "cannot create workspace root '%s'", root);
        real_root = realpath(root, NULL);
        if (!real_root)
                return al_err_errno(err, -errno, "cannot resolve workspace root '%s'", root);
        rootfd = open(real_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rootfd < 0)
                return al_err_errno(err, -errno, "cannot open workspace root '%s'", real_root);
        if (mkdirat(rootfd, agent, 0700) < 0 && errno != EEXIST)
                return al_err_errno(err, -errno, "cannot create workspace '%s/%s'", real_root,
                                    agent);
        /* O_NOFOLLOW: a symlink planted in place of the directory is refused, never followed. */
        dirfd = openat(rootfd, agent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dirfd < 0)
                return al_err_errno(err, -errno, "workspace '%s/%s' is not a plain directory",
                                    real_root, agent);
        *ret_root = TAKE_PTR(real_root);
        *ret_rootfd = TAKE_FD(rootfd);
        *ret_dirfd = dirfd;
        return 0;
}

static int give_dir(int dirfd, const char *root, const char *agent, uint32_t uid, uint32_t gid,
                    char **ret_path, struct al_error *err)
{
        struct stat st;
        char *path;

        if (fstat(dirfd, &st) < 0)
                return al_err_errno(err, -errno, "cannot stat workspace '%s/%s'", root, agent);
        if ((st.st_uid != uid || st.st_gid != gid) && fchown(dirfd, uid, gid) < 0)
                return al_err_errno(err, -errno, "cannot give workspace '%s/%s' to %u:%u", root,
                                    agent, uid, gid);
        if ((st.st_mode & 07777) != 0700 && fchmod(dirfd, 0700) < 0)
                return al_err_errno(err, -errno, "cannot chmod workspace '%s/%s'", root, agent);
        if (asprintf(&path, "%s/%s", root, agent) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        *ret_path = path;
        return 0;
}

int workspace_prepare(const char *root, const char *agent, uint32_t uid, uint32_t gid,
                      char **ret_path, struct al_error *err)
{
        _cleanup_free_ char *real_root = NULL;
        _cleanup_close_ int rootfd = -1, dirfd = -1;
        int r;

        r = open_agent_dir(root, agent, &real_root, &rootfd, &dirfd, err);
        if (r < 0)
                return r;
        return give_dir(dirfd, real_root, agent, uid, gid, ret_path, err);
}

/* --- pure helpers ------------------------------------------------------------------------- */

int workspace_size_plan(int64_t cur_bytes, int64_t want_mb)
{
        int64_t want = want_mb * MIB;

        if (want > cur_bytes)
                return 1;
        return want < cur_bytes ? -1 : 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int unescape_field(const char *s, size_t n, char *out, size_t out_size)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
                        i += 3;
                }
                if (o + 1 >= out_size)
                        return -ENAMETOOLONG;
                out[o++] = c;
        }
        out[o] = '\0';
        return 0;
}

int workspace_mountinfo_line(const char *line, char *out, size_t out_size, char *dev,
                             size_t dev_size)
{
        /* "36 35 98:0 /root /mnt/point opts ...": id, parent, major:minor, root, mount point. */
        const char *f[5];
        size_t len[5];
        const char *p = line;

        for (int i = 0; i < 5; i++) {
                while (*p == ' ')
                        p++;
                if (!*p || *p == '\n')
                        return -EINVAL;
                f[i] = p;
                while (*p && *p != ' ' && *p != '\n')
                        p++;
                len[i] = (size_t)(p - f[i]);
        }
        if (len[2] + 1 > dev_size || !memchr(f[2], ':', len[2]) || f[4][0] != '/')
                return -EINVAL;
        memcpy(dev, f[2], len[2]);
        dev[len[2]] = '\0';
        return unescape_field(f[4], len[4], out, out_size);
}

/* --- tools and loop devices --------------------------------------------------------------- */

/* Run argv (found on PATH) with stdout discarded; its stderr becomes the error message. */
static int run_tool(char *const argv[], int ok_max, struct al_error *err)
{
        posix_spawn_file_actions_t fa;
        char msg[TOOL_STDERR_MAX + 1];
        size_t got = 0;
        int pipefd[2], status, r;
        pid_t pid;
        ssize_t n;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return al_err_errno(err, -errno, "pipe");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (r != 0) {
                close(pipefd[0]);
                return al_err_errno(err, -r, "cannot run %s (e2fsprogs)", argv[0]);
        }
        while ((n = read(pipefd[0], msg + got, sizeof(msg) - 1 - got)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                got += (size_t)n;
                if (got == sizeof(msg) - 1) {
                        char sink[256];

                        while (read(pipefd[0], sink, sizeof(sink)) > 0)
                                ;
                        break;
                }
        }
        close(pipefd[0]);
        msg[got] = '\0';
        while (got > 0 && (msg[got - 1] == '\n' || msg[got - 1] == ' '))
                msg[--got] = '\0';
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return al_err_errno(err, -errno, "waitpid %s", argv[0]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) > ok_max)
                return al_err(err, -EIO, "%s failed (status %d): %s", argv[0],
                              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                              got ? msg : "no message");
        return 0;
}

static int read_line(const char *path, char *out, size_t size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, out, size - 1);
        if (n < 0)
                return -errno;
        out[n] = '\0';
        while (n > 0 && out[n - 1] == '\n')
                out[--n] = '\0';
        return 0;
}

/* The loop device (its number) whose backing file is image, or, with image ending in '/',
 * the next one at or after *start whose backing file lies under that directory. */
static int loop_next(const char *image, int start, char *backing, size_t backing_size)
{
        _cleanup_(closedirp) DIR *d = opendir("/sys/block");
        size_t plen = strlen(image);
        bool prefix = plen > 0 && image[plen - 1] == '/';
        int best = -1;
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char path[PATH_MAX], file[PATH_MAX];
                int n;

                if (sscanf(de->d_name, "loop%d", &n) != 1 || n < start || (best >= 0 && n > best))
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
                if (read_line(path, file, sizeof(file)) < 0)
                        continue;
                if (prefix ? strncmp(file, image, plen) == 0 : strcmp(file, image) == 0) {
                        best = n;
                        snprintf(backing, backing_size, "%s", file);
                }
        }
        return best >= 0 ? best : -ENOENT;
}

/* A new loop device on image that detaches itself when its last user (the mount) goes. */
static int loop_attach(const char *image, int *ret_n, int *ret_fd, struct al_error *err)
{
        _cleanup_close_ int ctl = -1, img = -1;

        img = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (img < 0)
                return al_err_errno(err, -errno, "cannot open workspace image '%s'", image);
        ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return al_err_errno(err, -errno,
                                    "cannot open /dev/loop-control (a capped workspace needs loop "
                                    "devices; workspace_mb = 0 turns the cap off)");
        for (int i = 0; i < LOOP_TRIES; i++) {
                struct loop_config cfg = {.fd = (uint32_t)img};
                char dev[32];
                int n, fd;

                n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return al_err_errno(err, -errno, "no free loop device");
                snprintf(dev, sizeof(dev), "/dev/loop%d", n);
                fd = open(dev, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return al_err_errno(err, -errno, "cannot open %s", dev);
                cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
                snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
                if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
                        *ret_n = n;
                        *ret_fd = fd;
                        return 0;
                }
                {
                        int e = errno;

                        close(fd);
                        if (e != EBUSY) /* EBUSY: another process took it first */
                                return al_err_errno(err, -e, "cannot attach '%s' to %s", image,
                                                    dev);
                }
        }
        return al_err(err, -EBUSY, "no loop device could be had for '%s'", image);
}

/* Unmount, in this mount namespace, everything mounted from loop device n; then detach it (or,
 * while a kept sandbox still holds it, let it detach with its last user). Returns the number of
 * mounts that could only be detached lazily. */
static int loop_release(int n)
{
        _cleanup_fclose_ FILE *f = NULL;
        char want[32], line[PATH_MAX * 2 + 512], mnt[PATH_MAX], dev[32];
        char *paths[64];
        int np = 0, lazy = 0;

        snprintf(want, sizeof(want), "7:%d", n);
        f = fopen("/proc/self/mountinfo", "re");
        while (f && fgets(line, sizeof(line), f))
                if (workspace_mountinfo_line(line, mnt, sizeof(mnt), dev, sizeof(dev)) == 0 &&
                    strcmp(dev, want) == 0 && np < (int)ARRAY_SIZE(paths))
                        paths[np++] = strdup(mnt);
        /* Innermost (listed last) first. */
        for (int i = np - 1; i >= 0; i--) {
                if (paths[i] && umount2(paths[i], UMOUNT_NOFOLLOW) < 0 && errno == EBUSY &&
                    umount2(paths[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                        lazy++;
                free(paths[i]);
        }
        {
                char path[32];
                _cleanup_close_ int fd = -1;

                snprintf(path, sizeof(path), "/dev/loop%d", n);
                fd = open(path, O_RDWR | O_CLOEXEC);
                if (fd >= 0)
                        (void)ioctl(fd, LOOP_CLR_FD, 0);
        }
        /* The kernel detaches an auto-clearing device from a work queue once its last user is
         * gone: wait (up to 1 s) so that what this returns to is really released. */
        if (lazy == 0) {
                char path[64], file[PATH_MAX];
                struct timespec pause = {0, 5 * 1000 * 1000};

                snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", n);
                for (int i = 0; i < 200 && read_line(path, file, sizeof(file)) == 0; i++)
                        nanosleep(&pause, NULL);
        }
        return lazy;
}

/* Every loop device backed by an image in dir (with a trailing '/'). */
static int release_all(const char *dir_slash)
{
        char backing[PATH_MAX];
        int lazy = 0;

        for (int n = loop_next(dir_slash, 0, backing, sizeof(backing)); n >= 0;
             n = loop_next(dir_slash, n + 1, backing, sizeof(backing)))
                lazy += loop_release(n);
        return lazy;
}

/* --- the set ------------------------------------------------------------------------------ */

struct ws_mount {
        char agent[65];
        char *path;         /* the mount point */
        char *image;        /* its image */
        int64_t noticed_mb; /* the size last reported as not applied (once) */
        struct ws_mount *next;
};

struct workspace_set {
        pthread_mutex_t lock;
        char *dir; /* resolved, with a trailing '/' */
        struct ws_mount *mounts;
};

struct workspace_set *workspace_set_new(const char *images_dir, struct al_error *err)
{
        struct workspace_set *s;
        char *real;
        int r;

        r = util_mkdir_p(images_dir, 0700);
        if (r < 0) {
                al_err_errno(err, r, "cannot create '%s'", images_dir);
                return NULL;
        }
        real = realpath(images_dir, NULL);
        if (!real) {
                al_err_errno(err, -errno, "cannot resolve '%s'", images_dir);
                return NULL;
        }
        s = calloc(1, sizeof(*s));
        if (!s || asprintf(&s->dir, "%s/", real) < 0) {
                free(real);
                free(s);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        free(real);
        (void)chmod(images_dir, 0700);
        pthread_mutex_init(&s->lock, NULL);
        /* What a crashed run left: its mounts here, and loop devices nothing uses. */
        release_all(s->dir);
        return s;
}

static struct ws_mount *find_mount(struct workspace_set *s, const char *path)
{
        for (struct ws_mount *m = s->mounts; m; m = m->next)
                if (strcmp(m->path, path) == 0)
                        return m;
        return NULL;
}

/* The loop device mounted on dirfd (when its device is one backed by image), else -ENOENT. */
static int mounted_loop(int dirfd, const char *image)
{
        char path[64], backing[PATH_MAX];
        struct stat st;

        if (fstat(dirfd, &st) < 0)
                return -errno;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", major(st.st_dev),
                 minor(st.st_dev));
        if (major(st.st_dev) != 7 || read_line(path, backing, sizeof(backing)) < 0 ||
            strcmp(backing, image) != 0)
                return -ENOENT;
        return (int)minor(st.st_dev);
}

/* Grow the image of a mounted workspace (loop device n) from cur to want_mb. Online growth
 * needs CAP_SYS_RESOURCE: without it the image keeps its size and -EPERM says so; it then grows
 * when next mounted (grow_offline). */
static int grow_online(const char *image, int n, off_t cur, int64_t want_mb, struct al_error *err)
{
        _cleanup_close_ int img = -1, fd = -1;
        char dev[32];
        char *argv[] = {"resize2fs", dev, NULL};
        int r;

        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        img = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (img < 0 || fd < 0)
                return al_err_errno(err, -errno, "cannot open '%s' to grow it", image);
        if (ftruncate(img, (off_t)(want_mb * MIB)) < 0)
                return al_err_errno(err, -errno, "cannot grow '%s'", image);
        if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0) {
                r = al_err_errno(err, -errno, "cannot grow %s", dev);
                goto undo;
        }
        r = run_tool(argv, 0, err);
        if (r == 0)
                return 0;
        r = -EPERM;
undo:
        /* The file system did not grow: the file may shrink back to what it uses. */
        if (ftruncate(img, cur) == 0)
                (void)ioctl(fd, LOOP_SET_CAPACITY, 0);
        return r;
}

/* Grow an image that nothing mounts: check it, then let resize2fs fill the new size. */
static int grow_offline(const char *image, int64_t want_mb, struct al_error *err)
{
        char *fsck[] = {"e2fsck", "-f", "-p", (char *)image, NULL};
        char *resize[] = {"resize2fs", (char *)image, NULL};
        int r;

        if (truncate(image, (off_t)(want_mb * MIB)) < 0)
                return al_err_errno(err, -errno, "cannot grow '%s'", image);
        r = run_tool(fsck, 1, err); /* 1: errors were corrected */
        if (r < 0)
                return r;
        return run_tool(resize, 0, err);
}

static bool dir_empty(int dirfd)
{
        _cleanup_(closedirp) DIR *d = NULL;
        int fd = dup(dirfd);
        struct dirent *de;

        if (fd < 0 || !(d = fdopendir(fd))) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        return false;
        return true;
}

/* A new image of size_mb holding what the directory holds now. */
static int make_image(const char *image, const char *dir, bool populate, int64_t size_mb,
                      uint32_t uid, uint32_t gid, struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        char opts[96];
        char *argv[12];
        int i = 0, r;

        fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return al_err_errno(err, -errno, "cannot create workspace image '%s'", image);
        /* Sparse: the host's disk is taken as the agent writes, never more than the size. */
        if (ftruncate(fd, (off_t)(size_mb * MIB)) < 0) {
                r = al_err_errno(err, -errno, "cannot size workspace image '%s'", image);
                unlink(image);
                return r;
        }
        snprintf(opts, sizeof(opts), "root_owner=%u:%u,nodiscard", uid, gid);
        argv[i++] = "mkfs.ext4";
        argv[i++] = "-q";
        argv[i++] = "-F";
        argv[i++] = "-m"; /* no blocks reserved for root: the whole cap is the agent's */
        argv[i++] = "0";
        argv[i++] = "-E";
        argv[i++] = opts;
        if (populate) {
                argv[i++] = "-d";
                argv[i++] = (char *)dir;
        }
        argv[i++] = (char *)image;
        argv[i] = NULL;
        r = run_tool(argv, 0, err);
        if (r < 0) {
                unlink(image);
                return al_err_wrap(err, r,
                                   populate ? "cannot make the workspace image (does what "
                                              "'%s' holds exceed workspace_mb?)"
                                            : "cannot make the workspace image%s",
                                   populate ? dir : "");
        }
        return 0;
}

int workspace_set_prepare(struct workspace_set *s, const char *root, const char *agent,
                          uint32_t uid, uint32_t gid, int64_t size_mb, char **ret_path,
                          struct al_error *err)
{
        _cleanup_free_ char *real_root = NULL, *path = NULL, *image = NULL;
        _cleanup_close_ int rootfd = -1, dirfd = -1, loopfd = -1;
        char backing[PATH_MAX];
        struct ws_mount *m;
        struct stat st;
        bool fresh = false;
        int r, n, ret = 0;

        if (!s)
                return workspace_prepare(root, agent, uid, gid, ret_path, err);
        /* size_mb 0: no cap, unless the agent has an image already (its data is there). */
        r = open_agent_dir(root, agent, &real_root, &rootfd, &dirfd, err);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%s", real_root, agent) < 0 ||
            asprintf(&image, "%s%s.img", s->dir, agent) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        pthread_mutex_lock(&s->lock);
        n = mounted_loop(dirfd, image);
        if (n < 0) {
                struct stat rst;

                if (fstat(dirfd, &st) < 0 || fstat(rootfd, &rst) < 0) {
                        r = al_err_errno(err, -errno, "cannot stat workspace '%s'", path);
                        goto out;
                }
                if (st.st_dev != rst.st_dev) {
                        r = al_err(err, -EBUSY,
                                   "workspace '%s' is a mount point, but not of its image '%s'",
                                   path, image);
                        goto out;
                }
                if (lstat(image, &st) < 0) {
                        if (errno != ENOENT || size_mb <= 0) {
                                /* No image and no cap: a plain directory. */
                                r = errno == ENOENT ? 1 : al_err_errno(err, -errno, "'%s'", image);
                                goto out;
                        }
                        r = make_image(image, path, !dir_empty(dirfd), size_mb, uid, gid, err);
                        if (r < 0)
                                goto out;
                        fresh = true;
                } else if (!S_ISREG(st.st_mode)) {
                        r = al_err(err, -EINVAL, "workspace image '%s' is not a file", image);
                        goto out;
                } else if (size_mb > 0 && workspace_size_plan(st.st_size, size_mb) > 0 &&
                           loop_next(image, 0, backing, sizeof(backing)) < 0) {
                        r = grow_offline(image, size_mb, err);
                        if (r < 0) {
                                al_err_wrap(err, r, "cannot grow workspace image '%s' to %lld MiB",
                                            image, (long long)size_mb);
                                goto out;
                        }
                }
                /* A kept sandbox may hold the image's loop device still: mount that one, never
                 * a second device on the same file. */
                {
                        char dev[32], target[64];

                        n = loop_next(image, 0, backing, sizeof(backing));
                        if (n >= 0) {
                                snprintf(dev, sizeof(dev), "/dev/loop%d", n);
                                loopfd = open(dev, O_RDWR | O_CLOEXEC);
                                if (loopfd < 0) {
                                        r = al_err_errno(err, -errno, "cannot open %s", dev);
                                        goto out;
                                }
                        } else {
                                r = loop_attach(image, &n, &loopfd, err);
                                if (r < 0)
                                        goto out;
                                snprintf(dev, sizeof(dev), "/dev/loop%d", n);
                        }
                        snprintf(target, sizeof(target), "/proc/self/fd/%d", dirfd);
                        if (mount(dev, target, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
                                r = al_err_errno(err, -errno, "cannot mount '%s' (%s) on '%s'",
                                                 image, dev, path);
                                goto out; /* closing loopfd detaches the device */
                        }
                }
                close(dirfd);
                dirfd = openat(rootfd, agent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dirfd < 0) {
                        r = al_err_errno(err, -errno, "cannot open workspace '%s'", path);
                        (void)umount2(path, UMOUNT_NOFOLLOW);
                        goto out;
                }
                if (fresh)
                        (void)unlinkat(dirfd, "lost+found", AT_REMOVEDIR);
        }
        m = find_mount(s, path);
        if (!m) {
                m = calloc(1, sizeof(*m));
                if (!m || !(m->path = strdup(path)) || !(m->image = strdup(image))) {
                        if (m)
                                free(m->path);
                        free(m);
                        r = al_err(err, -ENOMEM, "out of memory");
                        goto out;
                }
                snprintf(m->agent, sizeof(m->agent), "%s", agent);
                m->next = s->mounts;
                s->mounts = m;
        }
        if (stat(image, &st) < 0) {
                r = al_err_errno(err, -errno, "cannot stat '%s'", image);
                goto out;
        }
        if (size_mb > 0) {
                switch (workspace_size_plan(st.st_size, size_mb)) {
                case 1:
                        if (m->noticed_mb == size_mb)
                                break; /* tried and reported: waits for the next mount */
                        r = grow_online(image, n, st.st_size, size_mb, err);
                        if (r == -EPERM && m->noticed_mb != size_mb) {
                                m->noticed_mb = size_mb;
                                al_err(err, -EPERM,
                                       "workspace '%s' stays at %lld MiB while mounted (growing a "
                                       "mounted ext4 needs CAP_SYS_RESOURCE): it grows to "
                                       "workspace_mb = %lld when next mounted, at the next start",
                                       path, (long long)(st.st_size / MIB), (long long)size_mb);
                                ret = 1;
                        } else if (r < 0 && r != -EPERM) {
                                al_err_wrap(err, r, "cannot grow workspace '%s' to %lld MiB", path,
                                            (long long)size_mb);
                                goto out;
                        }
                        break;
                case -1:
                        if (m->noticed_mb != size_mb) {
                                m->noticed_mb = size_mb;
                                al_err(err, -EFBIG,
                                       "workspace '%s' stays at %lld MiB: shrinking it to "
                                       "workspace_mb = %lld is refused, its data is kept",
                                       path, (long long)(st.st_size / MIB), (long long)size_mb);
                                ret = 1;
                        }
                        break;
                default:
                        break;
                }
        }
        r = 0;
out:
        pthread_mutex_unlock(&s->lock);
        if (r == 1) /* no image, no cap */
                return give_dir(dirfd, real_root, agent, uid, gid, ret_path, err);
        if (r < 0)
                return r;
        r = give_dir(dirfd, real_root, agent, uid, gid, ret_path, err);
        return r < 0 ? r : ret;
}

int workspace_set_usage(struct workspace_set *s, struct workspace_usage **ret, size_t *ret_n)
{
        struct workspace_usage *u;
        size_t n = 0, i = 0;

        *ret = NULL;
        *ret_n = 0;
        if (!s)
                return 0;
        pthread_mutex_lock(&s->lock);
        for (struct ws_mount *m = s->mounts; m; m = m->next)
                n++;
        u = calloc(n ? n : 1, sizeof(*u));
        if (!u) {
                pthread_mutex_unlock(&s->lock);
                return -ENOMEM;
        }
        for (struct ws_mount *m = s->mounts; m; m = m->next) {
                struct statvfs vfs;
                struct stat st;

                if (statvfs(m->path, &vfs) < 0 || stat(m->image, &st) < 0)
                        continue;
                snprintf(u[i].agent, sizeof(u[i].agent), "%s", m->agent);
                u[i].limit_bytes = (int64_t)st.st_size;
                u[i].free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
                if (u[i].free_bytes > u[i].limit_bytes)
                        u[i].free_bytes = u[i].limit_bytes;
                u[i].used_bytes = u[i].limit_bytes - u[i].free_bytes;
                i++;
        }
        pthread_mutex_unlock(&s->lock);
        *ret = u;
        *ret_n = i;
        return 0;
}

int workspace_set_free(struct workspace_set *s)
{
        int lazy;

        if (!s)
                return 0;
        pthread_mutex_lock(&s->lock);
        lazy = release_all(s->dir);
        while (s->mounts) {
                struct ws_mount *m = s->mounts;

                s->mounts = m->next;
                free(m->path);
                free(m->image);
                free(m);
        }
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&s->lock);
        free(s->dir);
        free(s);
        return lazy;
}
