/* The E2B provider backend (docs/providers.md): sandboxes made by a remote E2B control plane
 * (or another airlockd's E2B-compatible API), execs run through the sandbox's envd process
 * service. Handles are "SANDBOXID@PROVIDER" (the router reads the provider from them). The
 * exec's timeout, output caps and cancellation are enforced here, locally: airlock ends the
 * remote process (SendSignal SIGKILL) when its time is up. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "backend/provider/e2b_http.h"
#include "backend/provider/e2b_proto.h"
#include "backend/provider/provider_private.h"

/* After airlock ends a remote process, how long its end event may take before the stream is
 * dropped. */
#define KILL_GRACE_MS 5000
/* stdin read from a caller's pipe is sent in pieces of at most this. */
#define STDIN_CHUNK (64 * 1024)

struct e2b_sandbox_entry {
        struct e2b_sandbox sb;
        int64_t renewed_ms; /* when its time to live was last set */
        struct e2b_sandbox_entry *next;
};

struct e2b_backend {
        struct e2b_client client;
        char *name;     /* the provider's name */
        char label[96]; /* "e2b:NAME", what results show as the backend */
        int64_t ttl_s;  /* sandbox_timeout_s */
        pthread_mutex_t lock;
        struct e2b_sandbox_entry *live; /* sandboxes this daemon holds */
        struct e2b_bg *procs;           /* background processes (e2b_procs.c) */
};

static struct e2b_backend *priv(struct backend *b)
{
        return b->priv;
}

static int provider_err(struct e2b_backend *p, const char *what, const struct e2b_answer *a,
                        struct al_error *err)
{
        if (a->status == 401 || a->status == 403)
                return al_err(err, -AL_E_PROVIDER, "provider '%s' refused to %s (HTTP %ld): %s",
                              p->name, what, a->status, a->message);
        if (a->status == 429)
                return al_err(err, -AL_E_PROVIDER,
                              "provider '%s' is rate limiting (HTTP 429, retries spent): %s",
                              p->name, a->message);
        return al_err(err, -AL_E_PROVIDER, "provider '%s' could not %s (HTTP %ld): %s", p->name,
                      what, a->status, a->message);
}

/* An error of the transport (no answer) as a provider error that names the provider. */
static int transport_err(struct e2b_backend *p, int r, struct al_error *err)
{
        if (r == -ENOMEM || r == -EACCES)
                return al_err_wrap(err, r == -EACCES ? -AL_E_PROVIDER : r, "provider '%s'",
                                   p->name);
        return al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", p->name);
}

/* The sandbox id of a handle "ID@NAME", copied into id. */
static int handle_id(const char *handle, char id[E2B_ID_MAX + 1], struct al_error *err)
{
        const char *at = strchr(handle, '@');
        size_t n = at ? (size_t)(at - handle) : strlen(handle);

        if (n == 0 || n > E2B_ID_MAX)
                return al_err(err, -ENOENT, "not a sandbox of this provider");
        memcpy(id, handle, n);
        id[n] = '\0';
        return e2b_id_valid(id) ? 0 : al_err(err, -ENOENT, "not a sandbox of this provider");
}

/* A copy of the entry for id (the table may change under the caller). */
static bool lookup(struct e2b_backend *p, const char *id, struct e2b_sandbox *ret,
                   int64_t *ret_renewed)
{
        bool found = false;

        pthread_mutex_lock(&p->lock);
        for (struct e2b_sandbox_entry *e = p->live; e; e = e->next)
                if (strcmp(e->sb.id, id) == 0) {
                        *ret = e->sb;
                        if (ret_renewed)
                                *ret_renewed = e->renewed_ms;
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&p->lock);
        return found;
}

static void set_renewed(struct e2b_backend *p, const char *id, int64_t now)
{
        pthread_mutex_lock(&p->lock);
        for (struct e2b_sandbox_entry *e = p->live; e; e = e->next)
                if (strcmp(e->sb.id, id) == 0)
                        e->renewed_ms = now;
        pthread_mutex_unlock(&p->lock);
}

static int remember(struct e2b_backend *p, const struct e2b_sandbox *sb)
{
        struct e2b_sandbox_entry *e = calloc(1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        e->sb = *sb;
        e->renewed_ms = util_now_ms();
        pthread_mutex_lock(&p->lock);
        e->next = p->live;
        p->live = e;
        pthread_mutex_unlock(&p->lock);
        return 0;
}

static void forget(struct e2b_backend *p, const char *id)
{
        pthread_mutex_lock(&p->lock);
        for (struct e2b_sandbox_entry **pp = &p->live; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->sb.id, id) == 0) {
                        struct e2b_sandbox_entry *e = *pp;

                        *pp = e->next;
                        free(e);
                        break;
                }
        pthread_mutex_unlock(&p->lock);
}

static int e2b_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                      struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        struct e2b_new_sandbox ns = {.template = spec->image,
                                     .timeout_s = p->ttl_s,
                                     .internet = false,
                                     .instance_id = spec->instance_id,
                                     .agent = spec->agent,
                                     .session = spec->session};
        _cleanup_free_ char *body = e2b_json_text(e2b_new_sandbox_body(&ns));
        struct e2b_answer a;
        struct e2b_sandbox sb;
        int r;

        if (!body)
                return al_err(err, -ENOMEM, "out of memory");
        e2b_answer_init(&a);
        r = e2b_api_call(&p->client, "POST", "/sandboxes", body, &a, err);
        if (r < 0)
                r = transport_err(p, r, err);
        else if (a.status != 201 && a.status != 200)
                r = provider_err(p, "create a sandbox", &a, err);
        else if ((r = e2b_sandbox_parse(a.body.data, a.body.len, &sb, err)) < 0)
                r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", p->name);
        e2b_answer_free(&a);
        if (r < 0)
                return r;
        if (remember(p, &sb) < 0 || asprintf(ret_handle, "%s@%s", sb.id, p->name) < 0) {
                forget(p, sb.id);
                return al_err(err, -ENOMEM, "out of memory");
        }
        log_info("provider '%s' made sandbox %s from template '%s'", p->name, sb.id, spec->image);
        return 0;
}

/* GET /sandboxes/{id}: 1 with its document when it runs, 0 when gone or paused. */
static int fetch_sandbox(struct e2b_backend *p, const char *id, struct e2b_sandbox *ret,
                         struct al_error *err)
{
        char path[256];
        struct e2b_answer a;
        int r;

        snprintf(path, sizeof(path), "/sandboxes/%s", id);
        e2b_answer_init(&a);
        r = e2b_api_call(&p->client, "GET", path, NULL, &a, err);
        if (r < 0) {
                r = transport_err(p, r, err);
        } else if (a.status == 404) {
                r = 0;
        } else if (a.status != 200) {
                r = provider_err(p, "look up a sandbox", &a, err);
        } else {
                json_t *o = json_loadb(a.body.data ? a.body.data : "", a.body.len, 0, NULL);
                const char *state = json_string_value(json_object_get(o, "state"));

                json_decref(o);
                r = e2b_sandbox_parse(a.body.data, a.body.len, ret, err);
                if (r < 0)
                        r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", p->name);
                else
                        r = state && strcmp(state, "running") != 0 ? 0 : 1;
        }
        e2b_answer_free(&a);
        return r;
}

/* Whether the control plane says the sandbox is gone: envd's answer for a lost sandbox
 * depends on the proxy in front of it (404, 502, 503), the control plane's does not. */
static bool sandbox_lost(struct e2b_backend *p, const char *id)
{
        struct e2b_sandbox sb;
        struct al_error err = {0};

        return fetch_sandbox(p, id, &sb, &err) == 0;
}

static int e2b_alive(struct backend *b, const char *handle, struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        char id[E2B_ID_MAX + 1];
        struct e2b_sandbox sb;

        if (handle_id(handle, id, err) < 0)
                return 0;
        return fetch_sandbox(p, id, &sb, err);
}

static int e2b_adopt(struct backend *b, const char *handle, const struct sandbox_spec *spec,
                     struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        char id[E2B_ID_MAX + 1];
        struct e2b_sandbox sb;
        int r;

        (void)spec;
        if (handle_id(handle, id, err) < 0)
                return -ENOENT;
        r = fetch_sandbox(p, id, &sb, err);
        if (r <= 0)
                return r < 0 ? r : al_err(err, -ENOENT, "the remote sandbox is gone");
        return remember(p, &sb) < 0 ? al_err(err, -ENOMEM, "out of memory") : 0;
}

static int delete_sandbox(struct e2b_backend *p, const char *id, struct al_error *err)
{
        char path[256];
        struct e2b_answer a;
        int r;

        snprintf(path, sizeof(path), "/sandboxes/%s", id);
        e2b_answer_init(&a);
        r = e2b_api_call(&p->client, "DELETE", path, NULL, &a, err);
        if (r < 0)
                r = transport_err(p, r, err);
        else if (a.status != 204 && a.status != 200 && a.status != 404)
                r = provider_err(p, "remove a sandbox", &a, err);
        e2b_answer_free(&a);
        return r;
}

static int e2b_remove(struct backend *b, const char *handle, struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        char id[E2B_ID_MAX + 1];
        int r;

        if (handle_id(handle, id, err) < 0)
                return 0;
        r = delete_sandbox(p, id, err);
        /* Forgotten only once removed: remove_instance retries what is still there. */
        if (r == 0)
                forget(p, id);
        return r;
}

static int e2b_remove_instance(struct backend *b, const char *instance_id, struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        _cleanup_free_ char *query = e2b_list_query(instance_id);
        char path[4200];
        struct e2b_answer a;
        char **ids = NULL;
        int r, removed = 0;

        if (!query)
                return al_err(err, -ENOMEM, "out of memory");
        snprintf(path, sizeof(path), "/sandboxes?%s", query);
        e2b_answer_init(&a);
        r = e2b_api_call(&p->client, "GET", path, NULL, &a, err);
        if (r < 0)
                r = transport_err(p, r, err);
        else if (a.status != 200)
                r = provider_err(p, "list its sandboxes", &a, err);
        else if ((r = e2b_list_parse(a.body.data, a.body.len, instance_id, &ids, err)) < 0)
                r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", p->name);
        e2b_answer_free(&a);
        for (size_t i = 0; r == 0 && ids[i]; i++) {
                struct e2b_sandbox sb;
                struct al_error e2 = {0};

                if (lookup(p, ids[i], &sb, NULL))
                        continue;
                if (delete_sandbox(p, ids[i], &e2) < 0)
                        log_warn("%s", e2.msg);
                else
                        removed++;
        }
        util_strv_free(ids);
        if (removed > 0)
                log_info("provider '%s': removed %d sandbox(es) this instance left", p->name,
                         removed);
        return r;
}

/* POST /sandboxes/{id}/pause (204), or /connect (200, 201: the sandbox document again, with
 * a new envd token when the provider rotates it). */
static int lifecycle(struct backend *b, const char *handle, bool pause, struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        _cleanup_free_ char *body =
            e2b_json_text(pause ? e2b_pause_body() : e2b_connect_body(p->ttl_s));
        char id[E2B_ID_MAX + 1], path[256];
        struct e2b_answer a;
        struct e2b_sandbox sb;
        int r;

        if (handle_id(handle, id, err) < 0)
                return -ENOENT;
        if (!body)
                return al_err(err, -ENOMEM, "out of memory");
        snprintf(path, sizeof(path), "/sandboxes/%s/%s", id, pause ? "pause" : "connect");
        e2b_answer_init(&a);
        r = e2b_api_call(&p->client, "POST", path, body, &a, err);
        if (r < 0)
                r = transport_err(p, r, err);
        else if (a.status == 404)
                r = al_err(err, -ENOENT, "provider '%s' has no sandbox %s", p->name, id);
        else if (a.status >= 300 && a.status != 409)
                r = provider_err(p, pause ? "pause a sandbox" : "resume a sandbox", &a, err);
        else if (!pause && a.status < 300 &&
                 e2b_sandbox_parse(a.body.data, a.body.len, &sb, err) == 0) {
                forget(p, id);
                r = remember(p, &sb) < 0 ? al_err(err, -ENOMEM, "out of memory") : 0;
        }
        e2b_answer_free(&a);
        return r;
}

static int e2b_suspend(struct backend *b, const char *handle, struct al_error *err)
{
        return lifecycle(b, handle, true, err);
}

static int e2b_resume(struct backend *b, const char *handle, struct al_error *err)
{
        return lifecycle(b, handle, false, err);
}

/* ---- execs ---- */

struct run {
        struct e2b_backend *p;
        const struct e2b_target *t;
        const struct exec_spec *x;
        const struct exec_sink *sink;
        struct exec_result *res;
        struct e2b_stream stream;
        uint32_t pid;
        void (*on_pid)(void *ctx, uint32_t pid); /* the process exists (background) */
        void *on_pid_ctx;
        bool stdin_sent, stdin_closed, ended, killed;
        int64_t deadline_ms, kill_at_ms;
        char stream_error[256];
        struct al_error err;
};

static int on_event(void *arg, const struct e2b_event *ev)
{
        struct run *run = arg;
        struct exec_result *res = run->res;

        switch (ev->kind) {
        case E2B_EV_START:
                run->pid = ev->pid;
                if (run->on_pid)
                        run->on_pid(run->on_pid_ctx, ev->pid);
                break;
        case E2B_EV_STDOUT:
        case E2B_EV_STDERR: {
                enum exec_stream which = ev->kind == E2B_EV_STDOUT ? EXEC_STDOUT : EXEC_STDERR;

                buf_append(which == EXEC_STDOUT ? &res->out : &res->err, ev->data, ev->len);
                if (run->sink && run->sink->output &&
                    run->sink->output(run->sink->ctx, which, (const char *)ev->data, ev->len) < 0)
                        res->aborted = true;
                break;
        }
        case E2B_EV_END:
                run->ended = true;
                res->signal = e2b_status_signal(ev->status);
                res->exit_code = res->signal ? -1 : ev->exit_code;
                break;
        case E2B_EV_STREAM_END:
                snprintf(run->stream_error, sizeof(run->stream_error), "%s", ev->error);
                break;
        case E2B_EV_KEEPALIVE:
                break;
        }
        return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
        struct run *run = arg;

        return e2b_stream_feed(&run->stream, p, n, on_event, run, &run->err);
}

/* A unary call whose failure is logged, not the exec's: the stream says what happened. */
static void rpc_quiet(struct run *run, const char *rpc, json_t *body)
{
        _cleanup_free_ char *json = e2b_json_text(body);
        struct e2b_answer a;
        struct al_error err = {0};

        if (!json)
                return;
        e2b_answer_init(&a);
        if (e2b_rpc_call(&run->p->client, run->t, rpc, json, &a, &err) < 0)
                log_warn("provider '%s': %s: %s", run->p->name, rpc, err.msg);
        else if (a.status != 200)
                log_warn("provider '%s': %s: HTTP %ld: %s", run->p->name, rpc, a.status, a.message);
        e2b_answer_free(&a);
}

/* More stdin from x->stdin_fd (a pipe the caller writes while the exec runs), forwarded as it
 * comes; its end, or no such fd, closes the remote process's stdin. */
static void pump_stdin(struct run *run)
{
        char chunk[STDIN_CHUNK];
        struct pollfd pf = {.fd = run->x->stdin_fd, .events = POLLIN};
        ssize_t n;

        if (run->x->stdin_fd > 0) {
                if (poll(&pf, 1, 0) <= 0)
                        return;
                n = read(run->x->stdin_fd, chunk, sizeof(chunk));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n > 0) {
                        rpc_quiet(run, "process.Process/SendInput",
                                  e2b_input_body(run->pid, chunk, (size_t)n));
                        return;
                }
        }
        run->stdin_closed = true;
        rpc_quiet(run, "process.Process/CloseStdin", e2b_close_stdin_body(run->pid));
}

static void kill_remote(struct run *run, int64_t now)
{
        if (run->killed || !run->pid)
                return;
        run->killed = true;
        run->kill_at_ms = now;
        rpc_quiet(run, "process.Process/SendSignal", e2b_signal_body(run->pid, true));
}

static int on_tick(void *arg, int64_t now, bool fd_ready)
{
        struct run *run = arg;

        if (run->pid && !run->stdin_sent && !run->ended) {
                run->stdin_sent = true;
                if (run->x->stdin_len > 0)
                        rpc_quiet(run, "process.Process/SendInput",
                                  e2b_input_body(run->pid, run->x->stdin_data, run->x->stdin_len));
        }
        if (run->pid && run->stdin_sent && !run->stdin_closed && !run->ended)
                pump_stdin(run);
        if (run->ended)
                return 0;
        if (run->deadline_ms > 0 && now >= run->deadline_ms && !run->res->timed_out) {
                run->res->timed_out = true;
                kill_remote(run, now);
        }
        if ((fd_ready || run->res->aborted) && !run->killed) {
                run->res->aborted = true;
                kill_remote(run, now);
        }
        if (run->killed && now - run->kill_at_ms > KILL_GRACE_MS)
                return al_err(&run->err, -AL_E_PROVIDER,
                              "provider '%s' did not end process %u within %d ms of the kill",
                              run->p->name, run->pid, KILL_GRACE_MS);
        /* Killed before its pid came: nothing to signal, so the stream is dropped. */
        if ((run->res->timed_out || run->res->aborted) && !run->pid &&
            now - (run->deadline_ms > 0 ? run->deadline_ms : now) > KILL_GRACE_MS)
                return al_err(&run->err, -AL_E_PROVIDER, "provider '%s' never started the process",
                              run->p->name);
        return 0;
}

/* Renew the remote sandbox's time to live when half of it has passed. */
static void renew(struct e2b_backend *p, const char *id, int64_t renewed)
{
        int64_t now = util_now_ms();
        _cleanup_free_ char *body = NULL;
        char path[256];
        struct e2b_answer a;
        struct al_error err = {0};

        if (now - renewed < p->ttl_s * 500)
                return;
        body = e2b_json_text(e2b_timeout_body(p->ttl_s));
        if (!body)
                return;
        snprintf(path, sizeof(path), "/sandboxes/%s/timeout", id);
        e2b_answer_init(&a);
        if (e2b_api_call(&p->client, "POST", path, body, &a, &err) == 0 && a.status < 300)
                set_renewed(p, id, now);
        e2b_answer_free(&a);
}

int e2b_backend_run(struct backend *b, const char *handle, const struct exec_spec *x,
                    const struct exec_sink *sink, struct exec_result *res,
                    void (*on_pid)(void *ctx, uint32_t pid), void *on_pid_ctx, struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        char id[E2B_ID_MAX + 1];
        struct e2b_sandbox sb;
        struct e2b_target t;
        struct e2b_answer a;
        _cleanup_free_ char *body = NULL;
        struct run run = {.p = p,
                          .t = &t,
                          .x = x,
                          .sink = sink,
                          .res = res,
                          .on_pid = on_pid,
                          .on_pid_ctx = on_pid_ctx};
        struct e2b_stream_hooks hooks = {.on_data = on_data, .tick = on_tick, .ctx = &run};
        int64_t start, renewed = 0;
        int r;

        if (handle_id(handle, id, err) < 0)
                return -ENOENT;
        if (!lookup(p, id, &sb, &renewed))
                return al_err(err, -ENOENT, "provider '%s' holds no sandbox %s", p->name, id);
        renew(p, id, renewed);
        body = e2b_json_text(e2b_start_body(x->argv, x->env, x->workdir, true));
        if (!body)
                return al_err(err, -ENOMEM, "out of memory");
        if (x->before_run && (r = x->before_run(x->before_run_ctx, err)) < 0)
                return r;
        e2b_target_for(&p->client, sb.id, sb.envd_token, sb.domain, E2B_ENVD_PORT, &t);
        hooks.watch_fds[0] = sink ? sink->watch_fd : -1;
        hooks.watch_fds[1] = sink ? sink->cancel_fd : -1;
        e2b_stream_init(&run.stream);
        e2b_answer_init(&a);
        start = util_now_ms();
        run.deadline_ms = x->timeout_ms > 0 ? start + x->timeout_ms : 0;
        r = e2b_rpc_stream(&p->client, &t, "process.Process/Start", body, &hooks, &a, &run.err);
        res->duration_ms = util_now_ms() - start;
        e2b_stream_free(&run.stream);
        if (r < 0) {
                r = run.err.code < 0
                        ? al_err_wrap(&run.err, -AL_E_PROVIDER, "provider '%s'", p->name)
                        : transport_err(p, r, &run.err);
                *err = run.err;
        } else if (a.status != 200 && !run.pid && sandbox_lost(p, id)) {
                /* The sandbox is gone before anything ran: the daemon makes a new one. */
                forget(p, id);
                r = al_err(err, -ENOENT, "provider '%s' lost sandbox %s: %s", p->name, id,
                           a.message);
        } else if (a.status != 200) {
                r = provider_err(p, "run the process", &a, err);
        } else if (!run.ended && run.killed) {
                res->signal = SIGKILL;
                res->exit_code = -1;
        } else if (!run.ended) {
                r = al_err(err, -AL_E_PROVIDER,
                           "provider '%s' ended the process's stream without its end%s%s", p->name,
                           run.stream_error[0] ? ": " : "", run.stream_error);
        }
        e2b_answer_free(&a);
        if (r == 0 && res->timed_out && !res->signal) {
                res->signal = SIGKILL;
                res->exit_code = -1;
        }
        res->transport = "e2b";
        /* What held this exec to the policy, and where. */
        json_decref(res->limits);
        res->limits = json_pack(
            "{s:[s,s], s:[s,s,s], s:[s,s,s,s]}", "remote", "network (allow_internet_access=false)",
            "sandbox_lifetime (timeout)", "local", "timeout_s (airlock ends the remote process)",
            "output_bytes (airlock truncates)", "policy checks (before anything is sent)",
            "template", "cpu_cores", "memory_mb", "disk_mb", "max_processes");
        return r;
}

static int e2b_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                    const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        return e2b_backend_run(b, handle, x, sink, res, NULL, NULL, err);
}

static int e2b_run_once(struct backend *b, const struct sandbox_spec *spec,
                        const struct exec_spec *x, const struct exec_sink *sink,
                        struct exec_result *res, struct al_error *err)
{
        _cleanup_free_ char *handle = NULL;
        struct al_error rerr = {0};
        int r;

        r = e2b_create(b, spec, &handle, err);
        if (r < 0)
                return r;
        r = e2b_exec(b, handle, x, sink, res, err);
        if (r >= 0 && x->after_run)
                x->after_run(x->after_run_ctx, handle, res);
        if (e2b_remove(b, handle, &rerr) < 0)
                log_warn("one-off sandbox %s left for the reaper: %s", handle, rerr.msg);
        return r;
}

static json_t *e2b_status(struct backend *b)
{
        struct e2b_backend *p = priv(b);
        int n = 0;

        pthread_mutex_lock(&p->lock);
        for (struct e2b_sandbox_entry *e = p->live; e; e = e->next)
                n++;
        pthread_mutex_unlock(&p->lock);
        return json_pack("{s:s, s:i}", "provider", p->name, "sandboxes", n);
}

static void client_clear(struct e2b_client *c)
{
        free(c->api_url);
        free(c->sandbox_url);
        free(c->domain);
        free(c->key_file);
        memset(c, 0, sizeof(*c));
}

static void e2b_free(struct backend *b)
{
        struct e2b_backend *p = b ? priv(b) : NULL;

        if (!p)
                return;
        while (p->live) {
                struct e2b_sandbox_entry *e = p->live;

                p->live = e->next;
                free(e);
        }
        e2b_bg_free(p->procs);
        client_clear(&p->client);
        pthread_mutex_destroy(&p->lock);
        free(p->name);
        free(p);
        free(b);
}

static const struct backend_ops e2b_ops = {
    .name = "e2b",
    .sandbox_create = e2b_create,
    .sandbox_exec = e2b_exec,
    .proc_start = e2b_proc_start,
    .proc_list = e2b_proc_list,
    .proc_kill = e2b_proc_kill,
    .ctx_remote_create = e2b_ctx_create,
    .ctx_remote_run = e2b_ctx_run,
    .files_remote = e2b_files_remote,
    .status = e2b_status,
    .run_once = e2b_run_once,
    .sandbox_alive = e2b_alive,
    .sandbox_remove = e2b_remove,
    .sandbox_adopt = e2b_adopt,
    .sandbox_suspend = e2b_suspend,
    .sandbox_resume = e2b_resume,
    .remove_instance = e2b_remove_instance,
    .free = e2b_free,
};

static char *dup_trimmed(const char *url)
{
        char *s = url ? strdup(url) : NULL;
        size_t n = s ? strlen(s) : 0;

        while (n > 0 && s[n - 1] == '/')
                s[--n] = '\0';
        return s;
}

static int configure(struct backend *b, const struct policy_provider *pr)
{
        struct e2b_backend *p = priv(b);
        struct e2b_client c = {.api_url = dup_trimmed(pr->api_url),
                               .sandbox_url = dup_trimmed(pr->sandbox_url),
                               .domain = pr->domain ? strdup(pr->domain) : NULL,
                               .key_file = strdup(pr->api_key_file),
                               .request_timeout_s = pr->request_timeout_s,
                               .retries = (int)pr->retries};

        if (!c.api_url || !c.key_file || (pr->sandbox_url && !c.sandbox_url) ||
            (pr->domain && !c.domain)) {
                client_clear(&c);
                return -ENOMEM;
        }
        p->client = c;
        p->ttl_s = pr->sandbox_timeout_s;
        return 0;
}

const struct e2b_client *e2b_backend_client(struct backend *b)
{
        return &priv(b)->client;
}

struct e2b_bg *e2b_backend_bg(struct backend *b)
{
        return priv(b)->procs;
}

bool e2b_backend_holds(struct backend *b, const char *handle)
{
        char id[E2B_ID_MAX + 1];
        struct e2b_sandbox sb;

        return handle_id(handle, id, NULL) == 0 && lookup(priv(b), id, &sb, NULL);
}

const char *e2b_backend_name(struct backend *b)
{
        return priv(b)->name;
}

int e2b_backend_target(struct backend *b, const char *handle, int port, struct e2b_target *ret,
                       struct al_error *err)
{
        struct e2b_backend *p = priv(b);
        char id[E2B_ID_MAX + 1];
        struct e2b_sandbox sb;

        if (handle_id(handle, id, err) < 0)
                return -ENOENT;
        if (!lookup(p, id, &sb, NULL))
                return al_err(err, -ENOENT, "provider '%s' holds no sandbox %s", p->name, id);
        e2b_target_for(&p->client, sb.id, sb.envd_token, sb.domain, port, ret);
        return 0;
}

const char *e2b_backend_label(struct backend *b)
{
        return priv(b)->label;
}

struct backend *e2b_backend_new(const struct policy_provider *pr, struct al_error *err)
{
        struct backend *b = calloc(1, sizeof(*b));
        struct e2b_backend *p = calloc(1, sizeof(*p));

        if (!b || !p || !(p->name = strdup(pr->name))) {
                free(b);
                if (p)
                        free(p->name);
                free(p);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&p->lock, NULL);
        p->procs = e2b_bg_new();
        if (!p->procs) {
                pthread_mutex_destroy(&p->lock);
                free(p->name);
                free(p);
                free(b);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        snprintf(p->label, sizeof(p->label), "e2b:%s", pr->name);
        b->ops = &e2b_ops;
        b->priv = p;
        if (configure(b, pr) < 0) {
                e2b_free(b);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        return b;
}
