/* airlock-agent: the first process (PID 1) of every container sandbox (docs/agent-protocol.md).
 * Bind-mounted read-only into each sandbox at /.airlock/agent and run by the engine as the
 * code's user:
 *
 *     /.airlock/agent /.airlock/run/agent.sock
 *
 * It reaps every process of the sandbox, and serves the daemon on a UNIX socket: one request per
 * connection, PING or EXEC, in frames (include/airlock/agent_proto.h). One thread, one epoll loop
 * over the listening socket, the signalfd, every connection and every exec's pipes; nothing it
 * reads is buffered without a bound, and nothing blocks it.
 *
 * It is inside the blast radius: code of the same uid can connect to its socket (refused: only a
 * peer outside the sandbox's PID namespace is served), flood it, delete it (the agent keeps
 * serving the connections it has and does not make a new one: the daemon then finds the sandbox
 * without an agent and removes it), fork-bomb (a fork that fails is an ERROR reply), or close and
 * flood its pipes. It installs no signal handler, so as PID 1 no signal from inside reaches it,
 * and it is not dumpable, so it cannot be ptraced or read through /proc. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock/agent_proto.h"
#include "files.h"
#include "airlock/egress_port.h"
#include "relay.h"
#include "sandbox.h"
#include "spawn.h"
#include "sweep.h"

#define OUTQ_MAX     (256u << 10) /* frames queued to the daemon before the pipes pause */
#define INQ_MAX      (256u << 10) /* stdin bytes queued before the connection pauses */
#define READ_MAX     (64u << 10)
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE 100 /* ms without accept after EMFILE and the like */
#define ARGV_MAX     4096
#define ENV_MAX      4096
#define LISTEN_QUEUE 128

extern char **environ;

enum watch_kind { W_LISTEN, W_SIGNAL, W_CONN, W_OUT, W_ERR, W_IN, W_GO };

struct conn;

/* An fd in the epoll set. A pipe is taken out of the set while it is not wanted (a pipe whose
 * other end is closed would report EPOLLHUP on every wait); a connection stays in. */
struct watch {
        enum watch_kind kind;
        int fd;
        uint32_t events;
        bool registered, keep;
        struct conn *c;
};

/* Bytes [head, head + len) of buf. */
struct queue {
        uint8_t *buf;
        size_t head, len, cap;
};

/* C_STARTING: forked, until the child says it leads its own session (so that its process
 * group exists before the daemon learns its pid); C_HELD: STARTED sent, waiting for GO. */
enum conn_state { C_REQUEST, C_STARTING, C_HELD, C_RUNNING };

struct conn {
        struct watch sock, out, err, in;
        struct watch go; /* a socketpair with the held child: "R"eady from it, "G"o to it */
        struct agent_decoder dec;
        struct queue q;   /* frames to the daemon */
        struct queue inq; /* bytes to the exec's stdin */
        enum conn_state state;
        pid_t pid; /* the exec's main process and process group; 0 before EXEC */
        int status;
        bool exited, exit_sent, want_stdin, stdin_eof, rd_closed, closing, dead;
        long long drain_left, drain_mark; /* ms of draining left after the exit */
        char *outputs; /* the exec's outputs directory (AIRLOCK_OUTPUTS_DIR), or NULL */
        bool drain_reading;
        struct conn *next;
};

static int epfd = -1;
static struct watch listen_w = {.kind = W_LISTEN, .fd = -1, .keep = true};
static struct watch signal_w = {.kind = W_SIGNAL, .fd = -1, .keep = true};
static struct conn *conns;
static unsigned n_conns;
static unsigned long long n_refused;
static long long accept_resume_at; /* 0: accepting is not paused for an error */
static struct rlimit nofile_orig;
static uint8_t io_buf[READ_MAX + AGENT_HEADER_LEN];
/* --gvisor (docs/isolation.md): the daemon cannot end an exec's processes by cgroup, so the
 * agent sweeps what ended execs left (sweep.c) whenever one ends or is killed. */
static bool gvisor_mode, sweep_due;

/* Puts the watch in the epoll set with events, or takes it out (events 0, unless keep). */
static void watch_set(struct watch *w, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = w};

        if (w->fd < 0)
                return;
        if (events == 0 && !w->keep) {
                if (w->registered)
                        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
                w->registered = false;
                w->events = 0;
                return;
        }
        if (!w->registered) {
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0) {
                        w->registered = true;
                        w->events = events;
                }
                return;
        }
        if (w->events != events && epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0)
                w->events = events;
}

/* Out of the set explicitly before close: a forked child may still hold a copy of the fd, and
 * epoll forgets an fd only when its last copy is closed. */
static void watch_close(struct watch *w)
{
        if (w->fd < 0)
                return;
        if (w->registered)
                epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
        w->registered = false;
        w->events = 0;
}

static int queue_reserve(struct queue *q, size_t n)
{
        if (q->head > 0 && q->head + q->len + n > q->cap) {
                memmove(q->buf, q->buf + q->head, q->len);
                q->head = 0;
        }
        if (q->len + n > q->cap) {
                size_t cap = q->cap ? q->cap : 4096;
                uint8_t *nb;

                while (cap < q->len + n)
                        cap *= 2;
                nb = realloc(q->buf, cap);
                if (!nb)
                        return -ENOMEM;
                q->buf = nb;
                q->cap = cap;
        }
        return 0;
}

static int queue_put(struct queue *q, const void *data, size_t n)
{
        if (n == 0)
                return 0;
        if (queue_reserve(q, n) < 0)
                return -ENOMEM;
        memcpy(q->buf + q->head + q->len, data, n);
        q->len += n;
        return 0;
}

static void queue_drop(struct queue *q, size_t n)
{
        q->head += n;
        q->len -= n;
        if (q->len == 0)
                q->head = 0;
}

static void queue_free(struct queue *q)
{
        free(q->buf);
        *q = (struct queue){0};
}

static void conn_gone(struct conn *c);

/* Queues one frame to the daemon. A connection that cannot queue (no memory) is ended. */
static void conn_frame(struct conn *c, unsigned type, const void *payload, size_t len)
{
        uint8_t hdr[AGENT_HEADER_LEN];

        agent_frame_header(hdr, type, len);
        if (queue_reserve(&c->q, sizeof(hdr) + len) < 0) {
                conn_gone(c);
                return;
        }
        queue_put(&c->q, hdr, sizeof(hdr));
        queue_put(&c->q, payload, len);
}

static void conn_json(struct conn *c, unsigned type, json_t *j)
{
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

        if (s)
                conn_frame(c, type, s, strlen(s));
        else
                conn_frame(c, type, "{}", 2);
        free(s);
        json_decref(j);
}

/* Sends sig to the exec's process group, and to its process while that may not lead the group
 * yet. */
static void conn_signal(struct conn *c, int sig)
{
        if (c->pid <= 0)
                return;
        if (sig == SIGKILL)
                sweep_due = gvisor_mode;
        kill(-c->pid, sig);
        if (c->state == C_STARTING && !c->exited)
                kill(c->pid, sig);
}

/* Ends the exec's process group while the daemon has not had its EXIT. */
static void conn_kill_group(struct conn *c)
{
        if (!c->exit_sent)
                conn_signal(c, SIGKILL);
}

static void conn_close_exec_fds(struct conn *c)
{
        watch_close(&c->out);
        watch_close(&c->err);
        watch_close(&c->in);
        queue_free(&c->inq);
        watch_close(&c->go);
}

/* The connection went away (or broke): nothing more is sent; the exec is killed unless its
 * EXIT was queued. Freed at the end of the loop's round. */
static void conn_gone(struct conn *c)
{
        if (c->dead)
                return;
        conn_kill_group(c);
        c->dead = true;
        watch_close(&c->sock);
        conn_close_exec_fds(c);
}

/* The request cannot go on: ERROR, the exec (if any) killed, then close once sent. */
static void conn_fail(struct conn *c, const char *msg)
{
        if (c->closing || c->dead)
                return;
        conn_kill_group(c);
        c->exit_sent = true; /* no EXIT will follow */
        conn_close_exec_fds(c);
        conn_json(c, AGENT_ERROR, json_pack("{s:s}", "message", msg));
        c->closing = true;
}

static void conn_free(struct conn *c)
{
        watch_close(&c->sock);
        conn_close_exec_fds(c);
        queue_free(&c->q);
        agent_decoder_free(&c->dec);
        free(c->outputs);
        free(c);
        n_conns--;
}

/* Whether pid is the main process of an exec (or background process) still running. */
static bool exec_live(pid_t pid)
{
        for (struct conn *c = conns; c; c = c->next)
                if (!c->dead && c->pid == pid && !c->exited)
                        return true;
        return pid == getpid();
}

static unsigned execs_running(void)
{
        unsigned n = 0;

        for (struct conn *c = conns; c; c = c->next)
                if (!c->dead && c->pid > 0 && !c->exit_sent)
                        n++;
        return n;
}

static int rlimit_resource(const char *name)
{
        static const struct {
                const char *name;
                int resource;
        } names[] = {
            {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
            {"fsize", RLIMIT_FSIZE},   {"cpu", RLIMIT_CPU},     {"as", RLIMIT_AS},
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(names[i].name, name) == 0)
                        return names[i].resource;
        return -1;
}

/* A JSON array of strings as a NULL-terminated vector pointing into it; NULL on a bad one. */
static const char **string_vector(json_t *a, size_t min, size_t max)
{
        const char **v;
        size_t n;

        if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > max)
                return NULL;
        n = json_array_size(a);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(a, i);

                if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
                        free(v);
                        return NULL;
                }
                v[i] = json_string_value(s);
        }
        return v;
}

/* Reads an EXEC's JSON into spec; a message on a bad one. */
static const char *exec_parse(json_t *j, struct exec_spec *spec)
{
        json_t *v;

        *spec = (struct exec_spec){.cwd = "/tmp"};
        if (!json_is_object(j))
                return "EXEC: not a JSON object";
        spec->argv = string_vector(json_object_get(j, "argv"), 1, ARGV_MAX);
        if (!spec->argv)
                return "EXEC: argv must be 1..4096 strings";
        v = json_object_get(j, "env");
        spec->envp = v ? string_vector(v, 0, ENV_MAX) : calloc(1, sizeof(*spec->envp));
        if (!spec->envp)
                return "EXEC: env must be at most 4096 strings";
        v = json_object_get(j, "cwd");
        if (v) {
                if (!json_is_string(v) || !json_string_value(v)[0] ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return "EXEC: cwd must be a non-empty string";
                spec->cwd = json_string_value(v);
        }
        v = json_object_get(j, "stdin");
        if (v && !json_is_boolean(v))
                return "EXEC: stdin must be a boolean";
        spec->stdin = json_is_true(v);
        v = json_object_get(j, "rlimits");
        if (v) {
                const char *key;
                json_t *val;

                if (!json_is_object(v))
                        return "EXEC: rlimits must be an object";
                json_object_foreach(v, key, val)
                {
                        int r = rlimit_resource(key);

                        if (r < 0)
                                return "EXEC: unknown rlimit";
                        if (!json_is_integer(val) || json_integer_value(val) < -1)
                                return "EXEC: an rlimit must be an integer >= 0 (-1: unlimited)";
                        if (spec->n_limits == (int)(sizeof(spec->limits) / sizeof(spec->limits[0])))
                                return "EXEC: too many rlimits";
                        spec->limits[spec->n_limits].resource = r;
                        spec->limits[spec->n_limits].value = json_integer_value(val) < 0
                                                                 ? RLIM_INFINITY
                                                                 : (rlim_t)json_integer_value(val);
                        spec->n_limits++;
                }
        }
        return NULL;
}

static void close_pair(int p[2])
{
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0)
                        close(p[i]);
        p[0] = p[1] = -1;
}

/* EXEC: parse, start the held child (spawn.c), reply STARTED once it is ready. */
static void conn_exec(struct conn *c, const uint8_t *payload, size_t len)
{
        int outp[2] = {-1, -1}, errp[2] = {-1, -1}, gop[2] = {-1, -1}, inp[2] = {-1, -1};
        struct exec_spec spec = {0};
        json_error_t jerr;
        json_t *j =
            json_loadb(payload ? (const char *)payload : "", len, JSON_REJECT_DUPLICATES, &jerr);
        const char *bad = j ? exec_parse(j, &spec) : "EXEC: not JSON";
        char msg[160];
        char *outputs = NULL;
        pid_t pid;

        if (bad) {
                conn_fail(c, bad);
                goto out;
        }
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gop) < 0 ||
            (spec.stdin && pipe2(inp, O_CLOEXEC) < 0)) {
                snprintf(msg, sizeof(msg), "cannot make pipes: %s", strerror(errno));
                conn_fail(c, msg);
                goto out;
        }
        outputs = files_outputs_dir(spec.envp);
        /* The spawn takes the spec and its JSON: the child reads them until it is reaped. */
        pid = spawn_exec(
            j, &spec,
            &(struct spawn_fds){.in = inp[0], .out = outp[1], .err = errp[1], .go = gop[0]},
            &nofile_orig);
        j = NULL;
        spec = (struct exec_spec){0};
        if (pid < 0) {
                snprintf(msg, sizeof(msg), "cannot fork: %s", strerror(-pid));
                conn_fail(c, msg);
                free(outputs);
                goto out;
        }
        c->pid = pid;
        c->state = C_STARTING;
        c->outputs = outputs;
        c->want_stdin = inp[1] >= 0;
        c->out.fd = outp[0];
        c->err.fd = errp[0];
        c->in.fd = inp[1];
        c->go.fd = gop[1];
        outp[0] = errp[0] = inp[1] = gop[1] = -1;
        fcntl(c->out.fd, F_SETFL, O_NONBLOCK);
        fcntl(c->err.fd, F_SETFL, O_NONBLOCK);
        if (c->in.fd >= 0)
                fcntl(c->in.fd, F_SETFL, O_NONBLOCK);
        fcntl(c->go.fd, F_SETFL, O_NONBLOCK);
out:
        close_pair(outp);
        close_pair(errp);
        close_pair(gop);
        close_pair(inp);
        free(spec.argv);
        free(spec.envp);
        json_decref(j);
}

/* SIGNAL {pid, signal}: the daemon signals an exec or background process it started (pid is
 * its main process): SIGKILL ends its process group (and, with --gvisor, what it left);
 * any other signal goes to the process alone. Other pids are refused. */
static void conn_signal_request(struct conn *c, const uint8_t *payload, size_t len)
{
        json_t *j = json_loadb(payload ? (const char *)payload : "", len, 0, NULL);
        json_int_t pid = json_integer_value(json_object_get(j, "pid"));
        json_int_t sig = json_integer_value(json_object_get(j, "signal"));
        struct conn *t = NULL;

        json_decref(j);
        for (struct conn *o = conns; o && pid > 0 && !t; o = o->next)
                if (o != c && !o->dead && o->pid == (pid_t)pid && !o->exited)
                        t = o;
        if (!t || sig < 1 || sig > 64) {
                conn_json(c, AGENT_ERROR, json_pack("{s:s}", "message", "SIGNAL: no such exec"));
                return;
        }
        if (sig == SIGKILL)
                conn_signal(t, SIGKILL);
        else
                kill(t->pid, (int)sig);
        conn_json(c, AGENT_PONG, json_pack("{s:I}", "pid", pid));
}

static int conn_on_frame(void *ctx, unsigned type, const uint8_t *payload, size_t len)
{
        struct conn *c = ctx;
        char msg[96];

        if (c->closing || c->dead)
                return -1;
        if (c->state == C_REQUEST && type == AGENT_PING) {
                unsigned long long shared, forked;

                spawn_counts(&shared, &forked);
                conn_json(c, AGENT_PONG,
                          json_pack("{s:i,s:i,s:i,s:I,s:{s:I,s:I}}", "version", AGENT_PROTO_VERSION,
                                    "pid", (int)getpid(), "execs", (int)execs_running(), "refused",
                                    (json_int_t)n_refused, "spawns", "shared_vm",
                                    (json_int_t)shared, "fork", (json_int_t)forked));
                c->closing = true;
                return -1;
        }
        if (c->state == C_REQUEST && type == AGENT_SIGNAL) {
                conn_signal_request(c, payload, len);
                c->closing = true;
                return -1;
        }
        if (c->state == C_REQUEST && type == AGENT_EXEC) {
                conn_exec(c, payload, len);
                return c->closing ? -1 : 0;
        }
        if (c->state == C_HELD && type == AGENT_GO) {
                ssize_t w;

                /* One byte into an empty socket buffer; a child already gone is its EXIT. */
                do
                        w = send(c->go.fd, "G", 1, MSG_NOSIGNAL);
                while (w < 0 && errno == EINTR);
                watch_close(&c->go);
                c->state = C_RUNNING;
                return 0;
        }
        if (c->state != C_REQUEST && type == AGENT_STDIN && c->want_stdin && !c->stdin_eof) {
                /* Bytes for a stdin the code has closed go nowhere. */
                if (c->in.fd >= 0 && queue_put(&c->inq, payload, len) < 0) {
                        conn_fail(c, "out of memory");
                        return -1;
                }
                return 0;
        }
        if (c->state != C_REQUEST && type == AGENT_STDIN_EOF && c->want_stdin && !c->stdin_eof) {
                c->stdin_eof = true;
                return 0;
        }
        if (c->state != C_REQUEST && type == AGENT_KILL && len == 1 && payload[0] >= 1 &&
            payload[0] <= 64) {
                if (!c->exit_sent)
                        conn_signal(c, payload[0]);
                return 0;
        }
        snprintf(msg, sizeof(msg), "unexpected %s frame", agent_frame_type_name(type));
        conn_fail(c, msg);
        return -1;
}

static void conn_read(struct conn *c)
{
        ssize_t n = read(c->sock.fd, io_buf, READ_MAX);
        int r;

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n < 0) {
                conn_gone(c);
                return;
        }
        if (n == 0) {
                /* A half-close: no more requests; an exec's stdin ends with it. */
                c->rd_closed = true;
                c->stdin_eof = true;
                if (c->state == C_REQUEST)
                        conn_gone(c);
                return;
        }
        r = agent_decoder_feed(&c->dec, io_buf, (size_t)n, conn_on_frame, c);
        if (r == -EPROTO)
                conn_fail(c, "malformed frame");
        else if (r < 0 && !c->closing)
                conn_fail(c, "cannot read the request");
}

static void conn_write(struct conn *c)
{
        while (c->q.len > 0) {
                ssize_t w = send(c->sock.fd, c->q.buf + c->q.head, c->q.len, MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && errno == EAGAIN)
                        return;
                if (w <= 0) {
                        conn_gone(c);
                        return;
                }
                queue_drop(&c->q, (size_t)w);
        }
}

/* One read of an output pipe into a STDOUT or STDERR frame. */
static void pipe_read(struct conn *c, struct watch *w)
{
        ssize_t n = read(w->fd, io_buf + AGENT_HEADER_LEN, AGENT_CHUNK_MAX);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                watch_close(w);
                return;
        }
        agent_frame_header(io_buf, w->kind == W_OUT ? AGENT_STDOUT : AGENT_STDERR, (size_t)n);
        if (queue_put(&c->q, io_buf, (size_t)n + AGENT_HEADER_LEN) < 0)
                conn_fail(c, "out of memory");
}

/* The held child is ready (or died first: then its exit is reported as a failed start). */
static void go_ready(struct conn *c)
{
        char b;
        ssize_t n = read(c->go.fd, &b, 1);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n != 1) {
                watch_close(&c->go);
                return;
        }
        c->state = C_HELD;
        conn_json(c, AGENT_STARTED, json_pack("{s:i}", "pid", (int)c->pid));
}

static void stdin_write(struct conn *c)
{
        while (c->inq.len > 0) {
                ssize_t w = write(c->in.fd, c->inq.buf + c->inq.head, c->inq.len);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && errno == EAGAIN)
                        return;
                if (w <= 0) {
                        /* The code closed its stdin: what is left goes nowhere. */
                        watch_close(&c->in);
                        queue_free(&c->inq);
                        return;
                }
                queue_drop(&c->inq, (size_t)w);
        }
}

/* Reaps every child that is done, whoever's; records the exits of execs. */
static void reap(void)
{
        struct signalfd_siginfo si;
        pid_t w;
        int st;

        while (read(signal_w.fd, &si, sizeof(si)) > 0)
                ;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
                spawn_reaped(w);
                for (struct conn *c = conns; c; c = c->next)
                        if (c->pid == w && !c->exited) {
                                c->exited = true;
                                c->status = st;
                                sweep_due = gvisor_mode;
                                c->drain_left = AGENT_DRAIN_MS;
                                c->drain_mark = now_ms();
                                c->drain_reading = true;
                                break;
                        }
        }
}

static void accept_some(void)
{
        for (int i = 0; i < ACCEPT_BATCH && n_conns < AGENT_CONN_MAX; i++) {
                struct ucred cred;
                socklen_t cl = sizeof(cred);
                struct conn *c;
                int fd = accept4(listen_w.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM)
                                accept_resume_at = now_ms() + ACCEPT_PAUSE;
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return;
                }
                /* pid 0: the peer is outside this PID namespace, which no process of the
                 * sandbox can be. In gVisor every connection over the host's socket reads
                 * as our own pid, the daemon's and the code's alike (docs/isolation.md). */
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
                    (cred.pid != 0 && !(gvisor_mode && cred.pid == getpid()))) {
                        close(fd);
                        n_refused++;
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        close(fd);
                        return;
                }
                c->sock = (struct watch){.kind = W_CONN, .fd = fd, .keep = true, .c = c};
                c->out = (struct watch){.kind = W_OUT, .fd = -1, .c = c};
                c->err = (struct watch){.kind = W_ERR, .fd = -1, .c = c};
                c->in = (struct watch){.kind = W_IN, .fd = -1, .c = c};
                c->go = (struct watch){.kind = W_GO, .fd = -1, .c = c};
                agent_decoder_init(&c->dec, AGENT_PAYLOAD_MAX);
                c->next = conns;
                conns = c;
                n_conns++;
        }
}

/* After a round of events: finish execs, close what is done, set what each fd waits for.
 * Returns the epoll timeout the drains need (-1: none). */
static int conns_update(void)
{
        long long now = now_ms();
        int timeout = -1;

        for (struct conn **pc = &conns; *pc;) {
                struct conn *c = *pc;
                bool reading;

                if (!c->dead && c->exited && c->state == C_STARTING) {
                        if (c->go.fd >= 0)
                                go_ready(c); /* its "R" may still be unread */
                        if (c->state == C_STARTING)
                                conn_fail(c, "the exec's process ended before it started");
                }
                if (!c->dead && c->exited && !c->exit_sent) {
                        if (c->drain_reading)
                                c->drain_left -= now - c->drain_mark;
                        c->drain_mark = now;
                        if ((c->out.fd < 0 && c->err.fd < 0) || c->drain_left <= 0) {
                                watch_close(&c->out);
                                watch_close(&c->err);
                                json_t *ex =
                                    WIFSIGNALED(c->status)
                                        ? json_pack("{s:i}", "signal", WTERMSIG(c->status))
                                        : json_pack("{s:i}", "exit_code", WEXITSTATUS(c->status));

                                /* Whether the exec left outputs: the daemon collects them
                                 * only then, sparing every other exec a round trip. */
                                if (ex && c->outputs && files_outputs_present(c->outputs))
                                        json_object_set_new(ex, "outputs", json_true());
                                conn_json(c, AGENT_EXIT, ex);
                                c->exit_sent = true;
                                c->closing = true;
                                conn_close_exec_fds(c);
                                conn_write(c);
                        }
                }
                if (!c->dead && c->closing && c->q.len == 0)
                        conn_gone(c);
                if (c->dead) {
                        *pc = c->next;
                        conn_free(c);
                        continue;
                }
                reading = c->q.len < OUTQ_MAX && !c->exit_sent;
                if (c->exited && !c->exit_sent) {
                        c->drain_reading = reading;
                        if (reading && (timeout < 0 || c->drain_left < timeout))
                                timeout = (int)(c->drain_left > 0 ? c->drain_left : 0);
                }
                watch_set(&c->out, reading ? EPOLLIN : 0);
                watch_set(&c->err, reading ? EPOLLIN : 0);
                if (c->in.fd >= 0 && c->inq.len == 0 && c->stdin_eof)
                        watch_close(&c->in);
                watch_set(&c->in, c->inq.len ? EPOLLOUT : 0);
                watch_set(&c->go, c->state == C_STARTING ? EPOLLIN : 0);
                watch_set(&c->sock, (!c->rd_closed && !c->closing && c->inq.len < INQ_MAX
                                         ? EPOLLIN | EPOLLRDHUP
                                         : 0) |
                                        (c->q.len ? EPOLLOUT : 0));
                pc = &c->next;
        }
        if (accept_resume_at && now >= accept_resume_at)
                accept_resume_at = 0;
        watch_set(&listen_w, !accept_resume_at && n_conns < AGENT_CONN_MAX ? EPOLLIN : 0);
        if (accept_resume_at) {
                long long left = accept_resume_at - now;

                if (timeout < 0 || left < timeout)
                        timeout = (int)left;
        }
        return timeout;
}

static void dispatch(struct watch *w, uint32_t ev)
{
        struct conn *c = w->c;

        switch (w->kind) {
        case W_LISTEN:
                accept_some();
                return;
        case W_SIGNAL:
                reap();
                return;
        case W_CONN:
                if (c->dead)
                        return;
                if (ev & EPOLLIN)
                        conn_read(c);
                if (!c->dead && (ev & EPOLLOUT))
                        conn_write(c);
                /* The daemon closed its end: it is gone (a half-close is only EPOLLRDHUP). */
                if (!c->dead && (ev & (EPOLLHUP | EPOLLERR)))
                        conn_gone(c);
                return;
        case W_OUT:
        case W_ERR:
                if (!c->dead && !c->closing && w->fd >= 0)
                        pipe_read(c, w);
                return;
        case W_GO:
                if (!c->dead && !c->closing && w->fd >= 0 && c->state == C_STARTING)
                        go_ready(c);
                return;
        case W_IN:
                if (c->dead || w->fd < 0)
                        return;
                if (ev & EPOLLERR) {
                        watch_close(w);
                        queue_free(&c->inq);
                } else {
                        stdin_write(c);
                }
                return;
        }
}

/* The listening socket at path, mode 0600, replacing a stale socket (but nothing else). */
static int listen_at(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;
        mode_t old;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlink(path) < 0)
                        return -errno;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || chmod(path, 0600) < 0 || listen(fd, LISTEN_QUEUE) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* The egress relay (relay.c) reaches the daemon's proxy at egress.sock beside our socket; it
 * hands connections over but under gVisor. A relay that cannot start leaves the sandbox
 * without a way out, nothing else. */
static void start_relay(const char *sock)
{
        const char *slash = strrchr(sock, '/');
        char path[256];

        snprintf(path, sizeof(path), "%.*s/%s", slash ? (int)(slash - sock) : 1, slash ? sock : ".",
                 EGRESS_SOCK_NAME);
        if (relay_start(path, EGRESS_SANDBOX_PORT, !gvisor_mode) < 0)
                say("airlock-agent: the egress relay could not start\n");
}

int main(int argc, char **argv)
{
        struct rlimit rl;
        sigset_t chld;
        int r;

        /* The files helper: one file operation, run by the daemon as an exec (files.c). */
        if (argc >= 2 && strcmp(argv[1], "--files") == 0)
                return files_main(argc, argv);
        /* Neither ptrace nor /proc/1/mem, environ or fds for code of the same uid. */
        prctl(PR_SET_DUMPABLE, 0);
        if (getpid() != 1)
                prctl(PR_SET_CHILD_SUBREAPER, 1); /* run by hand: orphans still come here */
        if (argc == 3 && strcmp(argv[1], "--gvisor") == 0) {
                gvisor_mode = true;
                argv++;
                argc--;
        }
        if (argc != 2 || !argv[1][0]) {
                say("usage: airlock-agent [--gvisor] SOCKET\n");
                return 2;
        }
        /* 0, 1 and 2 open, so that no pipe or socket of ours lands there. */
        for (int fd = 0; fd < 3; fd++)
                if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
                        return 2;
        /* Room for every connection's socket and pipes; execs get the original back. */
        getrlimit(RLIMIT_NOFILE, &nofile_orig);
        rl = nofile_orig;
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        /* SIGPIPE ignored, not handled: a pipe the code closed is an EPIPE. */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        signal_w.fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (signal_w.fd < 0 || epfd < 0) {
                say("airlock-agent: cannot make a signalfd or an epoll set\n");
                return 1;
        }
        r = listen_at(argv[1]);
        if (r < 0) {
                char msg[256];

                snprintf(msg, sizeof(msg), "airlock-agent: cannot listen on '%.150s': %s\n",
                         argv[1], strerror(-r));
                say(msg);
                return 1;
        }
        listen_w.fd = r;
        start_relay(argv[1]);
        watch_set(&signal_w, EPOLLIN);
        for (;;) {
                struct epoll_event evs[64];
                int timeout = conns_update(), n;

                if (sweep_due) {
                        sweep_due = false;
                        sweep_strays(exec_live);
                }

                n = epoll_wait(epfd, evs, 64, timeout);
                if (n < 0 && errno != EINTR) {
                        say("airlock-agent: epoll_wait failed\n");
                        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
                }
                for (int i = 0; i < n; i++)
                        dispatch(evs[i].data.ptr, evs[i].events);
        }
}
