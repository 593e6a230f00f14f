/* The egress relay of the in-sandbox agent (docs/egress.md): a sandbox has no network
 * interface but loopback, so the agent listens on 127.0.0.1:EGRESS_SANDBOX_PORT (and [::1])
 * and gives each connection to the daemon's egress proxy over the UNIX socket egress.sock
 * beside its own. First it hands the connection itself over (the byte EGRESS_HANDOFF_BYTE with
 * the TCP socket attached, SCM_RIGHTS): the proxy serves it directly and ends the UNIX
 * connection, and the relay lets go. Where that cannot be (gVisor's sockets are not the
 * host's, the send fails, the proxy answers instead) it carries the bytes unchanged. It runs
 * on a thread of its own with a poll loop: bytes move through a pipe per direction with
 * splice(2), inside the kernel, or through fixed buffers where no pipe could be made; no
 * allocation after start, so that the agent's forks never inherit a held allocator lock from
 * it, and at most RELAY_SLOTS connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "airlock/egress_port.h"
#include "relay.h"

#define RELAY_SLOTS 64
#define RELAY_BUF   (64u << 10)
#define RELAY_PIPE  (1024u << 10) /* asked for; the kernel may give less */

struct dir {
        char buf[RELAY_BUF]; /* used when pipe[0] < 0 */
        int pipe[2];         /* bytes held in the kernel: len of them */
        size_t len, off;
        bool eof;  /* the source ended */
        bool shut; /* the end was passed on */
};

struct slot {
        int fd[2]; /* 0: the code's TCP connection, 1: the proxy's UNIX socket; -1 when free */
        struct dir d[2]; /* d[0]: fd[0] -> fd[1]; d[1]: fd[1] -> fd[0] */
        bool offered;    /* fd[0] was passed to the proxy: its answer decides */
};

static struct slot slots[RELAY_SLOTS];
static struct sockaddr_un proxy_addr;
static int listeners[2] = {-1, -1};
static bool pass_fds;

static const char unavailable[] =
    "HTTP/1.1 503 Service Unavailable\r\nX-Airlock-Egress-Reason: proxy_unavailable\r\n"
    "Content-Type: text/plain\r\nContent-Length: 58\r\nConnection: close\r\n\r\n"
    "airlock egress: the proxy is not reachable from this box\n";

/* Direction d ends here, what it holds discarded. */
static void dir_drop(struct dir *d)
{
        for (int k = 0; k < 2; k++) {
                if (d->pipe[k] >= 0)
                        close(d->pipe[k]);
                d->pipe[k] = -1;
        }
        d->len = d->off = 0;
        d->eof = d->shut = true;
}

static void slot_close(struct slot *s)
{
        for (int i = 0; i < 2; i++) {
                if (s->fd[i] >= 0)
                        close(s->fd[i]);
                s->fd[i] = -1;
                dir_drop(&s->d[i]);
                s->d[i].eof = s->d[i].shut = false;
        }
        s->offered = false;
}

/* Carry the bytes of s from now on. */
static void relay_begin(struct slot *s)
{
        /* Replies are relayed as they come: no Nagle wait on the code's side. */
        (void)setsockopt(s->fd[0], IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        for (int i = 0; i < 2; i++) {
                if (pipe2(s->d[i].pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        s->d[i].pipe[0] = s->d[i].pipe[1] = -1; /* buffered, then */
                else
                        (void)fcntl(s->d[i].pipe[1], F_SETPIPE_SZ, (int)RELAY_PIPE);
        }
}

/* Pass the code's connection itself to the proxy: true when the message went (then the
 * proxy's answer decides, see settle), false when nothing was sent. */
static bool offer(struct slot *s)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctl = {0};
        unsigned char marker = EGRESS_HANDOFF_BYTE;
        struct iovec iov = {.iov_base = &marker, .iov_len = 1};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &s->fd[0], sizeof(int));
        return sendmsg(s->fd[1], &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1;
}

/* The proxy's answer to an offer: the UNIX connection's end means it took the connection (our
 * copy goes); bytes mean it did not (a refusal, for the code to read): carry them. */
static void settle(struct slot *s)
{
        char b;
        ssize_t n = recv(s->fd[1], &b, 1, MSG_PEEK | MSG_DONTWAIT);

        if (n > 0) {
                s->offered = false;
                relay_begin(s);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                slot_close(s);
        }
}

static void take(int lfd)
{
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), pfd;
        struct slot *s = NULL;

        if (fd < 0)
                return;
        for (int i = 0; i < RELAY_SLOTS && !s; i++)
                if (slots[i].fd[0] < 0)
                        s = &slots[i];
        pfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (!s || pfd < 0 || connect(pfd, (struct sockaddr *)&proxy_addr, sizeof(proxy_addr)) < 0) {
                /* No path out (the daemon is down or gave this box no egress): say so. The
                 * 503 fits an HTTP client; anything else just sees the connection end. */
                (void)!send(fd, unavailable, sizeof(unavailable) - 1, MSG_NOSIGNAL);
                if (pfd >= 0)
                        close(pfd);
                close(fd);
                return;
        }
        s->fd[0] = fd;
        s->fd[1] = pfd;
        if (pass_fds && offer(s))
                s->offered = true;
        else
                relay_begin(s);
}

/* Take what src has into d (empty before): bytes taken, 0 at its end, -1 with errno. */
static ssize_t dir_fill(struct dir *d, int src)
{
        if (d->pipe[0] >= 0) {
                ssize_t n = splice(src, NULL, d->pipe[1], NULL, RELAY_PIPE,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

                if (n >= 0 || errno != EINVAL)
                        return n;
                /* This socket cannot be spliced: buffered from now on (the pipe is empty). */
                close(d->pipe[0]);
                close(d->pipe[1]);
                d->pipe[0] = d->pipe[1] = -1;
        }
        d->off = 0;
        return read(src, d->buf, sizeof(d->buf));
}

/* Pass on what d holds, as far as dst takes it: bytes passed, -1 with errno. */
static ssize_t dir_drain(struct dir *d, int dst)
{
        if (d->pipe[0] >= 0)
                return splice(d->pipe[0], NULL, dst, NULL, d->len - d->off,
                              SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        return send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
}

/* Move bytes of direction i of s once without blocking; *more: a whole buffer was read and
 * sent, so more may be waiting. false: close the connection. */
static bool pump_once(struct slot *s, int i, short rev_src, bool *more)
{
        struct dir *d = &s->d[i];
        int src = s->fd[i], dst = s->fd[1 - i];
        bool full = false;

        *more = false;
        if (d->len == 0 && !d->eof && (rev_src & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = dir_fill(d, src);

                if (n > 0) {
                        d->len = (size_t)n;
                        d->off = 0;
                        full = (size_t)n == sizeof(d->buf);
                } else if (n == 0) {
                        d->eof = true;
                } else if (errno != EAGAIN && errno != EINTR) {
                        return false;
                }
        }
        while (d->off < d->len) {
                ssize_t n = dir_drain(d, dst);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (errno != EPIPE && errno != ECONNRESET)
                                return false;
                        /* The other end takes no more (the proxy answered a refusal and
                         * closed): this way is dropped, the other still carries the answer. */
                        dir_drop(d);
                        return true;
                }
                d->off += (size_t)n;
        }
        if (d->off == d->len) {
                d->len = d->off = 0;
                *more = full;
        }
        if (d->eof && d->len == 0 && !d->shut) {
                shutdown(dst, SHUT_WR);
                d->shut = true;
        }
        return true;
}

/* Direction i as far as it goes without blocking, a few buffers at most so that the other
 * connections are served too; false: close the connection. */
static bool pump(struct slot *s, int i, short rev_src)
{
        bool more = true;

        for (int round = 0; round < 8 && more; round++)
                if (!pump_once(s, i, round ? POLLIN : rev_src, &more))
                        return false;
        return true;
}

static void *relay_main(void *arg)
{
        struct pollfd p[2 + 2 * RELAY_SLOTS];

        (void)arg;
        for (;;) {
                int n = 0, free_slots = 0;

                for (int i = 0; i < RELAY_SLOTS; i++)
                        free_slots += slots[i].fd[0] < 0;
                for (int l = 0; l < 2; l++)
                        p[n++] =
                            (struct pollfd){.fd = free_slots ? listeners[l] : -1, .events = POLLIN};
                for (int i = 0; i < RELAY_SLOTS; i++) {
                        struct slot *s = &slots[i];

                        for (int k = 0; k < 2; k++) {
                                short ev = 0;

                                if (s->offered) {
                                        /* Only the proxy's answer: the code's socket may be
                                         * the proxy's already (and is not polled at all, so
                                         * that its hang-up cannot spin this loop). */
                                        p[n++] = (struct pollfd){.fd = k ? s->fd[1] : -1,
                                                                 .events = POLLIN};
                                        continue;
                                }
                                if (s->fd[0] >= 0) {
                                        if (s->d[k].len == 0 && !s->d[k].eof)
                                                ev |= POLLIN;
                                        if (s->d[1 - k].len > 0)
                                                ev |= POLLOUT;
                                }
                                p[n++] = (struct pollfd){.fd = s->fd[0] >= 0 ? s->fd[k] : -1,
                                                         .events = ev};
                        }
                }
                if (poll(p, (nfds_t)n, -1) < 0)
                        continue;
                for (int l = 0; l < 2; l++)
                        if (p[l].revents & POLLIN)
                                take(listeners[l]);
                for (int i = 0; i < RELAY_SLOTS; i++) {
                        struct slot *s = &slots[i];
                        short r0 = p[2 + 2 * i].revents, r1 = p[3 + 2 * i].revents;

                        if (s->offered) {
                                if (r1 & (POLLIN | POLLHUP | POLLERR))
                                        settle(s);
                                continue;
                        }
                        if (s->fd[0] < 0 || p[2 + 2 * i].fd < 0)
                                continue;
                        if (!pump(s, 0, r0) || !pump(s, 1, r1) || (s->d[0].shut && s->d[1].shut) ||
                            ((r0 | r1) & POLLERR && s->d[0].len + s->d[1].len > 0)) {
                                slot_close(s);
                        }
                }
        }
        return NULL;
}

static int listen_on(int family, int port)
{
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
        struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        int r;

        if (fd < 0)
                return -1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET) {
                in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                r = bind(fd, (struct sockaddr *)&in4, sizeof(in4));
        } else {
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
                in6.sin6_addr = in6addr_loopback;
                r = bind(fd, (struct sockaddr *)&in6, sizeof(in6));
        }
        if (r < 0 || listen(fd, 128) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

int relay_start(const char *proxy_path, int port, bool pass)
{
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (strlen(proxy_path) >= sizeof(proxy_addr.sun_path))
                return -ENAMETOOLONG;
        proxy_addr.sun_family = AF_UNIX;
        strcpy(proxy_addr.sun_path, proxy_path);
        pass_fds = pass;
        for (int i = 0; i < RELAY_SLOTS; i++)
                for (int k = 0; k < 2; k++)
                        slots[i].fd[k] = slots[i].d[k].pipe[0] = slots[i].d[k].pipe[1] = -1;
        listeners[0] = listen_on(AF_INET, port);
        listeners[1] = listen_on(AF_INET6, port); /* no IPv6 loopback: IPv4 only */
        if (listeners[0] < 0)
                return -EADDRNOTAVAIL;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64u << 10);
        r = pthread_create(&t, &attr, relay_main, NULL);
        pthread_attr_destroy(&attr);
        return r ? -r : 0;
}
