/* Hijacked Engine API streams (exec start, container attach) on a raw AF_UNIX socket: libcurl
 * cannot hand back an upgraded connection. The response header is read before any stdin is
 * sent, because Docker 20.10 drops stdin that arrives ahead of its "101 UPGRADED". Output and
 * stdin are then interleaved on one poll loop so neither side can deadlock the other, reads go
 * through one fixed buffer, and the deadline, the watched client fd, the cancel fd
 * (airlock/watch.h) and the output callback may each end the stream. */
#include "engine_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "airlock/watch.h"
#include "http.h"

#define STREAM_BUF_SIZE     (64 * 1024)
#define STREAM_HDR_MAX      (16 * 1024) /* response header; the engines send ~300 bytes */
#define STREAM_ERR_BODY_MAX (64 * 1024)
#define STREAM_HANDSHAKE_MS ENGINE_TIMEOUT_MS
#define STREAM_STDIN_CHUNK  (64 * 1024)

static int poll_timeout(int64_t until, int64_t now)
{
        if (until <= now)
                return 0;
        return until - now > INT_MAX ? INT_MAX : (int)(until - now);
}

static int stream_connect(struct engine *e, int *ret_fd, struct al_error *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        size_t n = strlen(e->socket_path);
        int flags;

        if (n >= sizeof(sa.sun_path))
                return al_err(err, -ENAMETOOLONG, "engine socket path %s is too long",
                              e->socket_path);
        memcpy(sa.sun_path, e->socket_path, n + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return al_err_errno(err, -errno, "socket");
        while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (errno == EINTR)
                        continue;
                return al_err(err, -AL_E_ENGINE_DOWN, "engine at %s is not answering: %s",
                              e->socket_path, strerror(errno));
        }
        /* Non-blocking from here on: every wait goes through poll with a limit. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return al_err_errno(err, -errno, "fcntl");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int write_all(struct engine *e, int fd, const char *p, size_t len, int64_t until,
                     const char *what, struct al_error *err)
{
        while (len > 0) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                if (n > 0) {
                        p += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EAGAIN)
                        return al_err(err, -AL_E_ENGINE_DOWN, "%s: engine at %s: %s", what,
                                      e->socket_path, strerror(errno));
                if (poll(&pfd, 1, poll_timeout(until, util_now_ms())) == 0)
                        return al_err(err, -AL_E_ENGINE_DOWN,
                                      "%s: engine at %s does not take the request", what,
                                      e->socket_path);
        }
        return 0;
}

/* Wait for fd to be readable until the monotonic time until; 0 on timeout, > 0 ready. */
static int wait_readable(int fd, int64_t until)
{
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int r = poll(&pfd, 1, poll_timeout(until, util_now_ms()));

                if (r >= 0 || errno != EINTR)
                        return r;
        }
}

/* After a non-upgrade status: read the engine's error body (Content-Length, chunked or up to
 * EOF; capped) and turn it into an error. buf[0..got) holds what was read so far. */
static int stream_refused(int fd, int status, const char *buf, size_t hdr_end, size_t got,
                          int64_t until, const char *what, struct al_error *err)
{
        _cleanup_free_ char *body = NULL, *plain = NULL;
        size_t len = got - hdr_end, plain_len = 0;
        char value[64];
        long clen = -1;
        bool chunked = false;
        int r;

        body = malloc(STREAM_ERR_BODY_MAX);
        plain = malloc(STREAM_ERR_BODY_MAX);
        if (!body || !plain)
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        if (engine_http_header_get(buf, hdr_end, "Transfer-Encoding", value, sizeof(value)) > 0 &&
            strcasecmp(value, "chunked") == 0)
                chunked = true;
        else if (engine_http_header_get(buf, hdr_end, "Content-Length", value, sizeof(value)) > 0)
                clen = strtol(value, NULL, 10);
        if (len > STREAM_ERR_BODY_MAX)
                len = STREAM_ERR_BODY_MAX;
        memcpy(body, buf + hdr_end, len);
        for (;;) {
                ssize_t n;

                if (chunked) {
                        r = engine_http_dechunk(body, len, plain, &plain_len);
                        if (r != 0)
                                break;
                } else if (clen >= 0 && len >= (size_t)clen) {
                        break;
                }
                /* Statuses without a body end at the header. */
                if (!chunked && clen < 0 && (status == 204 || status == 304))
                        break;
                if (len >= STREAM_ERR_BODY_MAX || wait_readable(fd, until) <= 0)
                        break;
                n = recv(fd, body + len, STREAM_ERR_BODY_MAX - len, 0);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        if (chunked)
                return engine_status_error(status, plain, plain_len, what, err);
        if (clen >= 0 && (size_t)clen < len)
                len = (size_t)clen;
        return engine_status_error(status, body, len, what, err);
}

/* Connect, send the upgrade request and read the response header. On success *ret_fd is the
 * stream and buf[0..*ret_got) holds the stream bytes that came with the header. */
static int stream_open(struct engine *e, const char *path, const char *body, char *buf, int *ret_fd,
                       size_t *ret_got, const char *what, struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *req = NULL;
        int64_t until = util_now_ms() + STREAM_HANDSHAKE_MS;
        size_t got = 0, hdr_end = 0, blen = body ? strlen(body) : 0;
        int n, r, status;

        n = asprintf(&req,
                     "POST /v1.%d%s HTTP/1.1\r\n"
                     "Host: localhost\r\n"
                     "%s"
                     "Connection: Upgrade\r\n"
                     "Upgrade: tcp\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n"
                     "%s",
                     engine_api_minor(e), path, blen ? "Content-Type: application/json\r\n" : "",
                     blen, body ? body : "");
        if (n < 0) {
                req = NULL;
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        }
        r = stream_connect(e, &fd, err);
        if (r < 0) {
                al_err_wrap(err, r, "%s", what);
                return r;
        }
        r = write_all(e, fd, req, (size_t)n, until, what, err);
        if (r < 0)
                return r;
        while (hdr_end == 0) {
                ssize_t k;

                if (got >= STREAM_HDR_MAX)
                        return al_err(err, -AL_E_ENGINE, "%s: response header too large", what);
                r = wait_readable(fd, until);
                if (r < 0)
                        return al_err_errno(err, -errno, "%s: poll", what);
                if (r == 0)
                        return al_err(err, -AL_E_ENGINE_DOWN,
                                      "engine at %s is not answering: no response to %s",
                                      e->socket_path, what);
                k = recv(fd, buf + got, STREAM_BUF_SIZE - got, 0);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return al_err(err, -AL_E_ENGINE_DOWN, "engine at %s: %s: %s",
                                      e->socket_path, what, strerror(errno));
                if (k == 0)
                        return al_err(err, -AL_E_ENGINE_DOWN,
                                      "engine at %s closed the connection during %s",
                                      e->socket_path, what);
                /* Rescan from the start: the blank line may straddle two reads. */
                got += (size_t)k;
                hdr_end = engine_http_header_end(buf, got < STREAM_HDR_MAX ? got : STREAM_HDR_MAX);
        }
        if (engine_http_status(buf, hdr_end, &status) < 0)
                return al_err(err, -AL_E_ENGINE, "%s: malformed response from the engine", what);
        /* Docker answers 101; engines that ignore the upgrade request answer 200 and then
         * stream on the same connection all the same. */
        if (status != 101 && status != 200)
                return stream_refused(fd, status, buf, hdr_end, got, until, what, err);
        memmove(buf, buf + hdr_end, got - hdr_end);
        *ret_got = got - hdr_end;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

struct pump {
        struct engine_stream_io *io;
        struct demux demux;
        bool aborted;
};

static int pump_out(void *ctx, int stream, const char *data, size_t len)
{
        struct pump *p = ctx;

        if (!p->io->output || len == 0)
                return 0;
        if (p->io->output(p->io->ctx, stream, data, len) < 0) {
                p->aborted = true;
                return -ECANCELED;
        }
        return 0;
}

/* Feed bytes through the demuxer; 1 when the output callback aborted, < 0 on a bad stream. */
static int pump_feed(struct pump *p, const char *data, size_t len, const char *what,
                     struct al_error *err)
{
        int r = demux_feed(&p->demux, data, len, pump_out, p);

        if (p->aborted)
                return 1;
        if (r < 0)
                return al_err(err, -AL_E_ENGINE,
                              "%s: malformed stream from the engine (is Tty set?)", what);
        return 0;
}

/* The stream loop: stdin out, output in, until EOF, deadline, watch_fd hangup or abort. */
static int stream_pump(int fd, char *buf, size_t pending, struct engine_stream_io *io,
                       const char *what, enum engine_stream_end *ret_end, struct al_error *err)
{
        struct pump p = {.io = io};
        struct watch w;
        size_t in_off = 0;
        bool in_open = true;
        enum engine_stream_end end;
        int r;

        demux_init(&p.demux);
        r = pump_feed(&p, buf, pending, what, err);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_end = STREAM_ABORTED;
                return 0;
        }
        watch_init(&w, io->deadline_ms, io->drain_ms, io->watch_fd, io->cancel_fd);
        for (;;) {
                struct pollfd pfd[1 + WATCH_FDS];
                enum watch_event ev;
                ssize_t n;

                if (in_open && in_off >= io->stdin_len) {
                        /* All of stdin is out: EOF for the process's stdin. */
                        shutdown(fd, SHUT_WR);
                        in_open = false;
                }
                pfd[0] = (struct pollfd){.fd = fd, .events = POLLIN | (in_open ? POLLOUT : 0)};
                r = watch_poll(&w, pfd, 1, &ev, err);
                if (r < 0) {
                        al_err_wrap(err, r, "%s", what);
                        return r;
                }
                if (ev == WATCH_DRAINED) {
                        end = w.cancelled ? STREAM_CANCELLED : STREAM_DEADLINE;
                        break;
                }
                if (ev == WATCH_HANGUP) {
                        end = !w.draining   ? STREAM_WATCH_HUP
                              : w.cancelled ? STREAM_CANCELLED
                                            : STREAM_DEADLINE;
                        break;
                }
                if (ev == WATCH_DEADLINE || ev == WATCH_CANCEL) {
                        /* Stdin the process did not take by now is given up. */
                        if (in_open) {
                                shutdown(fd, SHUT_WR);
                                in_open = false;
                        }
                        if (io->on_deadline)
                                io->on_deadline(io->ctx);
                        continue;
                }
                if (in_open && (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        size_t left = io->stdin_len - in_off;

                        n = send(fd, io->stdin_data + in_off,
                                 left < STREAM_STDIN_CHUNK ? left : STREAM_STDIN_CHUNK,
                                 MSG_NOSIGNAL);
                        if (n > 0) {
                                in_off += (size_t)n;
                        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                /* The process is gone or closed stdin: keep its output. */
                                in_open = false;
                        }
                }
                if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        n = recv(fd, buf, STREAM_BUF_SIZE, 0);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        /* A reset comes after the data queued before it: treat it as EOF. */
                        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
                                end = w.cancelled  ? STREAM_CANCELLED
                                      : w.draining ? STREAM_DEADLINE
                                                   : STREAM_EOF;
                                break;
                        }
                        if (n < 0)
                                return al_err(err, -AL_E_ENGINE_DOWN, "%s: reading stream: %s",
                                              what, strerror(errno));
                        r = pump_feed(&p, buf, (size_t)n, what, err);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                end = STREAM_ABORTED;
                                break;
                        }
                }
        }
        *ret_end = end;
        return 0;
}

static int stream_run(struct engine *e, const char *path, const char *body,
                      struct engine_stream_io *io, int (*start_cb)(void *ctx, struct al_error *err),
                      void *start_ctx, const char *what, enum engine_stream_end *ret_end,
                      struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t got = 0;
        int r;

        if (io->stdin_len > 0 && !io->stdin_data)
                return al_err(err, -EINVAL, "%s: stdin_len without stdin_data", what);
        buf = malloc(STREAM_BUF_SIZE);
        if (!buf)
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        r = stream_open(e, path, body, buf, &fd, &got, what, err);
        if (r < 0)
                return r;
        if (start_cb) {
                r = start_cb(start_ctx, err);
                if (r < 0)
                        return r;
        }
        if (io->on_open) {
                r = io->on_open(io->ctx, err);
                if (r < 0)
                        return r;
        }
        return stream_pump(fd, buf, got, io, what, ret_end, err);
}

int engine_exec_start(struct engine *e, const char *exec_id, struct engine_stream_io *io,
                      enum engine_stream_end *ret_end, struct al_error *err)
{
        _cleanup_free_ char *esc = NULL, *path = NULL;

        if (!exec_id || !*exec_id)
                return al_err(err, -EINVAL, "start exec: empty id");
        esc = engine_http_escape(exec_id);
        if (!esc || asprintf(&path, "/exec/%s/start", esc) < 0)
                return al_err(err, -ENOMEM, "start exec: out of memory");
        return stream_run(e, path, "{\"Detach\":false,\"Tty\":false}", io, NULL, NULL, "start exec",
                          ret_end, err);
}

int engine_container_attach(struct engine *e, const char *id, struct engine_stream_io *io,
                            int (*start_cb)(void *ctx, struct al_error *err), void *start_ctx,
                            enum engine_stream_end *ret_end, struct al_error *err)
{
        _cleanup_free_ char *esc = NULL, *path = NULL;

        if (!id || !*id)
                return al_err(err, -EINVAL, "attach container: empty id");
        esc = engine_http_escape(id);
        if (!esc ||
            asprintf(&path, "/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1", esc) < 0)
                return al_err(err, -ENOMEM, "attach container: out of memory");
        return stream_run(e, path, NULL, io, start_cb, start_ctx, "attach container", ret_end, err);
}
