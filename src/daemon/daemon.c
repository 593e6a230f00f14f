/* The daemon core's life: made, started (state, engine, backends, store, recovery), stopped and
 * freed; the registry of execs in flight and the drain; what front ends may read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airlock/provider.h"
#include "airlock/cleanup.h"
#include "airlock/docker_backend.h"
#include "airlock/host_backend.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "daemon_private.h"
#include "airlock/contexts.h"
#include "egress_hook.h"
#include "airlock/pool.h"

#define CANCEL_GRACE_SECONDS 10

struct daemon *daemon_new(const struct daemon_config *cfg, struct policy *pol, struct al_error *err)
{
        struct daemon *d = calloc(1, sizeof(*d));

        if (!d) {
                policy_unref(pol);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        d->cfg = *cfg;
        d->policy = pol;
        d->started_ms = util_wall_ms();
        pthread_rwlock_init(&d->policy_lock, NULL);
        pthread_mutex_init(&d->inflight_lock, NULL);
        pthread_mutex_init(&d->tiers_lock, NULL);
        pthread_cond_init(&d->inflight_done, NULL);
        pthread_mutex_init(&d->reaper_lock, NULL);
        pthread_cond_init(&d->reaper_wake, NULL);
        d->cancel_fd = eventfd(0, EFD_CLOEXEC);
        d->snap_dirfd = -1;
        d->contexts = contexts_registry_new();
        if (!d->contexts) {
                al_err(err, -ENOMEM, "out of memory");
                daemon_free(d);
                return NULL;
        }
        if (d->cancel_fd < 0) {
                al_err_errno(err, -errno, "eventfd");
                daemon_free(d);
                return NULL;
        }
        if (daemon_apply_overrides(d, pol, err) < 0) {
                daemon_free(d);
                return NULL;
        }
        return d;
}

/* The instance id names everything this daemon (with this state directory) creates, so that
 * after a crash the next start finds and removes what the last one left. */
static int load_instance_id(const char *state_dir, char out[33], struct al_error *err)
{
        char path[4096];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/instance-id", state_dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, out, 32);
                if (n == 32) {
                        out[32] = '\0';
                        for (int i = 0; i < 32; i++)
                                if (!strchr("0123456789abcdef", out[i]))
                                        return al_err(err, -EINVAL, "'%s' is corrupt", path);
                        return 0;
                }
                return al_err(err, -EINVAL, "'%s' is corrupt (delete it to start afresh)", path);
        }
        if (errno != ENOENT)
                return al_err_errno(err, -errno, "cannot read '%s'", path);
        util_random_hex(out, 16);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, out, 32) != 32 || fsync(fd) < 0)
                return al_err_errno(err, -errno, "cannot write '%s'", path);
        return 0;
}

/* Removes SESSION sandboxes idle past [sandbox] idle_timeout_s, or suspends them (and AGENT
 * ones) past idle_suspend_s when that is set; deletes snapshots past their retention. */
static void *reaper_main(void *arg)
{
        struct daemon *d = arg;

        pthread_mutex_lock(&d->reaper_lock);
        while (!d->reaper_stop) {
                struct policy *pol = daemon_policy(d);
                int64_t suspend_s = pol->snapshots.idle_suspend_s;
                int64_t retention_s = pol->snapshots.retention_s;
                int64_t idle_s = suspend_s > 0 ? 0 : pol->idle_timeout_s;
                int64_t tick = (idle_s > 0 && idle_s < 20) || (suspend_s > 0 && suspend_s < 20) ||
                                       (retention_s > 0 && retention_s < 20)
                                   ? 1
                                   : 5;
                int64_t ctx_idle_s = pol->context_idle_timeout_s;
                struct timespec until;

                policy_unref(pol);
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += tick;
                pthread_cond_timedwait(&d->reaper_wake, &d->reaper_lock, &until);
                if (d->reaper_stop)
                        continue;
                if (d->containers) {
                        /* Contexts idle too long, or whose sandbox is gone. */
                        pthread_mutex_unlock(&d->reaper_lock);
                        daemon_contexts_reap(d, ctx_idle_s * 1000);
                        if (d->snap_dirfd >= 0)
                                daemon_snapshots_tick(d, suspend_s, retention_s);
                        pthread_mutex_lock(&d->reaper_lock);
                }
                if (d->reaper_stop || idle_s <= 0)
                        continue;
                pthread_mutex_unlock(&d->reaper_lock);
                {
                        int n = scope_reap_idle(d->scopes, idle_s * 1000);

                        if (n > 0)
                                log_info("removed %d session sandbox(es) idle for %llds", n,
                                         (long long)idle_s);
                }
                pthread_mutex_lock(&d->reaper_lock);
        }
        pthread_mutex_unlock(&d->reaper_lock);
        return NULL;
}

void daemon_log_problems(const char *path, const struct policy_problems *pp)
{
        for (size_t i = 0; i < pp->n; i++) {
                if (pp->items[i].line > 0)
                        log_error("%s:%d: %s", path, pp->items[i].line, pp->items[i].msg);
                else
                        log_error("%s: %s", path, pp->items[i].msg);
        }
}

int daemon_attach(struct daemon *d, const struct daemon_parts *parts, struct al_error *err)
{
        struct scope_hooks hooks;

        if (parts->instance_id)
                snprintf(d->instance_id, sizeof(d->instance_id), "%s", parts->instance_id);
        d->engine = parts->engine;
        d->containers = parts->containers;
        d->host = parts->host;
        d->store = parts->store;
        d->workspaces = parts->workspaces;
        d->rules = parts->rules;
        hooks = daemon_scope_hooks(d);
        d->scopes = scope_registry_new(d->containers, &hooks);
        if (!d->scopes)
                return al_err(err, -ENOMEM, "out of memory");
        return 0;
}

static int pool_room(void *arg)
{
        struct daemon *d = arg;

        return scope_room(d->scopes);
}

int daemon_start(struct daemon *d, struct al_error *err)
{
        struct daemon_parts parts = {0};
        struct policy *pol = d->policy; /* no reload can run before the front ends start */
        struct engine_version ver;
        char instance_id[33], path[4096], *slash;
        int r;

        r = util_mkdir_p(pol->state_dir, 0700);
        if (r < 0)
                return al_err(err, r, "cannot create state directory '%s': %s", pol->state_dir,
                              strerror(-r));
        r = load_instance_id(pol->state_dir, instance_id, err);
        if (r < 0)
                return r;
        parts.instance_id = instance_id;
        snprintf(path, sizeof(path), "%s/workspace-images", pol->state_dir);
        /* The constructors return NULL with err set: their code is in err. */
        r = -EINVAL;
        parts.workspaces = workspace_set_new(path, err);
        if (!parts.workspaces)
                goto fail_err;
        parts.engine = engine_new(pol->engine_socket, pol->engine_kind, err);
        if (!parts.engine)
                goto fail_err;
        if (engine_version(parts.engine, &ver, err) < 0)
                log_warn("%s; requests will get 503 until it answers", err->msg);
        else
                log_info("engine %s %s at '%s', API %s", ver.is_podman ? "podman" : "docker",
                         ver.version, pol->engine_socket, ver.used_api);
        d->seccomp_path = util_policy_file(pol->seccomp_profile, "seccomp.json");
        {
                struct policy_problems rp = {0};
                _cleanup_free_ char *rules =
                    util_policy_file(pol->selective_rules, "selective.rules");

                if (!rules || !d->seccomp_path) {
                        r = al_err(err, -ENOMEM, "out of memory");
                        goto fail;
                }
                r = rules_holder_load(rules, &parts.rules, &rp, err);
                if (r < 0) {
                        daemon_log_problems("selective.rules", &rp);
                        policy_problems_free(&rp);
                        r = al_err_wrap(err, r, "cannot load the SELECTIVE rules");
                        goto fail;
                }
        }
        snprintf(path, sizeof(path), "%s/run", pol->state_dir);
        parts.containers = docker_backend_new(parts.engine, d->seccomp_path, path, err);
        if (!parts.containers)
                goto fail_err;
        /* Remote providers sit beside the engine, behind the same interface. */
        {
                struct backend *router = provider_router_new(parts.containers, err);

                if (!router)
                        goto fail_err;
                parts.containers = router;
                r = provider_router_configure(router, pol, err);
                if (r < 0)
                        goto fail;
        }
        {
                struct host_options ho;

                snprintf(d->socket_dir, sizeof(d->socket_dir), "%s", pol->socket_path);
                slash = strrchr(d->socket_dir, '/');
                if (slash && slash != d->socket_dir)
                        *slash = '\0';
                daemon_host_options(d, pol, &ho);
                parts.host = host_backend_new(&ho, err);
                if (!parts.host)
                        log_warn("host backend unavailable (mode off and SELECTIVE's low-risk "
                                 "execs will be refused or sandboxed): %s",
                                 err->msg);
        }
        snprintf(path, sizeof(path), "%s/airlock.db", pol->state_dir);
        r = store_open(path, &parts.store, err);
        if (r < 0)
                goto fail;
        r = daemon_attach(d, &parts, err);
        memset(&parts, 0, sizeof(parts)); /* the daemon owns them now */
        if (r < 0)
                return r;
        daemon_record_policy(d, "startup");
        r = daemon_snapshots_open(d, err);
        if (r < 0)
                return r;
        /* What a previous run of this instance left behind (a crash) is settled first. */
        if (d->host && d->host->ops->remove_instance(d->host, d->instance_id, err) < 0)
                log_warn("cannot clean the host backend's leftovers: %s", err->msg);
        r = daemon_recover(d, err);
        if (r < 0)
                return al_err_wrap(err, r, "recovery failed");
        if (strcmp(d->socket_dir, pol->socket_path) != 0)
                util_mkdir_p(d->socket_dir, 0755);
        /* Warm pools, after recovery: what a previous run pooled was removed as orphans. */
        d->pool = pool_new(d->containers, 0);
        if (!d->pool || pool_start(d->pool, err) < 0) {
                log_warn("warm pools unavailable: %s", d->pool ? err->msg : "out of memory");
                pool_free(d->pool);
                d->pool = NULL;
        } else {
                scope_set_limits(d->scopes, pol->max_sandboxes, pol->max_sandboxes_per_agent);
                pool_set_room(d->pool, pool_room, d);
                daemon_pool_configure(d, pol);
                scope_set_pool(d->scopes, d->pool);
        }
        /* The way out of sandboxes with the network. Without it they have none (fail closed),
         * and their execs' results say so. */
        if (daemon_egress_start(d, err) < 0) {
                log_error("egress proxy unavailable, no sandbox will have a way out: %s", err->msg);
                al_err_clear(err);
        }
        if (pthread_create(&d->reaper, NULL, reaper_main, d) == 0)
                d->reaper_started = true;
        daemon_tiers_start(d);
        return 0;
fail_err:
        if (err->code < 0)
                r = err->code;
fail:
        backend_free(parts.host);
        backend_free(parts.containers);
        engine_free(parts.engine);
        rules_holder_unref(parts.rules);
        workspace_set_free(parts.workspaces);
        return r;
}

void daemon_stop(struct daemon *d)
{
        struct al_error err;
        int r;

        if (!d)
                return;
        daemon_tiers_stop(d);
        if (d->reaper_started) {
                pthread_mutex_lock(&d->reaper_lock);
                d->reaper_stop = true;
                pthread_cond_signal(&d->reaper_wake);
                pthread_mutex_unlock(&d->reaper_lock);
                pthread_join(d->reaper, NULL);
                d->reaper_started = false;
        }
        if (d->pool) {
                scope_set_pool(d->scopes, NULL);
                log_info("removing %d pooled sandbox(es)", pool_count(d->pool));
                pool_free(d->pool);
                d->pool = NULL;
        }
        if (d->scopes) {
                /* SESSION sandboxes end with the daemon; AGENT and SHARED ones are kept for
                 * the next start, which adopts them. */
                r = scope_remove_all(d->scopes, true);
                log_info("removed %d session sandbox(es), kept %d agent/shared one(s)", r,
                         scope_count(d->scopes, -1));
        }
        if (d->containers && d->instance_id[0] &&
            d->containers->ops->remove_instance(d->containers, d->instance_id, &err) < 0)
                log_warn("cannot remove this instance's containers: %s", err.msg);
}

void daemon_free(struct daemon *d)
{
        int r;

        if (!d)
                return;
        /* After the sandboxes: a workspace leaves with nothing mounted from its image. */
        r = workspace_set_free(d->workspaces);
        if (r > 0)
                log_warn("%d workspace(s) still in use at exit: detached lazily", r);
        scope_registry_free(d->scopes);
        /* Backends first: background processes end there, and their records go to the store. */
        backend_free(d->containers);
        backend_free(d->host);
        contexts_registry_free(d->contexts);
        /* Its last records go to the store. */
        daemon_egress_stop(d);
        store_close(d->store);
        rules_holder_unref(d->rules);
        free(d->seccomp_path);
        if (d->cancel_fd >= 0)
                close(d->cancel_fd);
        if (d->snap_dirfd >= 0)
                close(d->snap_dirfd);
        engine_free(d->engine);
        policy_unref(d->policy);
        pthread_rwlock_destroy(&d->policy_lock);
        pthread_mutex_destroy(&d->inflight_lock);
        pthread_mutex_destroy(&d->tiers_lock);
        pthread_cond_destroy(&d->inflight_done);
        pthread_mutex_destroy(&d->reaper_lock);
        pthread_cond_destroy(&d->reaper_wake);
        free(d);
}

/* ---- execs in flight ---- */

bool daemon_inflight_enter(struct daemon *d)
{
        bool ok;

        pthread_mutex_lock(&d->inflight_lock);
        ok = !d->draining;
        if (ok)
                d->inflight++;
        pthread_mutex_unlock(&d->inflight_lock);
        return ok;
}

void daemon_inflight_leave(struct daemon *d)
{
        pthread_mutex_lock(&d->inflight_lock);
        if (--d->inflight == 0)
                pthread_cond_broadcast(&d->inflight_done);
        pthread_mutex_unlock(&d->inflight_lock);
}

/* Wait until no exec is in flight or until deadline; true when none is left. */
static bool wait_inflight(struct daemon *d, int64_t seconds)
{
        struct timespec until;
        bool idle;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += seconds;
        pthread_mutex_lock(&d->inflight_lock);
        while (d->inflight > 0)
                if (pthread_cond_timedwait(&d->inflight_done, &d->inflight_lock, &until) ==
                    ETIMEDOUT)
                        break;
        idle = d->inflight == 0;
        pthread_mutex_unlock(&d->inflight_lock);
        return idle;
}

/* Running execs killed at the deadline end with aborted results, recorded like any other. */
bool daemon_drain(struct daemon *d, int64_t seconds)
{
        uint64_t one = 1;

        pthread_mutex_lock(&d->inflight_lock);
        d->draining = true;
        if (d->inflight > 0)
                log_info("draining: %d exec(s) running; waiting up to %llds", d->inflight,
                         (long long)seconds);
        pthread_mutex_unlock(&d->inflight_lock);
        if (wait_inflight(d, seconds))
                return true;
        log_warn("drain deadline passed: killing the execs still running");
        if (write(d->cancel_fd, &one, sizeof(one)) != sizeof(one))
                log_error("cannot signal running execs: %s", strerror(errno));
        if (wait_inflight(d, CANCEL_GRACE_SECONDS))
                return true;
        log_error("execs still running %ds after being killed; their sandboxes are removed now",
                  CANCEL_GRACE_SECONDS);
        return false;
}

int daemon_cancel_fd(struct daemon *d)
{
        return d->cancel_fd;
}

/* ---- accessors ---- */

const char *daemon_instance_id(struct daemon *d)
{
        return d->instance_id;
}

struct engine *daemon_engine(struct daemon *d)
{
        return d->engine;
}

struct backend *daemon_containers(struct daemon *d)
{
        return d->containers;
}

struct backend *daemon_host(struct daemon *d)
{
        return d->host;
}

/* Whether the containers backend can make tier t at all (a pool of a tier it cannot make
 * would only fail to fill). */
static bool tier_possible(struct daemon *ctx, enum isolation_tier t)
{
        struct backend *b = ctx->containers;

        if (t == ISOLATION_CONTAINER)
                return true;
        return b->ops->tier_supported && b->ops->tier_supported(b, t, NULL) == 0;
}

void daemon_pool_configure(struct daemon *ctx, const struct policy *pol)
{
        struct pool_target t[2 * POLICY_RUNTIMES_MAX];
        struct al_error err = {0};
        bool gvisor_ok = pol->isolation == ISOLATION_GVISOR || tier_possible(ctx, ISOLATION_GVISOR);
        size_t n = 0;

        if (!ctx->pool)
                return;
        /* Mode off runs every exec on the host: no sandbox would ever be claimed. Each tier
         * has pools of its own: the policy's tier the runtime's pool, the gvisor tier (when
         * it is not the policy's) its pool_gvisor, for agents and rules that ask for it. */
        for (size_t i = 0; pol->mode != MODE_OFF && i < 2 * pol->n_runtimes && n < ARRAY_SIZE(t);
             i++) {
                const struct runtime *rt = &pol->runtimes[i / 2];
                enum isolation_tier tier = i % 2 ? ISOLATION_GVISOR : pol->isolation;
                int size = i % 2 ? rt->pool_gvisor : policy_runtime_pool(pol, rt);

                if ((i % 2 && (pol->isolation == ISOLATION_GVISOR || !gvisor_ok)) || size <= 0 ||
                    !rt->image)
                        continue;
                /* Exactly what an exec without overrides, network or workspace asks for. */
                t[n++] = (struct pool_target){
                    .runtime = rt->name,
                    .size = size,
                    .spec = {.image = policy_runtime_image(rt, tier),
                             .isolation = tier,
                             .limits = pol->limits,
                             .instance_id = ctx->instance_id,
                             .keeper_user = pol->keeper_user,
                             .exec_user = pol->exec_user,
                             .seccomp_profile = ctx->seccomp_path,
                             .workspace = WORKSPACE_NONE,
                             .scope = SCOPE_SESSION},
                };
        }
        scope_set_limits(ctx->scopes, pol->max_sandboxes, pol->max_sandboxes_per_agent);
        if (pool_configure(ctx->pool, t, n, &err) < 0)
                log_warn("configuring the warm pools: %s", err.msg);
}

struct pool *daemon_pool(struct daemon *d)
{
        return d->pool;
}

struct scope_registry *daemon_scopes(struct daemon *d)
{
        return d->scopes;
}

struct store *daemon_store(struct daemon *d)
{
        return d->store;
}

struct workspace_set *daemon_workspaces(struct daemon *d)
{
        return d->workspaces;
}

const char *daemon_seccomp_path(struct daemon *d)
{
        return d->seccomp_path;
}

void daemon_gauges(struct daemon *d, struct daemon_gauges *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->started_ms = d->started_ms;
        pthread_rwlock_rdlock(&d->policy_lock);
        ret->policy_loaded_ms = d->policy_loaded_ms;
        ret->reloads = d->reloads;
        ret->reload_failures = d->reload_failures;
        memcpy(ret->last_reload_error, d->last_reload_error, sizeof(ret->last_reload_error));
        pthread_rwlock_unlock(&d->policy_lock);
        pthread_mutex_lock(&d->inflight_lock);
        ret->inflight = d->inflight;
        ret->draining = d->draining;
        pthread_mutex_unlock(&d->inflight_lock);
}
