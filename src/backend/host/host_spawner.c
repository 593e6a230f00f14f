/* The spawner (see host_launch.h): a pre-started child of the daemon, sitting in a slot's
 * cgroups, that forks the init of each exec it is sent. The daemon lays the exec out in one
 * memfd blob; the spawner maps it privately and turns its offsets into pointers. */
#include "backend/host/host_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

/* The request: one blob in a memfd, laid out by the daemon with offsets (uintptr_t, 0 for
 * NULL) that the spawner turns into pointers in its private mapping. */
#define BLOB_MAGIC   0x41484c42u
#define BLOB_NETNS   1u
#define BLOB_MOUNTNS 2u
#define BLOB_IPCNS   4u

struct blob_hdr {
        uint32_t magic;
        uint32_t flags;
        uint32_t n_mops, n_rl;
        uint64_t size;
        uintptr_t argv, envp, cand, workdir, mops;
        struct {
                int64_t res;
                uint64_t cur, max;
        } rl[HOST_RLIM_MAX];
};

struct blob_mop {
        uintptr_t kind, flags, src, target, data;
};

/* Fds sent with a request, in this order. */
enum { SFD_BLOB, SFD_STDIN, SFD_STDOUT, SFD_STDERR, SFD_REPORT, SFD_STATUS, SFD_MAX };

static int recv_fds(int sock, void *data, size_t len, int *fds, size_t max_fds, size_t *ret_n)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * SFD_MAX)];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = data, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        ssize_t n;

        *ret_n = 0;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return n < 0 ? -errno : -EPIPE;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (*ret_n < max_fds)
                                fds[(*ret_n)++] = fd;
                        else
                                close(fd);
                }
        }
        return (int)n;
}

static int send_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * SFD_MAX)];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (n_fds > 0) {
                struct cmsghdr *c;

                memset(&u, 0, sizeof(u));
                msg.msg_control = u.buf;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : 0;
}

/* Turn an offset array (terminated by 0) into a pointer array in place. */
static bool fix_strv(char *base, uint64_t size, uintptr_t off, char ***ret)
{
        uintptr_t *v;

        if (off == 0 || off >= size || off % sizeof(uintptr_t))
                return false;
        v = (uintptr_t *)(void *)(base + off);
        for (size_t i = 0; (char *)&v[i] < base + size; i++) {
                if (v[i] == 0) {
                        *ret = (char **)(void *)v;
                        return true;
                }
                if (v[i] >= size)
                        return false;
                v[i] = (uintptr_t)(base + v[i]);
        }
        return false;
}

static struct host_mop spawner_mops[HOST_MOPS_MAX];

/* Build the launch for one request from the blob; false if the blob is malformed. */
static bool parse_blob(char *base, uint64_t size, struct host_launch *l)
{
        struct blob_hdr *h = (struct blob_hdr *)(void *)base;
        char **argv, **envp, **cand;
        struct blob_mop *bm;

        if (size < sizeof(*h) || h->magic != BLOB_MAGIC || h->size != size ||
            base[size - 1] != '\0' || h->n_mops > HOST_MOPS_MAX || h->n_rl > HOST_RLIM_MAX)
                return false;
        if (!fix_strv(base, size, h->argv, &argv) || !fix_strv(base, size, h->envp, &envp) ||
            !fix_strv(base, size, h->cand, &cand) || h->workdir == 0 || h->workdir >= size)
                return false;
        if (h->n_mops && (h->mops == 0 || h->mops + h->n_mops * sizeof(*bm) > size))
                return false;
        bm = (struct blob_mop *)(void *)(base + h->mops);
        for (uint32_t i = 0; i < h->n_mops; i++) {
                if (bm[i].src >= size || bm[i].target >= size || bm[i].data >= size)
                        return false;
                spawner_mops[i].kind = (enum host_mop_kind)bm[i].kind;
                spawner_mops[i].flags = (unsigned long)bm[i].flags;
                spawner_mops[i].src = bm[i].src ? base + bm[i].src : NULL;
                spawner_mops[i].target = bm[i].target ? base + bm[i].target : NULL;
                spawner_mops[i].data = bm[i].data ? base + bm[i].data : NULL;
        }
        l->argv = argv;
        l->envp = envp;
        l->candidates = cand;
        l->workdir = base + h->workdir;
        l->netns = (h->flags & BLOB_NETNS) != 0;
        l->mountns = (h->flags & BLOB_MOUNTNS) != 0;
        l->ipcns = (h->flags & BLOB_IPCNS) != 0;
        l->mops = spawner_mops;
        l->n_mops = h->n_mops;
        l->n_rl = h->n_rl;
        for (uint32_t i = 0; i < h->n_rl; i++) {
                l->rl_res[i] = (int)h->rl[i].res;
                l->rl[i].rlim_cur = (rlim_t)h->rl[i].cur;
                l->rl[i].rlim_max = (rlim_t)h->rl[i].max;
        }
        return true;
}

static void spawner_serve(const struct host_launch *base, int sock)
{
        for (;;) {
                struct host_launch l = *base;
                struct clone_args a;
                struct stat st;
                int fds[SFD_MAX], pidfd = -1;
                int32_t result = 0;
                size_t nfd = 0;
                char op;
                char *blob = MAP_FAILED;
                long pid;
                int r;

                r = recv_fds(sock, &op, 1, fds, SFD_MAX, &nfd);
                if (r < 0)
                        _exit(0); /* the daemon closed the socket: this slot is done */
                if (nfd < SFD_MAX || fstat(fds[SFD_BLOB], &st) < 0 || st.st_size <= 0) {
                        result = EINVAL;
                        goto reply;
                }
                blob = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                            fds[SFD_BLOB], 0);
                if (blob == MAP_FAILED || !parse_blob(blob, (uint64_t)st.st_size, &l)) {
                        result = EINVAL;
                        goto reply;
                }
                l.stdin_fd = fds[SFD_STDIN];
                l.stdout_fd = fds[SFD_STDOUT];
                l.stderr_fd = fds[SFD_STDERR];
                l.report_fd = fds[SFD_REPORT];
                l.status_fd = fds[SFD_STATUS];
                l.pidns = true;
                l.cg_fds = NULL;
                l.n_cg_fds = 0;
                memset(&a, 0, sizeof(a));
                a.flags = CLONE_PIDFD | CLONE_NEWPID;
                if (l.mountns)
                        a.flags |= CLONE_NEWNS;
                /* The slot's own network namespace serves; the init leaves it for the host's
                 * when the exec has the network. Without one, the host's is ours already. */
                if (l.ipcns)
                        a.flags |= CLONE_NEWIPC;
                a.pidfd = (uint64_t)(uintptr_t)&pidfd;
                /* SIGCHLD is ignored here: the kernel reaps the init when it ends. */
                a.exit_signal = SIGCHLD;
                pid = syscall(SYS_clone3, &a, sizeof(a));
                if (pid == 0) {
                        close(sock);
                        close(fds[SFD_BLOB]);
                        host_child_init_main(&l);
                }
                if (pid < 0)
                        result = errno;
        reply:
                (void)send_fds(sock, &result, sizeof(result), &pidfd, pidfd >= 0 ? 1 : 0);
                if (pidfd >= 0)
                        close(pidfd);
                for (size_t i = 0; i < nfd; i++)
                        close(fds[i]);
                if (blob != MAP_FAILED)
                        munmap(blob, (size_t)st.st_size);
        }
}

static _Noreturn void spawner_main(const struct host_launch *tmpl, int sock, const int *cg_fds,
                                   size_t n_cg_fds)
{
        struct host_launch base = *tmpl;
        struct sigaction sa;
        int keep[HOST_KEEP_MAX];
        size_t nk = 0;
        char ready = 1;

        base.host_net_fd = -1;

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)prctl(PR_SET_NAME, "airlock-spawner");
        keep[nk++] = sock;
        for (size_t i = 0; i < n_cg_fds && nk < HOST_KEEP_MAX; i++)
                keep[nk++] = cg_fds[i];
        host_child_close_all_except(keep, nk);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sa.sa_flags = SA_NOCLDWAIT;
        (void)sigaction(SIGCHLD, &sa, NULL);
        for (size_t i = 0; i < n_cg_fds; i++) {
                if (write(cg_fds[i], "0", 1) != 1)
                        _exit(3);
                close(cg_fds[i]);
        }
        /* The spawner outlives many execs in its cgroup: never the OOM killer's choice. */
        host_child_oom_score_adj("-1000");
        if (tmpl->netns) {
                base.host_net_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
                if (base.host_net_fd < 0 || unshare(CLONE_NEWNET) < 0 ||
                    host_child_loopback_up() < 0)
                        _exit(5);
        }
        if (send_fds(sock, &ready, 1, NULL, 0) < 0)
                _exit(4);
        spawner_serve(&base, sock);
        _exit(0);
}

int host_spawner_start(const struct host_launch *tmpl, const int *cg_fds, size_t n_cg_fds,
                       int *ret_sock, int *ret_pidfd, pid_t *ret_pid, struct al_error *err)
{
        struct clone_args a;
        struct pollfd pf;
        sigset_t all, old;
        int sv[2], pidfd = -1, e, pr;
        char ready = 0;
        long pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return al_err_errno(err, -errno, "socketpair");
        memset(&a, 0, sizeof(a));
        a.flags = CLONE_PIDFD;
        a.pidfd = (uint64_t)(uintptr_t)&pidfd;
        a.exit_signal = 0;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0) {
                close(sv[0]);
                spawner_main(tmpl, sv[1], cg_fds, n_cg_fds);
        }
        e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(sv[1]);
        if (pid < 0) {
                close(sv[0]);
                return al_err_errno(err, -e, "clone3 (spawner)");
        }
        /* Joining the cgroups takes a grace period or two; the first byte says it is done. */
        pf = (struct pollfd){.fd = sv[0], .events = POLLIN};
        do
                pr = poll(&pf, 1, 5000);
        while (pr < 0 && errno == EINTR);
        if (pr <= 0 || read(sv[0], &ready, 1) != 1 || ready != 1) {
                siginfo_t si;

                (void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                (void)waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL);
                close(pidfd);
                close(sv[0]);
                return al_err(err, -EIO, "spawner did not start");
        }
        *ret_sock = sv[0];
        *ret_pidfd = pidfd;
        *ret_pid = (pid_t)pid;
        return 0;
}

/* Blob building, in the daemon (allocation is fine here). */
struct blob_builder {
        char *buf;
        size_t len, cap;
        bool oom;
};

static uintptr_t bb_reserve(struct blob_builder *b, size_t n, size_t align)
{
        size_t off = (b->len + align - 1) & ~(align - 1);

        if (off + n > b->cap) {
                size_t nc = b->cap ? b->cap : 4096;
                char *nb;

                while (nc < off + n)
                        nc *= 2;
                nb = realloc(b->buf, nc);
                if (!nb) {
                        b->oom = true;
                        return 0;
                }
                memset(nb + b->cap, 0, nc - b->cap);
                b->buf = nb;
                b->cap = nc;
        }
        b->len = off + n;
        return off;
}

static uintptr_t bb_str(struct blob_builder *b, const char *s)
{
        size_t n;
        uintptr_t off;

        if (!s)
                return 0;
        n = strlen(s) + 1;
        off = bb_reserve(b, n, 1);
        if (!b->oom)
                memcpy(b->buf + off, s, n);
        return off;
}

static uintptr_t bb_strv(struct blob_builder *b, char *const *v)
{
        size_t n = 0;
        uintptr_t off, *arr;

        while (v && v[n])
                n++;
        off = bb_reserve(b, (n + 1) * sizeof(uintptr_t), sizeof(uintptr_t));
        for (size_t i = 0; i < n && !b->oom; i++) {
                uintptr_t s = bb_str(b, v[i]);

                arr = (uintptr_t *)(void *)(b->buf + off);
                arr[i] = s;
        }
        return off;
}

int host_spawner_launch(int sock, const struct host_launch *l, int *ret_pidfd, struct al_error *err)
{
        struct blob_builder b = {0};
        struct blob_hdr *h;
        uintptr_t mops;
        int fds[SFD_MAX], memfd, rfd[1], r;
        size_t nfd = 0, nr = 0;
        int32_t result = 0;
        struct pollfd pf;

        (void)bb_reserve(&b, sizeof(*h), 8);
        mops = bb_reserve(&b, sizeof(struct blob_mop) * (l->n_mops ? l->n_mops : 1), 8);
        for (size_t i = 0; i < l->n_mops && !b.oom; i++) {
                struct blob_mop m = {
                    .kind = (uintptr_t)l->mops[i].kind,
                    .flags = (uintptr_t)l->mops[i].flags,
                    .src = bb_str(&b, l->mops[i].src),
                    .target = bb_str(&b, l->mops[i].target),
                    .data = bb_str(&b, l->mops[i].data),
                };

                if (!b.oom)
                        memcpy(b.buf + mops + i * sizeof(m), &m, sizeof(m));
        }
        {
                uintptr_t argv = bb_strv(&b, l->argv);
                uintptr_t envp = bb_strv(&b, l->envp);
                uintptr_t cand = bb_strv(&b, l->candidates);
                uintptr_t workdir = bb_str(&b, l->workdir);

                (void)bb_str(&b, ""); /* the blob ends in a NUL */
                if (b.oom) {
                        free(b.buf);
                        return al_err(err, -ENOMEM, "out of memory");
                }
                h = (struct blob_hdr *)(void *)b.buf;
                h->magic = BLOB_MAGIC;
                h->flags = (l->netns ? BLOB_NETNS : 0) | (l->mountns ? BLOB_MOUNTNS : 0) |
                           (l->ipcns ? BLOB_IPCNS : 0);
                h->n_mops = (uint32_t)l->n_mops;
                h->n_rl = (uint32_t)l->n_rl;
                h->size = b.len;
                h->argv = argv;
                h->envp = envp;
                h->cand = cand;
                h->workdir = workdir;
                h->mops = mops;
                for (size_t i = 0; i < l->n_rl; i++) {
                        h->rl[i].res = l->rl_res[i];
                        h->rl[i].cur = l->rl[i].rlim_cur;
                        h->rl[i].max = l->rl[i].rlim_max;
                }
        }
        memfd = memfd_create("airlock-exec", MFD_CLOEXEC);
        if (memfd < 0) {
                free(b.buf);
                return al_err_errno(err, -errno, "memfd_create");
        }
        for (size_t off = 0; off < b.len;) {
                ssize_t n = write(memfd, b.buf + off, b.len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = -errno;
                        free(b.buf);
                        close(memfd);
                        return al_err_errno(err, r, "write request");
                }
                off += (size_t)n;
        }
        free(b.buf);
        fds[nfd++] = memfd;
        fds[nfd++] = l->stdin_fd;
        fds[nfd++] = l->stdout_fd;
        fds[nfd++] = l->stderr_fd;
        fds[nfd++] = l->report_fd;
        fds[nfd++] = l->status_fd;
        r = send_fds(sock, "x", 1, fds, nfd);
        close(memfd);
        if (r < 0)
                return al_err_errno(err, r, "send to spawner");
        pf = (struct pollfd){.fd = sock, .events = POLLIN};
        do
                r = poll(&pf, 1, 5000);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
                return al_err(err, -ETIMEDOUT, "spawner did not answer");
        r = recv_fds(sock, &result, sizeof(result), rfd, 1, &nr);
        if (r < (int)sizeof(result)) {
                if (nr)
                        close(rfd[0]);
                return al_err(err, r < 0 ? r : -EPIPE, "spawner went away");
        }
        if (result != 0 || nr == 0) {
                if (nr)
                        close(rfd[0]);
                return al_err_errno(err, -(result ? result : EIO), "spawner clone3");
        }
        *ret_pidfd = rfd[0];
        return 0;
}
