/* A handoff (docs/egress.md, "The path"): the agent's relay passes the code's accepted TCP
 * connection to the proxy over egress.sock, so that the proxy serves it directly and no relay
 * hop copies the bytes again. The sender is untrusted: whatever it passes is checked, at most
 * one fd is kept, and every other one is closed here. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/egress_handoff.h"

/* Room for a few fds: more than one is refused anyway, and what does not fit the kernel drops
 * (MSG_CTRUNC) without giving it to us. */
#define HANDOFF_FDS_MAX 4

ssize_t egress_handoff_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms, int *ret_fd,
                            int *ret_extra)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * HANDOFF_FDS_MAX)];
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = cap};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl)};
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int kept = -1, extra = 0, r;
        ssize_t n;

        *ret_fd = -1;
        *ret_extra = 0;
        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
                return r < 0 ? -errno : -ETIMEDOUT;
        memset(&ctl, 0, sizeof(ctl));
        do
                n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                size_t nfd;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
                    c->cmsg_len < CMSG_LEN(0))
                        continue;
                nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                        int f;

                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (kept < 0) {
                                kept = f;
                        } else {
                                close(f);
                                extra = 1;
                        }
                }
        }
        if (msg.msg_flags & MSG_CTRUNC)
                extra = 1;
        *ret_fd = kept;
        *ret_extra = extra;
        return n;
}

static int sockopt_int(int fd, int level, int name, int *ret)
{
        socklen_t l = sizeof(*ret);

        *ret = -1;
        if (getsockopt(fd, level, name, ret, &l) < 0)
                return -errno;
        return l == sizeof(*ret) ? 0 : -EINVAL;
}

const char *egress_handoff_refused(int fd)
{
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        struct stat st;
        int domain, type, proto, listening;

        /* getsockopt first: on anything but a socket it fails without touching a file system
         * (an fstat of a FUSE file could wait on its server). */
        if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) < 0 || fstat(fd, &st) < 0 ||
            !S_ISSOCK(st.st_mode))
                return "handoff_not_socket";
        if ((domain != AF_INET && domain != AF_INET6) ||
            sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) < 0 || type != SOCK_STREAM ||
            sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &proto) < 0 || proto != IPPROTO_TCP ||
            sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) < 0 || listening != 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
                return "handoff_bad_socket";
        return NULL;
}

int egress_handoff_prepare(int fd)
{
        struct linger lg = {0};
        int one = 1, fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
                return -errno;
        return 0;
}
