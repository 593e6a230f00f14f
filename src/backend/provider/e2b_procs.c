/* Background processes of E2B sandboxes: each is envd's process stream (Start) held by a
 * thread of its own until the process ends; proc_start returns once the remote process exists
 * (its start event). Its record keeps its output (capped) and outcome for proc_list; a kill is
 * SendSignal SIGKILL to it. At most BACKEND_PROCS_MAX are remembered per sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/provider/e2b_http.h"
#include "backend/provider/e2b_proto.h"
#include "backend/provider/provider_private.h"

/* How long proc_start waits for the remote process to exist. */
#define START_WAIT_MS 30000

struct eproc {
        struct backend *b;
        char *handle, *command;
        char **argv, **env;
        char *workdir;
        long long pid;
        int64_t started_ms;
        bool running, killed, placed, failed;
        char fail_msg[256];
        struct exec_result res; /* output and outcome, under the procs' lock */
        struct proc_hooks hooks;
        int stop_fd[2]; /* a pipe: written to end the process (daemon stopping) */
        pthread_t thread;
        struct eproc *next;
};

struct e2b_bg {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct eproc *list;
};

struct e2b_bg *e2b_bg_new(void)
{
        struct e2b_bg *ps = calloc(1, sizeof(*ps));

        if (!ps)
                return NULL;
        pthread_mutex_init(&ps->lock, NULL);
        pthread_cond_init(&ps->changed, NULL);
        return ps;
}

static void eproc_free(struct eproc *e)
{
        free(e->handle);
        free(e->command);
        util_strv_free(e->argv);
        util_strv_free(e->env);
        free(e->workdir);
        exec_result_clear(&e->res);
        if (e->stop_fd[0] > 0)
                close(e->stop_fd[0]);
        if (e->stop_fd[1] > 0)
                close(e->stop_fd[1]);
        free(e);
}

void e2b_bg_free(struct e2b_bg *ps)
{
        if (!ps)
                return;
        /* Every thread is told to end its process, then waited for. */
        for (struct eproc *e = ps->list; e; e = e->next)
                if (e->stop_fd[1] > 0 && write(e->stop_fd[1], "x", 1) < 0)
                        continue;
        while (ps->list) {
                struct eproc *e = ps->list;

                ps->list = e->next;
                pthread_join(e->thread, NULL);
                eproc_free(e);
        }
        pthread_cond_destroy(&ps->changed);
        pthread_mutex_destroy(&ps->lock);
        free(ps);
}

static struct e2b_bg *procs_of(struct eproc *e)
{
        return e2b_backend_bg(e->b);
}

static void on_pid(void *arg, uint32_t pid)
{
        struct eproc *e = arg;
        struct e2b_bg *ps = procs_of(e);

        pthread_mutex_lock(&ps->lock);
        e->pid = pid;
        e->placed = true;
        pthread_cond_broadcast(&ps->changed);
        pthread_mutex_unlock(&ps->lock);
}

static int on_output(void *arg, enum exec_stream s, const char *data, size_t len)
{
        struct eproc *e = arg;
        struct e2b_bg *ps = procs_of(e);

        pthread_mutex_lock(&ps->lock);
        buf_append(s == EXEC_STDOUT ? &e->res.out : &e->res.err, data, len);
        pthread_mutex_unlock(&ps->lock);
        return 0;
}

static void *proc_main(void *arg)
{
        struct eproc *e = arg;
        struct e2b_bg *ps = procs_of(e);
        struct exec_spec x = {.argv = e->argv, .env = e->env, .workdir = e->workdir};
        /* Ended by a kill, the sandbox's end, or the daemon stopping (either fd). */
        struct exec_sink sink = {.output = on_output,
                                 .ctx = e,
                                 .watch_fd = e->hooks.cancel_fd > 0 ? e->hooks.cancel_fd : -1,
                                 .cancel_fd = e->stop_fd[0]};
        struct exec_result res;
        struct al_error err = {0};
        int r;

        /* Output goes to the record (under the lock); res keeps the outcome only. */
        exec_result_init(&res, 0);
        r = e2b_backend_run(e->b, e->handle, &x, &sink, &res, on_pid, e, &err);
        pthread_mutex_lock(&ps->lock);
        e->running = false;
        if (r < 0 && !e->placed) {
                e->failed = true;
                snprintf(e->fail_msg, sizeof(e->fail_msg), "%.250s", err.msg);
        }
        e->res.exit_code = r < 0 ? -1 : res.exit_code;
        e->res.signal = r < 0 ? 0 : res.signal;
        e->res.duration_ms = res.duration_ms;
        e->placed = true;
        pthread_cond_broadcast(&ps->changed);
        pthread_mutex_unlock(&ps->lock);
        exec_result_clear(&res);
        if (!e->failed && e->hooks.done) {
                /* Outputs are read under the lock by listings; done sees a stable copy. */
                pthread_mutex_lock(&ps->lock);
                e->hooks.done(e->hooks.ctx, &e->res);
                pthread_mutex_unlock(&ps->lock);
        }
        return NULL;
}

static char **strv_dup(char *const *v)
{
        size_t n = util_strv_len(v);
        char **c = calloc(n + 1, sizeof(*c));

        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(v[i]))) {
                        util_strv_free(c);
                        return NULL;
                }
        return c;
}

/* Forget the oldest ended processes of handle past the cap (under the lock); the ones to free
 * are handed back, joined by the caller outside the lock. */
static struct eproc *trim_locked(struct e2b_bg *ps, const char *handle)
{
        struct eproc *gone = NULL;
        size_t n = 0;

        for (struct eproc *e = ps->list; e; e = e->next)
                n += strcmp(e->handle, handle) == 0;
        for (struct eproc **pp = &ps->list; *pp && n > BACKEND_PROCS_MAX;) {
                struct eproc *e = *pp;

                if (strcmp(e->handle, handle) == 0 && !e->running) {
                        *pp = e->next;
                        e->next = gone;
                        gone = e;
                        n--;
                } else {
                        pp = &e->next;
                }
        }
        return gone;
}

int e2b_proc_start(struct backend *b, const char *handle, const struct exec_spec *x,
                   const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err)
{
        struct e2b_bg *ps = e2b_backend_bg(b);
        struct eproc *e = calloc(1, sizeof(*e)), *gone;
        struct timespec until;
        size_t cmd_len = 0;

        if (!e)
                return al_err(err, -ENOMEM, "out of memory");
        if (!e2b_backend_holds(b, handle)) {
                free(e);
                return al_err(err, -ENOENT, "no such sandbox");
        }
        e->b = b;
        e->hooks = *hooks;
        e->running = true;
        e->started_ms = util_wall_ms();
        for (size_t i = 0; x->argv[i]; i++)
                cmd_len += strlen(x->argv[i]) + 1;
        e->handle = strdup(handle);
        e->argv = strv_dup(x->argv);
        e->env = x->env ? strv_dup(x->env) : NULL;
        e->workdir = x->workdir ? strdup(x->workdir) : NULL;
        e->command = calloc(1, cmd_len + 1);
        exec_result_init(&e->res, hooks->output_cap ? hooks->output_cap : 65536);
        if (!e->handle || !e->argv || (x->env && !e->env) || (x->workdir && !e->workdir) ||
            !e->command || pipe2(e->stop_fd, O_CLOEXEC) < 0) {
                eproc_free(e);
                return al_err(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; x->argv[i]; i++) {
                strcat(e->command, i ? " " : "");
                strcat(e->command, x->argv[i]);
        }
        pthread_mutex_lock(&ps->lock);
        if (pthread_create(&e->thread, NULL, proc_main, e) != 0) {
                pthread_mutex_unlock(&ps->lock);
                eproc_free(e);
                return al_err(err, -EAGAIN, "cannot start a thread");
        }
        e->next = ps->list;
        ps->list = e;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += START_WAIT_MS / 1000;
        while (!e->placed)
                if (pthread_cond_timedwait(&ps->changed, &ps->lock, &until) == ETIMEDOUT)
                        break;
        if (!e->placed && write(e->stop_fd[1], "x", 1) < 0)
                e->failed = true;
        while (!e->placed)
                pthread_cond_wait(&ps->changed, &ps->lock);
        if (e->failed) {
                int code = strstr(e->fail_msg, "holds no sandbox") ? -ENOENT : -AL_E_PROVIDER;

                al_err(err, code, "%s", e->fail_msg[0] ? e->fail_msg : "the process did not start");
                pthread_mutex_unlock(&ps->lock);
                return code;
        }
        *ret_pid = e->pid;
        gone = trim_locked(ps, handle);
        pthread_mutex_unlock(&ps->lock);
        while (gone) {
                struct eproc *n = gone->next;

                pthread_join(gone->thread, NULL);
                eproc_free(gone);
                gone = n;
        }
        return 0;
}

static json_t *proc_json(const struct eproc *p, bool with_output)
{
        return backend_proc_json(p->pid, p->command, p->started_ms,
                                 p->running  ? "running"
                                 : p->killed ? "killed"
                                             : "exited",
                                 &p->res, with_output);
}

json_t *e2b_proc_list(struct backend *b, const char *handle, long long pid, struct al_error *err)
{
        struct e2b_bg *ps = e2b_backend_bg(b);
        json_t *out = NULL;

        if (!e2b_backend_holds(b, handle)) {
                al_err(err, -ENOENT, "no such sandbox");
                return NULL;
        }
        pthread_mutex_lock(&ps->lock);
        if (pid < 0)
                out = json_array();
        for (struct eproc *p = ps->list; p; p = p->next) {
                if (strcmp(p->handle, handle) != 0 || p->failed)
                        continue;
                if (pid < 0)
                        json_array_append_new(out, proc_json(p, false));
                else if (p->pid == pid && !out)
                        out = proc_json(p, true);
        }
        pthread_mutex_unlock(&ps->lock);
        if (!out)
                al_err(err, -ENOENT, "no background process %lld", pid);
        return out;
}

int e2b_proc_kill(struct backend *b, const char *handle, long long pid, struct al_error *err)
{
        struct e2b_bg *ps = e2b_backend_bg(b);
        struct e2b_target t;
        struct e2b_answer a;
        _cleanup_free_ char *body = NULL;
        bool found = false, running = false;
        int r;

        pthread_mutex_lock(&ps->lock);
        for (struct eproc *p = ps->list; p; p = p->next)
                if (strcmp(p->handle, handle) == 0 && p->pid == pid && !p->failed) {
                        found = true;
                        running = p->running;
                        if (running)
                                p->killed = true;
                }
        pthread_mutex_unlock(&ps->lock);
        if (!found)
                return al_err(err, -ENOENT, "no background process %lld", pid);
        if (!running)
                return 0;
        r = e2b_backend_target(b, handle, E2B_ENVD_PORT, &t, err);
        if (r < 0)
                return r;
        body = e2b_json_text(e2b_signal_body((uint32_t)pid, true));
        if (!body)
                return al_err(err, -ENOMEM, "out of memory");
        e2b_answer_init(&a);
        r = e2b_rpc_call(e2b_backend_client(b), &t, "process.Process/SendSignal", body, &a, err);
        if (r < 0)
                r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(b));
        else if (a.status != 200)
                r = al_err(err, -AL_E_PROVIDER, "provider '%s' could not kill process %lld: %s",
                           e2b_backend_name(b), pid, a.message);
        e2b_answer_free(&a);
        return r;
}
