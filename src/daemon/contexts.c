/* Stateful code contexts (docs/contexts.md, include/airlock/contexts.h).
 *
 * A context is a record here and a driver process in a kept sandbox: the driver
 * (src/agent/runtime/airlock_ctx.py, bound read-only at /.airlock/lib) is started as a
 * background process of the sandbox, so it has a cgroup of its own and ends with its sandbox;
 * it listens on a socket in the sandbox's agent directory, which the backend connects to only
 * when the listener is the driver's own process. Each cell is one connection: CTX_RUN, then
 * STDOUT, STDERR and CTX_RESULT frames, then CTX_DONE. Everything the driver says is bounded
 * and checked: it runs the code, so it is the code.
 *
 * Starting a driver and running a cell go through daemon_exec with a hook, so that both are
 * decided, scoped, audited and recovered like any exec. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/agent_proto.h"
#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/provider.h"
#include "airlock/util.h"
#include "airlock/watch.h"
#include "daemon_private.h"

#define DRIVER_PATH      "/.airlock/lib/airlock_ctx.py" /* python and bash */
#define DRIVER_NODE_PATH "/.airlock/lib/airlock_ctx.js"
#define DRIVER_SOCK_DIR  "/.airlock/run"
#define START_MS         15000       /* a new driver listens within this */
#define RESULTS_BYTES    (16u << 20) /* results of one cell, all representations */
#define RESULTS_COUNT    256
#define DRIVER_OUT_CAP   (64u << 10) /* the driver's own stdout/stderr kept by the backend */
#define RECV_BUF         65536

struct context {
        char id[CONTEXT_ID_LEN + 1];
        char *agent, *session, *runtime;
        enum context_language language;
        bool is_default;
        char *handle;  /* the sandbox of its driver; NULL before the first start */
        long long pid; /* the driver's pid in the sandbox; 0: none runs */
        char sock[64]; /* its socket's name in the agent directory */
        unsigned gen;  /* drivers started so far */
        bool busy;     /* a cell or a restart holds it */
        bool deleted;  /* forgotten: freed by whoever holds it last */
        unsigned refs;
        int64_t created_ms, used_ms; /* wall clock; monotonic */
        unsigned long long cells;
        long long execution_count;
        char ended[200]; /* why its interpreter ended, when it did */
        struct context *next;
};

struct context_registry {
        pthread_mutex_t lock;
        struct context *list;
        unsigned n;
};

static const char *const language_names[] = {"python", "node", "bash"};

int context_language_parse(const char *name)
{
        for (size_t i = 0; name && i < ARRAY_SIZE(language_names); i++)
                if (strcmp(name, language_names[i]) == 0)
                        return (int)i;
        return -1;
}

const char *context_language_name(enum context_language l)
{
        return (size_t)l < ARRAY_SIZE(language_names) ? language_names[l] : "?";
}

static struct context_registry *registry(struct daemon *d)
{
        return d->contexts;
}

struct context_registry *contexts_registry_new(void)
{
        struct context_registry *g = calloc(1, sizeof(*g));

        if (g)
                pthread_mutex_init(&g->lock, NULL);
        return g;
}

static void context_free(struct context *c)
{
        if (!c)
                return;
        free(c->agent);
        free(c->session);
        free(c->runtime);
        free(c->handle);
        free(c);
}

void contexts_registry_free(struct context_registry *g)
{
        if (!g)
                return;
        while (g->list) {
                struct context *c = g->list;

                g->list = c->next;
                context_free(c);
        }
        pthread_mutex_destroy(&g->lock);
        free(g);
}

/* Call with the lock held. */
static struct context *find_locked(struct context_registry *g, const char *id)
{
        for (struct context *c = g->list; c; c = c->next)
                if (!c->deleted && strcmp(c->id, id) == 0)
                        return c;
        return NULL;
}

static void unlink_locked(struct context_registry *g, struct context *c)
{
        for (struct context **pc = &g->list; *pc; pc = &(*pc)->next)
                if (*pc == c) {
                        *pc = c->next;
                        g->n--;
                        return;
                }
}

/* Let go of a context held with claim(): freed when it was deleted meanwhile. */
static void release(struct daemon *d, struct context *c)
{
        struct context_registry *g = registry(d);
        bool gone;

        pthread_mutex_lock(&g->lock);
        c->busy = false;
        c->used_ms = util_now_ms();
        gone = --c->refs == 0 && c->deleted;
        pthread_mutex_unlock(&g->lock);
        if (gone)
                context_free(c);
}

/* Hold context id for a cell or a restart: -ENOENT unknown (or another agent's, when agent is
 * given), -AL_E_CONFLICT when a cell runs in it. */
static int claim(struct daemon *d, const char *id, const char *agent, struct context **ret,
                 struct al_error *err)
{
        struct context_registry *g = registry(d);
        struct context *c;
        int r = 0;

        pthread_mutex_lock(&g->lock);
        c = find_locked(g, id);
        if (!c || (agent && strcmp(c->agent, agent) != 0))
                r = al_err(err, -ENOENT, "no context '%s'", id);
        else if (c->busy)
                r = al_err(err, -AL_E_CONFLICT,
                           "context %s is running a cell; interrupt it or wait for it", id);
        else {
                c->busy = true;
                c->refs++;
                *ret = c;
        }
        pthread_mutex_unlock(&g->lock);
        return r;
}

/* ---- the driver ---- */

/* The driver is gone (ended, killed, or its sandbox is): note why. */
static void driver_lost(struct daemon *d, struct context *c, const char *why)
{
        struct context_registry *g = registry(d);

        pthread_mutex_lock(&g->lock);
        c->pid = 0;
        snprintf(c->ended, sizeof(c->ended), "%s", why);
        pthread_mutex_unlock(&g->lock);
}

static void driver_kill(struct daemon *d, struct context *c)
{
        struct backend *b = d->containers;
        struct al_error err = {0};

        if (c->pid > 0 && c->handle)
                b->ops->proc_kill(b, c->handle, c->pid, &err);
}

/* Contexts with a live driver in sandbox handle, but c. */
static unsigned in_sandbox(struct daemon *d, const char *handle, const struct context *c)
{
        struct context_registry *g = registry(d);
        unsigned n = 0;

        pthread_mutex_lock(&g->lock);
        for (struct context *o = g->list; o; o = o->next)
                if (o != c && !o->deleted && o->pid > 0 && o->handle &&
                    strcmp(o->handle, handle) == 0)
                        n++;
        pthread_mutex_unlock(&g->lock);
        return n;
}

/* The driver's own words when it died before listening (python3 missing, say). */
static void driver_said(struct daemon *d, const char *handle, long long pid, char *out, size_t size)
{
        struct backend *b = d->containers;
        struct al_error err = {0};
        json_t *p = b->ops->proc_list(b, handle, pid, &err);
        const char *text = json_string_value(json_object_get(p, "stderr"));

        snprintf(out, size, "%.300s", text && *text ? text : "(nothing on stderr)");
        json_decref(p);
}

/* Connect to c's driver, waiting (until until_ms) while it is starting. */
static int driver_connect(struct daemon *d, struct context *c, int64_t until_ms, int *ret_fd,
                          struct al_error *err)
{
        struct backend *b = d->containers;
        struct timespec pause = {0, 5 * 1000 * 1000};
        int r;

        for (;;) {
                al_err_clear(err);
                r = b->ops->ctx_connect(b, c->handle, c->pid, c->sock, ret_fd, err);
                if (r == 0 || (r != -ENOENT && r != -ECONNREFUSED) || util_now_ms() >= until_ms)
                        return r;
                nanosleep(&pause, NULL);
        }
}

/* Start a driver for c in sandbox handle (x: the exec the request made, for its environment
 * and working directory), replacing any it had. */
static int driver_start(struct daemon *d, struct context *c, const char *handle,
                        const struct exec_spec *x, struct al_error *err)
{
        struct backend *b = d->containers;
        struct policy *pol = daemon_policy(d);
        long long max = pol->max_contexts_per_sandbox;
        char sock_path[128];
        char *py_argv[] = {"python3", DRIVER_PATH, sock_path,
                           (char *)context_language_name(c->language), NULL};
        char *node_argv[] = {"node", DRIVER_NODE_PATH, sock_path, NULL};
        char **argv = c->language == CONTEXT_NODE ? node_argv : py_argv;
        struct proc_hooks hooks = {.output_cap = DRIVER_OUT_CAP};
        struct exec_spec bx = *x;
        struct context_registry *g = registry(d);
        _cleanup_free_ char *new_handle = NULL, *old_handle = NULL;
        long long pid = 0;
        int fd = -1, r;

        policy_unref(pol);
        if (!b->ops->proc_start || !b->ops->ctx_connect || !b->ops->proc_signal)
                return al_err(err, -EOPNOTSUPP, "the %s backend has no contexts", b->ops->name);
        if (in_sandbox(d, handle, c) >= (unsigned)max)
                return al_err(err, -AL_E_LIMITED,
                              "sandbox %.12s already has %lld contexts "
                              "([sandbox] max_contexts_per_sandbox)",
                              handle, max);
        driver_kill(d, c);
        c->gen++;
        snprintf(c->sock, sizeof(c->sock), "ctx-%.24s-%u.sock", c->id, c->gen);
        snprintf(sock_path, sizeof(sock_path), DRIVER_SOCK_DIR "/%s", c->sock);
        bx.argv = argv;
        bx.stdin_data = NULL;
        bx.stdin_len = 0;
        bx.stdin_fd = 0;
        bx.timeout_ms = 0;
        new_handle = strdup(handle);
        if (!new_handle)
                return al_err(err, -ENOMEM, "out of memory");
        r = b->ops->proc_start(b, handle, &bx, &hooks, &pid, err);
        if (r < 0)
                return al_err_wrap(err, r, "starting the context's interpreter");
        /* Listings read the record under the lock. */
        pthread_mutex_lock(&g->lock);
        old_handle = c->handle;
        c->handle = TAKE_PTR(new_handle);
        c->pid = pid;
        c->ended[0] = '\0';
        c->execution_count = 0;
        pthread_mutex_unlock(&g->lock);
        r = driver_connect(d, c, util_now_ms() + START_MS, &fd, err);
        if (r == 0) {
                close(fd); /* it listens: a connection without a request is dropped */
                return 0;
        }
        if (r == -ESRCH) {
                char said[320];

                driver_said(d, handle, pid, said, sizeof(said));
                r = al_err(err, -EIO,
                           "the context's interpreter ended at start (does the image of "
                           "runtime '%s' have %s?): %s",
                           c->runtime, c->language == CONTEXT_NODE ? "node" : "python3", said);
        } else {
                r = al_err_wrap(err, r, "the context's interpreter did not start");
        }
        driver_kill(d, c);
        c->pid = 0;
        return r;
}

/* ---- a cell ---- */

struct cell {
        struct daemon *d;
        struct context *c;
        const char *code;
        bool start_only; /* only (re)start the driver */
        char restarted[200];
};

static int send_all(int fd, const uint8_t *p, size_t n, int64_t until_ms)
{
        while (n > 0) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

                if (w > 0) {
                        p += w;
                        n -= (size_t)w;
                        continue;
                }
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (util_now_ms() >= until_ms)
                        return -ETIMEDOUT;
                poll(&pf, 1, 100);
        }
        return 0;
}

/* Output of the cell: into the capped captures and to the stream, like an exec's. */
static int cell_output(const struct exec_sink *sink, struct exec_result *res, int stream,
                       const uint8_t *data, size_t len)
{
        struct buf *b = stream == 2 ? &res->err : &res->out;
        size_t room = b->max > b->len ? b->max - b->len : 0;
        size_t fwd = len < room ? len : room;

        if (fwd > 0 && sink && sink->output &&
            sink->output(sink->ctx, stream == 2 ? EXEC_STDERR : EXEC_STDOUT, (const char *)data,
                         fwd) < 0)
                return -EPIPE;
        return buf_append(b, (const char *)data, len);
}

/* A string member of o, bounded, or NULL. */
static json_t *bounded_string(json_t *o, const char *key, size_t max)
{
        const char *s = json_string_value(json_object_get(o, key));
        size_t n = s ? json_string_length(json_object_get(o, key)) : 0;

        if (!s)
                return NULL;
        return json_stringn(s, n < max ? n : max);
}

json_t *context_result_parse(const uint8_t *p, size_t len)
{
        json_t *o = json_loadb((const char *)p, len, 0, NULL), *data, *out, *v;
        const char *kind = json_string_value(json_object_get(o, "kind")), *mime;

        data = json_object_get(o, "data");
        if (!kind || (strcmp(kind, "result") != 0 && strcmp(kind, "display") != 0) ||
            !json_is_object(data) || json_object_size(data) == 0 || json_object_size(data) > 16) {
                json_decref(o);
                return NULL;
        }
        out = json_pack("{s:s, s:{}}", "kind", kind, "data");
        json_object_foreach(data, mime, v)
        {
                if (!json_is_string(v) || strlen(mime) > 100 || !strchr(mime, '/'))
                        continue;
                json_object_set(json_object_get(out, "data"), mime, v);
        }
        json_decref(o);
        if (json_object_size(json_object_get(out, "data")) == 0) {
                json_decref(out);
                return NULL;
        }
        return out;
}

struct cell_run {
        struct cell *cl;
        const struct exec_sink *sink;
        struct exec_result *res;
        json_t *results;
        size_t results_bytes;
        bool results_truncated;
        json_t *done; /* CTX_DONE, checked */
        bool sink_failed;
};

static int on_frame(void *arg, unsigned type, const uint8_t *p, size_t len)
{
        struct cell_run *cr = arg;
        json_t *o;

        switch (type) {
        case AGENT_STDOUT:
        case AGENT_STDERR:
                if (!cr->sink_failed &&
                    cell_output(cr->sink, cr->res, type == AGENT_STDERR ? 2 : 1, p, len) == -EPIPE)
                        cr->sink_failed = true;
                return 0;
        case AGENT_CTX_RESULT:
                o = context_result_parse(p, len);
                if (!o)
                        return -EPROTO;
                if (json_array_size(cr->results) >= RESULTS_COUNT ||
                    cr->results_bytes + len > RESULTS_BYTES) {
                        cr->results_truncated = true;
                        json_decref(o);
                        return 0;
                }
                cr->results_bytes += len;
                if (cr->sink && cr->sink->result && !cr->sink_failed &&
                    cr->sink->result(cr->sink->ctx, o) < 0)
                        cr->sink_failed = true;
                json_array_append_new(cr->results, o);
                return 0;
        case AGENT_CTX_DONE:
                o = context_done_parse(p, len);
                if (!o || cr->done) {
                        json_decref(o);
                        return -EPROTO;
                }
                cr->done = o;
                return 1; /* the cell's last frame */
        default:
                return -EPROTO;
        }
}

json_t *context_done_parse(const uint8_t *p, size_t len)
{
        json_t *in = json_loadb((const char *)p, len, 0, NULL), *out, *e, *n;
        const char *status;

        if (!json_is_object(in)) {
                json_decref(in);
                return NULL;
        }
        status = json_string_value(json_object_get(in, "status"));
        n = json_object_get(in, "execution_count");
        e = json_object_get(in, "error");
        out = json_pack("{s:s}", "status", status && strcmp(status, "ok") == 0 ? "ok" : "error");
        if (json_is_integer(n) && json_integer_value(n) > 0)
                json_object_set(out, "execution_count", n);
        if (json_is_object(e)) {
                json_object_set_new(
                    out, "error",
                    json_pack("{s:o, s:o, s:o}", "name",
                              bounded_string(e, "name", 200) ?: json_string(""), "value",
                              bounded_string(e, "value", 4096) ?: json_string(""), "traceback",
                              bounded_string(e, "traceback", 65536) ?: json_string("")));
        }
        if (json_is_string(json_object_get(in, "recovered")))
                json_object_set_new(out, "recovered", bounded_string(in, "recovered", 300));
        json_decref(in);
        return out;
}

/* The cell's outcome as the result's "context" object. */
static json_t *cell_json(struct cell_run *cr, bool interrupted, const char *ended)
{
        struct context *c = cr->cl->c;
        json_t *o, *n = json_object_get(cr->done, "execution_count");
        const char *status = json_string_value(json_object_get(cr->done, "status"));

        if (json_is_integer(n))
                c->execution_count = json_integer_value(n);
        o = json_pack("{s:s, s:s, s:I, s:s, s:b, s:O?}", "id", c->id, "language",
                      context_language_name(c->language), "execution_count",
                      (json_int_t)c->execution_count, "status",
                      ended ? "ended" : (status && strcmp(status, "ok") == 0 ? "ok" : "error"),
                      "interrupted", interrupted, "error", json_object_get(cr->done, "error"));
        if (o && !json_object_get(o, "error"))
                json_object_set_new(o, "error", json_null());
        if (json_object_get(cr->done, "recovered"))
                json_object_set(o, "recovered", json_object_get(cr->done, "recovered"));
        if (cr->cl->restarted[0])
                json_object_set_new(o, "restarted", json_string(cr->cl->restarted));
        if (ended)
                json_object_set_new(o, "ended", json_string(ended));
        if (cr->results_truncated)
                json_object_set_new(o, "results_truncated", json_true());
        return o;
}

/* The driver of c ended during the cell: how, as far as the backend knows. */
static void ended_why(struct daemon *d, struct context *c, char *out, size_t size)
{
        struct backend *b = d->containers;
        struct al_error err = {0};
        json_t *p = NULL;

        /* Its exit reaches the backend through the agent shortly after the socket closes. */
        for (int i = 0; i < 50; i++) {
                json_decref(p);
                p = b->ops->proc_list(b, c->handle, c->pid, &err);
                if (!p || strcmp(json_string_value(json_object_get(p, "state")) ?: "", "running"))
                        break;
                usleep(10 * 1000);
        }
        if (json_is_integer(json_object_get(p, "signal")))
                snprintf(out, size,
                         "the interpreter was killed by signal %lld: the context's state "
                         "is lost; its next exec starts a fresh one",
                         (long long)json_integer_value(json_object_get(p, "signal")));
        else if (json_is_integer(json_object_get(p, "exit_code")))
                snprintf(out, size,
                         "the interpreter exited with status %lld: the context's state "
                         "is lost; its next exec starts a fresh one",
                         (long long)json_integer_value(json_object_get(p, "exit_code")));
        else
                snprintf(out, size,
                         "the interpreter ended: the context's state is lost; its next "
                         "exec starts a fresh one");
        json_decref(p);
}

/* A cell's figures are its artifacts too (docs/files.md): each image/png result, its bytes
 * counted and digested here. NULL when there is none. */
static json_t *cell_artifacts(json_t *results)
{
        json_t *arts = json_array(), *r;
        size_t i, n = 0;

        json_array_foreach(results, i, r)
        {
                json_t *png = json_object_get(json_object_get(r, "data"), "image/png"), *a;
                char name[32];

                if (!arts || !png)
                        continue;
                snprintf(name, sizeof(name), "figure-%zu.png", n + 1);
                a = files_artifact_inline(name, "image/png", png);
                if (a && json_array_append_new(arts, a) == 0)
                        n++;
        }
        if (json_array_size(arts) == 0) {
                json_decref(arts);
                return NULL;
        }
        return arts;
}

/* A context in a provider's sandbox is the provider's own (its code interpreter,
 * docs/providers.md): airlock keeps its id in sock, and pid 1 marks it live (no driver runs
 * that airlock could signal). */
static int remote_context(struct cell *cl, const char *handle, const char *why,
                          struct al_error *err)
{
        struct context_registry *g = registry(cl->d);
        struct backend *b = cl->d->containers;
        struct context *c = cl->c;
        char id[sizeof(c->sock)];
        char *h = strdup(handle), *old;
        int r;

        if (!h)
                return al_err(err, -ENOMEM, "out of memory");
        r = b->ops->ctx_remote_create(b, handle, context_language_name(c->language), id, err);
        if (r < 0) {
                free(h);
                /* Not the sandbox's loss: run_in_scope must not remake it for this. */
                return al_err_wrap(err, r == -ENOENT ? -EIO : r, "context %s", c->id);
        }
        if (why && !cl->start_only)
                snprintf(cl->restarted, sizeof(cl->restarted), "%s", why);
        pthread_mutex_lock(&g->lock);
        old = c->handle;
        c->handle = h;
        c->pid = 1;
        c->gen++;
        memcpy(c->sock, id, sizeof(c->sock));
        c->ended[0] = '\0';
        c->execution_count = 0;
        pthread_mutex_unlock(&g->lock);
        free(old);
        return 0;
}

static int remote_cell(struct cell *cl, const char *handle, const struct exec_spec *x,
                       const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct backend *b = cl->d->containers;
        struct context *c = cl->c;
        struct cell_run cr = {.cl = cl, .sink = sink, .res = res};
        json_t *results = NULL, *done = NULL;
        bool interrupted;
        int r = 0;

        if (cl->start_only || !c->handle || strcmp(c->handle, handle) != 0 || c->pid <= 0)
                r = remote_context(
                    cl, handle, c->handle ? "its sandbox was replaced: a fresh interpreter" : NULL,
                    err);
        if (r < 0 || cl->start_only)
                return r;
        r = b->ops->ctx_remote_run(b, handle, c->sock, cl->code, x, sink, res, &results, &done,
                                   err);
        if (r == -ENOENT) {
                /* The provider lost the context (its interpreter ended): once more afresh. */
                r = remote_context(cl, handle, "the provider's context had ended: a fresh one",
                                   err);
                if (r == 0)
                        r = b->ops->ctx_remote_run(b, handle, c->sock, cl->code, x, sink, res,
                                                   &results, &done, err);
        }
        if (r < 0)
                return al_err_wrap(err, r == -ENOENT ? -EIO : r, "context %s", c->id);
        interrupted = res->timed_out || res->aborted;
        if (done) {
                const char *st = json_string_value(json_object_get(done, "status"));

                res->exit_code = st && strcmp(st, "ok") == 0 ? 0 : 1;
        } else {
                /* Ended by airlock (its time, or the client gone): the provider interrupts it. */
                res->exit_code = 1;
                done = json_pack("{s:s}", "status", "error");
        }
        cr.done = done;
        cr.results = results;
        res->context = cell_json(&cr, interrupted, NULL);
        res->results = results;
        res->artifacts = cell_artifacts(results);
        json_decref(done);
        return 0;
}

static int cell_hook(void *arg, const char *handle, const struct exec_spec *x,
                     const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct cell *cl = arg;
        struct daemon *d = cl->d;
        struct context *c = cl->c;
        struct backend *b = d->containers;
        struct cell_run cr = {.cl = cl, .sink = sink, .res = res, .results = json_array()};
        _cleanup_free_ uint8_t *buf = malloc(RECV_BUF);
        _cleanup_free_ uint8_t *frame = NULL;
        _cleanup_free_ char *payload = NULL;
        _cleanup_close_ int fd = -1;
        struct agent_decoder dec;
        struct watch w;
        char ended[200] = "";
        bool interrupted = false, killed = false;
        int64_t t0 = util_now_ms();
        size_t plen;
        json_t *req;
        int r;
        if (!buf || !cr.results) {
                json_decref(cr.results);
                return al_err(err, -ENOMEM, "out of memory");
        }
        if (provider_handle(handle)) {
                json_decref(cr.results);
                return remote_cell(cl, handle, x, sink, res, err);
        }
        /* A context whose driver ended, or whose sandbox was replaced, starts afresh here. */
        if (cl->start_only || !c->handle || strcmp(c->handle, handle) != 0 || c->pid <= 0) {
                if (!cl->start_only)
                        snprintf(cl->restarted, sizeof(cl->restarted), "%s",
                                 c->pid <= 0 && c->ended[0] ? c->ended
                                 : c->handle ? "its sandbox was replaced: a fresh interpreter"
                                             : "");
                r = driver_start(d, c, handle, x, err);
                if (r < 0 || cl->start_only) {
                        json_decref(cr.results);
                        res->duration_ms = util_now_ms() - t0;
                        return r;
                }
        }
        r = driver_connect(d, c, util_now_ms() + 2000, &fd, err);
        if (r == -ESRCH || r == -ENOENT || r == -ECONNREFUSED) {
                /* Ended since: once more with a fresh one. */
                snprintf(cl->restarted, sizeof(cl->restarted),
                         "the interpreter had ended: a fresh one");
                r = driver_start(d, c, handle, x, err);
                if (r == 0)
                        r = driver_connect(d, c, util_now_ms() + 2000, &fd, err);
        }
        if (r < 0) {
                json_decref(cr.results);
                /* Not the sandbox's loss: run_in_scope must not remake it for this. */
                return al_err_wrap(err, r == -ENOENT || r == -AL_E_CONFLICT ? -EIO : r,
                                   "context %s", c->id);
        }
        req = json_pack("{s:s}", "code", cl->code);
        payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        plen = payload ? strlen(payload) : 0;
        if (!payload || plen > AGENT_PAYLOAD_MAX) {
                json_decref(cr.results);
                return al_err(err, payload ? -AL_E_TOO_LARGE : -EINVAL,
                              payload ? "the code does not fit one frame (1 MiB)"
                                      : "cannot encode the code (is it UTF-8?)");
        }
        frame = malloc(AGENT_HEADER_LEN + plen);
        if (!frame) {
                json_decref(cr.results);
                return al_err(err, -ENOMEM, "out of memory");
        }
        agent_frame_header(frame, AGENT_CTX_RUN, plen);
        memcpy(frame + AGENT_HEADER_LEN, payload, plen);
        r = send_all(fd, frame, AGENT_HEADER_LEN + plen, util_now_ms() + 5000);
        if (r < 0) {
                json_decref(cr.results);
                return al_err_errno(err, r, "sending the cell to context %s", c->id);
        }
        agent_decoder_init(&dec, AGENT_PAYLOAD_MAX);
        watch_init(&w, x->timeout_ms > 0 ? t0 + x->timeout_ms : 0, CONTEXT_GRACE_MS,
                   sink ? sink->watch_fd : -1, sink ? sink->cancel_fd : 0);
        while (!cr.done) {
                struct pollfd pf[1 + WATCH_FDS] = {{.fd = fd, .events = POLLIN}};
                enum watch_event ev;
                ssize_t n;

                r = watch_poll(&w, pf, 1, &ev, err);
                if (r < 0)
                        break;
                if (ev == WATCH_DEADLINE || ev == WATCH_HANGUP) {
                        /* Interrupt, don't kill: the state stays. */
                        if (ev == WATCH_DEADLINE)
                                res->timed_out = true;
                        else
                                res->aborted = true;
                        interrupted = true;
                        b->ops->proc_signal(b, c->handle, c->pid, SIGINT, NULL);
                        watch_end(&w, CONTEXT_GRACE_MS);
                        continue;
                }
                if (ev == WATCH_CANCEL || ev == WATCH_DRAINED) {
                        /* It did not stop within the grace (or the daemon is going away). */
                        killed = true;
                        break;
                }
                if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                n = recv(fd, buf, RECV_BUF, 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0) {
                        ended_why(d, c, ended, sizeof(ended));
                        break;
                }
                r = agent_decoder_feed(&dec, buf, (size_t)n, on_frame, &cr);
                if (r < 0) {
                        /* A driver that breaks the protocol is not trusted with state. */
                        snprintf(ended, sizeof(ended),
                                 "the interpreter broke the protocol (%s): it was ended; the "
                                 "context's next exec starts a fresh one",
                                 r == -EPROTO ? "a malformed or unexpected frame" : "no memory");
                        killed = true;
                        break;
                }
                if (cr.sink_failed && !res->aborted) {
                        res->aborted = true;
                        interrupted = true;
                        b->ops->proc_signal(b, c->handle, c->pid, SIGINT, NULL);
                        watch_end(&w, CONTEXT_GRACE_MS);
                }
        }
        agent_decoder_free(&dec);
        if (killed) {
                driver_kill(d, c);
                if (!ended[0])
                        snprintf(ended, sizeof(ended),
                                 "the code did not stop within %d ms of the interrupt: the "
                                 "interpreter was ended; the context's next exec starts a fresh "
                                 "one",
                                 CONTEXT_GRACE_MS);
        }
        if (ended[0])
                driver_lost(d, c, ended);
        res->duration_ms = util_now_ms() - t0;
        if (r < 0 && !ended[0]) {
                json_decref(cr.results);
                json_decref(cr.done);
                return r;
        }
        if (cr.done) {
                const char *st = json_string_value(json_object_get(cr.done, "status"));

                res->exit_code = st && strcmp(st, "ok") == 0 ? 0 : 1;
        } else {
                /* Ended without its end: killed, as an exec would be. */
                res->exit_code = -1;
                res->signal = SIGKILL;
        }
        res->context = cell_json(&cr, interrupted, ended[0] ? ended : NULL);
        res->results = cr.results;
        res->artifacts = cell_artifacts(cr.results);
        json_decref(cr.done);
        return 0;
}

/* ---- the context's JSON, creation, the API's calls ---- */

static json_t *context_json_locked(const struct context *c)
{
        return json_pack(
            "{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s, s:b, s:I, s:I, s:I, s:I, s:s?}", "id", c->id,
            "language", context_language_name(c->language), "agent", c->agent, "session",
            c->session, "runtime", c->runtime, "sandbox_id", c->handle ? c->handle : NULL, "state",
            c->busy      ? "busy"
            : c->pid > 0 ? "idle"
                         : "ended",
            "default", c->is_default, "execution_count", (json_int_t)c->execution_count, "cells",
            (json_int_t)c->cells, "created_ms", (json_int_t)c->created_ms, "idle_ms",
            (json_int_t)(c->busy ? 0 : util_now_ms() - c->used_ms), "ended",
            c->pid <= 0 && c->ended[0] ? c->ended : NULL);
}

/* sandbox_id is shown as 12 characters, as everywhere else in the API. */
static json_t *context_json(struct daemon *d, struct context *c)
{
        struct context_registry *g = registry(d);
        json_t *o;

        pthread_mutex_lock(&g->lock);
        o = context_json_locked(c);
        pthread_mutex_unlock(&g->lock);
        if (o && c->handle) {
                char sid[13];

                snprintf(sid, sizeof(sid), "%.12s", c->handle);
                json_object_set_new(o, "sandbox_id", json_string(sid));
        }
        return o;
}

/* The runtime a language's context runs in: the request's, the language's own, or the
 * policy's default. */
static char *runtime_for(struct daemon *d, const char *agent, const char *runtime,
                         enum context_language l)
{
        struct policy *pol = daemon_policy(d);
        const char *lang = context_language_name(l);
        struct policy_effective eff;
        char *out;

        if (runtime)
                out = strdup(runtime);
        else if (l == CONTEXT_BASH && policy_runtime(pol, "python"))
                /* The bash driver is Python's: the python image has both. */
                out = strdup("python");
        else if (policy_runtime(pol, lang))
                out = strdup(lang);
        else
                out = policy_resolve(pol, agent, &eff) == 0 ? strdup(eff.default_runtime)
                                                            : strdup(lang);
        policy_unref(pol);
        return out;
}

/* A new record (held: busy, one reference), added to the registry. */
static int context_add(struct daemon *d, const char *agent, const char *session,
                       const char *runtime, enum context_language l, bool is_default,
                       struct context **ret, struct al_error *err)
{
        struct context_registry *g = registry(d);
        struct context *c = calloc(1, sizeof(*c));

        if (!c)
                return al_err(err, -ENOMEM, "out of memory");
        util_random_hex(c->id, CONTEXT_ID_LEN / 2);
        c->agent = strdup(agent);
        c->session = session ? strdup(session) : NULL;
        c->runtime = runtime_for(d, agent, runtime, l);
        c->language = l;
        c->is_default = is_default;
        c->created_ms = util_wall_ms();
        c->used_ms = util_now_ms();
        c->busy = true;
        c->refs = 1;
        if (!c->agent || (session && !c->session) || !c->runtime) {
                context_free(c);
                return al_err(err, -ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&g->lock);
        if (g->n >= CONTEXTS_MAX) {
                pthread_mutex_unlock(&g->lock);
                context_free(c);
                return al_err(err, -AL_E_LIMITED, "airlockd already keeps %d contexts",
                              CONTEXTS_MAX);
        }
        c->next = g->list;
        g->list = c;
        g->n++;
        pthread_mutex_unlock(&g->lock);
        *ret = c;
        return 0;
}

/* Forget c (held by the caller): its driver is ended. */
static void context_drop(struct daemon *d, struct context *c)
{
        struct context_registry *g = registry(d);

        driver_kill(d, c);
        pthread_mutex_lock(&g->lock);
        if (!c->deleted) {
                c->deleted = true;
                unlink_locked(g, c);
        }
        pthread_mutex_unlock(&g->lock);
}

/* Run cl through daemon_exec: a driver start (code NULL) or a cell. */
static int run_cell(struct daemon *d, struct cell *cl, const struct exec_request *base,
                    const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct exec_hook hook = {.run = cell_hook, .arg = cl};
        struct context *c = cl->c;
        char sock_path[16] = "", *argv[] = {"python3", DRIVER_PATH, sock_path, NULL};
        struct exec_request req = {0};

        if (base)
                req = *base;
        else
                req.network = -1;
        req.agent = c->agent;
        req.session = c->session;
        req.runtime = c->runtime;
        req.context = req.language = NULL;
        req.hook = &hook;
        if (!cl->code) {
                /* The audit row of a start names the driver. */
                req.code = req.command = NULL;
                req.argv = argv;
                snprintf(sock_path, sizeof(sock_path), "%.12s", c->id);
        }
        return daemon_exec(d, &req, sink, res, err);
}

int daemon_context_create(struct daemon *d, const struct context_request *cr, json_t **ret,
                          struct al_error *err)
{
        struct policy *pol = daemon_policy(d);
        struct cell cl = {.d = d, .start_only = true};
        struct exec_result res;
        int r;

        exec_result_init(&res, 4096);
        policy_unref(pol);
        r = context_add(d, cr->agent, cr->session, cr->runtime, cr->language, false, &cl.c, err);
        if (r < 0)
                return r;
        r = run_cell(d, &cl, NULL, NULL, &res, err);
        exec_result_clear(&res);
        if (r < 0) {
                context_drop(d, cl.c);
                release(d, cl.c);
                return r;
        }
        release(d, cl.c);
        *ret = context_json(d, cl.c);
        return 0;
}

char *daemon_context_agent(struct daemon *d, const char *id)
{
        struct context_registry *g = registry(d);
        struct context *c;
        char *agent = NULL;

        pthread_mutex_lock(&g->lock);
        c = find_locked(g, id);
        if (c)
                agent = strdup(c->agent);
        pthread_mutex_unlock(&g->lock);
        return agent;
}

json_t *daemon_contexts_list(struct daemon *d, const char *agent)
{
        struct context_registry *g = registry(d);
        json_t *a = json_array();

        pthread_mutex_lock(&g->lock);
        for (struct context *c = g->list; c && a; c = c->next)
                if (!c->deleted && (!agent || strcmp(agent, c->agent) == 0)) {
                        json_t *o = context_json_locked(c);

                        if (o && c->handle) {
                                char sid[13];

                                snprintf(sid, sizeof(sid), "%.12s", c->handle);
                                json_object_set_new(o, "sandbox_id", json_string(sid));
                        }
                        json_array_append_new(a, o);
                }
        pthread_mutex_unlock(&g->lock);
        return a;
}

json_t *daemon_context_get(struct daemon *d, const char *id)
{
        json_t *a = daemon_contexts_list(d, NULL), *v, *out = NULL;
        size_t i;

        json_array_foreach(a, i, v) if (strcmp(json_string_value(json_object_get(v, "id")), id) ==
                                        0) out = json_incref(v);
        json_decref(a);
        return out;
}

int daemon_context_delete(struct daemon *d, const char *id, struct al_error *err)
{
        struct context_registry *g = registry(d);
        struct context *c;
        _cleanup_free_ char *handle = NULL;
        long long pid = 0;
        bool free_now = false;

        pthread_mutex_lock(&g->lock);
        c = find_locked(g, id);
        if (!c) {
                pthread_mutex_unlock(&g->lock);
                return al_err(err, -ENOENT, "no context '%s'", id);
        }
        c->deleted = true;
        unlink_locked(g, c);
        if (c->pid > 0 && c->handle) {
                handle = strdup(c->handle);
                pid = c->pid;
        }
        free_now = c->refs == 0;
        pthread_mutex_unlock(&g->lock);
        /* A running cell sees its driver go and ends; the last holder frees the record. */
        if (handle) {
                struct al_error e = {0};

                d->containers->ops->proc_kill(d->containers, handle, pid, &e);
        }
        if (free_now)
                context_free(c);
        return 0;
}

int daemon_context_restart(struct daemon *d, const char *id, json_t **ret, struct al_error *err)
{
        struct cell cl = {.d = d, .start_only = true};
        struct exec_result res;
        int r;

        r = claim(d, id, NULL, &cl.c, err);
        if (r < 0)
                return r;
        exec_result_init(&res, 4096);
        r = run_cell(d, &cl, NULL, NULL, &res, err);
        exec_result_clear(&res);
        if (r == 0)
                *ret = context_json(d, cl.c);
        release(d, cl.c);
        return r;
}

int daemon_context_interrupt(struct daemon *d, const char *id, bool *ret_sent, struct al_error *err)
{
        struct context_registry *g = registry(d);
        struct context *c;
        _cleanup_free_ char *handle = NULL;
        long long pid = 0;

        pthread_mutex_lock(&g->lock);
        c = find_locked(g, id);
        if (c && c->busy && c->pid > 0 && c->handle) {
                handle = strdup(c->handle);
                pid = c->pid;
        }
        pthread_mutex_unlock(&g->lock);
        if (!c)
                return al_err(err, -ENOENT, "no context '%s'", id);
        *ret_sent = false;
        if (!handle)
                return 0;
        if (d->containers->ops->proc_signal(d->containers, handle, pid, SIGINT, err) < 0)
                return err->code == -ESRCH ? 0 : err->code;
        *ret_sent = true;
        return 0;
}

/* The default context of (agent, session, language), held; made when there is none. */
static int default_context(struct daemon *d, const struct exec_request *req,
                           enum context_language l, struct context **ret, struct al_error *err)
{
        struct context_registry *g = registry(d);
        struct context *found = NULL;
        bool busy = false;

        pthread_mutex_lock(&g->lock);
        for (struct context *c = g->list; c && !found; c = c->next)
                if (!c->deleted && c->is_default && c->language == l &&
                    strcmp(c->agent, req->agent) == 0 &&
                    ((!c->session && !req->session) ||
                     (c->session && req->session && strcmp(c->session, req->session) == 0)) &&
                    (!req->runtime || strcmp(req->runtime, c->runtime) == 0)) {
                        found = c;
                        busy = c->busy;
                        if (!busy) {
                                c->busy = true;
                                c->refs++;
                        }
                }
        pthread_mutex_unlock(&g->lock);
        if (found && busy)
                return al_err(err, -AL_E_CONFLICT,
                              "the default %s context is running a cell; interrupt it or wait",
                              context_language_name(l));
        if (found) {
                *ret = found;
                return 0;
        }
        return context_add(d, req->agent, req->session, req->runtime, l, true, ret, err);
}

int daemon_context_exec(struct daemon *d, const struct exec_request *req,
                        const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct cell cl = {.d = d, .code = req->code};
        bool made = false;
        int r;

        if (req->context) {
                r = claim(d, req->context, req->agent, &cl.c, err);
        } else {
                int l = context_language_parse(req->language);

                if (l < 0)
                        return al_err(err, -EINVAL,
                                      "unknown language '%.64s' (python, node or bash)",
                                      req->language);
                r = default_context(d, req, (enum context_language)l, &cl.c, err);
                made = r == 0 && !cl.c->handle;
        }
        if (r < 0)
                return r;
        r = run_cell(d, &cl, req, sink, res, err);
        if (r == 0)
                cl.c->cells++;
        /* A default context that could not even start is not kept. */
        if (r < 0 && made && cl.c->pid <= 0)
                context_drop(d, cl.c);
        release(d, cl.c);
        return r;
}

int daemon_contexts_reap(struct daemon *d, int64_t idle_ms)
{
        struct context_registry *g = registry(d);
        struct backend *b = d->containers;
        int n = 0;

        for (;;) {
                struct context *victim = NULL;
                int64_t now = util_now_ms();

                pthread_mutex_lock(&g->lock);
                for (struct context *c = g->list; c && !victim; c = c->next) {
                        struct al_error err = {0};
                        json_t *procs;

                        if (c->deleted || c->busy)
                                continue;
                        if (idle_ms > 0 && now - c->used_ms > idle_ms) {
                                victim = c;
                                break;
                        }
                        /* Its sandbox is gone: so is it. */
                        procs = c->handle ? b->ops->proc_list(b, c->handle, -1, &err) : NULL;
                        if (c->handle && !procs)
                                victim = c;
                        json_decref(procs);
                }
                if (victim) {
                        victim->busy = true;
                        victim->refs++;
                }
                pthread_mutex_unlock(&g->lock);
                if (!victim)
                        return n;
                log_info("context %s (%s, agent '%s') ended: %s", victim->id,
                         context_language_name(victim->language), victim->agent,
                         victim->handle && victim->pid > 0 ? "idle" : "its sandbox is gone");
                context_drop(d, victim);
                release(d, victim);
                n++;
        }
}

void daemon_contexts_annotate(struct daemon *d, json_t *rows)
{
        json_t *row;
        size_t i;

        json_array_foreach(rows, i, row)
        {
                const char *id = json_string_value(json_object_get(row, "id"));

                if (id)
                        json_object_set_new(row, "contexts", json_integer(in_sandbox(d, id, NULL)));
        }
}

void daemon_contexts_count(struct daemon *d, unsigned *ret_total, unsigned *ret_busy)
{
        struct context_registry *g = registry(d);
        unsigned total = 0, busy = 0;

        if (g) {
                pthread_mutex_lock(&g->lock);
                for (struct context *c = g->list; c; c = c->next)
                        if (!c->deleted) {
                                total++;
                                busy += c->busy;
                        }
                pthread_mutex_unlock(&g->lock);
        }
        *ret_total = total;
        *ret_busy = busy;
}
