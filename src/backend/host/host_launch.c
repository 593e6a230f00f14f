#include "backend/host/host_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
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

/* The daemon's argument area (/proc/PID/cmdline reads it), found once by
 * host_launch_prebind. Forked children share its address until they execve. */
static uintptr_t args_start, args_end;

/* Everything from here to host_launch_start runs in the forked child of a multi-threaded
 * daemon: system calls only, no allocation, no stdio, no locks. */

/* _exit without the lazy symbol binding a first call would cost in every child. */
static _Noreturn void child_exit(int code)
{
        for (;;)
                (void)syscall(SYS_exit_group, code);
}

static _Noreturn void child_fail(const struct host_launch *l, enum host_stage stage, int e,
                                 int detail)
{
        struct host_report r = {.stage = stage, .error = e, .detail = detail};

        (void)!write(l->report_fd, &r, sizeof(r));
        child_exit(127);
}

/* Close every fd but those in keep (all >= 3): the init must not hold the daemon's sockets
 * open for as long as the command runs. */
void host_child_close_all_except(int *keep, size_t n)
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

/* "/proc/self/fd/N" without stdio. */
static void fd_path(char *out, int fd)
{
        char digits[12];
        int n = 0;

        memcpy(out, "/proc/self/fd/", 14);
        do {
                digits[n++] = (char)('0' + fd % 10);
                fd /= 10;
        } while (fd > 0 && n < 11);
        for (int i = 0; i < n; i++)
                out[14 + i] = digits[n - 1 - i];
        out[14 + n] = '\0';
}

const char *const host_dev_nodes[HOST_DEV_NODES] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static const struct {
        const char *target, *link;
} dev_links[] = {
    {"/dev/ptmx", "pts/ptmx"},          {"/dev/fd", "/proc/self/fd"},
    {"/dev/stdin", "/proc/self/fd/0"},  {"/dev/stdout", "/proc/self/fd/1"},
    {"/dev/stderr", "/proc/self/fd/2"},
};

/* A minimal /dev in place of the host's: the nodes of host_dev_nodes bound one by one (so no
 * other device, /dev/vsock or a disk, is reachable), a devpts instance of the exec's own, a
 * tmpfs for /dev/shm with shm_data, the links; then the tmpfs goes read-only. The host's
 * nodes are opened before the tmpfs covers them; a node the host lacks is left out. */
static int do_dev(const char *shm_data)
{
        int fds[HOST_DEV_NODES], r = -1, e = 0;
        char src[32];
        size_t i;

        for (i = 0; i < HOST_DEV_NODES; i++)
                fds[i] = -1;
        for (i = 0; i < HOST_DEV_NODES; i++) {
                fds[i] = open(host_dev_nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fds[i] < 0 && errno != ENOENT)
                        goto out;
        }
        if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=64k,nr_inodes=64,mode=755") < 0)
                goto out;
        for (i = 0; i < HOST_DEV_NODES; i++) {
                int fd;

                if (fds[i] < 0)
                        continue;
                /* A bind mount keeps the host mount's own flags (not nodev), whatever the
                 * tmpfs under it says. */
                fd = open(host_dev_nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
                if (fd < 0)
                        goto out;
                close(fd);
                fd_path(src, fds[i]);
                if (mount(src, host_dev_nodes[i], NULL, MS_BIND, NULL) < 0)
                        goto out;
        }
        if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0)
                goto out;
        if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620") < 0)
                goto out;
        if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                  shm_data ? shm_data : "size=64m,mode=1777") < 0)
                goto out;
        for (i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
                if (symlink(dev_links[i].link, dev_links[i].target) < 0)
                        goto out;
        if (mount(NULL, "/dev", NULL,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                goto out;
        r = 0;
out:
        e = errno;
        for (i = 0; i < HOST_DEV_NODES; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        errno = e;
        return r;
}

/* held is the fd OPEN made, which BIND uses: opened inside the new mount namespace, since a
 * mount of another namespace cannot be bound. */
static int do_mop(const struct host_mop *m, int *held)
{
        char src[32];

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
        case HOST_MOP_OPEN:
                *held = open(m->target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                return *held < 0 ? -1 : 0;
        case HOST_MOP_BIND:
                if (*held < 0) {
                        errno = EBADF;
                        return -1;
                }
                fd_path(src, *held);
                return mount(src, m->target, NULL, MS_BIND | MS_REC, NULL);
        case HOST_MOP_REMOUNT:
                return mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | m->flags, NULL);
        case HOST_MOP_PROC:
                return mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        case HOST_MOP_DEV:
                return do_dev(m->data);
        }
        errno = EINVAL;
        return -1;
}

/* A fresh network namespace has only a down loopback; bring it up so that the command can
 * talk to itself on 127.0.0.1 (the namespace is its own: nothing else is on it). */
int host_child_loopback_up(void)
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
        int held = -1;

        if (l->mountns)
                for (size_t i = 0; i < l->n_mops; i++)
                        if (do_mop(&l->mops[i], &held) < 0)
                                child_fail(l, HOST_STAGE_MOUNT, errno, (int)i);
        if (held >= 0)
                close(held);
        /* A spawner's namespace has its loopback up already. */
        if (l->netns && l->host_net_fd < 0 && host_child_loopback_up() < 0)
                child_fail(l, HOST_STAGE_NETWORK, errno, 0);
}

void host_child_oom_score_adj(const char *v)
{
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

        if (fd >= 0) {
                (void)!write(fd, v, strlen(v));
                close(fd);
        }
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
                (void)syscall(SYS_umask, 022);
                host_child_oom_score_adj("0");
                setup_namespaces(l);
        }
        if (syscall(SYS_setsid) < 0)
                child_fail(l, HOST_STAGE_SESSION, errno, 0);
        if (dup2(l->stdin_fd, 0) < 0 || dup2(l->stdout_fd, 1) < 0 || dup2(l->stderr_fd, 2) < 0)
                child_fail(l, HOST_STAGE_FDS, errno, 0);
        /* The pipes are the exec's own: let it reopen them (/dev/stdout, /proc/self/fd/1),
         * which checks the pipe's owner, as runc does for a container's stdio. */
        for (int fd = 0; fd < 3; fd++)
                (void)fchown(fd, l->uid, l->gid);
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
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
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
        if (l->drop_caps) {
                struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
                struct __user_cap_data_struct none_caps[2];

                memset(none_caps, 0, sizeof(none_caps));
                if (syscall(SYS_capset, &hdr, none_caps) < 0)
                        child_fail(l, HOST_STAGE_CAPS, errno, -2);
        }
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
/* The init is a fork of the daemon (or of a spawner, itself one) that never calls execve:
 * its /proc/1/cmdline, readable by everyone in the exec's /proc, would be the daemon's
 * command line (socket, settings and state paths). Overwrite this copy of the area. */
static void scrub_cmdline(void)
{
        static const char name[] = "airlock-init";

        if (args_end <= args_start)
                return;
        memset((void *)args_start, 0, args_end - args_start);
        if (args_end - args_start > sizeof(name))
                memcpy((void *)args_start, name, sizeof(name));
}

_Noreturn void host_child_init_main(const struct host_launch *l)
{
        struct sigaction sa;
        struct clone_args a;
        int keep[HOST_KEEP_MAX];
        size_t nk = 0;
        long pid;

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)prctl(PR_SET_NAME, "airlock-init");
        (void)syscall(SYS_setsid);
        /* Not the daemon's umask: mount points made below must be traversable by the exec
         * user, and the command gets the usual 022. */
        (void)syscall(SYS_umask, 022);
        /* The command must not inherit the daemon's or the spawner's OOM protection. */
        host_child_oom_score_adj("0");
        keep[nk++] = l->stdin_fd;
        keep[nk++] = l->stdout_fd;
        keep[nk++] = l->stderr_fd;
        keep[nk++] = l->report_fd;
        keep[nk++] = l->status_fd;
        for (size_t i = 0; i < l->n_cg_fds && nk < HOST_KEEP_MAX - 1; i++)
                keep[nk++] = l->cg_fds[i];
        if (l->host_net_fd >= 0)
                keep[nk++] = l->host_net_fd;
        host_child_close_all_except(keep, nk);
        if (l->host_net_fd >= 0) {
                if (!l->netns && setns(l->host_net_fd, CLONE_NEWNET) < 0)
                        child_fail(l, HOST_STAGE_NETWORK, errno, 1);
                close(l->host_net_fd);
        }
        /* wait4 must see the command even if the daemon ignores SIGCHLD. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        (void)sigaction(SIGCHLD, &sa, NULL);
        setup_namespaces(l);
        /* After the mounts (their paths may point into the area), before the command can see
         * this process. */
        scrub_cmdline();
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
        for (;;) {
                int st;
                pid_t w = (pid_t)syscall(SYS_wait4, -1, &st, __WALL, NULL);

                if (w == (pid_t)pid) {
                        (void)!write(l->status_fd, &st, sizeof(st));
                        child_exit(0);
                }
                if (w < 0 && errno != EINTR)
                        child_exit(0);
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
        if (l->ipcns)
                a.flags |= CLONE_NEWIPC;
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
                        host_child_init_main(l);
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
                        if (do_dev("size=1m,mode=1777") == 0)
                                bits |= 16;
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

/* arg_start and arg_end, fields 48 and 49 of /proc/self/stat (Linux 3.5). */
static void find_args(void)
{
        char buf[2048], *p;
        unsigned long long v[2];
        ssize_t n;
        int fd, field = 2;

        fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
        if (!p)
                return;
        for (; *p && field < 48; p++)
                if (*p == ' ')
                        field++;
        if (field != 48 || sscanf(p, "%llu %llu", &v[0], &v[1]) != 2)
                return;
        /* A sane area only: the scrub writes into it. */
        if (v[0] == 0 || v[1] <= v[0] || v[1] - v[0] > 1024 * 1024)
                return;
        args_start = (uintptr_t)v[0];
        args_end = (uintptr_t)v[1];
}

void host_launch_prebind(void)
{
        static char *const no_args[] = {NULL};
        struct sigaction sa;
        struct rlimit rl = {0, 0};
        sigset_t set;
        char buf[8];
        volatile size_t two = 2;
        int saved = errno;

        /* Every library function the child path calls, each made to fail harmlessly (a bad
         * fd, an empty path, an invalid number): the dynamic linker binds its symbol here,
         * once, instead of in every forked child (a lookup and copy-on-write faults per exec).
         * memset and friends get a size the compiler cannot see, so that they are real
         * calls. */
        memset(&sa, 0, sizeof(sa));
        memset(buf, 0, two);
        memcpy(buf, "x", two);
        (void)!strlen(buf);
        (void)sigemptyset(&set);
        (void)sigfillset(&set);
        (void)sigaction(-1, NULL, &sa);
        (void)sigprocmask(SIG_BLOCK, NULL, &set);
        (void)!write(-1, buf, 0);
        (void)!read(-1, buf, 0);
        (void)close(-1);
        (void)close_range(~0U, 0, 0);
        (void)dup2(-1, -1);
        (void)fchown(-1, 0, 0);
        (void)open("", O_RDONLY | O_CLOEXEC);
        (void)mkdir("", 0);
        (void)symlink("", "");
        (void)chdir("");
        (void)mount("", "", "", 0, NULL);
        (void)setrlimit((__rlimit_resource_t)-1, &rl);
        (void)prctl(-1, 0, 0, 0, 0);
        (void)socket(-1, -1, -1);
        (void)ioctl(-1, 0, NULL);
        (void)setns(-1, 0);
        (void)unshare(-1);
        (void)cap_drop_bound((cap_value_t)-1);
        (void)execve("", no_args, no_args);
        (void)syscall(SYS_getpid);
        errno = saved;
        find_args();
}

void host_launch_probe(struct host_probe *ret)
{
        int m;

        memset(ret, 0, sizeof(*ret));
        ret->netns = probe_child(CLONE_NEWNET, false) & 1;
        ret->pidns = probe_child(CLONE_NEWPID, false) & 1;
        ret->ipcns = probe_child(CLONE_NEWIPC, false) & 1;
        m = probe_child(CLONE_NEWNS | (ret->pidns ? CLONE_NEWPID : 0), true);
        ret->mountns = m & 1;
        ret->tmpfs = (m & 2) != 0;
        ret->proc = (m & 4) != 0;
        ret->ro_root = (m & 8) != 0;
        ret->dev = (m & 16) != 0;
}
