/* One exec on the host, the daemon's side: its plan (checks, environment, mounts, rlimits,
 * cgroups), the launch, and the pump: output, stdin, the child's launch report, the end of the
 * process tree, under the shared exec watch (deadline, drain, client hang-up, cancel). */
#include "backend/host/host_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "airlock/watch.h"
#include "backend/host/host_plan.h"
#include "backend/host/host_validate.h"

#define HOST_DEFAULT_TIMEOUT 30000
#define HOST_DRAIN_MS        1000  /* output still read after the command ended */
#define HOST_KILL_WAIT_MS    10000 /* a killed tree must be gone by then */
#define HOST_CG_WAIT_MS      5000
#define HOST_CHUNK           32768

struct run {
        struct host_cfg *cfg;
        char **env;
        char **candidates;
        char *workdir;
        struct host_plan plan; /* the mount namespace */
        struct host_cg cg;
        bool has_cg;
        const char *iso[24];
        size_t n_iso;
        /* pipes: [0] read, [1] write */
        int in[2], out[2], errp[2], report[2], status[2];
        int egress_ns; /* the egress proxy's namespace for an exec with the network, or -1 */
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
        r->egress_ns = -1;
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
        host_plan_clear(&r->plan);
        close_fd(&r->egress_ns);
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
        /* With the network, the exec joins a namespace whose only way out is the egress proxy
         * (docs/egress.md); without a proxy, an empty one of its own. */
        l->netns = c->netns && !spec->network;
        if (x->egress && x->egress->netns) {
                rr = x->egress->netns(x->egress->ctx, &r->egress_ns, err);
                if (rr < 0)
                        return rr;
                l->netns = r->egress_ns < 0 && c->netns;
                if (r->egress_ns >= 0)
                        iso_add(r, "egress");
        }
        if (l->netns || r->egress_ns >= 0)
                iso_add(r, "netns");
        l->mountns = c->mountns;
        if (l->mountns) {
                iso_add(r, "mountns");
                rr = host_plan_mounts(c, spec, want_ws, NULL, &r->plan, err);
                if (rr < 0)
                        return rr;
                for (size_t i = 0; i < r->plan.n_iso; i++)
                        iso_add(r, r->plan.iso[i]);
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

/* Kill the tree once and give it HOST_KILL_WAIT_MS to be gone. */
static void pump_kill(struct pump *p, struct watch *w)
{
        if (p->killed)
                return;
        kill_tree(p);
        watch_end(w, HOST_KILL_WAIT_MS);
}

static int pump(struct pump *p, const struct exec_spec *x, int64_t start, int64_t timeout_ms,
                struct al_error *err)
{
        struct run *r = p->r;
        const struct exec_sink *sink = p->sink;
        struct watch w;
        size_t in_off = 0;
        int rr;

        if (!x->stdin_data || x->stdin_len == 0)
                close_fd(&r->in[1]);
        else
                (void)fcntl(r->in[1], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->out[0], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->errp[0], F_SETFL, O_NONBLOCK);
        (void)fcntl(r->report[0], F_SETFL, O_NONBLOCK);
        /* After the deadline or a cancel the tree is killed and must be gone within
         * HOST_KILL_WAIT_MS. */
        watch_init(&w, start + timeout_ms, HOST_KILL_WAIT_MS, sink ? sink->watch_fd : -1,
                   sink ? sink->cancel_fd : -1);

        while (r->out[0] >= 0 || r->errp[0] >= 0 || r->report[0] >= 0 || !r->reaped) {
                struct pollfd pf[5 + WATCH_FDS];
                int idx_out = -1, idx_err = -1, idx_in = -1, idx_pid = -1, idx_rep = -1;
                size_t n = 0;
                enum watch_event ev;

                if (r->out[0] >= 0) {
                        idx_out = (int)n;
                        pf[n++] = (struct pollfd){.fd = r->out[0], .events = POLLIN};
                }
                if (r->errp[0] >= 0) {
                        idx_err = (int)n;
                        pf[n++] = (struct pollfd){.fd = r->errp[0], .events = POLLIN};
                }
                if (r->in[1] >= 0) {
                        idx_in = (int)n;
                        pf[n++] = (struct pollfd){.fd = r->in[1], .events = POLLOUT};
                }
                if (!r->reaped) {
                        idx_pid = (int)n;
                        pf[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
                }
                if (r->report[0] >= 0) {
                        idx_rep = (int)n;
                        pf[n++] = (struct pollfd){.fd = r->report[0], .events = POLLIN};
                }
                rr = watch_poll(&w, pf, n, &ev, err);
                if (rr < 0)
                        return rr;
                if (ev == WATCH_DRAINED) {
                        if (!r->reaped)
                                return al_err(err, -ESTALE,
                                              "the process tree did not end "
                                              "within %d ms of SIGKILL",
                                              HOST_KILL_WAIT_MS);
                        break; /* something that escaped holds the pipes: stop reading */
                }
                if (ev == WATCH_DEADLINE && !p->killed) {
                        p->res->timed_out = true;
                        kill_tree(p);
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
                                ssize_t wr = write(r->in[1], x->stdin_data + in_off,
                                                   left > HOST_CHUNK ? HOST_CHUNK : left);

                                if (wr > 0)
                                        in_off += (size_t)wr;
                                if ((wr < 0 && errno != EAGAIN && errno != EINTR) ||
                                    in_off >= x->stdin_len)
                                        close_fd(&r->in[1]);
                        }
                }
                if (ev == WATCH_HANGUP || ev == WATCH_CANCEL) {
                        p->res->aborted = true;
                        pump_kill(p, &w);
                }
                if (idx_pid >= 0 && (pf[idx_pid].revents & POLLIN)) {
                        reap(p);
                        p->res->duration_ms = util_now_ms() - start;
                        /* The tree is dead: the pipes reach EOF at once unless something
                         * escaped it; do not wait long for that. */
                        close_fd(&r->in[1]);
                        watch_end(&w, HOST_DRAIN_MS);
                }
                continue;
        abort:
                p->res->aborted = true;
                pump_kill(p, &w);
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
                const struct host_mop *m = rep->detail >= 0 && (size_t)rep->detail < r->plan.n_mops
                                               ? &r->plan.mops[rep->detail]
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
static int setup_cgroups(struct host_pool *pool, struct run *r, const struct sandbox_spec *spec,
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
        /* A spawner's slot sits in its own namespace: an exec with egress joins the proxy's. */
        if (r->cfg->pidns && r->cfg->prestart > 0 && r->egress_ns < 0) {
                r->slot = host_pool_take(pool, r->cfg, inst, (size_t)r->cfg->prestart);
                if (r->slot && host_slot_prepare(r->slot, &spec->limits, err) < 0) {
                        /* Its memory could not shrink to this exec's limit, or the like. */
                        host_pool_drop(pool, r->slot);
                        r->slot = NULL;
                }
                if (r->slot) {
                        r->pool = pool;
                        iso_cgroup(r, &r->slot->cg);
                        return 0;
                }
        }
        if (util_random_hex(hex, 8) < 0)
                return al_err(err, -EIO, "no randomness");
        snprintf(name, sizeof(name), "%s-%s", inst, hex);
        rr = host_cg_create(&r->cfg->cg, name, &spec->limits, 0, 0, &r->cg, err);
        if (rr < 0)
                return al_err_wrap(err, rr, "host cgroup");
        r->has_cg = true;
        iso_cgroup(r, &r->cg);
        return 0;
}

int host_run(struct host_pool *pool, struct host_cfg *cfg, const struct sandbox_spec *spec,
             const struct exec_spec *x, const struct exec_sink *sink, struct exec_result *res,
             const char *sandbox_id, struct al_error *err)
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
        r.cfg = cfg;
        memset(&l, 0, sizeof(l));
        if (!x || !spec)
                return al_err(err, -EINVAL, "no exec given");
        timeout_ms = x->timeout_ms > 0            ? x->timeout_ms
                     : spec->limits.timeout_s > 0 ? spec->limits.timeout_s * 1000
                                                  : HOST_DEFAULT_TIMEOUT;
        rr = prepare(&r, spec, x, &l, err);
        if (rr < 0)
                return rr;
        rr = setup_cgroups(pool, &r, spec, err);
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
                /* The init joins it (host_child_init_main) before the command is made. */
                if (r.egress_ns >= 0)
                        l.host_net_fd = r.egress_ns;
                l.mountns = mountns;
                l.ipcns = ipcns;
        }
        l.argv = x->argv;
        l.envp = r.env;
        l.candidates = r.candidates;
        l.workdir = r.workdir;
        l.mops = r.plan.mops;
        l.n_mops = r.plan.n_mops;
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
                return al_err_wrap(err, rr, "host launch");
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
