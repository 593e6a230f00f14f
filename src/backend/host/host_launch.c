#include "backend/host/host_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/capability.h>

/* Everything from here to host_launch_start runs in the forked child of a multi-threaded
 * daemon: system calls only, no allocation, no stdio, no locks. */

static _Noreturn void child_fail(const struct host_launch *l, enum host_stage stage, int e,
                                 int detail)
{
        struct host_report r = {.stage = stage, .error = e, .detail = detail};

        (void)!write(l->report_fd, &r, sizeof(r));
        _exit(127);
}

/* Close every fd but those in keep (all >= 3): the init must not hold the daemon's sockets
 * open for as long as the command runs. */
static void close_all_except(int *keep, size_t n)
{
        unsigned int next = 0;

        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
                        int t = keep[j];

                        keep[j] = keep[j - 1];
                        keep[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned int)keep[i] < next)
                        continue;
                if ((unsigned int)keep[i] > next)
                        (void)close_range(next, (unsigned int)keep[i] - 1, 0);
                next = (unsigned int)keep[i] + 1;
        }
        (void)close_range(next, ~0U, 0);
}

static int do_mop(const struct host_mop *m)
{
        switch (m->kind) {
        case HOST_MOP_PRIVATE:
                return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        case HOST_MOP_RO_ROOT: {
                struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};

                return (int)syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof(a));
        }
        case HOST_MOP_TMPFS:
                return mount("tmpfs", m->target, "tmpfs", m->flags, m->data);
        case HOST_MOP_MKDIR:
                if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
                        return -1;
                return 0;
        case HOST_MOP_BIND:
                return mount(m->src, m->target, NULL, MS_BIND | MS_REC, NULL);
        case HOST_MOP_REMOUNT:
                return mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | m->flags, NULL);
        case HOST_MOP_PROC:
                return mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        }
        errno = EINVAL;
        return -1;
}

/* A fresh network namespace has only a down loopback; bring it up so that the command can
 * talk to itself on 127.0.0.1 (the namespace is its own: nothing else is on it). */
static int loopback_up(void)
{
        struct ifreq ifr;
        int s, r = 0;

        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -1;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
                r = -1;
        } else {
                ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                        r = -1;
        }
        close(s);
        return r;
}

static void setup_namespaces(const struct host_launch *l)
{
        if (l->mountns)
                for (size_t i = 0; i < l->n_mops; i++)
                        if (do_mop(&l->mops[i]) < 0)
                                child_fail(l, HOST_STAGE_MOUNT, errno, (int)i);
        if (l->netns && loopback_up() < 0)
                child_fail(l, HOST_STAGE_NETWORK, errno, 0);
}

static void reset_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        /* Ignored signals survive execve: undo whatever the daemon ignores (SIGPIPE, ...). */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);
}

static _Noreturn void worker_main(const struct host_launch *l)
{
        sigset_t none;
        int best = ENOENT;
        bool eacces = false;

        reset_signals();
        /* Join the cgroups first: everything the command forks is counted and limited. */
        for (size_t i = 0; i < l->n_cg_fds; i++)
                if (write(l->cg_fds[i], "0", 1) != 1)
                        child_fail(l, HOST_STAGE_CGROUP, errno, (int)i);
        if (!l->pidns) {
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                setup_namespaces(l);
        }
        if (setsid() < 0)
                child_fail(l, HOST_STAGE_SESSION, errno, 0);
        if (dup2(l->stdin_fd, 0) < 0 || dup2(l->stdout_fd, 1) < 0 || dup2(l->stderr_fd, 2) < 0)
                child_fail(l, HOST_STAGE_FDS, errno, 0);
        /* Nothing but 0, 1, 2 crosses execve; the report pipe stays open until it. */
        if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                child_fail(l, HOST_STAGE_FDS, errno, 0);
        for (size_t i = 0; i < l->n_rl; i++)
                if (setrlimit((__rlimit_resource_t)l->rl_res[i], &l->rl[i]) < 0)
                        child_fail(l, HOST_STAGE_RLIMIT, errno, l->rl_res[i]);
        /* Without no_new_privs an unprivileged process may not load a filter: load it now,
         * while still root. */
        if (l->filter && !l->no_new_privs &&
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, l->filter) < 0)
                child_fail(l, HOST_STAGE_SECCOMP, errno, 0);
        if (l->drop_caps) {
                /* The bounding set needs CAP_SETPCAP, so it goes before the uid change. */
                for (int c = 0; c <= l->cap_last; c++)
                        if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL)
                                child_fail(l, HOST_STAGE_CAPS, errno, c);
                if (cap_reset_ambient() < 0 && errno != EINVAL)
                        child_fail(l, HOST_STAGE_CAPS, errno, -1);
        }
        /* Raw system calls: glibc's wrappers would try to signal the daemon's other threads,
         * which do not exist in this child. */
        if (syscall(SYS_setgroups, 0, NULL) < 0)
                child_fail(l, HOST_STAGE_GROUPS, errno, 0);
        if (syscall(SYS_setresgid, l->gid, l->gid, l->gid) < 0)
                child_fail(l, HOST_STAGE_GID, errno, 0);
        if (syscall(SYS_setresuid, l->uid, l->uid, l->uid) < 0)
                child_fail(l, HOST_STAGE_UID, errno, 0);
        /* setresuid cleared the permitted and effective sets; this clears the inheritable. */
        if (l->drop_caps && cap_set_proc((cap_t)l->empty_caps) < 0)
                child_fail(l, HOST_STAGE_CAPS, errno, -2);
        /* The credential change cleared the parent-death signal: set it again. */
        if (!l->pidns)
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (l->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(l, HOST_STAGE_NNP, errno, 0);
        if (l->filter && l->no_new_privs &&
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, l->filter) < 0)
                child_fail(l, HOST_STAGE_SECCOMP, errno, 0);
        if (chdir(l->workdir) < 0)
                child_fail(l, HOST_STAGE_CHDIR, errno, 0);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        /* As execvp does: go on past missing files, remember a permission problem. */
        for (size_t i = 0; l->candidates[i]; i++) {
                execve(l->candidates[i], l->argv, l->envp);
                if (errno == EACCES) {
                        eacces = true;
                        continue;
                }
                if (errno == ENOENT || errno == ENOTDIR || errno == ESTALE || errno == ENODEV ||
                    errno == ETIMEDOUT)
                        continue;
                best = errno;
                eacces = false;
                break;
        }
        if (eacces)
                best = EACCES;
        child_fail(l, HOST_STAGE_EXEC, best, 0);
}

/* PID 1 of the new PID namespace: sets up the namespaces, forks the command, reaps orphans,
 * and reports the command's status. When it exits the kernel kills whatever is left, which is
 * how a timeout or the end of the command takes the whole tree down. */
static _Noreturn void init_main(const struct host_launch *l)
{
        struct sigaction sa;
        struct clone_args a;
        int keep[HOST_KEEP_MAX + 8];
        size_t nk = 0;
        long pid;

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)setsid();
        keep[nk++] = l->stdin_fd;
        keep[nk++] = l->stdout_fd;
        keep[nk++] = l->stderr_fd;
        keep[nk++] = l->report_fd;
        keep[nk++] = l->status_fd;
        for (size_t i = 0; i < l->n_cg_fds && nk < (sizeof(keep) / sizeof(keep[0])); i++)
                keep[nk++] = l->cg_fds[i];
        for (size_t i = 0; i < l->n_extra_fds && nk < (sizeof(keep) / sizeof(keep[0])); i++)
                keep[nk++] = l->extra_fds[i];
        close_all_except(keep, nk);
        /* wait4 must see the command even if the daemon ignores SIGCHLD. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        (void)sigaction(SIGCHLD, &sa, NULL);
        setup_namespaces(l);
        memset(&a, 0, sizeof(a));
        a.exit_signal = SIGCHLD;
        pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0)
                worker_main(l);
        if (pid < 0)
                child_fail(l, HOST_STAGE_FORK, errno, 0);
        close(l->stdin_fd);
        close(l->stdout_fd);
        close(l->stderr_fd);
        close(l->report_fd);
        for (size_t i = 0; i < l->n_cg_fds; i++)
                close(l->cg_fds[i]);
        for (size_t i = 0; i < l->n_extra_fds; i++)
                close(l->extra_fds[i]);
        for (;;) {
                int st;
                pid_t w = wait4(-1, &st, __WALL, NULL);

                if (w == (pid_t)pid) {
                        (void)!write(l->status_fd, &st, sizeof(st));
                        _exit(0);
                }
                if (w < 0 && errno != EINTR)
                        _exit(0);
        }
}

int host_launch_start(const struct host_launch *l, int *ret_pidfd, pid_t *ret_pid,
                      struct al_error *err)
{
        struct clone_args a;
        sigset_t all, old;
        int pidfd = -1, e;
        long pid;

        memset(&a, 0, sizeof(a));
        a.flags = CLONE_PIDFD;
        if (l->pidns)
                a.flags |= CLONE_NEWPID;
        if (l->mountns)
                a.flags |= CLONE_NEWNS;
        if (l->netns)
                a.flags |= CLONE_NEWNET;
        a.pidfd = (uint64_t)(uintptr_t)&pidfd;
        /* No exit signal: the daemon's SIGCHLD handling (or SIG_IGN) can neither reap this
         * child nor be disturbed by it; we wait through the pidfd with __WALL. */
        a.exit_signal = 0;
        /* Block every signal so that none of the daemon's handlers runs in the child before
         * it resets them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0) {
                if (l->pidns)
                        init_main(l);
                worker_main(l);
        }
        e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0)
                return al_err_errno(err, -e, "clone3");
        *ret_pidfd = pidfd;
        *ret_pid = (pid_t)pid;
        return 0;
}

const char *host_stage_name(enum host_stage s)
{
        static const char *const names[] = {
            [HOST_STAGE_NONE] = "start",        [HOST_STAGE_CGROUP] = "joining the cgroup",
            [HOST_STAGE_MOUNT] = "mount",       [HOST_STAGE_NETWORK] = "network setup",
            [HOST_STAGE_FORK] = "fork",         [HOST_STAGE_FDS] = "file descriptors",
            [HOST_STAGE_RLIMIT] = "rlimits",    [HOST_STAGE_SESSION] = "setsid",
            [HOST_STAGE_CAPS] = "capabilities", [HOST_STAGE_GROUPS] = "setgroups",
            [HOST_STAGE_GID] = "setresgid",     [HOST_STAGE_UID] = "setresuid",
            [HOST_STAGE_NNP] = "no_new_privs",  [HOST_STAGE_SECCOMP] = "seccomp",
            [HOST_STAGE_CHDIR] = "chdir",       [HOST_STAGE_EXEC] = "exec",
        };

        if ((size_t)s < sizeof(names) / sizeof(names[0]) && names[s])
                return names[s];
        return "unknown stage";
}

/* Run fn-less probe children: clone3 with flags, then (for mount namespaces) try the mount
 * operations the launcher uses. The exit code carries what worked. */
static int probe_child(unsigned long flags, bool mounts)
{
        struct clone_args a;
        siginfo_t si;
        sigset_t all, old;
        int pidfd = -1;
        long pid;

        memset(&a, 0, sizeof(a));
        a.flags = CLONE_PIDFD | flags;
        a.pidfd = (uint64_t)(uintptr_t)&pidfd;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0) {
                int bits = 1;

                if (mounts && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
                        struct mount_attr at = {.attr_set = MOUNT_ATTR_RDONLY};

                        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
                                  "size=1m,mode=1777") == 0)
                                bits |= 2;
                        if ((flags & CLONE_NEWPID) &&
                            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                  NULL) == 0)
                                bits |= 4;
                        if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &at,
                                    sizeof(at)) == 0)
                                bits |= 8;
                }
                _exit(bits);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0)
                return 0;
        memset(&si, 0, sizeof(si));
        while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
                ;
        close(pidfd);
        return si.si_code == CLD_EXITED ? si.si_status : 0;
}

void host_launch_probe(struct host_probe *ret)
{
        int m;

        memset(ret, 0, sizeof(*ret));
        ret->netns = probe_child(CLONE_NEWNET, false) & 1;
        ret->pidns = probe_child(CLONE_NEWPID, false) & 1;
        m = probe_child(CLONE_NEWNS | (ret->pidns ? CLONE_NEWPID : 0), true);
        ret->mountns = m & 1;
        ret->tmpfs = (m & 2) != 0;
        ret->proc = (m & 4) != 0;
        ret->ro_root = (m & 8) != 0;
}
