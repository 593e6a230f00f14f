/* The egress proxy's engine: per-sandbox listeners, one accepting thread, one thread per
 * connection (blocking I/O with timeouts, so that a slow or hostile sandbox holds only its own
 * threads, at most EGRESS_CONN_PER_SANDBOX of them), and the decisions of docs/egress.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/egress.h"
#include "airlock/egress_handoff.h"
#include "airlock/egress_port.h"
#include "airlock/log.h"
#include "airlock/util.h"

#define HEAD_TIMEOUT_MS    15000
#define CONNECT_TIMEOUT_MS 10000
#define HELLO_TIMEOUT_MS   10000
#define IDLE_TIMEOUT_MS    (600 * 1000)
#define RELAY_BUF          (1024u << 10)
#define SWEEP_MS           3000

/* An exec that asked for the network and is running in the sandbox. */
struct ebinding {
        char exec_id[33];
        json_t *denied; /* [{host, port, reason}] */
        struct ebinding *next;
};

struct erules {
        enum policy_network_tier tier;
        char **allowed, **blocked;
        struct netrule_cidr *cidrs;
        size_t n_cidrs;
};

struct econn;

struct esandbox {
        char *run_dir;
        char name[80];
        char *agent;
        int lfd;
        dev_t dev;
        ino_t ino; /* of the socket file we bound: a replaced one is noticed */
        struct erules rules;
        struct ebinding *execs; /* newest first */
        struct econn *conns;
        unsigned n_conns;
        bool gone; /* its directory went: freed with its last connection */
        bool host; /* a host exec's namespace: run_dir is a key, not a directory */
        struct esandbox *next;
};

struct econn {
        struct egress *eg;
        struct esandbox *sb;
        int cfd, ufd;
        char exec_id[33];
        char host[260]; /* as asked, normalised when a name; room for a SOCKS5 name */
        int port;
        bool literal;
        int family;
        uint8_t addr[16];
        const char *cut; /* set by a reload: why it was cut */
        struct econn *next;
};

struct egress {
        pthread_mutex_t lock;
        pthread_cond_t idle; /* n_conns reached 0 */
        pthread_t thread;
        bool started;
        int epfd, wakefd;
        bool stop;
        struct esandbox *sandboxes;
        unsigned n_conns;
        struct egress_stats stats;
        egress_record_fn record;
        void *record_ctx;
};

static void rules_clear(struct erules *r)
{
        util_strv_free(r->allowed);
        util_strv_free(r->blocked);
        free(r->cidrs);
        *r = (struct erules){0};
}

static char **strv_dup(char *const *v)
{
        size_t n = util_strv_len(v);
        char **out = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; out && i < n; i++) {
                if (!(out[i] = strdup(v[i]))) {
                        util_strv_free(out);
                        return NULL;
                }
        }
        return out;
}

static int rules_copy(const struct egress_rules *in, struct erules *out)
{
        struct erules r = {.tier = in->tier};
        size_t n = util_strv_len(in->cidrs);

        r.allowed = strv_dup(in->allowed);
        r.blocked = strv_dup(in->blocked);
        r.cidrs = calloc(n + 1, sizeof(*r.cidrs));
        if (!r.allowed || !r.blocked || !r.cidrs) {
                rules_clear(&r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (netrule_cidr_parse(in->cidrs[i], &r.cidrs[r.n_cidrs]) == 0)
                        r.n_cidrs++;
        *out = r;
        return 0;
}

static struct egress_rules rules_view(const struct erules *r)
{
        return (struct egress_rules){.tier = r->tier, .allowed = r->allowed, .blocked = r->blocked};
}

static void sandbox_free(struct esandbox *sb)
{
        struct ebinding *b, *nb;

        if (!sb)
                return;
        for (b = sb->execs; b; b = nb) {
                nb = b->next;
                json_decref(b->denied);
                free(b);
        }
        if (sb->lfd >= 0)
                close(sb->lfd);
        rules_clear(&sb->rules);
        free(sb->run_dir);
        free(sb->agent);
        free(sb);
}

/* ---- decisions ---- */

/* Is the address one of this host's own (any interface)? */
static bool host_own(int family, const uint8_t *addr)
{
        struct ifaddrs *ifs = NULL;
        bool own = false;

        if (getifaddrs(&ifs) < 0)
                return true; /* cannot tell: fail closed */
        for (struct ifaddrs *i = ifs; i && !own; i = i->ifa_next) {
                const struct sockaddr *sa = i->ifa_addr;

                if (!sa || sa->sa_family != family)
                        continue;
                if (family == AF_INET)
                        own = memcmp(&((const struct sockaddr_in *)sa)->sin_addr, addr, 4) == 0;
                else
                        own = memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, addr, 16) == 0;
        }
        freeifaddrs(ifs);
        return own;
}

static const char *addr_refused(const struct erules *r, int family, const uint8_t *addr)
{
        const char *why = egress_addr_refused(family, addr, r->cidrs, r->n_cidrs);

        if (why)
                return why;
        for (size_t i = 0; i < r->n_cidrs; i++)
                if (netrule_cidr_contains(&r->cidrs[i], family, addr))
                        return NULL; /* listed by the admin: a mirror on this host is fine */
        return host_own(family, addr) ? "address_host" : NULL;
}

/* The decision on what the connection asked for, before any lookup (rules held by caller). */
static const char *dest_refused(const struct erules *r, struct econn *c)
{
        struct egress_rules v = rules_view(r);

        if (r->tier == NETWORK_RESTRICTED)
                return "tier_restricted";
        if (c->literal) {
                /* A literal passes only inside allowed_cidrs: names are what the lists speak of. */
                for (size_t i = 0; i < r->n_cidrs; i++)
                        if (netrule_cidr_contains(&r->cidrs[i], c->family, c->addr))
                                return egress_addr_refused(c->family, c->addr, r->cidrs,
                                                           r->n_cidrs);
                return "ip_literal";
        }
        return egress_name_refused(&v, c->host);
}

/* ---- I/O helpers (blocking fds, poll for time) ---- */

static int wait_fd(int fd, short ev, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = ev};
        int r;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        return r == 0 ? -ETIMEDOUT : 0;
}

/* Read more bytes into buf (len held, cap size) within timeout; 0 at EOF. */
static ssize_t read_more(int fd, uint8_t *buf, size_t len, size_t cap, int timeout_ms)
{
        ssize_t n;
        int r;

        if (len >= cap)
                return -E2BIG;
        r = wait_fd(fd, POLLIN, timeout_ms);
        if (r < 0)
                return r;
        do
                n = read(fd, buf + len, cap - len);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

static int write_all(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        int r = wait_fd(fd, POLLOUT, IDLE_TIMEOUT_MS);

                        if (r < 0)
                                return r;
                        continue;
                }
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static void http_refuse(int fd, int status, const char *reason, const char *host, int port)
{
        char body[512], msg[1024];
        int bn, mn;

        bn =
            snprintf(body, sizeof(body), "airlock egress: %s:%d refused: %s\n", host, port, reason);
        mn = snprintf(msg, sizeof(msg),
                      "HTTP/1.1 %d %s\r\nX-Airlock-Egress-Reason: %s\r\nContent-Type: "
                      "text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                      status,
                      status == 400   ? "Bad Request"
                      : status == 403 ? "Forbidden"
                      : status == 431 ? "Request Header Fields Too Large"
                      : status == 502 ? "Bad Gateway"
                                      : "Service Unavailable",
                      reason, bn, body);
        if (mn > 0 && (size_t)mn < sizeof(msg))
                (void)write_all(fd, msg, (size_t)mn);
}

/* Connect to addr within CONNECT_TIMEOUT_MS; returns a blocking fd or -errno. */
static int connect_addr(const struct sockaddr *sa, socklen_t salen)
{
        _cleanup_close_ int fd =
            socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r, soerr = 0, one = 1;
        socklen_t l = sizeof(soerr);

        if (fd < 0)
                return -errno;
        if (connect(fd, sa, salen) < 0) {
                if (errno != EINPROGRESS)
                        return -errno;
                r = wait_fd(fd, POLLOUT, CONNECT_TIMEOUT_MS);
                if (r < 0)
                        return r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0)
                        return -errno;
                if (soerr)
                        return -soerr;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (fcntl(fd, F_SETFL, 0) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* ---- one connection ---- */

struct outcome {
        const char *protocol;
        bool allowed;
        const char *reason;
        int64_t out, in;
        char address[INET6_ADDRSTRLEN];
};

static void note_denied(struct egress *eg, struct econn *c, const char *reason)
{
        /* Called with eg->lock held. */
        for (struct ebinding *b = c->sb->execs; b; b = b->next) {
                if (strcmp(b->exec_id, c->exec_id) != 0)
                        continue;
                if (json_array_size(b->denied) < EGRESS_DENIED_MAX)
                        json_array_append_new(b->denied,
                                              json_pack("{s:s, s:i, s:s}", "host", c->host, "port",
                                                        c->port, "reason", reason));
                return;
        }
}

/* Resolve once, check every address, connect to a checked one. Returns the upstream fd or
 * -1 with o->reason set. */
static int resolve_connect(struct egress *eg, struct econn *c, struct outcome *o)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
        struct addrinfo *res = NULL;
        struct sockaddr_storage ss[16];
        socklen_t sl[16];
        size_t n = 0;
        int fd = -1, r;

        if (c->literal) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss[0];
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss[0];

                memset(&ss[0], 0, sizeof(ss[0]));
                if (c->family == AF_INET) {
                        s4->sin_family = AF_INET;
                        memcpy(&s4->sin_addr, c->addr, 4);
                        sl[0] = sizeof(*s4);
                } else {
                        s6->sin6_family = AF_INET6;
                        memcpy(&s6->sin6_addr, c->addr, 16);
                        sl[0] = sizeof(*s6);
                }
                n = 1;
        } else {
                r = getaddrinfo(c->host, NULL, &hints, &res);
                if (r != 0 || !res) {
                        o->reason = r == EAI_NONAME || r == EAI_NODATA ? "name_not_found"
                                                                       : "name_lookup_failed";
                        return -1;
                }
                for (struct addrinfo *a = res; a && n < ARRAY_SIZE(ss); a = a->ai_next) {
                        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                            a->ai_addrlen > sizeof(ss[0]))
                                continue;
                        memcpy(&ss[n], a->ai_addr, a->ai_addrlen);
                        sl[n++] = a->ai_addrlen;
                }
                freeaddrinfo(res);
        }
        /* Every address is checked before any is used: one bad answer refuses the name. */
        pthread_mutex_lock(&eg->lock);
        for (size_t i = 0; i < n && !o->reason; i++) {
                int fam = ss[i].ss_family;
                const uint8_t *a =
                    fam == AF_INET ? (const uint8_t *)&((struct sockaddr_in *)&ss[i])->sin_addr
                                   : (const uint8_t *)&((struct sockaddr_in6 *)&ss[i])->sin6_addr;

                o->reason = addr_refused(&c->sb->rules, fam, a);
                if (o->reason)
                        inet_ntop(fam, a, o->address, sizeof(o->address));
        }
        pthread_mutex_unlock(&eg->lock);
        if (n == 0 && !o->reason)
                o->reason = "name_not_found";
        if (o->reason)
                return -1;
        for (size_t i = 0; i < n && fd < 0; i++) {
                struct sockaddr *sa = (struct sockaddr *)&ss[i];

                if (sa->sa_family == AF_INET) {
                        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)c->port);
                        c->family = AF_INET;
                        memcpy(c->addr, &((struct sockaddr_in *)sa)->sin_addr, 4);
                } else {
                        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)c->port);
                        c->family = AF_INET6;
                        memcpy(c->addr, &((struct sockaddr_in6 *)sa)->sin6_addr, 16);
                }
                inet_ntop(c->family, c->addr, o->address, sizeof(o->address));
                fd = connect_addr(sa, sl[i]);
        }
        if (fd < 0) {
                o->reason = fd == -ETIMEDOUT ? "connect_timeout" : "connect_failed";
                return -1;
        }
        return fd;
}

/* One way of a relayed connection. Bytes move from `from` to `to` through a pipe with
 * splice(2), inside the kernel; where a socket cannot be spliced (or no pipe could be made)
 * they are copied through buf. */
struct way {
        int from, to;
        int pipe[2]; /* -1: copy */
        size_t chunk;
};

static void way_open(struct way *w, int from, int to)
{
        int size;

        *w = (struct way){.from = from, .to = to, .pipe = {-1, -1}, .chunk = RELAY_BUF};
        if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                w->pipe[0] = w->pipe[1] = -1;
                return;
        }
        (void)fcntl(w->pipe[1], F_SETPIPE_SZ, (int)RELAY_BUF);
        size = fcntl(w->pipe[1], F_GETPIPE_SZ);
        if (size > 0 && (size_t)size < w->chunk)
                w->chunk = (size_t)size;
}

static void way_close(struct way *w)
{
        for (int i = 0; i < 2; i++)
                if (w->pipe[i] >= 0)
                        close(w->pipe[i]);
        w->pipe[0] = w->pipe[1] = -1;
}

/* Move what the source has now (its fd is non-blocking) on to the other end, waiting for the
 * other end to take it: the bytes moved, 0 at the source's end, -EAGAIN when it had nothing,
 * or -errno. */
static ssize_t way_move(struct way *w, uint8_t **buf)
{
        ssize_t n, left;

        if (w->pipe[0] >= 0) {
                n = splice(w->from, NULL, w->pipe[1], NULL, w->chunk,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0 && errno == EINVAL) {
                        way_close(w); /* the pipe is empty here: copy from now on */
                } else {
                        if (n <= 0)
                                return n < 0 ? -errno : 0;
                        for (left = n; left > 0;) {
                                ssize_t m = splice(w->pipe[0], NULL, w->to, NULL, (size_t)left,
                                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

                                if (m < 0 && errno == EINTR)
                                        continue;
                                if (m < 0 && errno == EAGAIN) {
                                        int r = wait_fd(w->to, POLLOUT, IDLE_TIMEOUT_MS);

                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                if (m <= 0)
                                        return m < 0 ? -errno : -EPIPE;
                                left -= m;
                        }
                        return n;
                }
        }
        if (!*buf && !(*buf = malloc(RELAY_BUF)))
                return -ENOMEM;
        n = recv(w->from, *buf, RELAY_BUF, MSG_DONTWAIT);
        if (n <= 0)
                return n < 0 ? -errno : 0;
        left = write_all(w->to, *buf, (size_t)n);
        return left < 0 ? left : n;
}

/* Copy both ways until both ends are done (or cut, or idle too long). */
static void relay(struct econn *c, struct outcome *o)
{
        _cleanup_free_ uint8_t *buf = NULL;
        struct pollfd p[2] = {{.fd = c->cfd, .events = POLLIN}, {.fd = c->ufd, .events = POLLIN}};
        struct way w[2];
        bool open_in[2] = {true, true};

        /* Non-blocking from here on: a way takes what is there, and waits only for the other
         * end to take it (write_all and way_move poll for that). */
        (void)fcntl(c->cfd, F_SETFL, fcntl(c->cfd, F_GETFL) | O_NONBLOCK);
        (void)fcntl(c->ufd, F_SETFL, fcntl(c->ufd, F_GETFL) | O_NONBLOCK);
        way_open(&w[0], c->cfd, c->ufd);
        way_open(&w[1], c->ufd, c->cfd);
        while (open_in[0] || open_in[1]) {
                int r;

                p[0].fd = open_in[0] ? c->cfd : -1;
                p[1].fd = open_in[1] ? c->ufd : -1;
                r = poll(p, 2, IDLE_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        o->reason = "idle_timeout";
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        ssize_t n;

                        if (!open_in[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        /* What is there already is taken without another poll (a few rounds at
                         * most, so that the other direction is served too). */
                        for (int round = 0; round < 8; round++) {
                                n = way_move(&w[i], &buf);
                                if (n == -EINTR || n == -EAGAIN)
                                        break;
                                if (n <= 0) {
                                        /* Half-close: pass the end on, keep the other way. */
                                        open_in[i] = false;
                                        shutdown(w[i].to, SHUT_WR);
                                        if (n < 0)
                                                goto out;
                                        break;
                                }
                                if (i == 0)
                                        o->out += n;
                                else
                                        o->in += n;
                        }
                }
        }
out:
        way_close(&w[0]);
        way_close(&w[1]);
}

/* The HTTP request head for the origin: origin-form target, no proxy headers, one request. */
static int send_origin_head(int fd, const char *head, const struct egress_http *h)
{
        char *out = malloc(h->head_len + 64);
        size_t n = 0;
        const char *p, *end = head + h->head_len - 2; /* before the final CRLF */
        int r;

        if (!out)
                return -ENOMEM;
        n += (size_t)sprintf(out, "%s ", h->method);
        if (h->path_len) {
                memcpy(out + n, h->path, h->path_len);
                n += h->path_len;
        } else {
                out[n++] = '/';
        }
        memcpy(out + n, head + h->line_len - 11, 11); /* " HTTP/1.x\r\n" */
        n += 11;
        for (p = head + h->line_len; p < end;) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                size_t ln = eol ? (size_t)(eol + 2 - p) : (size_t)(end - p);
                static const char *const drop[] = {
                    "proxy-connection:", "proxy-authorization:", "connection:", "keep-alive:"};
                bool skip = false;

                for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
                        skip |=
                            ln >= strlen(drop[i]) && strncasecmp(p, drop[i], strlen(drop[i])) == 0;
                if (!skip) {
                        memcpy(out + n, p, ln);
                        n += ln;
                }
                p += ln;
        }
        memcpy(out + n, "Connection: close\r\n\r\n", 21);
        n += 21;
        r = write_all(fd, out, n);
        free(out);
        return r;
}

static void set_literal(struct econn *c)
{
        c->literal = false;
        if (inet_pton(AF_INET, c->host, c->addr) == 1) {
                c->literal = true;
                c->family = AF_INET;
        } else if (inet_pton(AF_INET6, c->host, c->addr) == 1) {
                c->literal = true;
                c->family = AF_INET6;
        } else if (netrule_ip_literal(c->host)) {
                /* "127.1", "2130706433": a literal no list speaks of; never reached. */
                c->literal = true;
                c->family = 0;
        }
}

/* Normalise the asked host into c->host; false when it is no host at all. */
static bool take_host(struct econn *c, const char *asked)
{
        char norm[NETRULE_NAME_SIZE];

        snprintf(c->host, sizeof(c->host), "%s", asked);
        set_literal(c);
        if (c->literal)
                return c->family != 0;
        if (netrule_name_normalize(asked, norm) < 0)
                return false;
        snprintf(c->host, sizeof(c->host), "%s", norm);
        return true;
}

/* Decide on c (host, port set); returns the upstream fd or -1 with o->reason. */
static int decide_connect(struct egress *eg, struct econn *c, struct outcome *o)
{
        const char *why;
        int fd;

        pthread_mutex_lock(&eg->lock);
        why = dest_refused(&c->sb->rules, c);
        pthread_mutex_unlock(&eg->lock);
        if (why) {
                o->reason = why;
                return -1;
        }
        fd = resolve_connect(eg, c, o);
        if (fd >= 0) {
                pthread_mutex_lock(&eg->lock);
                c->ufd = fd;
                /* A reload between the check and now is honoured here. */
                if (c->cut) {
                        o->reason = c->cut;
                        c->ufd = -1;
                        close(fd);
                        fd = -1;
                }
                pthread_mutex_unlock(&eg->lock);
        }
        return fd;
}

static bool sni_matches(const char *host, const char *sni)
{
        char norm[NETRULE_NAME_SIZE];

        return netrule_name_normalize(sni, norm) == 0 && strcmp(norm, host) == 0;
}

static void serve_http(struct egress *eg, struct econn *c, uint8_t *buf, size_t len,
                       struct outcome *o)
{
        struct egress_http h;
        const char *why = NULL;
        int r, fd;

        for (;;) {
                ssize_t n;

                r = egress_http_parse((const char *)buf, len, &h, &why);
                if (r != 0)
                        break;
                n = read_more(c->cfd, buf, len, EGRESS_HEAD_MAX, HEAD_TIMEOUT_MS);
                if (n <= 0) {
                        o->reason = n == -ETIMEDOUT ? "request_timeout" : "bad_request";
                        return;
                }
                len += (size_t)n;
        }
        o->protocol = "http";
        if (r < 0) {
                o->reason = r == -E2BIG ? "request_too_large" : why;
                http_refuse(c->cfd, r == -E2BIG ? 431 : 400, o->reason, "-", 0);
                return;
        }
        o->protocol = h.connect ? "connect" : "http";
        c->port = h.port;
        if (!take_host(c, h.host)) {
                o->reason = "bad_host";
                http_refuse(c->cfd, 400, o->reason, "-", h.port);
                return;
        }
        fd = decide_connect(eg, c, o);
        if (fd < 0) {
                bool policy =
                    strncmp(o->reason, "name_", 5) != 0 && strncmp(o->reason, "connect_", 8) != 0;

                http_refuse(c->cfd, policy ? 403 : 502, o->reason, c->host, c->port);
                return;
        }
        if (h.connect) {
                static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
                uint8_t hello[16384 + 5];
                size_t hl = len - h.head_len;
                char sni[NETRULE_NAME_SIZE];

                if (hl > sizeof(hello))
                        hl = sizeof(hello);
                memcpy(hello, buf + h.head_len, hl);
                if (write_all(c->cfd, ok, sizeof(ok) - 1) < 0)
                        return;
                /* The first bytes of a TLS client name the server it wants: it must be the
                 * host that was checked, or the tunnel would carry another site. */
                for (;;) {
                        ssize_t n;

                        r = egress_sni_parse(hello, hl, sni);
                        if (r != -EAGAIN)
                                break;
                        n = read_more(c->cfd, hello, hl, sizeof(hello), HELLO_TIMEOUT_MS);
                        if (n <= 0) {
                                r = 0;
                                break;
                        }
                        hl += (size_t)n;
                }
                if (r == 1 && !c->literal && !sni_matches(c->host, sni)) {
                        o->reason = "sni_mismatch";
                        o->allowed = false;
                        return;
                }
                o->allowed = true;
                if (hl > 0 && write_all(c->ufd, hello, hl) < 0)
                        return;
                o->out += (int64_t)hl;
        } else {
                o->allowed = true;
                if (send_origin_head(c->ufd, (const char *)buf, &h) < 0)
                        return;
                o->out += (int64_t)h.head_len;
                if (len > h.head_len && write_all(c->ufd, buf + h.head_len, len - h.head_len) < 0)
                        return;
                o->out += (int64_t)(len - h.head_len);
        }
        relay(c, o);
}

/* SOCKS5 (RFC 1928), no authentication, CONNECT only; the elevated tier's path for TCP that
 * is not HTTP. */
static void serve_socks(struct egress *eg, struct econn *c, uint8_t *buf, size_t len,
                        struct outcome *o)
{
        static const uint8_t noauth[2] = {5, 0}, ok[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
        uint8_t rep[10] = {5, 2, 0, 1, 0, 0, 0, 0, 0, 0};
        char host[256 + 1]; /* a SOCKS5 name is up to 255 bytes */
        size_t need, hl;
        ssize_t n;
        int fd;
        bool v;

        o->protocol = "socks5";
        o->reason = "bad_request";
        while (len < 2 || len < 2 + (size_t)buf[1]) {
                n = read_more(c->cfd, buf, len, 512, HEAD_TIMEOUT_MS);
                if (n <= 0)
                        return;
                len += (size_t)n;
        }
        v = memchr(buf + 2, 0, buf[1]) != NULL;
        if (write_all(c->cfd, v ? noauth : (const uint8_t[]){5, 0xff}, 2) < 0 || !v)
                return;
        need = 2 + (size_t)buf[1];
        memmove(buf, buf + need, len - need);
        len -= need;
        /* VER CMD RSV ATYP ADDR PORT */
        for (;;) {
                need = 4;
                if (len >= 5)
                        need = buf[3] == 1 ? 10 : buf[3] == 4 ? 22 : buf[3] == 3 ? 7u + buf[4] : 0;
                if (need == 0 || buf[0] != 5)
                        return;
                if (len >= need)
                        break;
                n = read_more(c->cfd, buf, len, 512, HEAD_TIMEOUT_MS);
                if (n <= 0)
                        return;
                len += (size_t)n;
        }
        if (buf[3] == 1)
                inet_ntop(AF_INET, buf + 4, host, sizeof(host));
        else if (buf[3] == 4)
                inet_ntop(AF_INET6, buf + 4, host, sizeof(host));
        else {
                hl = buf[4];
                memcpy(host, buf + 5, hl);
                host[hl] = '\0';
        }
        c->port = buf[need - 2] << 8 | buf[need - 1];
        if (buf[1] != 1) {
                rep[1] = 7;
                o->reason = "socks_command_not_supported";
                snprintf(c->host, sizeof(c->host), "%s", host);
                (void)write_all(c->cfd, rep, sizeof(rep));
                return;
        }
        if (!take_host(c, host) || c->port == 0) {
                o->reason = "bad_host";
                (void)write_all(c->cfd, rep, sizeof(rep));
                return;
        }
        o->reason = NULL;
        pthread_mutex_lock(&eg->lock);
        if (c->sb->rules.tier != NETWORK_ELEVATED)
                o->reason = "socks_needs_elevated";
        pthread_mutex_unlock(&eg->lock);
        fd = o->reason ? -1 : decide_connect(eg, c, o);
        if (fd < 0) {
                rep[1] = strncmp(o->reason, "connect_", 8) == 0 ? 5
                         : strncmp(o->reason, "name_", 5) == 0  ? 4
                                                                : 2;
                (void)write_all(c->cfd, rep, sizeof(rep));
                return;
        }
        if (write_all(c->cfd, ok, sizeof(ok)) < 0)
                return;
        o->allowed = true;
        if (len > need && write_all(c->ufd, buf + need, len - need) == 0)
                o->out += (int64_t)(len - need);
        relay(c, o);
}

static void conn_end(struct egress *eg, struct econn *c, struct outcome *o, int64_t started)
{
        struct egress_record rec;
        const char *reason;
        struct esandbox *sb = c->sb;
        egress_record_fn record;

        pthread_mutex_lock(&eg->lock);
        record = eg->record; /* NULL once egress_free gave up waiting */
        if (c->cut) {
                o->reason = c->cut;
                eg->stats.cut++;
        }
        reason = o->reason ? o->reason : "";
        if (!o->allowed || c->cut)
                note_denied(eg, c, reason[0] ? reason : "refused");
        if (o->allowed)
                eg->stats.allowed++;
        else
                eg->stats.denied++;
        eg->stats.bytes_out += (uint64_t)o->out;
        eg->stats.bytes_in += (uint64_t)o->in;
        for (struct econn **pp = &sb->conns; *pp; pp = &(*pp)->next) {
                if (*pp == c) {
                        *pp = c->next;
                        break;
                }
        }
        sb->n_conns--;
        eg->n_conns--;
        if (c->ufd >= 0)
                close(c->ufd);
        close(c->cfd);
        c->ufd = c->cfd = -1;
        pthread_mutex_unlock(&eg->lock);

        rec = (struct egress_record){.execution_id = c->exec_id,
                                     .sandbox = sb->name,
                                     .host = c->host[0] ? c->host : "-",
                                     .port = c->port,
                                     .address = o->address,
                                     .protocol = o->protocol ? o->protocol : "unknown",
                                     .allowed = o->allowed && !c->cut,
                                     .reason = reason,
                                     .bytes_out = o->out,
                                     .bytes_in = o->in,
                                     .started_ms = started,
                                     .duration_ms = util_wall_ms() - started};
        if (record)
                record(eg->record_ctx, &rec);

        pthread_mutex_lock(&eg->lock);
        if (sb->gone && sb->n_conns == 0) {
                for (struct esandbox **pp = &eg->sandboxes; *pp; pp = &(*pp)->next) {
                        if (*pp == sb) {
                                *pp = sb->next;
                                break;
                        }
                }
                sandbox_free(sb);
        }
        if (eg->n_conns == 0)
                pthread_cond_broadcast(&eg->idle);
        pthread_mutex_unlock(&eg->lock);
        free(c);
}

/* A handoff (handoff.c): the relay passed the code's TCP connection itself (fd, with extra set
 * when more came). Taken, it is the client side from here on and the UNIX connection ends,
 * which the relay reads as "taken". Returns NULL, or why it is refused: then the passed fd is
 * closed and the refusal goes back on the UNIX connection, which the relay carries to the code. */
static const char *take_handoff(struct egress *eg, struct econn *c, int fd, int extra)
{
        const char *why = extra    ? "handoff_extra_fds"
                          : fd < 0 ? "handoff_no_fd"
                                   : egress_handoff_refused(fd);
        int unix_fd;

        if (!why && egress_handoff_prepare(fd) < 0)
                why = "handoff_bad_socket";
        if (why) {
                if (fd >= 0)
                        close(fd);
                return why;
        }
        pthread_mutex_lock(&eg->lock);
        unix_fd = c->cfd;
        c->cfd = fd;
        if (c->cut) /* cut before the swap: the shutdown reached only the UNIX connection */
                shutdown(fd, SHUT_RDWR);
        pthread_mutex_unlock(&eg->lock);
        close(unix_fd);
        return NULL;
}

static void *conn_main(void *arg)
{
        struct econn *c = arg;
        struct egress *eg = c->eg;
        struct outcome o = {0};
        int64_t started = util_wall_ms();
        uint8_t buf[EGRESS_HEAD_MAX];
        int passed, extra;
        /* The first read takes what fds came with the bytes: one is kept for a handoff, none
         * otherwise (later reads let the kernel drop any). */
        ssize_t n = egress_handoff_recv(c->cfd, buf, sizeof(buf), HEAD_TIMEOUT_MS, &passed, &extra);

        if (n == 1 && buf[0] == EGRESS_HANDOFF_BYTE && !c->sb->host) {
                o.reason = take_handoff(eg, c, passed, extra);
                if (o.reason) {
                        http_refuse(c->cfd, 400, o.reason, "-", 0);
                        conn_end(eg, c, &o, started);
                        return NULL;
                }
                n = read_more(c->cfd, buf, 0, sizeof(buf), HEAD_TIMEOUT_MS);
        } else if (passed >= 0) {
                close(passed);
        }
        if (n <= 0)
                o.reason = n == -ETIMEDOUT ? "request_timeout" : "closed_early";
        else if (buf[0] == 5)
                serve_socks(eg, c, buf, (size_t)n, &o);
        else
                serve_http(eg, c, buf, (size_t)n, &o);
        conn_end(eg, c, &o, started);
        return NULL;
}

/* ---- accepting ---- */

static void refuse_now(int fd, const char *reason)
{
        /* Non-blocking: a refusal never waits on the sandbox. */
        (void)fcntl(fd, F_SETFL, O_NONBLOCK);
        http_refuse(fd, reason[0] == 't' ? 503 : 403, reason, "-", 0);
        close(fd);
}

static void accept_on(struct egress *eg, struct esandbox *sb)
{
        for (int i = 0; i < 16; i++) {
                int fd = accept4(sb->lfd, NULL, NULL, SOCK_CLOEXEC);
                const char *why = NULL;
                struct econn *c;
                pthread_attr_t attr;
                pthread_t t;

                if (fd < 0)
                        return;
                if (!sb->execs)
                        why = "no_network_exec";
                else if (sb->n_conns >= EGRESS_CONN_PER_SANDBOX || eg->n_conns >= EGRESS_CONN_MAX)
                        why = "too_many_connections";
                if (why) {
                        struct egress_record rec = {.execution_id =
                                                        sb->execs ? sb->execs->exec_id : "",
                                                    .sandbox = sb->name,
                                                    .host = "-",
                                                    .address = "",
                                                    .protocol = "unknown",
                                                    .reason = why,
                                                    .started_ms = util_wall_ms()};

                        eg->stats.denied++;
                        refuse_now(fd, why);
                        if (eg->record) {
                                pthread_mutex_unlock(&eg->lock);
                                eg->record(eg->record_ctx, &rec);
                                pthread_mutex_lock(&eg->lock);
                        }
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        close(fd);
                        continue;
                }
                *c = (struct econn){.eg = eg, .sb = sb, .cfd = fd, .ufd = -1};
                memcpy(c->exec_id, sb->execs->exec_id, sizeof(c->exec_id));
                c->next = sb->conns;
                sb->conns = c;
                sb->n_conns++;
                eg->n_conns++;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_attr_setstacksize(&attr, 256u << 10);
                if (pthread_create(&t, &attr, conn_main, c) != 0) {
                        sb->conns = c->next;
                        sb->n_conns--;
                        eg->n_conns--;
                        refuse_now(fd, "too_many_connections");
                        free(c);
                }
                pthread_attr_destroy(&attr);
        }
}

static void sandbox_drop_listener(struct egress *eg, struct esandbox *sb)
{
        if (sb->lfd >= 0) {
                epoll_ctl(eg->epfd, EPOLL_CTL_DEL, sb->lfd, NULL);
                close(sb->lfd);
                sb->lfd = -1;
        }
}

/* Ends every connection of sb, noting why: their threads see the shutdown and finish. Called
 * with the lock held. */
static void sandbox_cut_all(struct esandbox *sb, const char *why)
{
        for (struct econn *c = sb->conns; c; c = c->next) {
                c->cut = why;
                shutdown(c->cfd, SHUT_RDWR);
                if (c->ufd >= 0)
                        shutdown(c->ufd, SHUT_RDWR);
        }
}

/* Sandboxes whose directory is gone (removed) are forgotten. Called with the lock held. */
static void sweep(struct egress *eg)
{
        for (struct esandbox **pp = &eg->sandboxes; *pp;) {
                struct esandbox *sb = *pp;
                struct stat st;

                if (sb->gone || sb->host || stat(sb->run_dir, &st) == 0) {
                        pp = &sb->next;
                        continue;
                }
                sandbox_drop_listener(eg, sb);
                sandbox_cut_all(sb, "sandbox_removed");
                if (sb->n_conns == 0) {
                        *pp = sb->next;
                        sandbox_free(sb);
                } else {
                        sb->gone = true;
                        pp = &sb->next;
                }
        }
}

static void *accept_main(void *arg)
{
        struct egress *eg = arg;
        int64_t last_sweep = util_now_ms();

        for (;;) {
                struct epoll_event ev[32];
                int n = epoll_wait(eg->epfd, ev, 32, SWEEP_MS);

                pthread_mutex_lock(&eg->lock);
                if (eg->stop) {
                        pthread_mutex_unlock(&eg->lock);
                        return NULL;
                }
                for (int i = 0; i < n; i++) {
                        struct esandbox *sb = ev[i].data.ptr;

                        /* The pointer is live: listeners are removed under this lock. */
                        for (struct esandbox *s = eg->sandboxes; s && sb; s = s->next)
                                if (s == sb && sb->lfd >= 0) {
                                        accept_on(eg, sb);
                                        break;
                                }
                }
                if (util_now_ms() - last_sweep >= SWEEP_MS) {
                        sweep(eg);
                        last_sweep = util_now_ms();
                }
                pthread_mutex_unlock(&eg->lock);
        }
}

int egress_new(egress_record_fn record, void *ctx, struct egress **ret, struct al_error *err)
{
        struct egress *eg = calloc(1, sizeof(*eg));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

        if (!eg)
                return al_err(err, -ENOMEM, "out of memory");
        eg->record = record;
        eg->record_ctx = ctx;
        pthread_mutex_init(&eg->lock, NULL);
        pthread_cond_init(&eg->idle, NULL);
        eg->epfd = epoll_create1(EPOLL_CLOEXEC);
        eg->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (eg->epfd < 0 || eg->wakefd < 0 ||
            epoll_ctl(eg->epfd, EPOLL_CTL_ADD, eg->wakefd, &ev) < 0) {
                int e = -errno;

                egress_free(eg);
                return al_err_errno(err, e, "egress proxy: epoll");
        }
        if (pthread_create(&eg->thread, NULL, accept_main, eg) != 0) {
                egress_free(eg);
                return al_err(err, -EAGAIN, "egress proxy: cannot start its thread");
        }
        eg->started = true;
        *ret = eg;
        return 0;
}

void egress_free(struct egress *eg)
{
        struct timespec until;

        if (!eg)
                return;
        pthread_mutex_lock(&eg->lock);
        eg->stop = true;
        pthread_mutex_unlock(&eg->lock);
        if (eg->started) {
                uint64_t one = 1;

                (void)!write(eg->wakefd, &one, sizeof(one));
                pthread_join(eg->thread, NULL);
        }
        pthread_mutex_lock(&eg->lock);
        for (struct esandbox *sb = eg->sandboxes; sb; sb = sb->next) {
                sandbox_drop_listener(eg, sb);
                sb->gone = true;
                sandbox_cut_all(sb, "daemon_stopping");
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        while (eg->n_conns > 0)
                if (pthread_cond_timedwait(&eg->idle, &eg->lock, &until) == ETIMEDOUT)
                        break;
        if (eg->n_conns > 0) {
                /* Threads still out hold pointers into this: leak rather than free under them,
                 * and record nothing more (the store goes next). */
                eg->record = NULL;
                pthread_mutex_unlock(&eg->lock);
                log_warn("egress: %u connections did not end; leaving them", eg->n_conns);
                return;
        }
        while (eg->sandboxes) {
                struct esandbox *sb = eg->sandboxes;

                eg->sandboxes = sb->next;
                sandbox_free(sb);
        }
        pthread_mutex_unlock(&eg->lock);
        if (eg->epfd >= 0)
                close(eg->epfd);
        if (eg->wakefd >= 0)
                close(eg->wakefd);
        pthread_mutex_destroy(&eg->lock);
        pthread_cond_destroy(&eg->idle);
        free(eg);
}

/* Bind a fresh listener at run_dir/egress.sock (a stale file there is replaced). */
static int listen_at(struct esandbox *sb, unsigned uid, unsigned gid, struct al_error *err)
{
        _cleanup_close_ int dfd = open(sb->run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;
        mode_t old;
        int r;

        if (dfd < 0)
                return al_err_errno(err, -errno, "egress: run directory '%s'", sb->run_dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" EGRESS_SOCK_NAME, dfd);
        (void)unlinkat(dfd, EGRESS_SOCK_NAME, 0);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return al_err_errno(err, -errno, "egress: socket");
        old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return al_err_errno(err, -errno, "egress: bind in '%s'", sb->run_dir);
        /* The directory is the sandbox user's, mode 0700: its socket is that user's too. */
        if (fchownat(dfd, EGRESS_SOCK_NAME, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstatat(dfd, EGRESS_SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return al_err_errno(err, -errno, "egress: socket in '%s'", sb->run_dir);
        if (listen(fd, 128) < 0)
                return al_err_errno(err, -errno, "egress: listen");
        sb->dev = st.st_dev;
        sb->ino = st.st_ino;
        sb->lfd = TAKE_FD(fd);
        return 0;
}

static bool listener_intact(const struct esandbox *sb)
{
        char path[4200];
        struct stat st;

        if (sb->lfd < 0)
                return false;
        if (sb->host)
                return true;
        snprintf(path, sizeof(path), "%s/" EGRESS_SOCK_NAME, sb->run_dir);
        return lstat(path, &st) == 0 && st.st_dev == sb->dev && st.st_ino == sb->ino;
}

static struct esandbox *sandbox_find(struct egress *eg, const char *run_dir)
{
        for (struct esandbox *sb = eg->sandboxes; sb; sb = sb->next)
                if (!sb->gone && strcmp(sb->run_dir, run_dir) == 0)
                        return sb;
        return NULL;
}

/* Cut the sandbox's connections that its rules now refuse. Lock held. */
static void recheck(struct esandbox *sb)
{
        for (struct econn *c = sb->conns; c; c = c->next) {
                const char *why = dest_refused(&sb->rules, c);

                if (!why && c->ufd >= 0 && c->family)
                        why = egress_addr_refused(c->family, c->addr, sb->rules.cidrs,
                                                  sb->rules.n_cidrs);
                if (!why || c->cut)
                        continue;
                c->cut = why;
                shutdown(c->cfd, SHUT_RDWR);
                if (c->ufd >= 0)
                        shutdown(c->ufd, SHUT_RDWR);
        }
}

int egress_bind(struct egress *eg, const char *run_dir, unsigned uid, unsigned gid,
                const char *agent, const struct egress_rules *rules, const char *execution_id,
                struct al_error *err)
{
        struct ebinding *b = calloc(1, sizeof(*b));
        struct erules nr;
        struct esandbox *sb;
        const char *base;
        int r;

        if (!b || rules_copy(rules, &nr) < 0) {
                free(b);
                return al_err(err, -ENOMEM, "out of memory");
        }
        snprintf(b->exec_id, sizeof(b->exec_id), "%s", execution_id);
        b->denied = json_array();
        pthread_mutex_lock(&eg->lock);
        sb = sandbox_find(eg, run_dir);
        if (!sb) {
                sb = calloc(1, sizeof(*sb));
                if (!sb || !(sb->run_dir = strdup(run_dir)) ||
                    !(sb->agent = strdup(agent ? agent : ""))) {
                        free(sb ? sb->run_dir : NULL);
                        free(sb);
                        r = al_err(err, -ENOMEM, "out of memory");
                        goto fail;
                }
                sb->lfd = -1;
                base = strrchr(run_dir, '/');
                snprintf(sb->name, sizeof(sb->name), "%s", base ? base + 1 : run_dir);
                sb->next = eg->sandboxes;
                eg->sandboxes = sb;
        }
        if (!listener_intact(sb)) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = sb};

                sandbox_drop_listener(eg, sb);
                r = listen_at(sb, uid, gid, err);
                if (r < 0)
                        goto fail;
                if (epoll_ctl(eg->epfd, EPOLL_CTL_ADD, sb->lfd, &ev) < 0) {
                        r = al_err_errno(err, -errno, "egress: epoll");
                        sandbox_drop_listener(eg, sb);
                        goto fail;
                }
        }
        rules_clear(&sb->rules);
        sb->rules = nr;
        recheck(sb);
        b->next = sb->execs;
        sb->execs = b;
        pthread_mutex_unlock(&eg->lock);
        return 0;
fail:
        pthread_mutex_unlock(&eg->lock);
        rules_clear(&nr);
        json_decref(b->denied);
        free(b);
        return r;
}

json_t *egress_unbind(struct egress *eg, const char *run_dir, const char *execution_id)
{
        json_t *denied = NULL;
        struct esandbox *sb;

        pthread_mutex_lock(&eg->lock);
        sb = sandbox_find(eg, run_dir);
        for (struct ebinding **pp = sb ? &sb->execs : NULL; pp && *pp; pp = &(*pp)->next) {
                struct ebinding *b = *pp;

                if (strcmp(b->exec_id, execution_id) != 0)
                        continue;
                *pp = b->next;
                denied = b->denied;
                free(b);
                break;
        }
        pthread_mutex_unlock(&eg->lock);
        return denied ? denied : json_array();
}

/* ---- host execs: a network namespace of their own ---- */

struct netns_job {
        int lfd, nsfd, err;
};

/* On a thread of its own: network namespaces are per thread, and this one ends with it. */
static void *netns_main(void *arg)
{
        struct netns_job *j = arg;
        struct ifreq ifr = {0};
        struct sockaddr_in in4 = {.sin_family = AF_INET,
                                  .sin_port = htons(EGRESS_SANDBOX_PORT),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int s = -1, one = 1;

        if (unshare(CLONE_NEWNET) < 0)
                goto fail;
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                goto fail;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                goto fail;
        close(s);
        s = -1;
        j->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (j->lfd < 0)
                goto fail;
        (void)setsockopt(j->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(j->lfd, (struct sockaddr *)&in4, sizeof(in4)) < 0 || listen(j->lfd, 128) < 0)
                goto fail;
        j->nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (j->nsfd < 0)
                goto fail;
        return NULL;
fail:
        j->err = errno ? errno : EIO;
        if (s >= 0)
                close(s);
        return NULL;
}

int egress_netns_open(struct egress *eg, const char *agent, const struct egress_rules *rules,
                      const char *execution_id, int *ret_fd, struct al_error *err)
{
        struct netns_job j = {.lfd = -1, .nsfd = -1};
        struct epoll_event ev = {.events = EPOLLIN};
        struct ebinding *b = calloc(1, sizeof(*b));
        struct esandbox *sb = calloc(1, sizeof(*sb));
        pthread_t t;
        int r;

        if (!b || !sb || !(sb->run_dir = strdup(execution_id)) ||
            !(sb->agent = strdup(agent ? agent : "")) || !(b->denied = json_array()) ||
            rules_copy(rules, &sb->rules) < 0) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto fail;
        }
        sb->lfd = -1;
        sb->host = true;
        snprintf(sb->name, sizeof(sb->name), "host-%.12s", execution_id);
        snprintf(b->exec_id, sizeof(b->exec_id), "%s", execution_id);
        if (pthread_create(&t, NULL, netns_main, &j) != 0) {
                r = al_err(err, -EAGAIN, "egress: cannot start a thread");
                goto fail;
        }
        pthread_join(t, NULL);
        if (j.err) {
                r = al_err_errno(err, -j.err, "egress: a network namespace for the exec");
                goto fail;
        }
        sb->lfd = TAKE_FD(j.lfd);
        sb->execs = b;
        b = NULL;
        ev.data.ptr = sb;
        pthread_mutex_lock(&eg->lock);
        if (epoll_ctl(eg->epfd, EPOLL_CTL_ADD, sb->lfd, &ev) < 0) {
                pthread_mutex_unlock(&eg->lock);
                r = al_err_errno(err, -errno, "egress: epoll");
                goto fail;
        }
        sb->next = eg->sandboxes;
        eg->sandboxes = sb;
        pthread_mutex_unlock(&eg->lock);
        *ret_fd = TAKE_FD(j.nsfd);
        return 0;
fail:
        if (j.lfd >= 0)
                close(j.lfd);
        if (j.nsfd >= 0)
                close(j.nsfd);
        if (b)
                json_decref(b->denied);
        free(b);
        sandbox_free(sb);
        return r;
}

json_t *egress_netns_close(struct egress *eg, const char *execution_id)
{
        json_t *denied = NULL;

        pthread_mutex_lock(&eg->lock);
        for (struct esandbox **pp = &eg->sandboxes; *pp; pp = &(*pp)->next) {
                struct esandbox *sb = *pp;

                if (!sb->host || sb->gone || strcmp(sb->run_dir, execution_id) != 0)
                        continue;
                /* A copy: cuts below still note themselves in the original. */
                if (sb->execs)
                        denied = json_deep_copy(sb->execs->denied);
                /* The exec is over: what its processes left open goes with it. */
                sandbox_drop_listener(eg, sb);
                sandbox_cut_all(sb, "exec_ended");
                if (sb->n_conns == 0) {
                        *pp = sb->next;
                        sandbox_free(sb);
                } else {
                        sb->gone = true;
                }
                break;
        }
        pthread_mutex_unlock(&eg->lock);
        return denied ? denied : json_array();
}

void egress_reload(struct egress *eg, egress_rules_fn rules_for, void *ctx)
{
        pthread_mutex_lock(&eg->lock);
        for (struct esandbox *sb = eg->sandboxes; sb; sb = sb->next) {
                struct egress_rules r = {0};
                struct erules nr;

                if (sb->gone || rules_for(ctx, sb->agent[0] ? sb->agent : NULL, &r) < 0 ||
                    rules_copy(&r, &nr) < 0)
                        continue;
                rules_clear(&sb->rules);
                sb->rules = nr;
                recheck(sb);
        }
        pthread_mutex_unlock(&eg->lock);
}

void egress_stats(struct egress *eg, struct egress_stats *ret)
{
        pthread_mutex_lock(&eg->lock);
        *ret = eg->stats;
        ret->open = eg->n_conns;
        pthread_mutex_unlock(&eg->lock);
}
