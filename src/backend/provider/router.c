/* The provider router (airlock/provider.h): one backend in front of the local one and the
 * providers', choosing by the spec's provider or the handle's "@NAME". */
#include "airlock/provider.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/log.h"
#include "backend/provider/provider_private.h"

struct routed {
        char *name;
        struct backend *b;
        struct routed *next;
};

struct router {
        struct backend *local;
        pthread_mutex_t lock;
        struct routed *providers; /* only ever added to while the daemon runs */
};

static struct router *rt(struct backend *b)
{
        return b->priv;
}

bool provider_handle(const char *handle)
{
        return handle && strchr(handle, '@') != NULL;
}

static struct backend *by_name(struct router *r, const char *name)
{
        struct backend *b = NULL;

        pthread_mutex_lock(&r->lock);
        for (struct routed *p = r->providers; p; p = p->next)
                if (strcmp(p->name, name) == 0)
                        b = p->b;
        pthread_mutex_unlock(&r->lock);
        return b;
}

/* The backend of a handle; NULL (err set) for a provider this daemon does not know. */
static struct backend *of_handle(struct backend *self, const char *handle, struct al_error *err)
{
        const char *at = handle ? strchr(handle, '@') : NULL;
        struct backend *b;

        if (!at)
                return rt(self)->local;
        b = by_name(rt(self), at + 1);
        if (!b)
                al_err(err, -ENOENT, "no provider '%s' in the settings", at + 1);
        return b;
}

static struct backend *of_spec(struct backend *self, const struct sandbox_spec *spec,
                               struct al_error *err)
{
        struct backend *b;

        if (!spec->provider)
                return rt(self)->local;
        b = by_name(rt(self), spec->provider);
        if (!b)
                al_err(err, -EINVAL, "no provider '%s' in the settings", spec->provider);
        return b;
}

static int r_create(struct backend *self, const struct sandbox_spec *spec, char **ret_handle,
                    struct al_error *err)
{
        struct backend *b = of_spec(self, spec, err);

        return b ? b->ops->sandbox_create(b, spec, ret_handle, err) : err->code;
}

static int r_exec(struct backend *self, const char *handle, const struct exec_spec *x,
                  const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        return b ? b->ops->sandbox_exec(b, handle, x, sink, res, err) : err->code;
}

static int unsupported(struct al_error *err, const char *what)
{
        return al_err(err, -EOPNOTSUPP, "%s: not offered by this sandbox's provider", what);
}

static int r_proc_start(struct backend *self, const char *handle, const struct exec_spec *x,
                        const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->proc_start)
                return unsupported(err, "background processes");
        return b->ops->proc_start(b, handle, x, hooks, ret_pid, err);
}

static json_t *r_proc_list(struct backend *self, const char *handle, long long pid,
                           struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (b && !b->ops->proc_list)
                unsupported(err, "background processes");
        return b && b->ops->proc_list ? b->ops->proc_list(b, handle, pid, err) : NULL;
}

static int r_proc_kill(struct backend *self, const char *handle, long long pid,
                       struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->proc_kill)
                return unsupported(err, "background processes");
        return b->ops->proc_kill(b, handle, pid, err);
}

static int r_ctx_connect(struct backend *self, const char *handle, long long pid,
                         const char *sock_name, int *ret_fd, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->ctx_connect)
                return unsupported(err, "contexts");
        return b->ops->ctx_connect(b, handle, pid, sock_name, ret_fd, err);
}

static int r_proc_signal(struct backend *self, const char *handle, long long pid, int sig,
                         struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->proc_signal)
                return unsupported(err, "signals to background processes");
        return b->ops->proc_signal(b, handle, pid, sig, err);
}

static int r_ctx_remote_create(struct backend *self, const char *handle, const char *language,
                               char *ret_id, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->ctx_remote_create)
                return unsupported(err, "provider contexts");
        return b->ops->ctx_remote_create(b, handle, language, ret_id, err);
}

static int r_files_remote(struct backend *self, const char *handle, const char *const *args,
                          const void *in, size_t in_len, struct exec_result *res,
                          struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->files_remote)
                return 1;
        return b->ops->files_remote(b, handle, args, in, in_len, res, err);
}

static int r_ctx_remote_run(struct backend *self, const char *handle, const char *id,
                            const char *code, const struct exec_spec *x,
                            const struct exec_sink *sink, struct exec_result *res,
                            json_t **ret_results, json_t **ret_done, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->ctx_remote_run)
                return unsupported(err, "provider contexts");
        return b->ops->ctx_remote_run(b, handle, id, code, x, sink, res, ret_results, ret_done,
                                      err);
}

static json_t *r_status(struct backend *self)
{
        struct backend *l = rt(self)->local;

        return l->ops->status ? l->ops->status(l) : NULL;
}

/* The tiers are the local engine's: a provider's sandbox is in none of airlock's. */
static int r_tier_supported(struct backend *self, enum isolation_tier t, struct al_error *err)
{
        struct backend *l = rt(self)->local;

        return l->ops->tier_supported(l, t, err);
}

static int r_run_once(struct backend *self, const struct sandbox_spec *spec,
                      const struct exec_spec *x, const struct exec_sink *sink,
                      struct exec_result *res, struct al_error *err)
{
        struct backend *b = of_spec(self, spec, err);

        return b ? b->ops->run_once(b, spec, x, sink, res, err) : err->code;
}

static int r_alive(struct backend *self, const char *handle, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        return b ? b->ops->sandbox_alive(b, handle, err) : 0;
}

static int r_remove(struct backend *self, const char *handle, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        return b ? b->ops->sandbox_remove(b, handle, err) : 0;
}

static int r_adopt(struct backend *self, const char *handle, const struct sandbox_spec *spec,
                   struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return -ENOENT;
        if (!b->ops->sandbox_adopt)
                return al_err(err, -ENOENT, "this backend cannot adopt sandboxes");
        return b->ops->sandbox_adopt(b, handle, spec, err);
}

static int r_suspend(struct backend *self, const char *handle, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->sandbox_suspend)
                return unsupported(err, "suspend");
        return b->ops->sandbox_suspend(b, handle, err);
}

static int r_resume(struct backend *self, const char *handle, struct al_error *err)
{
        struct backend *b = of_handle(self, handle, err);

        if (!b)
                return err->code;
        if (!b->ops->sandbox_resume)
                return unsupported(err, "resume");
        return b->ops->sandbox_resume(b, handle, err);
}

/* Every backend's leftovers; the first failure is returned after all were tried. */
static int r_remove_instance(struct backend *self, const char *instance_id, struct al_error *err)
{
        struct router *r = rt(self);
        struct al_error e2 = {0};
        int ret = r->local->ops->remove_instance(r->local, instance_id, err);

        pthread_mutex_lock(&r->lock);
        for (struct routed *p = r->providers; p; p = p->next) {
                if (p->b->ops->remove_instance(p->b, instance_id, &e2) < 0) {
                        log_warn("%s", e2.msg);
                        if (ret == 0)
                                ret = al_err(err, e2.code, "%s", e2.msg);
                }
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

static void r_free(struct backend *self)
{
        struct router *r = self ? rt(self) : NULL;

        if (!r)
                return;
        while (r->providers) {
                struct routed *p = r->providers;

                r->providers = p->next;
                backend_free(p->b);
                free(p->name);
                free(p);
        }
        backend_free(r->local);
        pthread_mutex_destroy(&r->lock);
        free(r);
        free((struct backend_ops *)self->ops);
        free(self);
}

struct backend *provider_router_new(struct backend *local, struct al_error *err)
{
        struct backend *b = calloc(1, sizeof(*b));
        struct router *r = calloc(1, sizeof(*r));
        struct backend_ops *ops = calloc(1, sizeof(*ops));

        if (!b || !r || !ops) {
                free(b);
                free(r);
                free(ops);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        /* The local backend's name and its optional operations' presence show through. */
        *ops = (struct backend_ops){
            .name = local->ops->name,
            .sandbox_create = r_create,
            .sandbox_exec = r_exec,
            .proc_start = local->ops->proc_start ? r_proc_start : NULL,
            .proc_list = local->ops->proc_list ? r_proc_list : NULL,
            .proc_kill = local->ops->proc_kill ? r_proc_kill : NULL,
            .ctx_connect = local->ops->ctx_connect ? r_ctx_connect : NULL,
            .proc_signal = local->ops->proc_signal ? r_proc_signal : NULL,
            .ctx_remote_create = r_ctx_remote_create,
            .ctx_remote_run = r_ctx_remote_run,
            .files_remote = r_files_remote,
            .status = r_status,
            .tier_supported = local->ops->tier_supported ? r_tier_supported : NULL,
            .run_once = r_run_once,
            .sandbox_alive = r_alive,
            .sandbox_remove = r_remove,
            .sandbox_adopt = r_adopt,
            .sandbox_suspend = r_suspend,
            .sandbox_resume = r_resume,
            .remove_instance = r_remove_instance,
            .free = r_free,
        };
        pthread_mutex_init(&r->lock, NULL);
        r->local = local;
        b->ops = ops;
        b->priv = r;
        return b;
}

int provider_router_configure(struct backend *self, const struct policy *pol, struct al_error *err)
{
        struct router *r = rt(self);

        for (size_t i = 0; i < pol->n_providers; i++) {
                const struct policy_provider *pr = &pol->providers[i];
                struct routed *p;

                if (by_name(r, pr->name)) {
                        log_debug("provider '%s' keeps the settings it started with until a "
                                  "restart",
                                  pr->name);
                        continue;
                }
                p = calloc(1, sizeof(*p));
                if (!p || !(p->name = strdup(pr->name)) || !(p->b = e2b_backend_new(pr, err))) {
                        if (p)
                                free(p->name);
                        free(p);
                        return err->code < 0 ? err->code : al_err(err, -ENOMEM, "out of memory");
                }
                pthread_mutex_lock(&r->lock);
                p->next = r->providers;
                r->providers = p;
                pthread_mutex_unlock(&r->lock);
                log_info("provider '%s' (e2b) at %s", pr->name, pr->api_url);
        }
        return 0;
}

const char *provider_router_label(struct backend *self, const char *provider)
{
        struct backend *b = provider ? by_name(rt(self), provider) : NULL;

        return b ? e2b_backend_label(b) : rt(self)->local->ops->name;
}
