/* The monitor listener: a second HTTP server on a loopback TCP address for monitor panels and
 * Prometheus, which usually cannot reach a UNIX socket. It serves GET /v1/health and
 * GET /metrics and nothing else: no route that runs, changes or reveals agents' work is
 * reachable through it, whatever the request. Bodies are never read. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "airlock/api.h"
#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "routes.h"

#define MONITOR_CONNECTIONS 16  /* a few scrapers at once; more wait in the backlog */
#define MONITOR_TIMEOUT_S   30u /* idle keep-alive connections are closed after this */
#define NOT_FOUND_MSG       "the monitor listener serves only GET /v1/health and GET /metrics"

struct monitor_server {
        struct MHD_Daemon *mhd;
        struct api api; /* the core; no limiter: the routes here are read-only */
        struct api *ctx;
};

static const struct {
        const char *path;
        ROUTE_HANDLER((*handler));
} monitor_routes[] = {
    {"/v1/health", route_health},
    {"/metrics", route_metrics},
};

int api_listen_tcp(const char *listen_addr, const char *what, struct al_error *err)
{
        struct sockaddr_storage ss = {0};
        socklen_t len;
        char host[64];
        uint16_t port;
        _cleanup_close_ int fd = -1;
        int one = 1, r;

        r = policy_parse_listen(listen_addr, host, sizeof(host), &port);
        if (r == -EPERM)
                return al_err(err, -EPERM, "%s '%s' is not a loopback address", what, listen_addr);
        if (r < 0)
                return al_err(err, -EINVAL, "%s '%s' is not host:port", what, listen_addr);
        if (strchr(host, ':')) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                inet_pton(AF_INET6, host, &a->sin6_addr);
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;

                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                inet_pton(AF_INET, host, &a->sin_addr);
                len = sizeof(*a);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return al_err_errno(err, -errno, "socket for %s", what);
        /* A restart must not wait for the last run's connections in TIME_WAIT. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ss.ss_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                return al_err_errno(err, -errno, "cannot bind %s to %s", what, listen_addr);
        if (listen(fd, 64) < 0)
                return al_err_errno(err, -errno, "listen on %s", listen_addr);
        return TAKE_FD(fd);
}

static enum MHD_Result send_plain_error(struct MHD_Connection *conn, unsigned status,
                                        const char *code, const char *msg, bool allow_get)
{
        /* Whatever body the client meant to send is not wanted: do not read it; a client that
         * asks for what is not here is not worth a kept connection either. */
        static const char *const close_only[] = {MHD_HTTP_HEADER_CONNECTION, "close", NULL};
        static const char *const close_allow[] = {MHD_HTTP_HEADER_CONNECTION, "close", "Allow",
                                                  "GET, HEAD", NULL};

        return api_send_json_with(conn, status, api_error_doc_named(code, msg),
                                  allow_get ? close_allow : close_only);
}

/* Request states kept in MHD's closure pointer: nothing to free. */
static int state_waiting, state_answered;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
        struct monitor_server *m = cls;
        bool read_only = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        struct route_args args = {0};
        size_t i;

        for (i = 0; i < ARRAY_SIZE(monitor_routes); i++)
                if (strcmp(url, monitor_routes[i].path) == 0)
                        break;
        if (!*req_cls) {
                /* GET and HEAD are answered once the request is in, which keeps the connection
                 * alive for the next scrape; anything else at once, before any body is read,
                 * and the connection is closed. */
                if (read_only) {
                        *req_cls = &state_waiting;
                        return MHD_YES;
                }
                *req_cls = &state_answered;
                if (i < ARRAY_SIZE(monitor_routes)) {
                        metrics_rejected("method_not_allowed");
                        return send_plain_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                                "method_not_allowed",
                                                "the monitor listener is read-only", true);
                }
                metrics_rejected("not_found");
                return send_plain_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NOT_FOUND_MSG,
                                        false);
        }
        /* A body sent anyway is dropped unread. */
        if (*upload_size > 0 || *req_cls == &state_answered) {
                *upload_size = 0;
                return MHD_YES;
        }
        *req_cls = &state_answered;
        if (i < ARRAY_SIZE(monitor_routes))
                return monitor_routes[i].handler(m->ctx, conn, &args);
        metrics_rejected("not_found");
        return send_plain_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NOT_FOUND_MSG, false);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
        char msg[512];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        log_warn("monitor http: %s", msg);
}

struct monitor_server *monitor_start(struct daemon *core, const char *listen_addr,
                                     struct al_error *err)
{
        struct monitor_server *m;
        int fd = api_listen_tcp(listen_addr, "[monitor] listen", err);

        if (fd < 0)
                return NULL;
        m = calloc(1, sizeof(*m));
        if (!m) {
                close(fd);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        m->api.core = core;
        m->ctx = &m->api;
        /* One thread per connection: a health check may wait seconds on a hung engine and
         * must not hold up a metrics scrape. */
        m->mhd = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                MHD_USE_ERROR_LOG,
            0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, m,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)MONITOR_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, MONITOR_TIMEOUT_S,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_END);
        if (!m->mhd) {
                close(fd);
                free(m);
                al_err(err, -EIO, "cannot start the monitor listener on %s", listen_addr);
                return NULL;
        }
        return m;
}

void monitor_stop(struct monitor_server *m)
{
        if (!m)
                return;
        /* MHD closes the listening socket it was given when it stops. */
        MHD_stop_daemon(m->mhd);
        free(m);
}
