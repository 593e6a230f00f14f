/* The host backend: validation, the plan for the child (host_launch.c), the cgroups
 * (host_cgroup.c), and the daemon side of an exec: output pumping, stdin, timeout, the
 * client going away, and the result. */
#include "airlock/host_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/capability.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/host/host_internal.h"
#include "backend/host/host_validate.h"

#define HOST_DEFAULT_TIMEOUT 30000
#define HOST_DRAIN_MS        1000  /* output still read after the command ended */
#define HOST_KILL_WAIT_MS    10000 /* a killed tree must be gone by then */
#define HOST_CG_WAIT_MS      5000
#define HOST_CHUNK           32768
#define HOST_SANDBOXES_MAX   4096

/* Options of the tmpfs that hide directories (compared by address in the plan). */
static const char hide_tmpfs[] = "size=64k,nr_inodes=1024,mode=755";

struct host_sandbox {
        struct host_sandbox *next;
        char handle[32];
        struct sandbox_spec spec; /* strings owned */
};

struct host_state {
        struct backend base;
        struct host_pool pool;
        pthread_mutex_t lock;
        struct host_cfg *cfg;
        struct host_sandbox *sandboxes;
        size_t n_sandboxes;
};

/* ---------- options and configuration ---------- */

static void cfg_free(struct host_cfg *c)
{
        if (!c)
                return;
        host_filter_free(&c->filter);
        free(c->user);
        free(c->workspace_root);
        for (size_t i = 0; c->hide[i]; i++)
                free(c->hide[i]);
        /* protected_dirs[0] is the only entry it owns (the others alias). */
        free(c->protected_dirs[0]);
        free(c->default_path);
        free(c);
}

struct host_cfg *host_cfg_ref(struct host_cfg *c)
{
        atomic_fetch_add(&c->refs, 1);
        return c;
}

void host_cfg_unref(struct host_cfg *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                cfg_free(c);
}

static void cfg_unrefp(struct host_cfg **c)
{
        host_cfg_unref(*c);
}

void host_cfg_template(const struct host_cfg *c, struct host_launch *l)
{
        l->uid = c->uid;
        l->gid = c->gid;
        l->no_new_privs = c->nnp;
        l->drop_caps = c->drop_caps;
        l->cap_last = c->cap_last;
        l->filter = c->has_filter ? &c->fprog : NULL;
        l->pidns = c->pidns;
        l->host_net_fd = -1;
}

static int resolve_user(const char *user, uid_t *ret_uid, gid_t *ret_gid, struct al_error *err)
{
        const char *colon;

        if (!user || !user[0])
                return al_err(err, -EINVAL, "host user is empty");
        colon = strchr(user, ':');
        if (colon) {
                char u[32];
                int64_t uid, gid;

                if ((size_t)(colon - user) >= sizeof(u))
                        return al_err(err, -EINVAL, "host user '%s' is not uid:gid", user);
                memcpy(u, user, (size_t)(colon - user));
                u[colon - user] = '\0';
                if (util_parse_int64(u, 0, 0xfffffffe, &uid) < 0 ||
                    util_parse_int64(colon + 1, 0, 0xfffffffe, &gid) < 0)
                        return al_err(err, -EINVAL, "host user '%s' is not uid:gid", user);
                *ret_uid = (uid_t)uid;
                *ret_gid = (gid_t)gid;
        } else {
                struct passwd pw, *res = NULL;
                char buf[4096];
                int r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);

                if (r != 0)
                        return al_err_errno(err, -r, "look up host user '%s'", user);
                if (!res)
                        return al_err(err, -ENOENT, "host user '%s' does not exist", user);
                *ret_uid = pw.pw_uid;
                *ret_gid = pw.pw_gid;
        }
        if (*ret_uid == 0 || *ret_gid == 0)
                return al_err(err, -EINVAL,
                              "host user '%s' is root: the host backend runs code unprivileged",
                              user);
        return 0;
}

/* want a protection the host may lack: *use says whether execs get it. */
static int toggle(enum host_toggle t, bool available, const char *name, bool *use,
                  struct al_error *err)
{
        *use = t != HOST_OFF && available;
        if (t == HOST_REQUIRED && !available)
                return al_err(err, -ENOTSUP,
                              "[host] %s is required, but this host does not "
                              "offer it",
                              name);
        return 0;
}

static char *exe_dir(void)
{
        char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        char *slash;

        if (n <= 0)
                return NULL;
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (!slash)
                return NULL;
        if (slash == path)
                slash++;
        *slash = '\0';
        return strdup(path);
}

static int copy_path(const char *in, const char *what, char **ret, struct al_error *err)
{
        int r = host_path_normalize(in, ret, err);

        if (r < 0)
                return al_err_wrap(err, "%s", what);
        return 0;
}

static int cfg_new(const struct host_options *o, struct host_cfg **ret, struct al_error *err)
{
        struct host_cfg *c;
        size_t np = 0;
        bool cg_avail;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return al_err(err, -ENOMEM, "out of memory");
        atomic_init(&c->refs, 1);
        r = resolve_user(o->user, &c->uid, &c->gid, err);
        if (r < 0)
                goto fail;
        c->user = strdup(o->user);
        c->default_path = strdup(o->default_path ? o->default_path : HOST_DEFAULT_PATH);
        if (!c->user || !c->default_path) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto fail;
        }
        if (o->seccomp_deny && o->seccomp_deny[0]) {
                struct host_deny_list l = {0};

                r = host_deny_load(o->seccomp_deny, &l, err);
                if (r >= 0)
                        r = host_filter_build(&l, &c->filter, err);
                c->n_denied = l.n;
                host_deny_list_free(&l);
                if (r < 0)
                        goto fail;
                c->fprog.len = c->filter.len;
                c->fprog.filter = c->filter.insns;
                c->has_filter = true;
        }
        /* Switching to the exec user, namespaces and cgroups all need root. */
        if (geteuid() != 0) {
                r = al_err(err, -EPERM, "the host backend needs airlockd to run as root");
                goto fail;
        }
        c->nnp = o->no_new_privs;
        c->drop_caps = o->drop_capabilities;
        c->cap_last = (int)cap_max_bits() - 1;
        host_launch_prebind();

        host_launch_probe(&c->probe);
        r = toggle(o->network_namespace, c->probe.netns, "network_namespace", &c->netns, err);
        if (r >= 0)
                r = toggle(o->mount_namespace, c->probe.mountns, "mount_namespace", &c->mountns,
                           err);
        if (r >= 0)
                r = toggle(o->pid_namespace, c->probe.pidns, "pid_namespace", &c->pidns, err);
        if (r >= 0)
                r = toggle(o->ipc_namespace, c->probe.ipcns, "ipc_namespace", &c->ipcns, err);
        if (r < 0)
                goto fail;
        c->ro_root = o->read_only_root && c->mountns && c->probe.ro_root;
        c->private_tmp = o->private_tmp && c->mountns && c->probe.tmpfs;
        c->mount_proc = o->mount_proc && c->mountns && c->pidns && c->probe.proc;
        c->minimal_dev = c->mountns && c->probe.dev;
        c->hide_run = c->mountns && c->probe.tmpfs;

        if (o->cgroup != HOST_OFF) {
                r = host_cg_detect(o->cgroup_parent ? o->cgroup_parent : "airlock", &c->cg, err);
                if (r < 0)
                        goto fail;
        }
        cg_avail = c->cg.mode != HOST_CG_NONE && c->cg.memory && c->cg.pids;
        r = toggle(o->cgroup, cg_avail, "cgroup", &c->cgroup, err);
        if (r < 0)
                goto fail;
        c->cgroup = o->cgroup != HOST_OFF && c->cg.mode != HOST_CG_NONE;

        c->rl_cpu = o->rlimit_cpu_s;
        c->rl_as = o->rlimit_as_mb;
        c->rl_fsize = o->rlimit_fsize_mb;
        c->rl_nofile = o->rlimit_nofile;
        c->rl_nproc = o->rlimit_nproc;
        c->prestart = o->prestart < 0 ? 0 : o->prestart > 64 ? 64 : o->prestart;

        c->protected_dirs[np] = exe_dir();
        if (c->protected_dirs[np])
                np++;
        if (o->workspace_root && o->workspace_root[0]) {
                r = copy_path(o->workspace_root, "workspace_root", &c->workspace_root, err);
                if (r < 0)
                        goto fail;
                c->protected_dirs[np++] = c->workspace_root;
        }
        for (size_t i = 0, k = 0; i < HOST_HIDE_MAX && o->hide_paths[i]; i++) {
                r = copy_path(o->hide_paths[i], "hidden path", &c->hide[k], err);
                if (r < 0)
                        goto fail;
                if (strcmp(c->hide[k], "/") == 0) {
                        r = al_err(err, -EINVAL, "hidden path '/' would hide the whole host");
                        goto fail;
                }
                c->protected_dirs[np++] = c->hide[k++];
        }
        *ret = c;
        return 0;
fail:
        cfg_free(c);
        return r;
}

static struct host_cfg *cfg_get(struct host_state *hs)
{
        struct host_cfg *c;

        pthread_mutex_lock(&hs->lock);
        c = host_cfg_ref(hs->cfg);
        pthread_mutex_unlock(&hs->lock);
        return c;
}

/* ---------- one exec: the plan ---------- */

struct run {
        struct host_cfg *cfg;
        char **env;
        char **candidates;
        char *workdir;
        char *strs[HOST_MOPS_MAX]; /* strings the mount plan points to */
        size_t n_strs;
        struct host_mop mops[HOST_MOPS_MAX];
        size_t n_mops;
        struct host_cg cg;
        bool has_cg;
        const char *iso[24];
        size_t n_iso;
        /* pipes: [0] read, [1] write */
        int in[2], out[2], errp[2], report[2], status[2];
        int pidfd;
        pid_t pid;
        bool reaped;
        struct host_pool *pool; /* with slot: the init is the spawner's child, not ours */
        struct host_slot *slot;
        bool slot_broken;
};

static void run_init(struct run *r)
{
        memset(r, 0, sizeof(*r));
        r->pidfd = -1;
        r->in[0] = r->in[1] = r->out[0] = r->out[1] = -1;
        r->errp[0] = r->errp[1] = r->report[0] = r->report[1] = -1;
        r->status[0] = r->status[1] = -1;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void run_done(struct run *r)
{
        util_strv_free(r->env);
        util_strv_free(r->candidates);
        free(r->workdir);
        for (size_t i = 0; i < r->n_strs; i++)
                free(r->strs[i]);
        for (int i = 0; i < 2; i++) {
                close_fd(&r->in[i]);
                close_fd(&r->out[i]);
                close_fd(&r->errp[i]);
                close_fd(&r->report[i]);
                close_fd(&r->status[i]);
        }
        if (r->pidfd >= 0 && !r->reaped) {
                siginfo_t si;

                /* Only reached on an error path after the launch: make sure nothing lives. */
                (void)syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
                if (r->slot) {
                        struct pollfd pf = {.fd = r->pidfd, .events = POLLIN};

                        (void)poll(&pf, 1, HOST_KILL_WAIT_MS);
                } else {
                        while (waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si, WEXITED | __WALL) <
                                   0 &&
                               errno == EINTR)
                                ;
                }
        }
        close_fd(&r->pidfd);
        if (r->has_cg)
                (void)host_cg_destroy(&r->cg, HOST_CG_WAIT_MS, NULL);
        if (r->slot) {
                if (r->slot_broken)
                        host_pool_drop(r->pool, r->slot);
                else
                        host_pool_put(r->pool, r->slot);
        }
        host_cfg_unref(r->cfg);
}

static void iso_add(struct run *r, const char *name)
{
        if (r->n_iso < ARRAY_SIZE(r->iso))
                r->iso[r->n_iso++] = name;
}

static char *run_str(struct run *r, char *s)
{
        if (!s)
                return NULL;
        if (r->n_strs >= ARRAY_SIZE(r->strs)) {
                free(s);
                return NULL;
        }
        r->strs[r->n_strs++] = s;
        return s;
}

static int mop_add(struct run *r, enum host_mop_kind kind, const char *src, const char *target,
                   const char *data, unsigned long flags, struct al_error *err)
{
        if (r->n_mops >= HOST_MOPS_MAX)
                return al_err(err, -E2BIG, "too many mount operations");
        r->mops[r->n_mops++] = (struct host_mop){
            .kind = kind, .src = src, .target = target, .data = data, .flags = flags};
        return 0;
}

static bool is_dir(const char *p)
{
        struct stat st;

        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir for every component of path below base (path within base), in order. */
static int mkdir_chain(struct run *r, const char *base, const char *path, struct al_error *err)
{
        size_t bl = strcmp(base, "/") == 0 ? 0 : strlen(base);

        for (const char *p = path + bl + 1; p <= path + strlen(path); p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char *d = run_str(r, strndup(path, (size_t)(p - path)));

                if (!d)
                        return al_err(err, -ENOMEM, "out of memory");
                if (mop_add(r, HOST_MOP_MKDIR, NULL, d, NULL, 0, err) < 0)
                        return -E2BIG;
                if (!*p)
                        break;
        }
        return 0;
}

static bool is_real_dir(const char *p)
{
        struct stat st;

        return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether uid:gid may search (traverse) directory path, by its mode bits. */
static bool searchable_by(const char *path, uid_t uid, gid_t gid)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return false;
        if (st.st_uid == uid)
                return st.st_mode & S_IXUSR;
        if (st.st_gid == gid)
                return st.st_mode & S_IXGRP;
        return st.st_mode & S_IXOTH;
}

/* The outermost directory above the workspace that the code's user cannot traverse and that
 * no tmpfs covers already (a default state directory is root's, mode 0700), or NULL. Covering
 * it with an empty tmpfs that holds only the way to the workspace shows the code nothing it
 * could read before. Stored in the run. */
static const char *blocking_ancestor(struct run *r, const char *ws, const char *const *cover,
                                     size_t nc)
{
        const struct host_cfg *c = r->cfg;

        for (const char *p = strchr(ws + 1, '/'); p; p = strchr(p + 1, '/')) {
                char *a = run_str(r, strndup(ws, (size_t)(p - ws)));

                if (!a)
                        return NULL;
                for (size_t i = 0; i < nc; i++)
                        if (host_path_within(a, cover[i]))
                                return NULL;
                if (!searchable_by(a, c->uid, c->gid))
                        return a;
        }
        return NULL;
}

/* The mount namespace: every mount private (nothing propagates back), the host read-only,
 * a minimal /dev, private tmpfs on /tmp, /var/tmp and /dev/shm, the host's /run (engine and
 * daemon sockets), the daemon's directories and other agents' workspaces behind empty tmpfs,
 * the exec's workspace bound RO or RW, a fresh /proc. */
static int plan_mounts(struct run *r, const struct sandbox_spec *spec, bool want_ws,
                       struct al_error *err)
{
        static const char *const tmps[] = {"/tmp", "/var/tmp", "/dev/shm"};
        /* Sockets of the host's services (Docker, Podman, systemd, D-Bus) live under /run;
         * /var/run is mostly a link to it, covered with it. */
        static const char *const runs[] = {"/run", "/var/run"};
        const struct host_cfg *c = r->cfg;
        const char *cover[ARRAY_SIZE(tmps) + ARRAY_SIZE(runs) + HOST_HIDE_MAX + 3];
        bool cover_hide[ARRAY_SIZE(cover)];
        size_t nc = 0;
        char *tmp_data = NULL;
        const char *ws = want_ws ? spec->workspace_dir : NULL;
        bool hidden_ws_root = false;
        int rr;

        if (mop_add(r, HOST_MOP_PRIVATE, NULL, NULL, NULL, 0, err) < 0)
                return -E2BIG;
        /* Opened before anything covers it (it may lie under /tmp or a hidden directory). */
        if (ws && mop_add(r, HOST_MOP_OPEN, NULL, ws, NULL, 0, err) < 0)
                return -E2BIG;
        if (c->ro_root) {
                if (mop_add(r, HOST_MOP_RO_ROOT, NULL, NULL, NULL, 0, err) < 0)
                        return -E2BIG;
                iso_add(r, "readonly_root");
        }
        /* Before the tmpfs below: the minimal /dev brings its own /dev/shm. */
        if (c->private_tmp) {
                if (spec->limits.disk_mb > 0) {
                        if (asprintf(&tmp_data, "size=%" PRId64 "m,mode=1777",
                                     spec->limits.disk_mb) < 0)
                                return al_err(err, -ENOMEM, "out of memory");
                } else {
                        tmp_data = strdup("mode=1777");
                }
                if (!run_str(r, tmp_data))
                        return al_err(err, -ENOMEM, "out of memory");
        }
        if (c->minimal_dev) {
                if (mop_add(r, HOST_MOP_DEV, NULL, "/dev", tmp_data, 0, err) < 0)
                        return -E2BIG;
                iso_add(r, "dev");
        }
        /* The directories to cover with a tmpfs, outermost first; nested ones are covered
         * already. */
        if (c->private_tmp)
                for (size_t i = 0; i < ARRAY_SIZE(tmps); i++) {
                        if (c->minimal_dev && strcmp(tmps[i], "/dev/shm") == 0)
                                continue;
                        cover_hide[nc] = false;
                        cover[nc++] = tmps[i];
                }
        if (c->hide_run)
                for (size_t i = 0; i < ARRAY_SIZE(runs); i++)
                        if (is_real_dir(runs[i])) {
                                cover_hide[nc] = true;
                                cover[nc++] = runs[i];
                        }
        if (c->workspace_root) {
                cover_hide[nc] = true;
                cover[nc++] = c->workspace_root;
        }
        if (spec->workspace == WORKSPACE_NONE && spec->workspace_dir &&
            spec->workspace_dir[0] == '/') {
                cover_hide[nc] = true;
                cover[nc++] = spec->workspace_dir;
        }
        for (size_t i = 0; c->hide[i]; i++) {
                cover_hide[nc] = true;
                cover[nc++] = c->hide[i];
        }
        if (ws) {
                const char *a = blocking_ancestor(r, ws, cover, nc);

                if (a) {
                        cover_hide[nc] = true;
                        cover[nc++] = a;
                }
        }
        for (size_t i = 0; i < nc; i++) {
                bool nested = false;

                for (size_t j = 0; j < nc && !nested; j++)
                        if (j != i && host_path_within(cover[i], cover[j]) &&
                            (strcmp(cover[i], cover[j]) != 0 || j < i))
                                nested = true;
                if (nested || !is_dir(cover[i]))
                        continue;
                if (cover_hide[i])
                        rr = mop_add(r, HOST_MOP_TMPFS, NULL, cover[i], hide_tmpfs,
                                     MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
                else
                        rr = mop_add(r, HOST_MOP_TMPFS, NULL, cover[i], tmp_data,
                                     MS_NOSUID | MS_NODEV, err);
                if (rr < 0)
                        return rr;
                /* The workspace's mount point, inside the tmpfs that now covers it. */
                if (ws && host_path_within(ws, cover[i]) && strcmp(ws, cover[i]) != 0) {
                        rr = mkdir_chain(r, cover[i], ws, err);
                        if (rr < 0)
                                return rr;
                }
                if (spec->workspace == WORKSPACE_NONE && c->workspace_root &&
                    host_path_within(c->workspace_root, cover[i]))
                        hidden_ws_root = true;
                if (spec->workspace == WORKSPACE_NONE && spec->workspace_dir &&
                    host_path_within(spec->workspace_dir, cover[i]))
                        hidden_ws_root = true;
        }
        if (c->private_tmp)
                iso_add(r, "tmpfs");
        if (ws) {
                unsigned long fl = MS_NOSUID | MS_NODEV;

                if (spec->workspace == WORKSPACE_RO)
                        fl |= MS_RDONLY;
                if (mop_add(r, HOST_MOP_BIND, NULL, ws, NULL, 0, err) < 0 ||
                    mop_add(r, HOST_MOP_REMOUNT, NULL, ws, NULL, fl, err) < 0)
                        return -E2BIG;
                if (spec->workspace == WORKSPACE_RO)
                        iso_add(r, "workspace_ro");
        }
        /* The hiding tmpfs become read-only once the workspace mount points exist in them. */
        for (size_t i = 0, n = r->n_mops; i < n; i++)
                if (r->mops[i].kind == HOST_MOP_TMPFS && r->mops[i].data == hide_tmpfs &&
                    mop_add(r, HOST_MOP_REMOUNT, NULL, r->mops[i].target, NULL,
                            MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
                        return -E2BIG;
        if (hidden_ws_root)
                iso_add(r, "workspace_hidden");
        if (c->hide_run)
                iso_add(r, "run_hidden");
        if (c->mount_proc) {
                if (mop_add(r, HOST_MOP_PROC, NULL, NULL, NULL, 0, err) < 0)
                        return -E2BIG;
                iso_add(r, "proc");
        }
        return 0;
}

/* Processes owned by uid now (the owner of /proc/PID is the process's effective uid). */
static int64_t count_user_processes(uid_t uid)
{
        struct dirent *de;
        int64_t n = 0;
        DIR *d = opendir("/proc");

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                struct stat st;

                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && st.st_uid == uid)
                        n++;
        }
        closedir(d);
        return n;
}

static int plan_rlimits(struct run *r, struct host_launch *l, const struct sandbox_spec *spec,
                        int64_t timeout_ms)
{
        const struct host_cfg *c = r->cfg;
        const struct host_cg *cg = r->slot ? &r->slot->cg : r->has_cg ? &r->cg : NULL;
        int64_t v;

#define RL(res, val)                                                                               \
        do {                                                                                       \
                l->rl_res[l->n_rl] = (res);                                                        \
                l->rl[l->n_rl].rlim_cur = l->rl[l->n_rl].rlim_max = (rlim_t)(val);                 \
                l->n_rl++;                                                                         \
        } while (0)
        RL(RLIMIT_CORE, 0);
        v = c->rl_cpu == HOST_RLIMIT_AUTO ? (timeout_ms + 999) / 1000 + 1 : c->rl_cpu;
        if (v > 0)
                RL(RLIMIT_CPU, v);
        v = c->rl_as;
        if (v == HOST_RLIMIT_AUTO) {
                int64_t m = spec->limits.memory_mb;

                /* With the memory cgroup in force the address space only stops runaway
                 * reservations (runtimes reserve far more than they touch); without it, it is
                 * the only memory bound, so it follows memory_mb closely. */
                if (m <= 0)
                        v = 0;
                else if (cg && cg->has_memory)
                        v = m * 4 > 4096 ? m * 4 : 4096;
                else
                        v = m * 2 > 1024 ? m * 2 : 1024;
        }
        if (v > 0)
                RL(RLIMIT_AS, v * 1024 * 1024);
        v = c->rl_fsize == HOST_RLIMIT_AUTO ? spec->limits.disk_mb : c->rl_fsize;
        if (v > 0)
                RL(RLIMIT_FSIZE, v * 1024 * 1024);
        v = c->rl_nofile == HOST_RLIMIT_AUTO ? 1024 : c->rl_nofile;
        if (v > 0)
                RL(RLIMIT_NOFILE, v);
        v = c->rl_nproc;
        /* RLIMIT_NPROC counts every process of the uid on the host (other execs, anything else
         * running as that user): only a fallback for when the pids cgroup is missing, on top
         * of what the user runs already. */
        if (v == HOST_RLIMIT_AUTO)
                v = (cg && cg->has_pids) || spec->limits.max_processes <= 0
                        ? 0
                        : spec->limits.max_processes + count_user_processes(c->uid);
        if (v > 0)
                RL(RLIMIT_NPROC, v);
#undef RL
        return 0;
}

static int fd_above_stdio(int fd)
{
        int nfd;

        if (fd < 0 || fd > 2)
                return fd;
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        return nfd;
}

static int make_pipe(int p[2], struct al_error *err)
{
        if (pipe2(p, O_CLOEXEC) < 0)
                return al_err_errno(err, -errno, "pipe2");
        p[0] = fd_above_stdio(p[0]);
        p[1] = fd_above_stdio(p[1]);
        if (p[0] < 0 || p[1] < 0)
                return al_err_errno(err, -errno, "fcntl");
        return 0;
}

static int prepare(struct run *r, const struct sandbox_spec *spec, const struct exec_spec *x,
                   struct host_launch *l, struct al_error *err)
{
        struct host_cfg *c = r->cfg;
        bool want_ws = spec->workspace != WORKSPACE_NONE && spec->workspace_dir;
        const char *home, *path;
        int rr;

        rr = host_argv_check(x->argv, err);
        if (rr < 0)
                return rr;
        if (want_ws && spec->workspace_dir[0] != '/')
                return al_err(err, -EINVAL, "workspace '%s' is not absolute", spec->workspace_dir);
        rr = host_env_check(x->env, c->protected_dirs, want_ws ? spec->workspace_dir : NULL, err);
        if (rr < 0)
                return rr;
        rr = host_workdir_resolve(x->workdir, want_ws ? spec->workspace_dir : NULL,
                                  c->private_tmp ? "/tmp" : "/", &r->workdir, err);
        if (rr < 0)
                return rr;
        home = want_ws && spec->workspace == WORKSPACE_RW ? spec->workspace_dir
               : c->private_tmp                           ? "/tmp"
                                                          : "/";
        rr = host_env_build(x->env, c->default_path, home, &r->env, err);
        if (rr < 0)
                return rr;
        path = host_env_get(r->env, "PATH");
        rr = host_exec_candidates(x->argv[0], path, &r->candidates, err);
        if (rr < 0)
                return rr;
        if (want_ws) {
                struct stat st;

                /* The child opens it again inside its mount namespace; this is for a clear
                 * error. */
                if (lstat(spec->workspace_dir, &st) < 0)
                        return al_err_errno(err, -errno, "workspace '%s'", spec->workspace_dir);
                if (!S_ISDIR(st.st_mode))
                        return al_err(err, -ENOTDIR, "workspace '%s' is not a directory",
                                      spec->workspace_dir);
        }

        /* Protections that do not depend on the host. */
        iso_add(r, "user");
        if (c->drop_caps)
                iso_add(r, "capabilities");
        if (c->nnp)
                iso_add(r, "no_new_privs");
        if (c->has_filter)
                iso_add(r, "seccomp");
        l->netns = c->netns && !spec->network;
        if (l->netns)
                iso_add(r, "netns");
        l->mountns = c->mountns;
        if (l->mountns) {
                iso_add(r, "mountns");
                rr = plan_mounts(r, spec, want_ws, err);
                if (rr < 0)
                        return rr;
        }
        l->pidns = c->pidns;
        if (l->pidns)
                iso_add(r, "pidns");
        l->ipcns = c->ipcns;
        if (l->ipcns)
                iso_add(r, "ipcns");
        return 0;
}

/* ---------- one exec: the daemon side ---------- */

struct pump {
        struct run *r;
        const struct exec_sink *sink;
        struct exec_result *res;
        bool exited, killed;
        int wstatus; /* the command's wait status when known */
        bool have_status;
        /* The child's report: EOF when it reached execve, else where it failed. */
        struct host_report report;
        size_t report_len;
        bool failed;
};

static void kill_tree(struct pump *p)
{
        struct run *r = p->r;

        if (!r->reaped) {
                if (r->cfg->pidns)
                        /* Killing the namespace's init makes the kernel kill everything in it. */
                        (void)syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
                else if (!r->has_cg)
                        /* Unreaped, the leader keeps its pid and group id from being reused. */
                        (void)kill(-r->pid, SIGKILL);
        }
        if (r->has_cg)
                host_cg_kill(&r->cg);
        p->killed = true;
}

static int emit(struct pump *p, enum exec_stream stream, const char *data, size_t n)
{
        struct buf *b = stream == EXEC_STDOUT ? &p->res->out : &p->res->err;

        if (buf_append(b, data, n) < 0)
                return -ENOMEM;
        if (p->sink && p->sink->output && p->sink->output(p->sink->ctx, stream, data, n) < 0)
                return -ECANCELED;
        return 0;
}

/* Read what a pipe has; closes it at EOF. Returns < 0 when the exec must be aborted. */
static int drain_fd(struct pump *p, int *fd, enum exec_stream stream)
{
        char chunk[HOST_CHUNK];

        for (int rounds = 0; rounds < 16; rounds++) {
                ssize_t n = read(*fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        close_fd(fd);
                        return 0;
                }
                if (emit(p, stream, chunk, (size_t)n) < 0)
                        return -1;
                if ((size_t)n < sizeof(chunk))
                        return 0;
        }
        return 0;
}

static void reap(struct pump *p)
{
        struct run *r = p->r;
        siginfo_t si;

        if (r->reaped)
                return;
        memset(&si, 0, sizeof(si));
        /* WNOWAIT first: the group kill below needs the zombie to keep its pid. */
        if (!r->cfg->pidns && !r->has_cg)
                (void)waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si, WEXITED | WNOWAIT | __WALL);
        if (!r->cfg->pidns)
                kill_tree(p); /* what the command left running dies with it */
        /* A slot's init is the spawner's child, reaped there; the pidfd said it ended. */
        while (!r->slot && waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si, WEXITED | __WALL) < 0) {
                if (errno != EINTR)
                        break;
        }
        r->reaped = true;
        p->exited = true;
        if (r->cfg->pidns) {
                int st;

                /* The init wrote the command's status before exiting, unless it was killed. */
                if (read(r->status[0], &st, sizeof(st)) == (ssize_t)sizeof(st)) {
                        p->wstatus = st;
                        p->have_status = true;
                }
                return;
        }
        if (si.si_code == CLD_EXITED)
                p->wstatus = (si.si_status & 0xff) << 8;
        else
                p->wstatus = si.si_status & 0x7f;
        p->have_status = true;
}

static void read_report(struct pump *p);

static int pump(struct pump *p, const struct exec_spec *x, int64_t start, int64_t timeout_ms,
                struct al_error *err)
{
        struct run *r = p->r;
        const struct exec_sink *sink = p->sink;
        int watch_fd = sink ? sink->watch_fd : -1;
        int cancel_fd = sink && sink->cancel_fd > 0 ? sink->cancel_fd : -1;
        int64_t deadline = start + timeout_ms, end_by = 0;
        size_t in_off = 0;

        if (!x->stdin_data || x->stdin_len == 0)
                close_fd(&r->in[1]);
        else
                (void)fcntl(r->in[1], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->out[0], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->errp[0], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->report[0], F_SETFL, O_NONBLOCK);

        while (r->out[0] >= 0 || r->errp[0] >= 0 || r->report[0] >= 0 || !r->reaped) {
                struct pollfd pf[7];
                int idx_out = -1, idx_err = -1, idx_in = -1, idx_pid = -1, idx_watch = -1;
                int idx_rep = -1, idx_cancel = -1;
                int n = 0, timeout, pr;
                int64_t now = util_now_ms(), until;

                if (!p->killed && now >= deadline) {
                        p->res->timed_out = true;
                        kill_tree(p);
                        end_by = now + HOST_KILL_WAIT_MS;
                }
                if (end_by && now >= end_by) {
                        if (!r->reaped)
                                return al_err(err, -ESTALE,
                                              "the process tree did not end "
                                              "within %d ms of SIGKILL",
                                              HOST_KILL_WAIT_MS);
                        break; /* something that escaped holds the pipes: stop reading */
                }
                until = end_by ? end_by : deadline;
                if (!p->killed && end_by == 0)
                        until = deadline;
                timeout = (int)(until - now > 0 ? until - now : 0);

                if (r->out[0] >= 0) {
                        idx_out = n;
                        pf[n++] = (struct pollfd){.fd = r->out[0], .events = POLLIN};
                }
                if (r->errp[0] >= 0) {
                        idx_err = n;
                        pf[n++] = (struct pollfd){.fd = r->errp[0], .events = POLLIN};
                }
                if (r->in[1] >= 0) {
                        idx_in = n;
                        pf[n++] = (struct pollfd){.fd = r->in[1], .events = POLLOUT};
                }
                if (!r->reaped) {
                        idx_pid = n;
                        pf[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
                }
                if (r->report[0] >= 0) {
                        idx_rep = n;
                        pf[n++] = (struct pollfd){.fd = r->report[0], .events = POLLIN};
                }
                if (watch_fd >= 0 && !p->res->aborted) {
                        idx_watch = n;
                        /* Not POLLIN: a pipelined request must not wake us in a loop. */
                        pf[n++] = (struct pollfd){.fd = watch_fd, .events = POLLRDHUP};
                }
                if (cancel_fd >= 0 && !p->killed) {
                        /* The daemon's drain deadline: readable once, for every exec. */
                        idx_cancel = n;
                        pf[n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
                }
                pr = poll(pf, (nfds_t)n, timeout);
                if (pr < 0) {
                        if (errno == EINTR)
                                continue;
                        return al_err_errno(err, -errno, "poll");
                }
                if (idx_rep >= 0 && pf[idx_rep].revents)
                        read_report(p);
                if (idx_out >= 0 && pf[idx_out].revents && drain_fd(p, &r->out[0], EXEC_STDOUT) < 0)
                        goto abort;
                if (idx_err >= 0 && pf[idx_err].revents &&
                    drain_fd(p, &r->errp[0], EXEC_STDERR) < 0)
                        goto abort;
                if (idx_in >= 0 && pf[idx_in].revents) {
                        if (pf[idx_in].revents & (POLLERR | POLLHUP)) {
                                close_fd(&r->in[1]);
                        } else {
                                size_t left = x->stdin_len - in_off;
                                ssize_t w = write(r->in[1], x->stdin_data + in_off,
                                                  left > HOST_CHUNK ? HOST_CHUNK : left);

                                if (w > 0)
                                        in_off += (size_t)w;
                                if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
                                    in_off >= x->stdin_len)
                                        close_fd(&r->in[1]);
                        }
                }
                if ((idx_watch >= 0 &&
                     (pf[idx_watch].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) ||
                    (idx_cancel >= 0 && pf[idx_cancel].revents)) {
                        p->res->aborted = true;
                        if (!p->killed) {
                                kill_tree(p);
                                end_by = util_now_ms() + HOST_KILL_WAIT_MS;
                        }
                }
                if (idx_pid >= 0 && (pf[idx_pid].revents & POLLIN)) {
                        reap(p);
                        p->res->duration_ms = util_now_ms() - start;
                        /* The tree is dead: the pipes reach EOF at once unless something
                         * escaped it; do not wait long for that. */
                        close_fd(&r->in[1]);
                        {
                                int64_t e = util_now_ms() + HOST_DRAIN_MS;

                                if (!end_by || e < end_by)
                                        end_by = e;
                        }
                }
                continue;
        abort:
                p->res->aborted = true;
                if (!p->killed) {
                        kill_tree(p);
                        end_by = util_now_ms() + HOST_KILL_WAIT_MS;
                }
                close_fd(&r->out[0]);
                close_fd(&r->errp[0]);
        }
        return 0;
}

static int launch_error(const struct host_report *rep, const struct run *r,
                        const struct exec_spec *x, struct al_error *err)
{
        int e = rep->error > 0 ? rep->error : EIO;

        switch (rep->stage) {
        case HOST_STAGE_EXEC:
                if (e == ENOENT)
                        return al_err(err, -ENOENT, "command not found: '%s'", x->argv[0]);
                if (e == EACCES)
                        return al_err(err, -EACCES, "command not executable: '%s'", x->argv[0]);
                if (e == ENOEXEC)
                        return al_err(err, -ENOEXEC, "not an executable format: '%s'", x->argv[0]);
                if (e == E2BIG)
                        return al_err(err, -E2BIG, "argv and env too large for '%s'", x->argv[0]);
                return al_err_errno(err, -e, "exec '%s'", x->argv[0]);
        case HOST_STAGE_CHDIR:
                /* EACCES: the workspace is not open to the exec user (see host_backend_user). */
                return al_err(err, -e, "workdir '%s' (as uid %u): %s", r->workdir,
                              (unsigned)r->cfg->uid, strerror(e));
        case HOST_STAGE_MOUNT: {
                const struct host_mop *m = rep->detail >= 0 && (size_t)rep->detail < r->n_mops
                                               ? &r->mops[rep->detail]
                                               : NULL;

                return al_err_errno(err, -e, "host launch: mount step %d on '%s'", rep->detail,
                                    m && m->target ? m->target : "/");
        }
        default:
                return al_err_errno(err, -e, "host launch failed at %s",
                                    host_stage_name((enum host_stage)rep->stage));
        }
}

/* Read the launch report: EOF when the child reached execve (the pipe is close-on-exec), or a
 * struct host_report saying where it failed. */
static void read_report(struct pump *p)
{
        struct run *r = p->r;

        for (;;) {
                ssize_t n = read(r->report[0], (char *)&p->report + p->report_len,
                                 sizeof(p->report) - p->report_len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n > 0) {
                        p->report_len += (size_t)n;
                        if (p->report_len < sizeof(p->report))
                                continue;
                }
                if (p->report_len > 0) {
                        p->failed = true;
                        if (!p->killed)
                                kill_tree(p);
                }
                close_fd(&r->report[0]);
                return;
        }
}

static void iso_cgroup(struct run *r, const struct host_cg *cg)
{
        if (cg->has_memory && cg->has_pids)
                iso_add(r, "cgroup");
        else if (cg->has_memory)
                iso_add(r, "cgroup_memory");
        else if (cg->has_pids)
                iso_add(r, "cgroup_pids");
        if (cg->has_cpu)
                iso_add(r, "cgroup_cpu");
}

/* The cgroups: a ready spawner slot when there is one (fast), else a set made for this exec,
 * which the child joins (slow: a move costs an RCU grace period). */
static int setup_cgroups(struct host_state *hs, struct run *r, const struct sandbox_spec *spec,
                         struct al_error *err)
{
        const char *inst =
            spec->instance_id && util_name_valid(spec->instance_id, HOST_INSTANCE_MAX)
                ? spec->instance_id
                : "airlock";
        char name[HOST_CG_NAME_MAX], hex[17];
        int rr;

        if (!r->cfg->cgroup)
                return 0;
        if (r->cfg->pidns && r->cfg->prestart > 0) {
                r->slot = host_pool_take(&hs->pool, r->cfg, inst, (size_t)r->cfg->prestart);
                if (r->slot && host_slot_prepare(r->slot, &spec->limits, err) < 0) {
                        /* Its memory could not shrink to this exec's limit, or the like. */
                        host_pool_drop(&hs->pool, r->slot);
                        r->slot = NULL;
                }
                if (r->slot) {
                        r->pool = &hs->pool;
                        iso_cgroup(r, &r->slot->cg);
                        return 0;
                }
        }
        if (util_random_hex(hex, 8) < 0)
                return al_err(err, -EIO, "no randomness");
        snprintf(name, sizeof(name), "%s-%s", inst, hex);
        rr = host_cg_create(&r->cfg->cg, name, &spec->limits, 0, 0, &r->cg, err);
        if (rr < 0)
                return al_err_wrap(err, "host cgroup");
        r->has_cg = true;
        iso_cgroup(r, &r->cg);
        return 0;
}

static int host_run(struct host_state *hs, const struct sandbox_spec *spec,
                    const struct exec_spec *x, const struct exec_sink *sink,
                    struct exec_result *res, const char *sandbox_id, struct al_error *err)
{
        _cleanup_(run_done) struct run r;
        struct host_launch l;
        struct pump p;
        int64_t timeout_ms, start;
        int cg_fds[HOST_CG_MAX_DIRS];
        sigset_t pipe_set, old_mask, pending;
        bool pipe_was_pending;
        int rr;

        run_init(&r);
        r.cfg = cfg_get(hs);
        memset(&l, 0, sizeof(l));
        if (!x || !spec)
                return al_err(err, -EINVAL, "no exec given");
        timeout_ms = x->timeout_ms > 0            ? x->timeout_ms
                     : spec->limits.timeout_s > 0 ? spec->limits.timeout_s * 1000
                                                  : HOST_DEFAULT_TIMEOUT;
        rr = prepare(&r, spec, x, &l, err);
        if (rr < 0)
                return rr;
        rr = setup_cgroups(hs, &r, spec, err);
        if (rr < 0)
                return rr;
        plan_rlimits(&r, &l, spec, timeout_ms);
        iso_add(&r, "rlimits");
        if ((rr = make_pipe(r.in, err)) < 0 || (rr = make_pipe(r.out, err)) < 0 ||
            (rr = make_pipe(r.errp, err)) < 0 || (rr = make_pipe(r.report, err)) < 0 ||
            (r.cfg->pidns && (rr = make_pipe(r.status, err)) < 0))
                return rr;

        for (int i = 0; i < r.cg.n && r.has_cg; i++)
                cg_fds[i] = r.cg.procs_fd[i];
        {
                bool netns = l.netns, mountns = l.mountns, ipcns = l.ipcns;

                host_cfg_template(r.cfg, &l);
                l.netns = netns;
                l.mountns = mountns;
                l.ipcns = ipcns;
        }
        l.argv = x->argv;
        l.envp = r.env;
        l.candidates = r.candidates;
        l.workdir = r.workdir;
        l.mops = r.mops;
        l.n_mops = r.n_mops;
        l.cg_fds = cg_fds;
        l.n_cg_fds = r.has_cg ? (size_t)r.cg.n : 0;
        l.stdin_fd = r.in[0];
        l.stdout_fd = r.out[1];
        l.stderr_fd = r.errp[1];
        l.report_fd = r.report[1];
        l.status_fd = r.status[1];

        start = util_now_ms();
        if (r.slot) {
                rr = host_spawner_launch(r.slot->sock, &l, &r.pidfd, err);
                if (rr < 0)
                        r.slot_broken = true;
        } else {
                rr = host_launch_start(&l, &r.pidfd, &r.pid, err);
        }
        if (rr < 0)
                return al_err_wrap(err, "host launch");
        /* Only the child holds these now: EOF tells us when it has gone. */
        close_fd(&r.in[0]);
        close_fd(&r.out[1]);
        close_fd(&r.errp[1]);
        close_fd(&r.report[1]);
        close_fd(&r.status[1]);
        if (r.has_cg)
                host_cg_close_fds(&r.cg);

        memset(&p, 0, sizeof(p));
        p.r = &r;
        p.sink = sink;
        p.res = res;
        /* A reader that closed its stdin early must not take the daemon down with SIGPIPE. */
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigpending(&pending);
        pipe_was_pending = sigismember(&pending, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
        rr = pump(&p, x, start, timeout_ms, err);
        sigpending(&pending);
        if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
                struct timespec zero = {0, 0};

                (void)sigtimedwait(&pipe_set, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        if (rr < 0)
                return rr;
        if (p.failed) {
                if (p.report_len < sizeof(p.report))
                        return al_err(err, -EIO, "host launch failed (short report)");
                return launch_error(&p.report, &r, x, err);
        }
        if (!res->duration_ms)
                res->duration_ms = util_now_ms() - start;

        if (p.have_status && WIFEXITED(p.wstatus)) {
                res->exit_code = WEXITSTATUS(p.wstatus);
                res->signal = 0;
        } else {
                res->exit_code = -1;
                res->signal =
                    p.have_status && WIFSIGNALED(p.wstatus) ? WTERMSIG(p.wstatus) : SIGKILL;
        }
        if (r.slot && r.slot->cg.has_memory)
                res->oom_killed = host_cg_oom_kills(&r.slot->cg) > r.slot->oom_base;
        else if (r.has_cg && r.cg.has_memory)
                res->oom_killed = host_cg_oom_kills(&r.cg) > 0;
        res->sandboxed = false;
        res->backend = "host";
        snprintf(res->sandbox_id, sizeof(res->sandbox_id), "%s", sandbox_id);
        res->n_isolation = 0;
        for (size_t i = 0; i < r.n_iso && i < ARRAY_SIZE(res->isolation); i++)
                res->isolation[res->n_isolation++] = r.iso[i];
        return 0;
}

/* ---------- backend ops ---------- */

static struct host_state *state(struct backend *b)
{
        return (struct host_state *)b->priv;
}

static int op_run_once(struct backend *b, const struct sandbox_spec *spec,
                       const struct exec_spec *x, const struct exec_sink *sink,
                       struct exec_result *res, struct al_error *err)
{
        return host_run(state(b), spec, x, sink, res, "host", err);
}

static void sandbox_free(struct host_sandbox *s)
{
        if (!s)
                return;
        free((char *)s->spec.image);
        free((char *)s->spec.agent);
        free((char *)s->spec.session);
        free((char *)s->spec.instance_id);
        free((char *)s->spec.workspace_dir);
        free(s);
}

static char *dup_opt(const char *s, bool *fail)
{
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *fail = true;
        return d;
}

/* Nothing lives between execs on the host: a "sandbox" is the spec remembered under a handle,
 * so that sandbox_exec applies the same limits, network and workspace as run_once would. */
static int op_sandbox_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                             struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox *s;
        char hex[17];
        bool fail = false;

        s = calloc(1, sizeof(*s));
        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        s->spec = *spec;
        s->spec.image = dup_opt(spec->image, &fail);
        s->spec.agent = dup_opt(spec->agent, &fail);
        s->spec.session = dup_opt(spec->session, &fail);
        s->spec.instance_id = dup_opt(spec->instance_id, &fail);
        s->spec.workspace_dir = dup_opt(spec->workspace_dir, &fail);
        s->spec.keeper_user = s->spec.exec_user = s->spec.seccomp_profile = NULL;
        if (fail || util_random_hex(hex, 8) < 0) {
                sandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
        }
        snprintf(s->handle, sizeof(s->handle), "host-%s", hex);
        *ret_handle = strdup(s->handle);
        if (!*ret_handle) {
                sandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&hs->lock);
        if (hs->n_sandboxes >= HOST_SANDBOXES_MAX) {
                pthread_mutex_unlock(&hs->lock);
                free(*ret_handle);
                *ret_handle = NULL;
                sandbox_free(s);
                return al_err(err, -AL_E_LIMITED, "too many host sandboxes (%d)",
                              HOST_SANDBOXES_MAX);
        }
        s->next = hs->sandboxes;
        hs->sandboxes = s;
        hs->n_sandboxes++;
        pthread_mutex_unlock(&hs->lock);
        return 0;
}

/* Copy of the remembered spec with its strings duplicated, so that a concurrent remove
 * cannot free them under the exec. */
static int sandbox_spec_get(struct host_state *hs, const char *handle, struct host_sandbox *ret)
{
        int r = -ENOENT;
        bool fail = false;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox *s = hs->sandboxes; s; s = s->next) {
                if (strcmp(s->handle, handle) != 0)
                        continue;
                *ret = *s;
                ret->spec.image = dup_opt(s->spec.image, &fail);
                ret->spec.agent = dup_opt(s->spec.agent, &fail);
                ret->spec.session = dup_opt(s->spec.session, &fail);
                ret->spec.instance_id = dup_opt(s->spec.instance_id, &fail);
                ret->spec.workspace_dir = dup_opt(s->spec.workspace_dir, &fail);
                r = fail ? -ENOMEM : 0;
                break;
        }
        pthread_mutex_unlock(&hs->lock);
        return r;
}

static int op_sandbox_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                           const struct exec_sink *sink, struct exec_result *res,
                           struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox s;
        int r;

        memset(&s, 0, sizeof(s));
        r = sandbox_spec_get(hs, handle ? handle : "", &s);
        if (r == -ENOENT)
                return al_err(err, -ENOENT, "no host sandbox '%s'", handle ? handle : "");
        if (r < 0) {
                r = al_err(err, r, "out of memory");
        } else {
                r = host_run(hs, &s.spec, x, sink, res, s.handle, err);
        }
        free((char *)s.spec.image);
        free((char *)s.spec.agent);
        free((char *)s.spec.session);
        free((char *)s.spec.instance_id);
        free((char *)s.spec.workspace_dir);
        return r;
}

static int op_sandbox_alive(struct backend *b, const char *handle, struct al_error *err)
{
        struct host_state *hs = state(b);
        int alive = 0;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox *s = hs->sandboxes; s && handle; s = s->next)
                if (strcmp(s->handle, handle) == 0)
                        alive = 1;
        pthread_mutex_unlock(&hs->lock);
        return alive;
}

static int op_sandbox_remove(struct backend *b, const char *handle, struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox *found = NULL;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox **pp = &hs->sandboxes; *pp && handle; pp = &(*pp)->next)
                if (strcmp((*pp)->handle, handle) == 0) {
                        found = *pp;
                        *pp = found->next;
                        hs->n_sandboxes--;
                        break;
                }
        pthread_mutex_unlock(&hs->lock);
        sandbox_free(found);
        return 0;
}

static int op_remove_instance(struct backend *b, const char *instance_id, struct al_error *err)
{
        _cleanup_(cfg_unrefp) struct host_cfg *c = cfg_get(state(b));
        char prefix[64];
        int r;

        if (!instance_id || !util_name_valid(instance_id, HOST_INSTANCE_MAX))
                return al_err(err, -EINVAL, "bad instance id");
        if (c->cg.mode == HOST_CG_NONE)
                return 0;
        host_pool_clear(&state(b)->pool, instance_id);
        snprintf(prefix, sizeof(prefix), "%s-", instance_id);
        r = host_cg_remove_prefix(&c->cg, prefix, err);
        return r < 0 ? r : 0;
}

static void op_free(struct backend *b)
{
        struct host_state *hs;

        if (!b)
                return;
        hs = state(b);
        host_pool_fini(&hs->pool);
        while (hs->sandboxes) {
                struct host_sandbox *s = hs->sandboxes;

                hs->sandboxes = s->next;
                sandbox_free(s);
        }
        host_cfg_unref(hs->cfg);
        pthread_mutex_destroy(&hs->lock);
        free(hs);
}

static const struct backend_ops host_ops = {
    .name = "host",
    .sandbox_create = op_sandbox_create,
    .sandbox_exec = op_sandbox_exec,
    .run_once = op_run_once,
    .sandbox_alive = op_sandbox_alive,
    .sandbox_remove = op_sandbox_remove,
    .remove_instance = op_remove_instance,
    .free = op_free,
};

struct backend *host_backend_new(const struct host_options *opt, struct al_error *err)
{
        struct host_state *hs;

        hs = calloc(1, sizeof(*hs));
        if (!hs) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        if (cfg_new(opt, &hs->cfg, err) < 0) {
                free(hs);
                return NULL;
        }
        pthread_mutex_init(&hs->lock, NULL);
        host_pool_init(&hs->pool);
        hs->base.ops = &host_ops;
        hs->base.priv = hs;
        return &hs->base;
}

int host_backend_reload(struct backend *b, const struct host_options *opt, struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_cfg *c, *old;
        int r;

        r = cfg_new(opt, &c, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&hs->lock);
        old = hs->cfg;
        hs->cfg = c;
        pthread_mutex_unlock(&hs->lock);
        host_cfg_unref(old);
        /* Spawners hold the old settings in their copy of memory: make new ones. */
        host_pool_clear(&hs->pool, NULL);
        return 0;
}

void host_backend_user(struct backend *b, uint32_t *ret_uid, uint32_t *ret_gid)
{
        _cleanup_(cfg_unrefp) struct host_cfg *c = cfg_get(state(b));

        *ret_uid = (uint32_t)c->uid;
        *ret_gid = (uint32_t)c->gid;
}

size_t host_backend_available(struct backend *b, const char **ret, size_t max)
{
        _cleanup_(cfg_unrefp) struct host_cfg *c = cfg_get(state(b));
        const char *list[24];
        size_t n = 0, k;

        list[n++] = "user";
        if (c->drop_caps)
                list[n++] = "capabilities";
        if (c->nnp)
                list[n++] = "no_new_privs";
        if (c->has_filter)
                list[n++] = "seccomp";
        list[n++] = "rlimits";
        if (c->netns)
                list[n++] = "netns";
        if (c->mountns)
                list[n++] = "mountns";
        if (c->ro_root)
                list[n++] = "readonly_root";
        if (c->private_tmp)
                list[n++] = "tmpfs";
        if (c->pidns)
                list[n++] = "pidns";
        if (c->ipcns)
                list[n++] = "ipcns";
        if (c->mount_proc)
                list[n++] = "proc";
        if (c->minimal_dev)
                list[n++] = "dev";
        if (c->hide_run)
                list[n++] = "run_hidden";
        if (c->cgroup && c->cg.memory && c->cg.pids)
                list[n++] = "cgroup";
        else if (c->cgroup && c->cg.memory)
                list[n++] = "cgroup_memory";
        else if (c->cgroup && c->cg.pids)
                list[n++] = "cgroup_pids";
        if (c->cgroup && c->cg.cpu)
                list[n++] = "cgroup_cpu";
        for (k = 0; k < n && k < max; k++)
                ret[k] = list[k];
        return k;
}
