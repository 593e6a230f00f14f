/* envd's process.Process service over Connect-RPC with JSON (spec/envd/process/process.proto
 * of e2b-dev/E2B). Every command is an airlock exec in the E2B sandbox's session, run by a
 * worker thread through the core (api_exec_execute: policy, limits, audit row), whatever the
 * client does: a Start stream, a Connect stream later, or nobody listening (background). Its
 * output is kept as events (capped) that each stream replays and then follows; its stdin is a
 * pipe the exec reads from (exec_request.stdin_fd) while SendInput writes to it; a kill closes
 * the exec's watch descriptor, which ends the exec and everything it started. The pid a client
 * sees is the front end's own number for the command. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "auth.h"
#include "e2b.h"
#include "routes.h"

#define KEEPALIVE_MS   5000
#define STDIN_WAIT_MS  10000
#define EVENTS_MIN_CAP (1u << 20)

enum evt_kind { EV_START, EV_STDOUT, EV_STDERR, EV_END, EV_FAIL };

struct evt {
        enum evt_kind kind;
        json_t *doc; /* the message: a ProcessEvent wrapper, or for EV_FAIL the error */
};

struct proc {
        struct proc *next;
        char sandbox[E2B_ID_LEN + 1];
        long long pid;
        json_t *config; /* ProcessConfig, for List */
        json_t *tag;
        int stdin_w; /* -1 when closed */
        int kill_w;  /* the peer of the exec's watch fd: closing it ends the exec */
        struct evt *ev;
        size_t n, cap;
        size_t bytes, bytes_max; /* output kept, and its cap */
        bool dropped, ended;
        int refs;
        /* the worker's */
        struct api *ctx;
        struct auth_identity who;
        struct exec_request req;
        bool slot;
        int kill_r, stdin_r;
};

struct e2b_procs {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct proc *list;
        long long next_pid;
        int workers;
};

struct e2b_procs *e2b_procs_new(void)
{
        struct e2b_procs *p = calloc(1, sizeof(*p));

        if (!p)
                return NULL;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        p->next_pid = 1000;
        return p;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* Under the lock: drop a reference; the last one of an ended command frees it. */
static void proc_unref(struct e2b_procs *p, struct proc *x)
{
        if (--x->refs > 0)
                return;
        for (struct proc **pp = &p->list; *pp; pp = &(*pp)->next)
                if (*pp == x) {
                        *pp = x->next;
                        break;
                }
        for (size_t i = 0; i < x->n; i++)
                json_decref(x->ev[i].doc);
        free(x->ev);
        json_decref(x->config);
        json_decref(x->tag);
        close_fd(&x->stdin_w);
        close_fd(&x->kill_w);
        free(x);
}

/* Under the lock: append an event (stolen). Output past the cap is dropped (and said so at
 * the end); the end always goes in. */
static void proc_push(struct e2b_procs *p, struct proc *x, enum evt_kind kind, json_t *doc,
                      size_t bytes)
{
        struct evt *nv;

        if (!doc)
                return;
        if ((kind == EV_STDOUT || kind == EV_STDERR) && x->bytes + bytes > x->bytes_max) {
                x->dropped = true;
                json_decref(doc);
                return;
        }
        if (x->n == x->cap) {
                nv = realloc(x->ev, (x->cap ? x->cap * 2 : 16) * sizeof(*nv));
                if (!nv) {
                        json_decref(doc);
                        return;
                }
                x->ev = nv;
                x->cap = x->cap ? x->cap * 2 : 16;
        }
        x->ev[x->n++] = (struct evt){.kind = kind, .doc = doc};
        x->bytes += bytes;
        pthread_cond_broadcast(&p->cond);
}

struct worker_sink {
        struct e2b_procs *p;
        struct proc *x;
};

static int on_output(void *ctx, enum exec_stream stream, const char *data, size_t len)
{
        struct worker_sink *w = ctx;

        pthread_mutex_lock(&w->p->lock);
        proc_push(w->p, w->x, stream == EXEC_STDERR ? EV_STDERR : EV_STDOUT,
                  e2b_event_data(stream == EXEC_STDERR, data, len), len);
        pthread_mutex_unlock(&w->p->lock);
        return 0;
}

static void *worker(void *arg)
{
        struct worker_sink w = {.x = arg};
        struct proc *x = w.x;
        struct exec_result res;
        struct al_error err = {0};
        struct policy *pol = daemon_policy(x->ctx->core);
        struct exec_sink sink = {.output = on_output,
                                 .ctx = &w,
                                 .watch_fd = x->kill_r,
                                 .cancel_fd = daemon_cancel_fd(x->ctx->core)};
        int r;

        w.p = x->ctx->e2b ? e2b_procs_of(x->ctx->e2b) : NULL;
        exec_result_init(&res, (size_t)pol->limits.output_bytes);
        policy_unref(pol);
        r = api_exec_execute(x->ctx, &x->who, &x->req, &sink, &res, &err);
        if (x->slot)
                auth_exec_slot_leave(x->ctx);
        /* The exec is over: what only it used goes before the last reference may. */
        close_fd(&x->kill_r);
        close_fd(&x->stdin_r);
        exec_request_clear(&x->req);
        pthread_mutex_lock(&w.p->lock);
        if (r < 0)
                proc_push(w.p, x, EV_FAIL,
                          e2b_connect_error(e2b_connect_code(r), err.msg[0] ? err.msg : "failed"),
                          0);
        else
                proc_push(w.p, x, EV_END,
                          e2b_event_end(res.exit_code, res.signal, res.aborted, res.timed_out,
                                        x->dropped ? "output past the cap was dropped" : NULL),
                          0);
        x->ended = true;
        close_fd(&x->stdin_w);
        close_fd(&x->kill_w);
        w.p->workers--;
        pthread_cond_broadcast(&w.p->cond);
        proc_unref(w.p, x);
        pthread_mutex_unlock(&w.p->lock);
        exec_result_clear(&res);
        return NULL;
}

void e2b_procs_kill_sandbox(struct e2b_procs *p, const char *id)
{
        pthread_mutex_lock(&p->lock);
        for (struct proc *x = p->list; x; x = x->next)
                if (!id || strcmp(x->sandbox, id) == 0)
                        close_fd(&x->kill_w);
        pthread_mutex_unlock(&p->lock);
}

void e2b_procs_free(struct e2b_procs *p)
{
        if (!p)
                return;
        e2b_procs_kill_sandbox(p, NULL);
        pthread_mutex_lock(&p->lock);
        while (p->workers > 0)
                pthread_cond_wait(&p->cond, &p->lock);
        /* Readers are gone with the server's connections; what is left is unreferenced. */
        while (p->list) {
                p->list->refs = 1;
                proc_unref(p, p->list);
        }
        pthread_mutex_unlock(&p->lock);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

/* ---- streams: a Connect server-streaming response that follows a command ---- */

struct reader {
        struct e2b_procs *p;
        struct proc *x; /* NULL: only pending is sent */
        size_t cursor;
        struct buf pending;
        size_t off;
        bool finished;
};

static void pending_msg(struct reader *rd, unsigned flags, json_t *doc)
{
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

        json_decref(doc);
        if (text)
                e2b_envelope_append(&rd->pending, flags, text, strlen(text));
}

/* Under the lock: the events from the cursor on, as envelopes. */
static void take_events(struct reader *rd)
{
        for (; rd->cursor < rd->x->n && !rd->finished; rd->cursor++) {
                struct evt *ev = &rd->x->ev[rd->cursor];

                if (ev->kind == EV_FAIL) {
                        pending_msg(rd, E2B_ENVELOPE_END, json_pack("{s:O}", "error", ev->doc));
                        rd->finished = true;
                        break;
                }
                pending_msg(rd, 0, json_incref(ev->doc));
                if (ev->kind == EV_END) {
                        pending_msg(rd, E2B_ENVELOPE_END, e2b_end_stream(NULL, NULL));
                        rd->finished = true;
                }
        }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
        struct reader *rd = cls;
        size_t n;

        (void)pos;
        if (rd->off >= rd->pending.len) {
                buf_reset(&rd->pending);
                rd->off = 0;
                if (rd->finished || !rd->x)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                pthread_mutex_lock(&rd->p->lock);
                if (rd->cursor == rd->x->n) {
                        struct timespec ts;

                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += KEEPALIVE_MS / 1000;
                        pthread_cond_timedwait(&rd->p->cond, &rd->p->lock, &ts);
                }
                if (rd->cursor == rd->x->n)
                        pending_msg(rd, 0, e2b_event_keepalive());
                else
                        take_events(rd);
                pthread_mutex_unlock(&rd->p->lock);
                if (rd->pending.len == 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        n = rd->pending.len - rd->off < max ? rd->pending.len - rd->off : max;
        memcpy(out, rd->pending.data + rd->off, n);
        rd->off += n;
        return (ssize_t)n;
}

static void stream_free(void *cls)
{
        struct reader *rd = cls;

        if (rd->x) {
                pthread_mutex_lock(&rd->p->lock);
                proc_unref(rd->p, rd->x);
                pthread_mutex_unlock(&rd->p->lock);
        }
        buf_free(&rd->pending);
        free(rd);
}

/* Answer a streaming call: the command x (a reference passes to the stream), or only the
 * end-of-stream error (x NULL). */
static enum MHD_Result send_stream(struct MHD_Connection *conn, struct e2b_procs *p, struct proc *x,
                                   int code, const char *msg)
{
        struct reader *rd = calloc(1, sizeof(*rd));
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (!rd) {
                if (x) {
                        pthread_mutex_lock(&p->lock);
                        proc_unref(p, x);
                        pthread_mutex_unlock(&p->lock);
                }
                return MHD_NO;
        }
        rd->p = p;
        rd->x = x;
        buf_init(&rd->pending, 64u << 20);
        if (!x)
                pending_msg(rd, E2B_ENVELOPE_END, e2b_end_stream(e2b_connect_code(code), msg));
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, rd,
                                                 stream_free);
        if (!resp) {
                stream_free(rd);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/connect+json");
        ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ---- the calls ---- */

/* The command's pid in a message's "process" selector. */
static int selector_pid(json_t *msg, long long *ret, struct al_error *err)
{
        json_t *sel = json_object_get(msg, "process"), *pid = json_object_get(sel, "pid");
        int64_t v;

        if (json_is_integer(pid) && json_integer_value(pid) > 0) {
                *ret = json_integer_value(pid);
                return 0;
        }
        /* Protobuf's JSON may carry numbers as strings. */
        if (json_is_string(pid) &&
            util_parse_int64(json_string_value(pid), 1, INT32_MAX, &v) == 0) {
                *ret = v;
                return 0;
        }
        if (json_object_get(sel, "tag"))
                return al_err(err, -EINVAL, "selecting a process by tag is not supported");
        return al_err(err, -EINVAL, "'process' must select a process by its pid");
}

/* Under the lock: the live command pid of sandbox id, or NULL. */
static struct proc *find(struct e2b_procs *p, const char *id, long long pid)
{
        for (struct proc *x = p->list; x; x = x->next)
                if (x->pid == pid && !x->ended && strcmp(x->sandbox, id) == 0)
                        return x;
        return NULL;
}

/* The request's environment: the sandbox's, then the process's own. */
static int build_env(const struct e2b_sandbox_info *sb, json_t *envs, char ***ret,
                     struct al_error *err)
{
        size_t n = json_object_size(sb->env) + json_object_size(envs), i = 0;
        const char *k;
        json_t *v;
        char **env;

        *ret = NULL;
        if (envs && !json_is_null(envs) && !json_is_object(envs))
                return al_err(err, -EINVAL, "process.envs must be an object of strings");
        if (n == 0)
                return 0;
        env = calloc(n + 1, sizeof(*env));
        if (!env)
                return al_err(err, -ENOMEM, "out of memory");
        json_object_foreach(sb->env, k, v)
        {
                if (asprintf(&env[i], "%s=%s", k, json_string_value(v)) >= 0)
                        i++;
        }
        json_object_foreach(envs, k, v)
        {
                if (!json_is_string(v)) {
                        util_strv_free(env);
                        return al_err(err, -EINVAL, "process.envs must be an object of strings");
                }
                if (asprintf(&env[i], "%s=%s", k, json_string_value(v)) >= 0)
                        i++;
        }
        *ret = env;
        return 0;
}

/* The exec's time limit: the client's Connect-Timeout-Ms, within the agent's limit. */
static int64_t timeout_s(const struct e2b_call *c)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Connect-Timeout-Ms");
        struct policy_effective eff;
        int64_t max, ms = 0;

        max = policy_resolve(pol, c->sb->agent, &eff) == 0 ? eff.limits.timeout_s
                                                           : pol->limits.timeout_s;
        if (!h || util_parse_int64(h, 1, INT64_MAX / 2, &ms) < 0)
                return max;
        return (ms + 999) / 1000 < max ? (ms + 999) / 1000 : max;
}

static enum MHD_Result start(const struct e2b_call *c)
{
        _cleanup_(json_decrefp) json_t *msg = NULL;
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(c->ctx->core);
        struct e2b_procs *p = e2b_procs_of(c->e);
        struct al_error err = {0};
        json_t *process, *stdin_v;
        struct proc *x;
        pthread_t tid;
        pthread_attr_t attr;
        int r, sp[2] = {-1, -1}, in[2] = {-1, -1};

        r = e2b_rpc_message(c, true, &msg, &err);
        process = json_object_get(msg, "process");
        if (r >= 0 && !json_is_object(process))
                r = al_err(&err, -EINVAL, "'process' (a ProcessConfig) is required");
        if (r >= 0 && json_object_get(msg, "pty") && !json_is_null(json_object_get(msg, "pty")))
                r = al_err(&err, -EOPNOTSUPP, "PTYs are not supported by airlock");
        if (r < 0)
                return send_stream(c->conn, p, NULL, r, err.msg);
        x = calloc(1, sizeof(*x));
        if (!x)
                return send_stream(c->conn, p, NULL, -ENOMEM, "out of memory");
        x->stdin_w = x->kill_w = x->kill_r = x->stdin_r = -1;
        x->ctx = c->ctx;
        x->who.peer = c->who->peer;
        x->req.network = -1;
        /* Code from an E2B client is meant for its sandbox: SELECTIVE must not send it to the
         * host, where the sandbox's files are not. */
        x->req.untrusted = true;
        x->req.agent = strdup(c->sb->agent);
        x->req.session = strdup(c->sb->id);
        x->req.runtime = strdup(c->sb->runtime);
        x->req.timeout_s = timeout_s(c);
        x->req.peer_uid = -1;
        r = x->req.agent && x->req.session && x->req.runtime
                ? 0
                : al_err(&err, -ENOMEM, "out of memory");
        if (r >= 0)
                r = e2b_process_command(process, &x->req.command, &x->req.argv, &err);
        if (r >= 0)
                r = build_env(c->sb, json_object_get(process, "envs"), &x->req.env, &err);
        if (r >= 0)
                r = exec_request_check(&x->req, pol, &err);
        stdin_v = json_object_get(msg, "stdin");
        /* The kill switch, and the stdin (only when asked for: EOF at once otherwise). */
        if (r >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                r = al_err_errno(&err, -errno, "socketpair");
        if (r >= 0 && json_is_true(stdin_v) && pipe2(in, O_CLOEXEC) < 0)
                r = al_err_errno(&err, -errno, "pipe");
        x->kill_r = sp[0];
        x->kill_w = sp[1];
        x->stdin_r = in[0];
        x->stdin_w = in[1];
        x->req.stdin_fd = in[0] > 0 ? in[0] : 0;
        if (r >= 0)
                r = api_exec_admit(c->ctx, c->who, &x->req, &x->slot, &err);
        if (r < 0) {
                if (x->slot)
                        auth_exec_slot_leave(c->ctx);
                close_fd(&x->kill_r);
                close_fd(&x->kill_w);
                close_fd(&x->stdin_r);
                close_fd(&x->stdin_w);
                exec_request_clear(&x->req);
                free(x);
                return send_stream(c->conn, p, NULL, r, err.msg);
        }
        if (x->stdin_w >= 0)
                fcntl(x->stdin_w, F_SETFL, O_NONBLOCK);
        snprintf(x->sandbox, sizeof(x->sandbox), "%s", c->sb->id);
        x->config = json_incref(process);
        x->tag = json_incref(json_object_get(msg, "tag"));
        x->bytes_max = pol->limits.output_bytes * 2 > EVENTS_MIN_CAP
                           ? (size_t)pol->limits.output_bytes * 2
                           : EVENTS_MIN_CAP;
        pthread_mutex_lock(&p->lock);
        x->pid = p->next_pid++;
        x->refs = 2; /* the worker and this stream */
        x->next = p->list;
        p->list = x;
        proc_push(p, x, EV_START, e2b_event_start(x->pid), 0);
        p->workers++;
        pthread_mutex_unlock(&p->lock);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, worker, x) != 0) {
                pthread_mutex_lock(&p->lock);
                proc_push(p, x, EV_FAIL, e2b_connect_error("unavailable", "cannot start a worker"),
                          0);
                x->ended = true;
                p->workers--;
                if (x->slot)
                        auth_exec_slot_leave(c->ctx);
                exec_request_clear(&x->req);
                close_fd(&x->kill_r);
                close_fd(&x->stdin_r);
                proc_unref(p, x);
                pthread_mutex_unlock(&p->lock);
        }
        pthread_attr_destroy(&attr);
        return send_stream(c->conn, p, x, 0, NULL);
}

static enum MHD_Result connect_to(const struct e2b_call *c)
{
        _cleanup_(json_decrefp) json_t *msg = NULL;
        struct e2b_procs *p = e2b_procs_of(c->e);
        struct al_error err = {0};
        struct proc *x;
        long long pid;
        int r;

        r = e2b_rpc_message(c, true, &msg, &err);
        if (r >= 0)
                r = selector_pid(msg, &pid, &err);
        if (r < 0)
                return send_stream(c->conn, p, NULL, r, err.msg);
        pthread_mutex_lock(&p->lock);
        x = find(p, c->sb->id, pid);
        if (x)
                x->refs++;
        pthread_mutex_unlock(&p->lock);
        if (!x)
                return send_stream(c->conn, p, NULL, -ENOENT, "no such process");
        return send_stream(c->conn, p, x, 0, NULL);
}

static enum MHD_Result list(const struct e2b_call *c)
{
        struct e2b_procs *p = e2b_procs_of(c->e);
        json_t *rows = json_array();

        pthread_mutex_lock(&p->lock);
        for (struct proc *x = p->list; x && rows; x = x->next) {
                json_t *row;

                if (x->ended || strcmp(x->sandbox, c->sb->id) != 0)
                        continue;
                row = json_pack("{s:O, s:I}", "config", x->config, "pid", (json_int_t)x->pid);
                if (row && json_is_string(x->tag))
                        json_object_set(row, "tag", x->tag);
                json_array_append_new(rows, row);
        }
        pthread_mutex_unlock(&p->lock);
        return api_send_json(c->conn, 200, json_pack("{s:o}", "processes", rows));
}

static int b64_value(int ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+' || ch == '-')
                return 62;
        if (ch == '/' || ch == '_')
                return 63;
        return -1;
}

/* Protobuf JSON bytes: base64 (standard or URL-safe, padded or not). */
static int b64_decode(const char *s, size_t len, struct buf *out)
{
        unsigned acc = 0;
        int bits = 0;

        for (size_t i = 0; i < len; i++) {
                int v = s[i] == '=' ? -2 : b64_value((unsigned char)s[i]);

                if (v == -2)
                        break;
                if (v < 0)
                        return -EINVAL;
                acc = acc << 6 | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        char ch = (char)(acc >> (bits - 8));

                        bits -= 8;
                        if (buf_append(out, &ch, 1) < 0)
                                return -ENOMEM;
                }
        }
        return buf_truncated(out) ? -E2BIG : 0;
}

/* Write all of data to fd (non-blocking), waiting for room at most STDIN_WAIT_MS. */
static int write_stdin(int fd, const char *data, size_t len)
{
        int64_t until = util_now_ms() + STDIN_WAIT_MS;

        while (len > 0) {
                ssize_t n = write(fd, data, len);

                if (n > 0) {
                        data += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd pf = {.fd = fd, .events = POLLOUT};
                        int64_t left = until - util_now_ms();

                        if (left <= 0)
                                return -AL_E_LIMITED;
                        poll(&pf, 1, (int)left);
                        continue;
                }
                return -EPIPE;
        }
        return 0;
}

/* SendInput, CloseStdin, SendSignal: a command of this sandbox, found by pid. */
static enum MHD_Result act(const struct e2b_call *c, const char *method)
{
        _cleanup_(json_decrefp) json_t *msg = NULL;
        struct e2b_procs *p = e2b_procs_of(c->e);
        struct al_error err = {0};
        struct buf data;
        struct proc *x;
        long long pid;
        int r, fd = -1;

        buf_init(&data, 16u << 20);
        r = e2b_rpc_message(c, false, &msg, &err);
        if (r >= 0)
                r = selector_pid(msg, &pid, &err);
        if (r >= 0 && strcmp(method, "SendInput") == 0) {
                json_t *in = json_object_get(json_object_get(msg, "input"), "stdin");

                if (!json_is_string(in))
                        r = al_err(&err, -EINVAL, "'input.stdin' (base64 bytes) is required");
                else if (b64_decode(json_string_value(in), json_string_length(in), &data) < 0)
                        r = al_err(&err, -EINVAL, "'input.stdin' is not base64");
        }
        if (r < 0) {
                buf_free(&data);
                return e2b_send_connect_error(c->conn, r, err.msg);
        }
        pthread_mutex_lock(&p->lock);
        x = find(p, c->sb->id, pid);
        if (!x) {
                r = al_err(&err, -ENOENT, "no such process");
        } else if (strcmp(method, "SendSignal") == 0) {
                /* SIGTERM and SIGKILL alike end the command and all it started. */
                close_fd(&x->kill_w);
        } else if (strcmp(method, "CloseStdin") == 0) {
                close_fd(&x->stdin_w);
        } else if (x->stdin_w < 0) {
                r = al_err(&err, -EINVAL,
                           "the process was started without stdin, or it was closed");
        } else {
                fd = fcntl(x->stdin_w, F_DUPFD_CLOEXEC, 3);
        }
        pthread_mutex_unlock(&p->lock);
        if (fd >= 0) {
                r = write_stdin(fd, data.data ? data.data : "", data.len);
                close(fd);
                if (r < 0)
                        al_err(&err, r,
                               r == -AL_E_LIMITED ? "the process does not read its stdin"
                                                  : "the process's stdin is closed");
        }
        buf_free(&data);
        if (r < 0)
                return e2b_send_connect_error(c->conn, r, err.msg);
        return api_send_json(c->conn, 200, json_object());
}

enum MHD_Result e2b_process_rpc(const struct e2b_call *c, const char *method)
{
        if (strcmp(method, "Start") == 0)
                return start(c);
        if (strcmp(method, "Connect") == 0)
                return connect_to(c);
        if (strcmp(method, "List") == 0)
                return list(c);
        if (strcmp(method, "SendInput") == 0 || strcmp(method, "CloseStdin") == 0 ||
            strcmp(method, "SendSignal") == 0)
                return act(c, method);
        if (strcmp(method, "Update") == 0 || strcmp(method, "StreamInput") == 0)
                return e2b_send_connect_error(c->conn, -EOPNOTSUPP,
                                              "PTYs and input streams are not supported by "
                                              "airlock; use SendInput");
        return e2b_send_connect_error(c->conn, -ENOENT, "no such method of process.Process");
}
