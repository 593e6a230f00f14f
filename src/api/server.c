/* HTTP/1.1 on the UNIX socket with libmicrohttpd: one thread per connection (an exec may block
 * for minutes), bodies capped, every error a JSON object with a fitting status. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <microhttpd.h>

#include "airlock/api.h"
#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "auth.h"
#include "conns.h"
#include "e2b.h"
#include "limits.h"
#include "mcp.h"
#include "routes.h"

struct api_server {
        struct MHD_Daemon *mhd;
        struct api api; /* what handlers reach: the core and this server's limiter */
        struct api *ctx;
        struct conns *conns;
        int listen_fd;
        bool quiesced;
        bool own_limiter; /* the MCP listener shares the main server's */
};

/* Per-request state, kept in MHD's request closure. */
struct req_state {
        struct buf body;
        bool rejected;            /* the body is over the cap */
        bool answered;            /* a response was queued before the body ended */
        struct auth_identity who; /* the caller, identified before the body is read */
        bool counted;             /* holds one of the caller's concurrency places */
        bool refused;             /* the caller may not ask this: refusal is the answer */
        struct auth_refusal refusal;
};

int api_listen_unix(const char *path, const char *group, struct al_error *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        mode_t old;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return al_err(err, -ENAMETOOLONG, "socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return al_err_errno(err, -errno, "socket");
        /* A stale socket from a daemon that died is replaced; a live one is refused. */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return al_err(err, -EADDRINUSE, "another daemon is serving on '%s'", path);
        unlink(path);
        old = umask(0117);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return al_err_errno(err, -errno, "cannot bind '%s'", path);
        if (chmod(path, 0660) < 0)
                return al_err_errno(err, -errno, "cannot chmod '%s'", path);
        if (group && *group) {
                struct group *g = getgrnam(group);

                if (g && chown(path, (uid_t)-1, g->gr_gid) < 0)
                        return al_err_errno(err, -errno, "cannot give '%s' to group '%s'", path,
                                            group);
        }
        /* A deep queue: a burst of connections (a flood's, whose uid is past its share and is
         * closed at once) must not fill it, or a legitimate client's connect fails with EAGAIN
         * before the server has even seen it. The kernel caps it at net.core.somaxconn. */
        if (listen(fd, SOMAXCONN > 4096 ? SOMAXCONN : 4096) < 0)
                return al_err_errno(err, -errno, "listen on '%s'", path);
        return TAKE_FD(fd);
}

/* An oversized body: answer and close, so the client need not send the rest. MCP clients
 * read JSON-RPC errors. */
static enum MHD_Result send_too_large(struct api_server *s, struct MHD_Connection *conn,
                                      const char *url)
{
        static const char msg[] = "request body exceeds the limit of the [daemon] max_body_kb "
                                  "setting (of [files] upload_mb for an upload)";

        if (s->api.e2b) {
                struct auth_refusal r = {.code = -AL_E_TOO_LARGE};

                snprintf(r.msg, sizeof(r.msg), "%s", msg);
                return e2b_send_refusal(conn, url, &r);
        }
        metrics_rejected(al_err_name(-AL_E_TOO_LARGE));
        return api_send_json_with(conn, 413,
                                  strcmp(url, "/mcp") == 0
                                      ? mcp_error_response(NULL, MCP_INVALID_REQUEST, msg)
                                      : api_error_doc(-AL_E_TOO_LARGE, msg),
                                  (const char *const[]){MHD_HTTP_HEADER_CONNECTION, "close", NULL});
}

/* A refusal in the shape the listener's clients read. */
static enum MHD_Result send_refusal(struct api_server *s, struct MHD_Connection *conn,
                                    const char *url, const struct auth_refusal *r)
{
        return s->api.e2b ? e2b_send_refusal(conn, url, r) : auth_send_refusal(conn, r);
}

/* A connection in one of the reserved slots may ask for health and version only. */
static bool health_only_refused(struct MHD_Connection *conn, const char *url, const char *method,
                                struct auth_refusal *ret)
{
        if (!conns_health_only(conn) ||
            (strcmp(method, "GET") == 0 &&
             (strcmp(url, "/v1/health") == 0 || strcmp(url, "/v1/version") == 0)))
                return false;
        metrics_rejected("too_many_connections");
        ret->code = -AL_E_LIMITED;
        ret->retry_s = 1;
        snprintf(ret->msg, sizeof(ret->msg),
                 "every general connection slot is taken; this one is reserved for GET "
                 "/v1/health and /v1/version ([daemon] reserved_connections)");
        return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
        struct api_server *s = cls;
        struct req_state *st = *req_cls;
        const char *clen;
        struct policy *pol;
        int64_t max_body;

        if (!st) {
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                pol = daemon_policy(s->ctx->core);
                max_body = s->api.e2b ? e2b_body_cap(pol, url, method)
                                      : api_files_body_cap(pol, url, method);
                policy_unref(pol);
                buf_init(&st->body, (size_t)max_body);
                *req_cls = st;
                clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
                /* Who asks, and whether they may ask now: decided before any of the body is
                 * read. A body within the cap is read and dropped before the refusal goes
                 * out, so that the client reads the answer rather than a broken pipe. */
                if (health_only_refused(conn, url, method, &st->refusal) ||
                    auth_admit(s->ctx, conn, url, method, &st->who, &st->counted, &st->refusal)) {
                        st->refused = true;
                        if ((clen && strtoull(clen, NULL, 10) <= (unsigned long long)max_body &&
                             strtoull(clen, NULL, 10) > 0) ||
                            (!clen && MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                  "Transfer-Encoding")))
                                return MHD_YES;
                        st->answered = true;
                        conns_request_read(conn);
                        return send_refusal(s, conn, url, &st->refusal);
                }
                /* Refuse an announced oversized body before reading any of it. */
                if (clen && strtoull(clen, NULL, 10) > (unsigned long long)max_body) {
                        st->rejected = st->answered = true;
                        conns_request_read(conn);
                        return send_too_large(s, conn, url);
                }
                return MHD_YES;
        }
        /* The request is whole: from here on the connection is answering, not reading, and
         * its read deadline no longer applies (an exec may run for minutes). */
        if (*upload_size == 0)
                conns_request_read(conn);
        if (*upload_size > 0 && st->refused) {
                st->body.dropped += *upload_size;
                *upload_size = 0;
                return st->body.dropped > st->body.max ? MHD_NO : MHD_YES;
        }
        if (st->refused) {
                if (st->answered)
                        return MHD_YES;
                st->answered = true;
                return send_refusal(s, conn, url, &st->refusal);
        }
        if (*upload_size > 0) {
                /* Past the cap the rest is read and dropped (MHD answers only once the upload
                 * is done); a body far past it is cut off without an answer. */
                if (!st->rejected) {
                        buf_append(&st->body, upload, *upload_size);
                        st->rejected = buf_truncated(&st->body);
                } else {
                        st->body.dropped += *upload_size;
                        if (st->body.dropped > 16 * st->body.max)
                                return MHD_NO;
                }
                *upload_size = 0;
                return MHD_YES;
        }
        if (st->rejected && !st->answered)
                return send_too_large(s, conn, url);
        if (st->rejected)
                return MHD_YES;
        return api_route(s->ctx, conn, url, method, st->body.data ? st->body.data : "",
                         st->body.len, &st->who);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct api_server *s = cls;
        struct req_state *st = *req_cls;

        /* A kept-alive connection reads its next request against a fresh deadline. */
        conns_request_done(conn);
        if (!st)
                return;
        auth_release(s->ctx, &st->who, st->counted);
        auth_identity_clear(&st->who);
        buf_free(&st->body);
        free(st);
        *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
        struct api_server *s = cls;

        conns_notify(s->conns, conn, socket_context, toe);
}

/* A flood repeats MHD's messages once per connection: each is logged at most once per
 * interval, with a count of the ones held back. */
#define MHD_LOG_INTERVAL_MS 10000
/* How long accepting pauses when the process is out of file descriptors. */
#define EMFILE_PAUSE_MS 250

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
        /* The messages seen lately; MHD's come in pairs ("Error accepting..." and "Hit ...
         * resource limit..."), so one slot would not do. */
        static struct {
                char prefix[41]; /* enough to tell them apart, not the counts that follow */
                int64_t ms;
                unsigned long held;
        } seen[4];
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        unsigned long skipped = 0;
        bool quiet = false;
        size_t i, oldest = 0;
        char msg[512];
        int64_t now = util_now_ms();

        vsnprintf(msg, sizeof(msg), fmt, ap);
        pthread_mutex_lock(&lock);
        for (i = 0; i < ARRAY_SIZE(seen); i++) {
                if (strncmp(msg, seen[i].prefix, sizeof(seen[i].prefix) - 1) == 0)
                        break;
                if (seen[i].ms < seen[oldest].ms)
                        oldest = i;
        }
        if (i < ARRAY_SIZE(seen) && now - seen[i].ms < MHD_LOG_INTERVAL_MS) {
                seen[i].held++;
                quiet = true;
        } else {
                if (i == ARRAY_SIZE(seen)) {
                        i = oldest;
                        snprintf(seen[i].prefix, sizeof(seen[i].prefix), "%.40s", msg);
                        seen[i].held = 0;
                }
                seen[i].ms = now;
                skipped = seen[i].held;
                seen[i].held = 0;
        }
        pthread_mutex_unlock(&lock);
        if (!quiet && skipped)
                log_warn("http: %s (%lu more like it in the last %ds)", msg, skipped,
                         MHD_LOG_INTERVAL_MS / 1000);
        else if (!quiet)
                log_warn("http: %s", msg);
        /* libmicrohttpd 0.9.75 says so when accept() fails for want of file descriptors, and
         * then, in thread-per-connection mode, polls the listening socket again at once: a
         * busy loop for as long as the shortage lasts. This is its listening thread (no
         * request waits on it), so a pause here is a pause of accepting, as OpenBSD's httpd
         * does. */
        if (strstr(msg, "resource limit")) {
                struct timespec ts = {0, EMFILE_PAUSE_MS * 1000000L};

                nanosleep(&ts, NULL);
        }
}

/* Raise the soft limit on open files to the hard one, and keep the connection cap within it:
 * each connection may hold a few descriptors at once (its socket, a stream's pipe, a watch
 * on it, an engine connection), and the daemon needs some of its own. Returns the cap. */
static unsigned fit_connections(unsigned wanted)
{
        struct rlimit rl;
        rlim_t fit;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return wanted;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur == RLIM_INFINITY)
                return wanted;
        fit = rl.rlim_cur > 64 + 4 * 4 ? (rl.rlim_cur - 64) / 4 : 4;
        if (wanted <= fit)
                return wanted;
        log_warn("[daemon] max_connections = %u does not fit %llu open files: serving at most %u "
                 "connections (raise LimitNOFILE)",
                 wanted, (unsigned long long)rl.rlim_cur, (unsigned)fit);
        return (unsigned)fit;
}

/* A server on listen_fd (ownership passes). limiter: the main server's, to share its caps and
 * exec slots (the MCP listener), or NULL for a new one. */
static struct api_server *server_start(struct daemon *core, int listen_fd, struct limiter *limiter,
                                       bool mcp_only, bool e2b, struct al_error *err)
{
        struct api_server *s = calloc(1, sizeof(*s));
        struct policy *pol = daemon_policy(core);
        unsigned limit = fit_connections((unsigned)pol->max_connections);
        size_t header_cap = (size_t)pol->max_header_bytes;
        struct api *ctx = s ? &s->api : NULL;

        policy_unref(pol);
        if (s) {
                s->api.core = core;
                s->api.mcp_only = mcp_only;
                s->own_limiter = !limiter;
                s->api.limiter = limiter ? limiter : limiter_new(NULL);
        }
        if (!s || !s->api.limiter) {
                free(s);
                close(listen_fd);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        s->ctx = ctx;
        s->listen_fd = listen_fd;
        if (e2b && !(s->api.e2b = e2b_new(&s->api))) {
                close(listen_fd);
                if (s->own_limiter)
                        limiter_free(s->api.limiter);
                free(s);
                al_err(err, -ENOMEM, "cannot start the E2B front end");
                return NULL;
        }
        s->conns = conns_new(ctx, limit, err);
        if (!s->conns) {
                close(listen_fd);
                e2b_free(s->api.e2b);
                if (s->own_limiter)
                        limiter_free(s->api.limiter);
                free(s);
                return NULL;
        }
        s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                                      MHD_USE_ITC | MHD_USE_ERROR_LOG,
                                  0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                                  on_mhd_error, s, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                  MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
                                  120u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                  /* The request line and headers live in this per-connection pool:
                                   * its size is the header cap (MHD answers 431 past it). */
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, header_cap,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
        if (!s->mhd) {
                close(listen_fd);
                conns_free(s->conns);
                e2b_free(s->api.e2b);
                if (s->own_limiter)
                        limiter_free(s->api.limiter);
                free(s);
                al_err(err, -EIO, "cannot start the HTTP server");
                return NULL;
        }
        return s;
}

struct api_server *api_server_start(struct daemon *core, int listen_fd, struct al_error *err)
{
        return server_start(core, listen_fd, NULL, false, false, err);
}

struct api_server *api_mcp_start(struct api_server *main, const char *listen_addr,
                                 struct al_error *err)
{
        int fd = api_listen_tcp(listen_addr, "[mcp] listen", err);

        if (fd < 0)
                return NULL;
        return server_start(main->api.core, fd, main->api.limiter, true, false, err);
}

struct api_server *api_e2b_start(struct api_server *main, const char *listen_addr,
                                 struct al_error *err)
{
        int fd = api_listen_tcp(listen_addr, "[e2b] listen", err);

        if (fd < 0)
                return NULL;
        return server_start(main->api.core, fd, main->api.limiter, false, true, err);
}

void api_server_quiesce(struct api_server *s)
{
        /* MHD hands the listening socket back and stops polling it; it is closed in stop. */
        if (s && s->mhd && !s->quiesced) {
                MHD_quiesce_daemon(s->mhd);
                s->quiesced = true;
        }
}

void api_server_stop(struct api_server *s)
{
        if (!s)
                return;
        api_server_quiesce(s);
        MHD_stop_daemon(s->mhd);
        /* Its sandboxes end with it: processes killed, sessions ended. */
        e2b_free(s->api.e2b);
        s->api.e2b = NULL;
        conns_free(s->conns);
        close(s->listen_fd);
        /* A stream worker still running past the drain gives its exec slot back later: then
         * the server (and its limiter) is left to the process's exit. */
        {
                struct daemon_gauges g;

                daemon_gauges(s->api.core, &g);
                if (g.inflight > 0)
                        return;
        }
        if (s->own_limiter)
                limiter_free(s->api.limiter);
        free(s);
}
