#include "backend/host/host_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

#define CG_ROOT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *file, const char *value)
{
        char path[PATH_MAX];
        size_t n = strlen(value);
        ssize_t w;
        int fd, r = 0;

        if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        w = write(fd, value, n);
        if (w < 0)
                r = -errno;
        else if ((size_t)w != n)
                r = -EIO;
        close(fd);
        return r;
}

/* Read a small control file into buf (NUL-terminated, capped at size - 1). */
static int read_file(const char *path, char *buf, size_t size)
{
        size_t len = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        close(fd);
        return (int)len;
}

static bool fs_is(const char *path, long magic)
{
        struct statfs sf;

        return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static bool file_exists(const char *dir, const char *file)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        return access(path, F_OK) == 0;
}

static int mkdir_ok(const char *path)
{
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Parent directory under one v1 hierarchy, kept only if the file proving the controller is
 * there; dir is left empty otherwise. */
static void detect_v1(const char *ctrl, const char *parent, const char *probe, char *dir,
                      size_t size)
{
        char base[64];

        dir[0] = '\0';
        snprintf(base, sizeof(base), CG_ROOT "/%s", ctrl);
        if (!fs_is(base, CGROUP_SUPER_MAGIC))
                return;
        if (snprintf(dir, size, "%s/%s", base, parent) >= (int)size || mkdir_ok(dir) < 0 ||
            !file_exists(dir, probe))
                dir[0] = '\0';
}

static bool word_in(const char *list, const char *word)
{
        size_t wl = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p += wl)
                if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || !p[wl]))
                        return true;
        return false;
}

static int detect_v2(const char *parent, struct host_cg_sys *s, struct al_error *err)
{
        static const char *const ctrls[] = {"memory", "pids", "cpu"};
        char avail[512], enabled[512];
        int r;

        snprintf(s->v2_dir, sizeof(s->v2_dir), CG_ROOT "/%s", parent);
        if (read_file(CG_ROOT "/cgroup.controllers", avail, sizeof(avail)) < 0)
                avail[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
                char op[32];

                if (!word_in(avail, ctrls[i]))
                        continue;
                snprintf(op, sizeof(op), "+%s", ctrls[i]);
                (void)write_file(CG_ROOT, "cgroup.subtree_control", op);
        }
        r = mkdir_ok(s->v2_dir);
        if (r < 0) {
                /* Not ours to manage (a read-only or delegated hierarchy): no cgroup. */
                s->v2_dir[0] = '\0';
                s->mode = HOST_CG_NONE;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
                char op[32];

                if (!word_in(avail, ctrls[i]))
                        continue;
                snprintf(op, sizeof(op), "+%s", ctrls[i]);
                (void)write_file(s->v2_dir, "cgroup.subtree_control", op);
        }
        {
                char path[PATH_MAX];

                snprintf(path, sizeof(path), "%s/cgroup.subtree_control", s->v2_dir);
                if (read_file(path, enabled, sizeof(enabled)) < 0)
                        enabled[0] = '\0';
        }
        s->memory = word_in(enabled, "memory");
        s->pids = word_in(enabled, "pids");
        s->cpu = word_in(enabled, "cpu");
        s->kill = file_exists(s->v2_dir, "cgroup.kill");
        s->mode = HOST_CG_V2;
        return 0;
}

int host_cg_detect(const char *parent, struct host_cg_sys *ret, struct al_error *err)
{
        struct host_cg_sys *s = ret;

        memset(s, 0, sizeof(*s));
        if (!util_name_valid(parent, sizeof(s->parent) - 1))
                return al_err(err, -EINVAL, "cgroup_parent '%s' is not a plain name", parent);
        snprintf(s->parent, sizeof(s->parent), "%s", parent);
        if (fs_is(CG_ROOT, CGROUP2_SUPER_MAGIC))
                return detect_v2(parent, s, err);
        detect_v1("memory", parent, "memory.limit_in_bytes", s->mem_dir, sizeof(s->mem_dir));
        detect_v1("pids", parent, "pids.max", s->pids_dir, sizeof(s->pids_dir));
        detect_v1("cpu", parent, "cpu.cfs_quota_us", s->cpu_dir, sizeof(s->cpu_dir));
        s->memory = s->mem_dir[0] != '\0';
        s->pids = s->pids_dir[0] != '\0';
        s->cpu = s->cpu_dir[0] != '\0';
        s->memsw = s->memory && file_exists(s->mem_dir, "memory.memsw.limit_in_bytes");
        /* Hybrid layout: the unified hierarchy holds no controllers but kills a tree whole. */
        if (fs_is(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC)) {
                snprintf(s->v2_dir, sizeof(s->v2_dir), CG_ROOT "/unified/%s", parent);
                if (mkdir_ok(s->v2_dir) == 0 && file_exists(s->v2_dir, "cgroup.kill"))
                        s->kill = true;
                else
                        s->v2_dir[0] = '\0';
        }
        s->mode = (s->memory || s->pids) ? HOST_CG_V1 : HOST_CG_NONE;
        return 0;
}

static int add_dir(struct host_cg *cg, const char *parent_dir, const char *name,
                   struct al_error *err)
{
        char *dir = cg->dirs[cg->n];

        if (snprintf(dir, HOST_CG_PATH_MAX, "%s/%s", parent_dir, name) >= HOST_CG_PATH_MAX)
                return al_err(err, -ENAMETOOLONG, "cgroup path too long");
        if (mkdir(dir, 0755) < 0)
                return al_err_errno(err, -errno, "mkdir '%s'", dir);
        return cg->n++;
}

static int set_limit(const char *dir, const char *file, const char *value, struct al_error *err)
{
        int r = write_file(dir, file, value);

        if (r < 0)
                return al_err_errno(err, r, "write '%s' to %s/%s", value, dir, file);
        return 0;
}

int host_cg_set_limits(struct host_cg *cg, const struct limits *lim, int64_t extra_pids,
                       struct al_error *err)
{
        const struct host_cg_sys *sys = cg->sys;
        char mem[32], pids[32], quota[32];
        bool v2 = sys->mode == HOST_CG_V2;
        int r;

        if (lim->memory_mb > 0)
                snprintf(mem, sizeof(mem), "%" PRId64, lim->memory_mb * 1024 * 1024);
        else
                snprintf(mem, sizeof(mem), "%s", v2 ? "max" : "-1");
        if (lim->max_processes > 0)
                snprintf(pids, sizeof(pids), "%" PRId64, lim->max_processes + extra_pids);
        else
                snprintf(pids, sizeof(pids), "max");
        if (lim->cpu_cores > 0)
                snprintf(quota, sizeof(quota), "%" PRId64, (int64_t)(lim->cpu_cores * 100000));
        else
                snprintf(quota, sizeof(quota), "%s", v2 ? "max" : "-1");
        if (cg->mem_idx >= 0) {
                const char *d = cg->dirs[cg->mem_idx];

                if (v2) {
                        r = set_limit(d, "memory.max", mem, err);
                        /* No swap: memory_mb is the whole budget, as in the containers. */
                        (void)write_file(d, "memory.swap.max", "0");
                } else {
                        /* memsw may never be below the limit: lift it, set both. */
                        if (sys->memsw)
                                (void)write_file(d, "memory.memsw.limit_in_bytes", "-1");
                        r = set_limit(d, "memory.limit_in_bytes", mem, err);
                        if (r >= 0 && sys->memsw)
                                r = set_limit(d, "memory.memsw.limit_in_bytes", mem, err);
                }
                if (r < 0)
                        return r;
        }
        if (cg->pids_idx >= 0) {
                r = set_limit(cg->dirs[cg->pids_idx], "pids.max", pids, err);
                if (r < 0)
                        return r;
                cg->has_pids = lim->max_processes > 0;
        }
        if (cg->cpu_idx >= 0) {
                if (v2) {
                        char v[64];

                        snprintf(v, sizeof(v), "%s 100000", quota);
                        r = set_limit(cg->dirs[cg->cpu_idx], "cpu.max", v, err);
                } else {
                        r = set_limit(cg->dirs[cg->cpu_idx], "cpu.cfs_period_us", "100000", err);
                        if (r >= 0)
                                r = set_limit(cg->dirs[cg->cpu_idx], "cpu.cfs_quota_us", quota,
                                              err);
                }
                if (r < 0)
                        return r;
                cg->has_cpu = lim->cpu_cores > 0;
        }
        return 0;
}

static int create_dirs(struct host_cg *cg, const struct host_cg_sys *sys, const char *name,
                       const struct limits *lim, unsigned flags, struct al_error *err)
{
        bool want_cpu = sys->cpu && (lim->cpu_cores > 0 || (flags & HOST_CG_SLOT));
        int i;

        if (sys->mode == HOST_CG_V2) {
                i = add_dir(cg, sys->v2_dir, name, err);
                if (i < 0)
                        return i;
                cg->v2_idx = i;
                cg->mem_idx = sys->memory ? i : -1;
                cg->pids_idx = sys->pids ? i : -1;
                cg->cpu_idx = want_cpu ? i : -1;
                cg->has_memory = sys->memory;
                return 0;
        }
        if (sys->memory) {
                i = add_dir(cg, sys->mem_dir, name, err);
                if (i < 0)
                        return i;
                cg->mem_idx = i;
                cg->has_memory = true;
        }
        if (sys->pids) {
                i = add_dir(cg, sys->pids_dir, name, err);
                if (i < 0)
                        return i;
                cg->pids_idx = i;
        }
        if (want_cpu) {
                i = add_dir(cg, sys->cpu_dir, name, err);
                if (i < 0)
                        return i;
                cg->cpu_idx = i;
        }
        if (sys->kill && !(flags & HOST_CG_SLOT)) {
                i = add_dir(cg, sys->v2_dir, name, err);
                if (i < 0)
                        return i;
                cg->v2_idx = i;
        }
        return 0;
}

int host_cg_create(const struct host_cg_sys *sys, const char *name, const struct limits *lim,
                   int64_t extra_pids, unsigned flags, struct host_cg *ret, struct al_error *err)
{
        struct host_cg *cg = ret;
        int r;

        memset(cg, 0, sizeof(*cg));
        cg->sys = sys;
        cg->mem_idx = cg->pids_idx = cg->v2_idx = cg->cpu_idx = -1;
        for (int i = 0; i < HOST_CG_MAX_DIRS; i++)
                cg->procs_fd[i] = -1;
        if (!util_name_valid(name, HOST_CG_NAME_MAX))
                return al_err(err, -EINVAL, "bad cgroup name");
        r = create_dirs(cg, sys, name, lim, flags, err);
        if (r >= 0)
                r = host_cg_set_limits(cg, lim, extra_pids, err);
        for (int i = 0; r >= 0 && i < cg->n; i++) {
                char path[PATH_MAX];

                snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[i]);
                cg->procs_fd[i] = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (cg->procs_fd[i] < 0)
                        r = al_err_errno(err, -errno, "open '%s'", path);
        }
        if (r < 0) {
                (void)host_cg_destroy(cg, 100, NULL);
                return r;
        }
        return 0;
}

void host_cg_close_fds(struct host_cg *cg)
{
        for (int i = 0; i < HOST_CG_MAX_DIRS; i++) {
                if (cg->procs_fd[i] >= 0)
                        close(cg->procs_fd[i]);
                cg->procs_fd[i] = -1;
        }
}

/* True when /proc/<pid>/cgroup places the process in a cgroup whose path ends in rel. */
static bool pid_in_cgroup(pid_t pid, const char *rel)
{
        char path[64], buf[4096];
        size_t rl = strlen(rel);

        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
        if (read_file(path, buf, sizeof(buf)) <= 0)
                return false;
        for (char *line = buf; line && *line;) {
                char *nl = strchr(line, '\n'), *colon;

                if (nl)
                        *nl = '\0';
                colon = strrchr(line, ':');
                if (colon) {
                        size_t l = strlen(colon + 1);

                        if (l >= rl && strcmp(colon + 1 + l - rl, rel) == 0)
                                return true;
                }
                line = nl ? nl + 1 : NULL;
        }
        return false;
}

/* Without cgroup.kill: pin each listed pid with a pidfd, confirm it is still ours and alive,
 * and signal through the pidfd, so a recycled pid is never hit. Returns how many were seen. */
static int kill_listed(const char *dir)
{
        char path[PATH_MAX], rel[PATH_MAX], buf[16384];
        const char *slash;
        int seen = 0;

        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        if (read_file(path, buf, sizeof(buf)) <= 0)
                return 0;
        /* "/parent/name": the last two components of dir. */
        slash = dir + strlen(dir);
        for (int k = 0; k < 2 && slash > dir; k++)
                do
                        slash--;
                while (slash > dir && *slash != '/');
        snprintf(rel, sizeof(rel), "%s", slash);
        for (char *p = buf; *p;) {
                char *end;
                long pid = strtol(p, &end, 10);
                int pfd;

                if (end == p)
                        break;
                p = end;
                while (*p == '\n')
                        p++;
                if (pid <= 0)
                        continue;
                seen++;
                pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
                if (pfd < 0)
                        continue;
                if (pid_in_cgroup((pid_t)pid, rel)) {
                        struct pollfd pf = {.fd = pfd, .events = POLLIN};

                        /* Not readable: still running, so pid still names the process we
                         * checked. */
                        if (poll(&pf, 1, 0) == 0)
                                (void)syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
                }
                close(pfd);
        }
        return seen;
}

static void kill_dir(const char *dir, bool has_kill)
{
        if (has_kill && write_file(dir, "cgroup.kill", "1") == 0)
                return;
        (void)kill_listed(dir);
}

void host_cg_kill(struct host_cg *cg)
{
        if (cg->v2_idx >= 0 && cg->sys->kill) {
                kill_dir(cg->dirs[cg->v2_idx], true);
                return;
        }
        if (cg->pids_idx >= 0)
                kill_dir(cg->dirs[cg->pids_idx], false);
        else if (cg->mem_idx >= 0)
                kill_dir(cg->dirs[cg->mem_idx], false);
}

uint64_t host_cg_oom_kills(const struct host_cg *cg)
{
        char path[PATH_MAX], buf[2048];
        const char *p;

        if (cg->mem_idx < 0)
                return 0;
        snprintf(path, sizeof(path), "%s/%s", cg->dirs[cg->mem_idx],
                 cg->sys->mode == HOST_CG_V2 ? "memory.events" : "memory.oom_control");
        if (read_file(path, buf, sizeof(buf)) <= 0)
                return 0;
        for (p = buf; (p = strstr(p, "oom_kill ")); p++)
                if (p == buf || p[-1] == '\n')
                        return strtoull(p + 9, NULL, 10);
        return 0;
}

int host_cg_count(const struct host_cg *cg)
{
        char path[PATH_MAX], buf[4096];
        int idx = cg->pids_idx >= 0 ? cg->pids_idx : cg->mem_idx, n = 0, len;

        if (idx < 0)
                return -ENOENT;
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[idx]);
        len = read_file(path, buf, sizeof(buf));
        if (len < 0)
                return len;
        for (int i = 0; i < len; i++)
                if (buf[i] == '\n')
                        n++;
        return n;
}

static void sleep_ms(long ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int host_cg_destroy(struct host_cg *cg, int64_t wait_ms, struct al_error *err)
{
        int64_t deadline = util_now_ms() + wait_ms;
        bool done[HOST_CG_MAX_DIRS] = {0};
        bool killed = false;

        host_cg_close_fds(cg);
        for (;;) {
                int left = 0, last_err = 0;

                for (int i = 0; i < cg->n; i++) {
                        if (done[i])
                                continue;
                        if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT) {
                                done[i] = true;
                                continue;
                        }
                        last_err = errno;
                        left++;
                }
                if (!left)
                        break;
                if (util_now_ms() >= deadline)
                        return al_err(err, -last_err,
                                      "cgroup '%s' still busy after %" PRId64 " ms: %s",
                                      cg->dirs[0], wait_ms, strerror(last_err));
                /* Busy means tasks remain (only after a failed or partial kill): kill, and
                 * give the exits a moment. */
                if (!killed || left) {
                        host_cg_kill(cg);
                        killed = true;
                }
                sleep_ms(1);
        }
        cg->n = 0;
        return 0;
}

static int remove_under(const char *parent_dir, bool has_kill, const char *prefix)
{
        _cleanup_free_ char *names = NULL;
        size_t pl = strlen(prefix), used = 0, cap = 64 * 1024;
        int removed = 0;
        DIR *d;
        struct dirent *de;

        if (!parent_dir[0])
                return 0;
        d = opendir(parent_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        names = malloc(cap);
        if (!names) {
                closedir(d);
                return -ENOMEM;
        }
        /* Collect first: removing while iterating a cgroup directory is not reliable. */
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name) + 1;

                if (de->d_type != DT_DIR || strncmp(de->d_name, prefix, pl) != 0)
                        continue;
                if (used + l > cap)
                        break;
                memcpy(names + used, de->d_name, l);
                used += l;
        }
        closedir(d);
        for (size_t off = 0; off < used; off += strlen(names + off) + 1) {
                char dir[PATH_MAX];
                int64_t deadline = util_now_ms() + 2000;

                snprintf(dir, sizeof(dir), "%s/%s", parent_dir, names + off);
                while (rmdir(dir) < 0 && errno == EBUSY && util_now_ms() < deadline) {
                        kill_dir(dir, has_kill);
                        sleep_ms(2);
                }
                if (access(dir, F_OK) < 0)
                        removed++;
        }
        return removed;
}

int host_cg_remove_prefix(const struct host_cg_sys *sys, const char *prefix, struct al_error *err)
{
        const char *dirs[] = {sys->v2_dir, sys->pids_dir, sys->mem_dir, sys->cpu_dir};
        int total = 0;

        /* The killing hierarchy first, so the others empty by the time they are removed. */
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                int r = remove_under(dirs[i], i == 0 && sys->kill, prefix);

                if (r < 0)
                        return al_err_errno(err, r, "clean cgroups under '%s'", dirs[i]);
                if (i == 0 || sys->mode == HOST_CG_V1)
                        total = r > total ? r : total;
        }
        return total;
}
