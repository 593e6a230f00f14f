#include "exec_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

#define PROCS_MAX (1 << 20) /* cgroup.procs read cap: ~100k pids */

struct exec_cgroup {
        char *dir;
        bool v2;
};

static bool is_v2_dir(const char *dir)
{
        return strncmp(dir, "/sys/fs/cgroup/freezer", 22) != 0;
}

int exec_cgroup_root(long long init_pid, char **ret_dir, struct al_error *err)
{
        char path[64], line[1024];
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *v1 = NULL, *v2 = NULL;
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%lld/cgroup", init_pid);
        f = fopen(path, "re");
        if (!f)
                return al_err_errno(err, -errno, "reading the cgroups of pid %lld", init_pid);
        while (fgets(line, sizeof(line), f)) {
                char *ctrl = strchr(line, ':'), *cg;

                if (!ctrl || !(cg = strchr(ctrl + 1, ':')))
                        continue;
                *cg++ = '\0';
                cg[strcspn(cg, "\n")] = '\0';
                ctrl++;
                if (!v1 && (strcmp(ctrl, "freezer") == 0 || strstr(ctrl, ",freezer") ||
                            strstr(ctrl, "freezer,"))) {
                        if (asprintf(&v1, "/sys/fs/cgroup/freezer%s", cg) < 0)
                                v1 = NULL;
                } else if (!v2 && ctrl[0] == '\0' && line[0] == '0' &&
                           stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
                        /* A unified-only host: the v2 tree is mounted at /sys/fs/cgroup. */
                        if (asprintf(&v2, "/sys/fs/cgroup%s", cg) < 0)
                                v2 = NULL;
                }
        }
        if (v1 && stat(v1, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_dir = TAKE_PTR(v1);
                return 0;
        }
        if (v2 && stat(v2, &st) == 0 && S_ISDIR(st.st_mode)) {
                *ret_dir = TAKE_PTR(v2);
                return 0;
        }
        return al_err(err, -ENOTSUP,
                      "no freezer (cgroup v1) or unified (v2) cgroup found for pid %lld", init_pid);
}

void exec_cgroup_name(char *out)
{
        memcpy(out, EXEC_CGROUP_PREFIX, sizeof(EXEC_CGROUP_PREFIX) - 1);
        util_random_hex(out + sizeof(EXEC_CGROUP_PREFIX) - 1, 12);
}

int exec_cgroup_new(const char *root, const char *name, struct exec_cgroup **ret,
                    struct al_error *err)
{
        struct exec_cgroup *c = calloc(1, sizeof(*c));

        if (!c || asprintf(&c->dir, "%s/%s", root, name) < 0) {
                free(c);
                return al_err(err, -ENOMEM, "out of memory");
        }
        if (mkdir(c->dir, 0755) < 0 && errno != EEXIST) {
                int r = al_err_errno(err, -errno, "making cgroup %s", c->dir);

                free(c->dir);
                free(c);
                return r;
        }
        c->v2 = is_v2_dir(root);
        *ret = c;
        return 0;
}

static int write_file(const char *dir, const char *file, const char *text)
{
        char path[4096];
        _cleanup_close_ int fd = -1;
        size_t len = strlen(text);

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, text, len) != (ssize_t)len)
                return -errno;
        return 0;
}

int exec_cgroup_place(struct exec_cgroup *c, long long pid, struct al_error *err)
{
        char text[32];
        int r;

        snprintf(text, sizeof(text), "%lld", pid);
        r = write_file(c->dir, "cgroup.procs", text);
        if (r < 0)
                return al_err_errno(err, r, "placing pid %lld in %s", pid, c->dir);
        return 0;
}

/* The pids in dir/cgroup.procs into a new array (count in *ret_n). */
static int read_procs(const char *dir, long long **ret, size_t *ret_n)
{
        char path[4096];
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ long long *pids = NULL;
        size_t n = 0, cap = 0;
        char *p, *end;

        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        if (util_read_file(path, PROCS_MAX, &text, NULL, NULL, NULL) < 0)
                return access(dir, F_OK) == 0 ? -EIO : -ENOENT;
        for (p = text; *p; p = end) {
                long long pid = strtoll(p, &end, 10);

                if (end == p)
                        break;
                if (n == cap) {
                        long long *np;

                        cap = cap ? cap * 2 : 16;
                        np = realloc(pids, cap * sizeof(*np));
                        if (!np)
                                return -ENOMEM;
                        pids = np;
                }
                if (pid > 0)
                        pids[n++] = pid;
        }
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

int exec_cgroup_count(struct exec_cgroup *c)
{
        _cleanup_free_ long long *pids = NULL;
        size_t n = 0;
        int r = read_procs(c->dir, &pids, &n);

        return r < 0 ? r : (int)n;
}

static void pause_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
}

/* Freeze (v1 freezer.state, v2 cgroup.freeze) and wait briefly for it to take. */
static void freeze(const char *dir, bool v2, bool on)
{
        char path[4096];

        if (v2) {
                write_file(dir, "cgroup.freeze", on ? "1" : "0");
                return;
        }
        write_file(dir, "freezer.state", on ? "FROZEN" : "THAWED");
        if (!on)
                return;
        snprintf(path, sizeof(path), "%s/freezer.state", dir);
        for (int i = 0; i < 100; i++) {
                _cleanup_free_ char *state = NULL;

                if (util_read_file(path, 64, &state, NULL, NULL, NULL) < 0 ||
                    strncmp(state, "FROZEN", 6) == 0)
                        return;
                pause_ms(1);
        }
}

static int kill_dir(const char *dir, bool v2, int64_t within_ms)
{
        int64_t until = util_now_ms() + within_ms;
        bool have_kill = v2 && write_file(dir, "cgroup.kill", "1") == 0;

        for (int round = 0;; round++) {
                _cleanup_free_ long long *pids = NULL;
                size_t n = 0;
                int r;

                r = read_procs(dir, &pids, &n);
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                if (util_now_ms() >= until)
                        return -ETIMEDOUT;
                if (have_kill) {
                        write_file(dir, "cgroup.kill", "1");
                } else {
                        /* Frozen, nothing can fork between reading the list and the kill. */
                        free(pids);
                        pids = NULL;
                        freeze(dir, v2, true);
                        if (read_procs(dir, &pids, &n) == 0)
                                for (size_t i = 0; i < n; i++)
                                        kill((pid_t)pids[i], SIGKILL);
                        freeze(dir, v2, false);
                }
                pause_ms(round < 5 ? 1 : 10);
        }
}

int exec_cgroup_kill(struct exec_cgroup *c, int64_t within_ms)
{
        return c ? kill_dir(c->dir, c->v2, within_ms) : 0;
}

static void remove_dir(const char *dir)
{
        for (int i = 0; i < 50 && rmdir(dir) < 0 && errno == EBUSY; i++)
                pause_ms(2);
}

void exec_cgroup_free(struct exec_cgroup *c)
{
        if (!c)
                return;
        remove_dir(c->dir);
        free(c->dir);
        free(c);
}

int exec_cgroup_sweep(const char *root, int64_t within_ms)
{
        DIR *d = opendir(root);
        struct dirent *de;
        int n = 0, r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char dir[4096];

                if (strncmp(de->d_name, EXEC_CGROUP_PREFIX, sizeof(EXEC_CGROUP_PREFIX) - 1) != 0)
                        continue;
                snprintf(dir, sizeof(dir), "%s/%s", root, de->d_name);
                if (kill_dir(dir, is_v2_dir(root), within_ms) < 0) {
                        r = -ETIMEDOUT;
                        continue;
                }
                remove_dir(dir);
                n++;
        }
        closedir(d);
        return r < 0 ? r : n;
}
