/* Background processes in container sandboxes: work an exec asks to outlive it ("background":
 * true). Each runs like an exec (the shim, its own cgroup) on a thread of its own that keeps
 * its output (capped like exec output) until it ends; it ends with its sandbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../exec_cgroup.h"
#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "docker_private.h"

struct dproc {
        struct dbackend *d;
        long long pid; /* inside the sandbox */
        char *command;
        char *stdin_data;
        struct exec_spec x; /* stdin only: the rest was used when the exec was made */
        int64_t started_ms; /* wall clock */
        bool running, killed, placed, failed;
        bool listed; /* its starter has returned: it may be pruned once ended */
        struct exec_result res;
        struct dexec e;
        struct proc_hooks hooks;
        pthread_t thread;
        pthread_cond_t cond; /* placed or failed */
        struct al_error err;
        struct dproc *next;
};

static char *command_text(char *const *argv)
{
        struct buf b;

        buf_init(&b, 4096);
        for (size_t i = 0; argv && argv[i]; i++)
                buf_appendf(&b, i ? " %s" : "%s", argv[i]);
        return b.data ? buf_steal(&b, NULL) : strdup("");
}

static void proc_free(struct dproc *p)
{
        if (!p)
                return;
        exec_result_clear(&p->res);
        dexec_clear(&p->e);
        pthread_cond_destroy(&p->cond);
        free(p->command);
        free(p->stdin_data);
        free(p);
}

static int on_placed(void *ctx)
{
        struct dproc *p = ctx;

        pthread_mutex_lock(&p->d->lock);
        p->placed = true;
        p->pid = p->e.nspid;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->d->lock);
        return 0;
}

static void *proc_thread(void *arg)
{
        struct dproc *p = arg;
        struct engine_stream_io io = {.watch_fd = -1, .cancel_fd = p->hooks.cancel_fd};
        struct exec_cgroup *cg;
        int r;

        r = dexec_pump(&p->e, &p->x, &io, &p->err);
        if (r >= 0)
                r = dexec_finish(&p->e, &p->err);
        pthread_mutex_lock(&p->d->lock);
        if (r < 0 && !p->placed)
                p->failed = true;
        if (r < 0 && p->res.exit_code < 0)
                p->res.signal = 9; /* lost with its sandbox, or never ran */
        p->running = false;
        p->res.aborted = p->res.aborted || p->killed;
        cg = TAKE_PTR(p->e.cg);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->d->lock);
        exec_cgroup_kill(cg, 3000);
        exec_cgroup_free(cg);
        if (p->placed && p->hooks.done)
                p->hooks.done(p->hooks.ctx, &p->res);
        return NULL;
}

/* Forget the oldest ended process of s to make room; false when all are running. */
static bool prune_locked(struct dsandbox *s, struct dproc **ret_gone)
{
        struct dproc **pp, **oldest = NULL;

        for (pp = &s->procs; *pp; pp = &(*pp)->next)
                if (!(*pp)->running && (*pp)->listed)
                        oldest = pp;
        if (!oldest)
                return false;
        *ret_gone = *oldest;
        *oldest = (*oldest)->next;
        s->n_procs--;
        return true;
}

int dprocs_start(struct backend *b, const char *handle, const struct exec_spec *x,
                 const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err)
{
        struct dbackend *d = b->priv;
        struct dproc *p = calloc(1, sizeof(*p)), *gone = NULL;
        struct dsandbox *s;
        int r;

        if (!p)
                return al_err(err, -ENOMEM, "out of memory");
        p->d = d;
        pthread_cond_init(&p->cond, NULL);
        exec_result_init(&p->res, hooks->output_cap);
        p->hooks = *hooks;
        p->command = command_text(x->argv);
        if (x->stdin_len > 0) {
                p->stdin_data = malloc(x->stdin_len);
                if (p->stdin_data)
                        memcpy(p->stdin_data, x->stdin_data, x->stdin_len);
        }
        if (!p->command || (x->stdin_len > 0 && !p->stdin_data)) {
                proc_free(p);
                return al_err(err, -ENOMEM, "out of memory");
        }
        p->x.stdin_data = p->stdin_data;
        p->x.stdin_len = x->stdin_len;
        r = dexec_open(d, handle, x, &p->e, err);
        if (r < 0) {
                proc_free(p);
                return r;
        }
        p->e.res = &p->res;
        p->e.out_lock = &d->lock;
        p->e.on_placed = on_placed;
        p->e.placed_ctx = p;
        p->started_ms = util_wall_ms();
        p->running = true;

        pthread_mutex_lock(&d->lock);
        s = dsandbox_find_locked(d, handle);
        if (s && s->n_procs >= BACKEND_PROCS_MAX && !prune_locked(s, &gone))
                s = NULL,
                r = al_err(err, -AL_E_LIMITED, "sandbox %.12s already runs %d background processes",
                           handle, BACKEND_PROCS_MAX);
        else if (!s)
                r = al_err(err, -ENOENT, "sandbox %.12s is gone", handle);
        if (s) {
                p->next = s->procs;
                s->procs = p;
                s->n_procs++;
                r = pthread_create(&p->thread, NULL, proc_thread, p);
                if (r != 0) {
                        s->procs = p->next;
                        s->n_procs--;
                        r = al_err(err, -r, "cannot start a thread");
                        s = NULL;
                }
        }
        if (!s) {
                pthread_mutex_unlock(&d->lock);
                proc_free(p);
                if (gone) {
                        pthread_join(gone->thread, NULL);
                        proc_free(gone);
                }
                return r;
        }
        while (!p->placed && p->running)
                pthread_cond_wait(&p->cond, &d->lock);
        if (!p->placed) {
                /* It never ran: nothing to list. */
                struct dproc **pp;

                s = dsandbox_find_locked(d, handle);
                for (pp = s ? &s->procs : NULL; pp && *pp && *pp != p; pp = &(*pp)->next)
                        ;
                if (pp && *pp) {
                        *pp = p->next;
                        s->n_procs--;
                }
                pthread_mutex_unlock(&d->lock);
                pthread_join(p->thread, NULL);
                r = al_err(err, p->err.code ? p->err.code : -EIO, "%s", p->err.msg);
                proc_free(p);
        } else {
                *ret_pid = p->pid;
                p->listed = true;
                pthread_mutex_unlock(&d->lock);
                r = 0;
        }
        if (gone) {
                pthread_join(gone->thread, NULL);
                proc_free(gone);
        }
        return r;
}

static const char *state_name(const struct dproc *p)
{
        return p->running ? "running" : p->killed ? "killed" : "exited";
}

static json_t *proc_json(const struct dproc *p, bool with_output)
{
        return backend_proc_json(p->pid, p->command, p->started_ms, state_name(p), &p->res,
                                 with_output);
}

json_t *dprocs_list(struct backend *b, const char *handle, long long pid, struct al_error *err)
{
        struct dbackend *d = b->priv;
        struct dsandbox *s;
        json_t *out = NULL;

        pthread_mutex_lock(&d->lock);
        s = dsandbox_find_locked(d, handle);
        if (s && pid < 0) {
                out = json_array();
                for (struct dproc *p = s->procs; p; p = p->next)
                        if (p->placed)
                                json_array_append_new(out, proc_json(p, false));
        } else if (s) {
                for (struct dproc *p = s->procs; p && !out; p = p->next)
                        if (p->placed && p->pid == pid)
                                out = proc_json(p, true);
        }
        pthread_mutex_unlock(&d->lock);
        if (!out && s)
                al_err(err, -ENOENT, "no background process %lld in this sandbox", pid);
        else if (!out)
                al_err(err, -ENOENT, "sandbox %.12s is not known to this backend", handle);
        return out;
}

/* The listed process pid of sandbox handle (and the sandbox, in *ret_s); call with d->lock
 * held. NULL when either is unknown. */
static struct dproc *proc_find_locked(struct dbackend *d, const char *handle, long long pid,
                                      struct dsandbox **ret_s)
{
        struct dsandbox *s = dsandbox_find_locked(d, handle);

        *ret_s = s;
        for (struct dproc *p = s ? s->procs : NULL; p; p = p->next)
                if (p->placed && p->pid == pid)
                        return p;
        return NULL;
}

int dprocs_kill(struct backend *b, const char *handle, long long pid, struct al_error *err)
{
        struct dbackend *d = b->priv;
        struct dsandbox *s;
        struct dproc *p;

        pthread_mutex_lock(&d->lock);
        p = proc_find_locked(d, handle, pid, &s);
        if (p && p->running) {
                p->killed = true;
                dexec_kill(&p->e);
        }
        pthread_mutex_unlock(&d->lock);
        if (!p)
                return al_err(err, -ENOENT, "no background process %lld in this sandbox", pid);
        return 0;
}

int dprocs_ref(struct dbackend *d, const char *handle, long long pid, struct dproc_ref *ret,
               struct al_error *err)
{
        struct dsandbox *s;
        struct dproc *p;
        int r = -ENOENT;

        pthread_mutex_lock(&d->lock);
        p = proc_find_locked(d, handle, pid, &s);
        if (p)
                r = p->running && (p->e.pid > 0 || s->gvisor) ? 0 : -ESRCH;
        if (r == 0) {
                *ret = (struct dproc_ref){.host_pid = p->e.pid,
                                          .pid = pid,
                                          .init_pid = s->init_pid,
                                          .gvisor = s->gvisor,
                                          .run_dir = s->run_dir ? strdup(s->run_dir) : NULL};
        }
        pthread_mutex_unlock(&d->lock);
        if (r == -ESRCH)
                return al_err(err, r, "process %lld has ended", pid);
        if (r < 0)
                return al_err(err, r, "no background process %lld in sandbox %.12s", pid, handle);
        return 0;
}

void dprocs_end_all(struct dbackend *d, struct dsandbox *s)
{
        pthread_mutex_lock(&d->lock);
        for (struct dproc *p = s->procs; p; p = p->next)
                if (p->running) {
                        p->killed = true;
                        dexec_kill(&p->e);
                }
        pthread_mutex_unlock(&d->lock);
        while (s->procs) {
                struct dproc *p = s->procs;

                s->procs = p->next;
                pthread_join(p->thread, NULL);
                proc_free(p);
        }
        s->n_procs = 0;
}
