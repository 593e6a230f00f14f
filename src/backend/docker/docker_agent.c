/* The daemon's side of the in-sandbox agent (docs/agent-protocol.md): connect to a sandbox's
 * agent and check it is the sandbox's first process, ping it, and run an exec through it. The
 * agent is untrusted: every frame is bounded by the decoder, a frame out of sequence ends the
 * exec with an error, and the exec's processes are placed in and ended through its own cgroup
 * by the daemon, whatever the agent says. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../exec_cgroup.h"
#include "airlock/agent_proto.h"
#include "airlock/egress_port.h"
#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "airlock/watch.h"
#include "docker_private.h"

#define RECV_BUF    65536
#define STDIN_CHUNK 65536

int dagent_connect(const char *run_dir, long long init_pid, bool gvisor, int *ret_fd,
                   struct al_error *err)
{
        return dagent_connect_to(run_dir, "agent.sock", init_pid, gvisor, ret_fd, err);
}

/* The cgroup memberships of host pid (the text of /proc/PID/cgroup), or NULL. */
static char *cgroups_of(long long pid)
{
        char path[64], *text = NULL;

        snprintf(path, sizeof(path), "/proc/%lld/cgroup", pid);
        if (util_read_file(path, 64 * 1024, &text, NULL, NULL, NULL) < 0)
                return NULL;
        return text;
}

/* gVisor: the peer is runsc's gofer, a host process the sandbox's code cannot make: a child
 * of the same shim as the sandbox process init_pid, in the same cgroups. */
static bool peer_is_sibling(long long peer, long long init_pid)
{
        _cleanup_free_ char *a = NULL, *b = NULL;
        long long parent = dexec_ppid(init_pid);

        if (peer <= 1 || peer == init_pid || parent <= 1 || dexec_ppid(peer) != parent)
                return false;
        a = cgroups_of(peer);
        b = cgroups_of(init_pid);
        return a && b && strcmp(a, b) == 0;
}

int dagent_connect_to(const char *run_dir, const char *name, long long peer_pid, bool gvisor,
                      int *ret_fd, struct al_error *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int dfd = -1, fd = -1;
        struct ucred peer;
        socklen_t len = sizeof(peer);

        /* Through the directory's descriptor: a state directory's path may be longer than a
         * socket address holds. */
        dfd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return al_err_errno(err, -errno, "agent directory '%s'", run_dir);
        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name) >=
            sizeof(sa.sun_path))
                return al_err(err, -ENAMETOOLONG, "socket name '%s' is too long", name);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return al_err_errno(err, -errno, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return al_err_errno(err, -errno, "connecting to the agent");
        /* Whoever listens there must be the sandbox's first process: code of the sandbox could
         * have put a socket of its own in the directory. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
                return al_err_errno(err, -errno, "the agent's credentials");
        if (gvisor ? !peer_is_sibling(peer.pid, peer_pid) : (long long)peer.pid != peer_pid)
                return al_err(err, -EPERM, "socket %s is held by pid %d, not by %s pid %lld", name,
                              (int)peer.pid, gvisor ? "the gVisor sandbox of" : "", peer_pid);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Queued bytes to send, whole frames, written as the socket takes them. */
struct outq {
        uint8_t *data;
        size_t len, off;
};

static int outq_frame(struct outq *q, unsigned type, const void *payload, size_t len)
{
        uint8_t *nd;

        if (len > AGENT_PAYLOAD_MAX)
                return -EMSGSIZE;
        nd = realloc(q->data, q->len + AGENT_HEADER_LEN + len);
        if (!nd)
                return -ENOMEM;
        q->data = nd;
        agent_frame_header(q->data + q->len, type, len);
        if (len)
                memcpy(q->data + q->len + AGENT_HEADER_LEN, payload, len);
        q->len += AGENT_HEADER_LEN + len;
        return 0;
}

static int outq_send(struct outq *q, int fd)
{
        while (q->off < q->len) {
                ssize_t n = send(fd, q->data + q->off, q->len - q->off, MSG_NOSIGNAL);

                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n < 0)
                        return -errno;
                q->off += (size_t)n;
        }
        return 0;
}

static int on_pong(void *ctx, unsigned type, const uint8_t *p, size_t len)
{
        unsigned *got = ctx;

        *got = type;
        return 1; /* one frame is the whole answer */
}

int dagent_signal(const char *run_dir, long long init_pid, long long pid, int sig,
                  struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        struct outq q = {0};
        char body[64];
        int r;

        r = dagent_connect(run_dir, init_pid, true, &fd, err);
        if (r < 0)
                return r;
        snprintf(body, sizeof(body), "{\"pid\":%lld,\"signal\":%d}", pid, sig);
        r = outq_frame(&q, AGENT_SIGNAL, body, strlen(body));
        if (r == 0)
                r = outq_send(&q, fd);
        /* A fresh connection's buffer takes a frame this small whole. */
        if (r == 0 && q.off < q.len)
                r = -EAGAIN;
        free(q.data);
        return r < 0 ? al_err_errno(err, r, "signalling exec %lld through the agent", pid) : 0;
}

int dagent_ping(const char *run_dir, long long init_pid, bool gvisor, int timeout_ms,
                struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        struct agent_decoder dec;
        struct outq q = {0};
        uint8_t buf[512];
        int64_t until = util_now_ms() + timeout_ms;
        unsigned got = 0;
        int r;

        r = dagent_connect(run_dir, init_pid, gvisor, &fd, err);
        if (r < 0)
                return r;
        r = outq_frame(&q, AGENT_PING, NULL, 0);
        if (r == 0)
                r = outq_send(&q, fd);
        free(q.data);
        if (r < 0)
                return al_err_errno(err, r, "pinging the agent");
        agent_decoder_init(&dec, sizeof(buf));
        while (got == 0) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                int64_t left = until - util_now_ms();
                ssize_t n;

                if (left <= 0 || poll(&pf, 1, (int)left) <= 0) {
                        r = al_err(err, -ETIMEDOUT, "the agent did not answer a ping");
                        break;
                }
                n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0) {
                        r = al_err(err, -ECONNRESET, "the agent closed the connection");
                        break;
                }
                r = agent_decoder_feed(&dec, buf, (size_t)n, on_pong, &got);
                if (r < 0) {
                        al_err(err, r, "the agent answered a ping with a malformed frame");
                        break;
                }
        }
        agent_decoder_free(&dec);
        if (r < 0)
                return r;
        if (got != AGENT_PONG)
                return al_err(err, -EPROTO, "the agent answered a ping with frame type 0x%02x",
                              got);
        return 0;
}

/* Of the host pids listed in text, the one whose pid in the sandbox is nspid; -1 if none. */
static long long match_ns_pid(const char *text, long long nspid, long long except)
{
        char *end;

        for (const char *p = text;; p = end) {
                long long pid = strtoll(p, &end, 10);

                if (end == p)
                        return -1;
                if (pid > 0 && pid != except && dexec_ns_pid(pid) == nspid)
                        return pid;
        }
}

/* The host pid of the agent's child whose pid in the sandbox is nspid. The agent's children
 * file is read first (one short read); the kernel does not promise it complete while the
 * task's children change (proc(5)), and under load it was seen to miss a live, waiting child
 * (the exec then failed as "not its child" and cost its sandbox). The sandbox's own cgroup,
 * where the child waits until it is placed, is the complete list. */
static long long child_host_pid(const struct dexec *e, long long nspid)
{
        char path[96], text[4096];
        _cleanup_free_ char *procs = NULL, *cg_path = NULL;
        _cleanup_close_ int fd = -1;
        long long pid = -1, ppid;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%lld/task/%lld/children", e->init_pid, e->init_pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && (n = read(fd, text, sizeof(text) - 1)) > 0) {
                text[n] = '\0';
                pid = match_ns_pid(text, nspid, -1);
        }
        if (pid > 0 || !e->cg_root || asprintf(&cg_path, "%s/cgroup.procs", e->cg_root) < 0)
                return pid;
        if (util_read_file(cg_path, 1 << 20, &procs, NULL, NULL, NULL) < 0)
                return -1;
        pid = match_ns_pid(procs, nspid, e->init_pid);
        /* Only the agent's own child will do: code of the sandbox could show the same pid in
         * a nested pid namespace. */
        ppid = pid > 0 ? dexec_ppid(pid) : -1;
        return ppid == e->init_pid ? pid : -1;
}

enum astate { A_WAIT_STARTED, A_RUNNING, A_DONE };

struct apump {
        struct dexec *e;
        const struct exec_spec *x;
        struct outq q;
        enum astate state;
        bool sink_failed;
        struct al_error *err;
};

#define NODE_OPTIONS_VAR "NODE_OPTIONS="

/* With the network, Node before 22.21 reads no proxy variable: airlock's preload (in the
 * read-only lib mount, when there is one) tunnels its http, https and fetch through the proxy,
 * ahead of the code's own NODE_OPTIONS. */
static json_t *node_options(const struct dexec *e, const struct exec_spec *x)
{
        const char *own = "";

        if (!x->egress || !e->d->lib_dir)
                return NULL;
        for (size_t i = 0; x->env && x->env[i]; i++)
                if (strncmp(x->env[i], NODE_OPTIONS_VAR, strlen(NODE_OPTIONS_VAR)) == 0)
                        own = x->env[i] + strlen(NODE_OPTIONS_VAR);
        return json_pack("s+++", NODE_OPTIONS_VAR "--require " SANDBOX_NODE_PRELOAD,
                         *own ? " " : "", own, "");
}

int dagent_exec_json(const struct dexec *e, const struct exec_spec *x, char **ret)
{
        json_t *o, *argv = json_array(), *env = json_array(), *node = node_options(e, x);

        for (size_t i = 0; x->argv && x->argv[i]; i++)
                json_array_append_new(argv, json_string(x->argv[i]));
        for (size_t i = 0; hostconfig_base_env[i]; i++)
                json_array_append_new(env, json_string(hostconfig_base_env[i]));
        for (size_t i = 0; x->env && x->env[i]; i++)
                if (!node || strncmp(x->env[i], NODE_OPTIONS_VAR, strlen(NODE_OPTIONS_VAR)) != 0)
                        json_array_append_new(env, json_string(x->env[i]));
        if (node)
                json_array_append_new(env, node);
        o = json_pack("{s:o, s:o, s:s, s:{s:i, s:i}, s:b}", "argv", argv, "env", env, "cwd",
                      x->workdir ? x->workdir : e->workdir, "rlimits", "nofile", 1024, "core", 0,
                      "stdin", x->stdin_len > 0 || x->stdin_fd > 0);
        if (!o)
                return -EINVAL;
        *ret = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return *ret ? 0 : -ENOMEM;
}

static int on_started_run(struct apump *a);

/* STARTED: move the exec's process into its cgroup (not in gVisor, where it is no host
 * process: the agent ends its tree), then let it run and give it its stdin. */
static int on_started(struct apump *a, const uint8_t *p, size_t len)
{
        struct dexec *e = a->e;
        json_t *o = json_loadb((const char *)p, len, 0, NULL);
        long long nspid = json_integer_value(json_object_get(o, "pid"));
        int r;

        json_decref(o);
        if (nspid <= 0)
                return al_err(a->err, -EPROTO, "the agent's STARTED names no pid");
        e->nspid = nspid;
        if (e->gvisor)
                return on_started_run(a);
        e->pid = child_host_pid(e, nspid);
        if (e->pid <= 0)
                return al_err(a->err, -EPROTO,
                              "the agent's STARTED names pid %lld, which is "
                              "not its child",
                              nspid);
        r = exec_cgroup_place(e->cg, e->pid, a->err);
        if (r < 0)
                return r;
        return on_started_run(a);
}

/* The exec's process is where it must be: GO, and its stdin. */
static int on_started_run(struct apump *a)
{
        struct dexec *e = a->e;
        int r;

        e->oom_before = dexec_oom_kills(e->oom_path);
        if (e->on_placed && (r = e->on_placed(e->placed_ctx)) < 0)
                return r;
        r = outq_frame(&a->q, AGENT_GO, NULL, 0);
        for (size_t off = 0; r == 0 && off < a->x->stdin_len; off += STDIN_CHUNK) {
                size_t n =
                    a->x->stdin_len - off < STDIN_CHUNK ? a->x->stdin_len - off : STDIN_CHUNK;

                r = outq_frame(&a->q, AGENT_STDIN, a->x->stdin_data + off, n);
        }
        /* With a stdin fd, its end is the stdin's end (stdin_forward). */
        if (r == 0 && a->x->stdin_len > 0 && a->x->stdin_fd <= 0)
                r = outq_frame(&a->q, AGENT_STDIN_EOF, NULL, 0);
        a->state = A_RUNNING;
        return r < 0 ? al_err(a->err, r, "out of memory") : 0;
}

static int on_frame(void *ctx, unsigned type, const uint8_t *p, size_t len)
{
        struct apump *a = ctx;
        struct dexec *e = a->e;
        json_t *o;

        if (a->state == A_WAIT_STARTED && type == AGENT_STARTED)
                return on_started(a, p, len);
        if (a->state == A_RUNNING && (type == AGENT_STDOUT || type == AGENT_STDERR)) {
                if (!a->sink_failed &&
                    dexec_output(e, type == AGENT_STDERR ? 2 : 1, (const char *)p, len) < 0)
                        a->sink_failed = true;
                return 0;
        }
        if (a->state == A_RUNNING && type == AGENT_EXIT) {
                o = json_loadb((const char *)p, len, 0, NULL);
                if (json_is_integer(json_object_get(o, "signal")))
                        dexec_set_exit(e->res,
                                       128 + json_integer_value(json_object_get(o, "signal")));
                else if (json_is_integer(json_object_get(o, "exit_code")))
                        dexec_set_exit(e->res, json_integer_value(json_object_get(o, "exit_code")));
                else
                        a->state = A_WAIT_STARTED; /* neither: malformed */
                /* A hint only: the outputs are collected (and checked) when it is set. */
                e->res->outputs = json_is_true(json_object_get(o, "outputs"));
                json_decref(o);
                if (a->state == A_WAIT_STARTED)
                        return al_err(a->err, -EPROTO, "the agent's EXIT is malformed");
                a->state = A_DONE;
                return 0;
        }
        if (type == AGENT_ERROR) {
                o = json_loadb((const char *)p, len, 0, NULL);
                al_err(a->err, -EIO, "the agent could not run the exec: %.200s",
                       json_string_value(json_object_get(o, "message")) ?: "(no message)");
                json_decref(o);
                return a->err->code;
        }
        return al_err(a->err, -EPROTO, "the agent sent frame type 0x%02x out of sequence", type);
}

/* More stdin from the exec's stdin fd, while the queue to the agent is short (backpressure):
 * a chunk as a STDIN frame, its end as STDIN_EOF. Returns false once the fd is done. */
static bool stdin_forward(struct apump *a, int fd)
{
        char chunk[STDIN_CHUNK];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        if (n > 0)
                return outq_frame(&a->q, AGENT_STDIN, chunk, (size_t)n) == 0;
        outq_frame(&a->q, AGENT_STDIN_EOF, NULL, 0);
        return false;
}

int dagent_pump(struct dexec *e, const struct exec_spec *x, struct engine_stream_io *io,
                struct al_error *err)
{
        bool stdin_open = x->stdin_fd > 0;
        struct apump a = {.e = e, .x = x, .err = err};
        struct agent_decoder dec;
        _cleanup_free_ uint8_t *buf = malloc(RECV_BUF);
        bool gated = !x->before_run, gate_failed = false;
        struct watch w;
        int r;

        e->t0 = util_now_ms();
        if (!buf)
                return al_err(err, -ENOMEM, "out of memory");
        r = outq_frame(&a.q, AGENT_EXEC, e->agent_exec, strlen(e->agent_exec));
        if (r < 0) {
                free(a.q.data);
                return al_err(err, r, "the exec does not fit one frame");
        }
        agent_decoder_init(&dec, AGENT_PAYLOAD_MAX);
        watch_init(&w, x->timeout_ms > 0 ? e->t0 + x->timeout_ms : 0, DEXEC_DRAIN_MS, io->watch_fd,
                   io->cancel_fd);
        while (a.state != A_DONE) {
                struct pollfd pf[2 + WATCH_FDS];
                enum watch_event ev;
                size_t npf = 1;

                r = outq_send(&a.q, e->agent_fd);
                if (r < 0) {
                        al_err_errno(err, r, "writing to the agent");
                        break;
                }
                /* The agent forks on EXEC and its child waits for GO: the caller's work before
                 * the code runs (the audit row) overlaps the fork. */
                if (!gated) {
                        gated = true;
                        r = x->before_run(x->before_run_ctx, err);
                        if (r < 0) {
                                gate_failed = true;
                                break;
                        }
                }
                pf[0] = (struct pollfd){.fd = e->agent_fd,
                                        .events = POLLIN | (a.q.off < a.q.len ? POLLOUT : 0)};
                /* The exec's stdin is read once it runs, while little is queued. */
                if (stdin_open && a.state == A_RUNNING && a.q.len - a.q.off < 4 * STDIN_CHUNK)
                        pf[npf++] = (struct pollfd){.fd = x->stdin_fd, .events = POLLIN};
                r = watch_poll(&w, pf, npf, &ev, err);
                if (r < 0)
                        break;
                if (ev == WATCH_DEADLINE) {
                        e->res->timed_out = true;
                        dexec_kill(e);
                        continue;
                }
                if (ev == WATCH_CANCEL || ev == WATCH_HANGUP) {
                        /* Shutdown, or the client is gone: end what it started. */
                        e->res->aborted = true;
                        e->res->timed_out = false;
                        dexec_kill(e);
                        watch_end(&w, DEXEC_DRAIN_MS);
                        continue;
                }
                if (ev == WATCH_DRAINED) {
                        /* Killed, and the agent did not report the end in time. */
                        dexec_set_exit(e->res, 128 + SIGKILL);
                        a.state = A_DONE;
                        break;
                }
                if (npf > 1 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
                        stdin_open = stdin_forward(&a, x->stdin_fd);
                if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = recv(e->agent_fd, buf, RECV_BUF, 0);

                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (n <= 0) {
                                r = al_err(err, -ECONNRESET,
                                           "the agent closed the connection before the exec "
                                           "ended");
                                break;
                        }
                        r = agent_decoder_feed(&dec, buf, (size_t)n, on_frame, &a);
                        if (r < 0) {
                                if (r == -EPROTO && err->code == 0)
                                        al_err(err, r, "the agent sent a malformed frame");
                                break;
                        }
                        if (a.sink_failed && !e->res->aborted) {
                                e->res->aborted = true;
                                dexec_kill(e);
                                watch_end(&w, DEXEC_DRAIN_MS);
                        }
                }
        }
        agent_decoder_free(&dec);
        free(a.q.data);
        if (a.state == A_DONE)
                return 0;
        /* Whatever the agent did, the exec's processes end. Refused by the caller before GO,
         * nothing of the code ran: the agent is not at fault. */
        dexec_kill(e);
        e->agent_failed = !gate_failed;
        return r < 0 ? r : al_err(err, -EIO, "the exec through the agent failed");
}

/* ---- agent directories and start-up ---- */

/* The agent directory a container of ours names in its labels, when it is one of this
 * backend's run directories and still there; NULL otherwise (made without an agent). */
const char *dagent_dir_of(struct dbackend *d, json_t *insp)
{
        const char *dir = json_string_value(json_object_get(
            json_object_get(json_object_get(insp, "Config"), "Labels"), "airlock.rundir"));
        size_t n = strlen(d->run_root);
        struct stat st;

        if (!dir || strncmp(dir, d->run_root, n) != 0 || dir[n] != '/' ||
            strchr(dir + n + 1, '/') || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return NULL;
        return dir;
}

/* A fresh agent directory under the run root, owned by the exec user ("uid:gid"). */
int dagent_dir_make(struct dbackend *d, const char *exec_user, char **ret, struct al_error *err)
{
        char name[17];
        unsigned uid, gid;
        char *dir = NULL;

        if (sscanf(exec_user, "%u:%u", &uid, &gid) != 2)
                return al_err(err, -EINVAL, "exec user '%s' is not uid:gid", exec_user);
        util_random_hex(name, 8);
        if (asprintf(&dir, "%s/%s", d->run_root, name) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        if (mkdir(dir, 0700) < 0 || chown(dir, uid, gid) < 0) {
                int r = al_err_errno(err, -errno, "making the agent directory '%s'", dir);

                rmdir(dir);
                free(dir);
                return r;
        }
        *ret = dir;
        return 0;
}

/* Remove an agent directory and the socket in it; NULL is a no-op. */
void dagent_dir_remove(const char *dir)
{
        _cleanup_free_ char *path = NULL;

        if (!dir)
                return;
        if (asprintf(&path, "%s/agent.sock", dir) >= 0)
                unlink(path);
        free(path);
        path = NULL;
        /* The egress proxy's socket (docs/egress.md), made there by the daemon. */
        if (asprintf(&path, "%s/" EGRESS_SOCK_NAME, dir) >= 0)
                unlink(path);
        rmdir(dir);
}

int dagent_wait(const char *run_dir, long long pid, bool gvisor, struct al_error *err)
{
        int64_t until = util_now_ms() + AGENT_START_MS;
        struct timespec pause = {0, 2 * 1000 * 1000};
        int r;

        for (;;) {
                r = dagent_ping(run_dir, pid, gvisor, AGENT_PING_MS, err);
                if (r == 0 || util_now_ms() >= until)
                        break;
                nanosleep(&pause, NULL);
        }
        if (r < 0)
                return al_err_wrap(err, r, "the sandbox's agent did not start");
        return 0;
}

/* Agent directories no sandbox of this backend holds (left by a crash) go. */
void dagent_dir_sweep(struct dbackend *d)
{
        DIR *dir = opendir(d->run_root);
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir))) {
                char path[4096];
                bool held = false;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", d->run_root, de->d_name);
                pthread_mutex_lock(&d->lock);
                for (struct dsandbox *s = d->sandboxes; s && !held; s = s->next)
                        held = s->run_dir && strcmp(s->run_dir, path) == 0;
                pthread_mutex_unlock(&d->lock);
                if (!held)
                        dagent_dir_remove(path);
        }
        closedir(dir);
}
