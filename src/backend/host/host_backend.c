/* The host backend's ops table and state: the configuration in force (host_config.c, swapped
 * on reload), the remembered "sandboxes" (specs under a handle), the spawner pool
 * (host_pool.c); each exec is host_run (host_run.c), its mounts host_plan.c, its child
 * host_launch.c and host_spawner.c, its cgroups host_cgroup.c. */
#include "airlock/host_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/host/host_internal.h"

#define HOST_SANDBOXES_MAX 4096

struct host_sandbox {
        struct host_sandbox *next;
        char handle[32];
        struct sandbox_spec spec; /* strings owned */
};

struct host_state {
        struct backend base;
        struct host_pool pool;
        pthread_mutex_t lock;
        struct host_cfg *cfg;
        struct host_sandbox *sandboxes;
        size_t n_sandboxes;
};

static struct host_cfg *cfg_get(struct host_state *hs)
{
        struct host_cfg *c;

        pthread_mutex_lock(&hs->lock);
        c = host_cfg_ref(hs->cfg);
        pthread_mutex_unlock(&hs->lock);
        return c;
}

static struct host_state *state(struct backend *b)
{
        return (struct host_state *)b->priv;
}

static int op_run_once(struct backend *b, const struct sandbox_spec *spec,
                       const struct exec_spec *x, const struct exec_sink *sink,
                       struct exec_result *res, struct al_error *err)
{
        return host_run(&state(b)->pool, cfg_get(state(b)), spec, x, sink, res, "host", err);
}

static void sandbox_free(struct host_sandbox *s)
{
        if (!s)
                return;
        free((char *)s->spec.image);
        free((char *)s->spec.agent);
        free((char *)s->spec.session);
        free((char *)s->spec.instance_id);
        free((char *)s->spec.workspace_dir);
        free(s);
}

static char *dup_opt(const char *s, bool *fail)
{
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *fail = true;
        return d;
}

/* Nothing lives between execs on the host: a "sandbox" is the spec remembered under a handle,
 * so that sandbox_exec applies the same limits, network and workspace as run_once would. */
static int op_sandbox_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                             struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox *s;
        char hex[17];
        bool fail = false;

        s = calloc(1, sizeof(*s));
        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        s->spec = *spec;
        s->spec.image = dup_opt(spec->image, &fail);
        s->spec.agent = dup_opt(spec->agent, &fail);
        s->spec.session = dup_opt(spec->session, &fail);
        s->spec.instance_id = dup_opt(spec->instance_id, &fail);
        s->spec.workspace_dir = dup_opt(spec->workspace_dir, &fail);
        s->spec.keeper_user = s->spec.exec_user = s->spec.seccomp_profile = NULL;
        if (fail || util_random_hex(hex, 8) < 0) {
                sandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
        }
        snprintf(s->handle, sizeof(s->handle), "host-%s", hex);
        *ret_handle = strdup(s->handle);
        if (!*ret_handle) {
                sandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
        }
        pthread_mutex_lock(&hs->lock);
        if (hs->n_sandboxes >= HOST_SANDBOXES_MAX) {
                pthread_mutex_unlock(&hs->lock);
                free(*ret_handle);
                *ret_handle = NULL;
                sandbox_free(s);
                return al_err(err, -AL_E_LIMITED, "too many host sandboxes (%d)",
                              HOST_SANDBOXES_MAX);
        }
        s->next = hs->sandboxes;
        hs->sandboxes = s;
        hs->n_sandboxes++;
        pthread_mutex_unlock(&hs->lock);
        return 0;
}

/* Copy of the remembered spec with its strings duplicated, so that a concurrent remove
 * cannot free them under the exec. */
static int sandbox_spec_get(struct host_state *hs, const char *handle, struct host_sandbox *ret)
{
        int r = -ENOENT;
        bool fail = false;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox *s = hs->sandboxes; s; s = s->next) {
                if (strcmp(s->handle, handle) != 0)
                        continue;
                *ret = *s;
                ret->spec.image = dup_opt(s->spec.image, &fail);
                ret->spec.agent = dup_opt(s->spec.agent, &fail);
                ret->spec.session = dup_opt(s->spec.session, &fail);
                ret->spec.instance_id = dup_opt(s->spec.instance_id, &fail);
                ret->spec.workspace_dir = dup_opt(s->spec.workspace_dir, &fail);
                r = fail ? -ENOMEM : 0;
                break;
        }
        pthread_mutex_unlock(&hs->lock);
        return r;
}

static int op_sandbox_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                           const struct exec_sink *sink, struct exec_result *res,
                           struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox s;
        int r;

        memset(&s, 0, sizeof(s));
        r = sandbox_spec_get(hs, handle ? handle : "", &s);
        if (r == -ENOENT)
                return al_err(err, -ENOENT, "no host sandbox '%s'", handle ? handle : "");
        if (r < 0) {
                r = al_err(err, r, "out of memory");
        } else if (!x->before_run || (r = x->before_run(x->before_run_ctx, err)) >= 0) {
                r = host_run(&hs->pool, cfg_get(hs), &s.spec, x, sink, res, s.handle, err);
        }
        free((char *)s.spec.image);
        free((char *)s.spec.agent);
        free((char *)s.spec.session);
        free((char *)s.spec.instance_id);
        free((char *)s.spec.workspace_dir);
        return r;
}

static int op_sandbox_alive(struct backend *b, const char *handle, struct al_error *err)
{
        struct host_state *hs = state(b);
        int alive = 0;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox *s = hs->sandboxes; s && handle; s = s->next)
                if (strcmp(s->handle, handle) == 0)
                        alive = 1;
        pthread_mutex_unlock(&hs->lock);
        return alive;
}

static int op_sandbox_remove(struct backend *b, const char *handle, struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_sandbox *found = NULL;

        pthread_mutex_lock(&hs->lock);
        for (struct host_sandbox **pp = &hs->sandboxes; *pp && handle; pp = &(*pp)->next)
                if (strcmp((*pp)->handle, handle) == 0) {
                        found = *pp;
                        *pp = found->next;
                        hs->n_sandboxes--;
                        break;
                }
        pthread_mutex_unlock(&hs->lock);
        sandbox_free(found);
        return 0;
}

static int op_remove_instance(struct backend *b, const char *instance_id, struct al_error *err)
{
        _cleanup_(host_cfg_unrefp) struct host_cfg *c = cfg_get(state(b));
        char prefix[64];
        int r;

        if (!instance_id || !util_name_valid(instance_id, HOST_INSTANCE_MAX))
                return al_err(err, -EINVAL, "bad instance id");
        if (c->cg.mode == HOST_CG_NONE)
                return 0;
        host_pool_clear(&state(b)->pool, instance_id);
        snprintf(prefix, sizeof(prefix), "%s-", instance_id);
        r = host_cg_remove_prefix(&c->cg, prefix, err);
        return r < 0 ? r : 0;
}

static void op_free(struct backend *b)
{
        struct host_state *hs;

        if (!b)
                return;
        hs = state(b);
        host_pool_fini(&hs->pool);
        while (hs->sandboxes) {
                struct host_sandbox *s = hs->sandboxes;

                hs->sandboxes = s->next;
                sandbox_free(s);
        }
        host_cfg_unref(hs->cfg);
        pthread_mutex_destroy(&hs->lock);
        free(hs);
}

static const struct backend_ops host_ops = {
    .name = "host",
    .sandbox_create = op_sandbox_create,
    .sandbox_exec = op_sandbox_exec,
    .run_once = op_run_once,
    .sandbox_alive = op_sandbox_alive,
    .sandbox_remove = op_sandbox_remove,
    .remove_instance = op_remove_instance,
    .free = op_free,
};

struct backend *host_backend_new(const struct host_options *opt, struct al_error *err)
{
        struct host_state *hs;

        hs = calloc(1, sizeof(*hs));
        if (!hs) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        if (host_cfg_new(opt, &hs->cfg, err) < 0) {
                free(hs);
                return NULL;
        }
        pthread_mutex_init(&hs->lock, NULL);
        host_pool_init(&hs->pool);
        hs->base.ops = &host_ops;
        hs->base.priv = hs;
        return &hs->base;
}

int host_backend_reload(struct backend *b, const struct host_options *opt, struct al_error *err)
{
        struct host_state *hs = state(b);
        struct host_cfg *c, *old;
        int r;

        r = host_cfg_new(opt, &c, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&hs->lock);
        old = hs->cfg;
        hs->cfg = c;
        pthread_mutex_unlock(&hs->lock);
        host_cfg_unref(old);
        /* Spawners hold the old settings in their copy of memory: make new ones. */
        host_pool_clear(&hs->pool, NULL);
        return 0;
}

void host_backend_user(struct backend *b, uint32_t *ret_uid, uint32_t *ret_gid)
{
        _cleanup_(host_cfg_unrefp) struct host_cfg *c = cfg_get(state(b));

        *ret_uid = (uint32_t)c->uid;
        *ret_gid = (uint32_t)c->gid;
}

size_t host_backend_available(struct backend *b, const char **ret, size_t max)
{
        _cleanup_(host_cfg_unrefp) struct host_cfg *c = cfg_get(state(b));
        const char *list[24];
        size_t n = 0, k;

        list[n++] = "user";
        if (c->drop_caps)
                list[n++] = "capabilities";
        if (c->nnp)
                list[n++] = "no_new_privs";
        if (c->has_filter)
                list[n++] = "seccomp";
        list[n++] = "rlimits";
        if (c->netns)
                list[n++] = "netns";
        if (c->mountns)
                list[n++] = "mountns";
        if (c->ro_root)
                list[n++] = "readonly_root";
        if (c->private_tmp)
                list[n++] = "tmpfs";
        if (c->pidns)
                list[n++] = "pidns";
        if (c->ipcns)
                list[n++] = "ipcns";
        if (c->mount_proc)
                list[n++] = "proc";
        if (c->minimal_dev)
                list[n++] = "dev";
        if (c->hide_run)
                list[n++] = "run_hidden";
        if (c->cgroup && c->cg.memory && c->cg.pids)
                list[n++] = "cgroup";
        else if (c->cgroup && c->cg.memory)
                list[n++] = "cgroup_memory";
        else if (c->cgroup && c->cg.pids)
                list[n++] = "cgroup_pids";
        if (c->cgroup && c->cg.cpu)
                list[n++] = "cgroup_cpu";
        for (k = 0; k < n && k < max; k++)
                ret[k] = list[k];
        return k;
}
