#include "airlock/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"

#define CHECK_MS_DEFAULT 5000
#define BACKOFF_MAX_MS   30000

struct member {
        char *handle;
        char *key;
        struct member *next;
};

/* A target's spec, with its own copies of the strings. */
struct target {
        char *runtime;
        char *key;
        struct sandbox_spec spec;
        char *image, *exec_user, *keeper_user, *seccomp, *instance;
        int size;
        long long claimed, made, died;
};

struct pool {
        struct backend *backend;
        int64_t check_ms;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t thread;
        bool started, stop;
        struct target *targets;
        size_t n_targets;
        struct member *members;
        struct member *discards; /* to remove (key unused) */
        struct pool_counts counts;
        int (*room)(void *ctx);
        void *room_ctx;
};

bool pool_spec_poolable(const struct sandbox_spec *spec)
{
        return !spec->network && spec->workspace == WORKSPACE_NONE && !spec->workspace_dir;
}

/* What makes two sandboxes interchangeable: everything their container is made from but the
 * labels (agent, session, scope). */
static char *spec_key(const struct sandbox_spec *s)
{
        char *k = NULL;

        if (asprintf(&k, "%s|%s|%s|%s|%s|%s|%.4f|%lld|%lld|%lld",
                     policy_isolation_name(s->isolation), s->image ? s->image : "",
                     s->exec_user ? s->exec_user : "", s->keeper_user ? s->keeper_user : "",
                     s->seccomp_profile ? s->seccomp_profile : "",
                     s->instance_id ? s->instance_id : "", s->limits.cpu_cores,
                     (long long)s->limits.memory_mb, (long long)s->limits.disk_mb,
                     (long long)s->limits.max_processes) < 0)
                return NULL;
        return k;
}

static void target_clear(struct target *t)
{
        free(t->runtime);
        free(t->key);
        free(t->image);
        free(t->exec_user);
        free(t->keeper_user);
        free(t->seccomp);
        free(t->instance);
        memset(t, 0, sizeof(*t));
}

static char *dup_or_null(const char *s, bool *oom)
{
        char *d = s ? strdup(s) : NULL;

        if (s && !d)
                *oom = true;
        return d;
}

static int target_set(struct target *t, const struct pool_target *src)
{
        bool oom = false;

        memset(t, 0, sizeof(*t));
        t->runtime = dup_or_null(src->runtime ? src->runtime : "", &oom);
        t->image = dup_or_null(src->spec.image, &oom);
        t->exec_user = dup_or_null(src->spec.exec_user, &oom);
        t->keeper_user = dup_or_null(src->spec.keeper_user, &oom);
        t->seccomp = dup_or_null(src->spec.seccomp_profile, &oom);
        t->instance = dup_or_null(src->spec.instance_id, &oom);
        t->spec = (struct sandbox_spec){.image = t->image,
                                        .limits = src->spec.limits,
                                        .instance_id = t->instance,
                                        .keeper_user = t->keeper_user,
                                        .exec_user = t->exec_user,
                                        .seccomp_profile = t->seccomp,
                                        .workspace = WORKSPACE_NONE,
                                        .scope = SCOPE_SESSION,
                                        .isolation = src->spec.isolation};
        t->key = spec_key(&t->spec);
        t->size = src->size;
        if (oom || !t->key) {
                target_clear(t);
                return -ENOMEM;
        }
        return 0;
}

static void remove_sandbox(struct pool *p, const char *handle)
{
        struct al_error err = {0};

        if (p->backend->ops->sandbox_remove(p->backend, handle, &err) < 0)
                log_warn("removing pooled sandbox %.12s: %s", handle, err.msg);
}

static void member_free(struct member *m)
{
        free(m->handle);
        free(m->key);
        free(m);
}

static int ready_locked(struct pool *p, const char *key)
{
        int n = 0;

        for (struct member *m = p->members; m; m = m->next)
                n += strcmp(m->key, key) == 0;
        return n;
}

static struct target *target_of_locked(struct pool *p, const char *key)
{
        for (size_t i = 0; i < p->n_targets; i++)
                if (strcmp(p->targets[i].key, key) == 0)
                        return &p->targets[i];
        return NULL;
}

/* A target short of sandboxes: its spec and key copied out (the targets may change while the
 * engine makes one). */
static bool next_missing_locked(struct pool *p, struct target *ret)
{
        for (size_t i = 0; i < p->n_targets; i++) {
                struct target *t = &p->targets[i];
                struct pool_target src = {.runtime = t->runtime, .spec = t->spec, .size = t->size};

                if (ready_locked(p, t->key) < t->size)
                        return target_set(ret, &src) == 0;
        }
        return false;
}

static void timed_wait_locked(struct pool *p, int64_t ms)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
}

/* Remove pooled sandboxes the engine no longer runs (and count them as died). */
static void check_alive(struct pool *p)
{
        char *handles[64];
        size_t n = 0;

        pthread_mutex_lock(&p->lock);
        for (struct member *m = p->members; m && n < ARRAY_SIZE(handles); m = m->next)
                handles[n++] = strdup(m->handle);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < n; i++) {
                struct al_error err = {0};
                bool dead =
                    handles[i] && p->backend->ops->sandbox_alive(p->backend, handles[i], &err) == 0;

                if (dead) {
                        struct member **pp, *gone = NULL;

                        pthread_mutex_lock(&p->lock);
                        for (pp = &p->members; *pp; pp = &(*pp)->next)
                                if (strcmp((*pp)->handle, handles[i]) == 0) {
                                        struct target *t = target_of_locked(p, (*pp)->key);

                                        gone = *pp;
                                        *pp = gone->next;
                                        p->counts.died++;
                                        if (t)
                                                t->died++;
                                        break;
                                }
                        pthread_mutex_unlock(&p->lock);
                        if (gone) {
                                log_warn("pooled sandbox %.12s died; replacing it", gone->handle);
                                remove_sandbox(p, gone->handle);
                                member_free(gone);
                        }
                }
                free(handles[i]);
        }
}

/* Make one sandbox for target t and add it to the pool (when still wanted); lock held. */
static int make_one_locked(struct pool *p, struct target *t)
{
        struct al_error err = {0};
        char *handle = NULL;
        int r;

        pthread_mutex_unlock(&p->lock);
        r = p->backend->ops->sandbox_create(p->backend, &t->spec, &handle, &err);
        pthread_mutex_lock(&p->lock);
        if (r < 0) {
                p->counts.failed++;
                log_warn("pool: cannot make a sandbox of '%s': %s", t->runtime, err.msg);
                return r;
        }
        if (!p->stop && target_of_locked(p, t->key)) {
                struct member *m = calloc(1, sizeof(*m));

                if (m && (m->key = strdup(t->key))) {
                        m->handle = TAKE_PTR(handle);
                        m->next = p->members;
                        p->members = m;
                        p->counts.made++;
                        target_of_locked(p, t->key)->made++;
                        return 0;
                }
                free(m);
        }
        /* Shut down or reconfigured meanwhile (or out of memory): not kept. */
        pthread_mutex_unlock(&p->lock);
        remove_sandbox(p, handle);
        free(handle);
        pthread_mutex_lock(&p->lock);
        return 0;
}

/* Whether the caps leave room for one more sandbox (asked without the pool's lock: the room
 * callback takes the scope registry's, which claims hold while taking the pool's). */
static bool has_room(struct pool *p)
{
        int (*room)(void *) = p->room;
        void *ctx = p->room_ctx;
        bool ok;

        if (!room)
                return true;
        pthread_mutex_unlock(&p->lock);
        ok = room(ctx) > 0;
        pthread_mutex_lock(&p->lock);
        return ok;
}

static void *pool_main(void *arg)
{
        struct pool *p = arg;
        int64_t backoff = 0, retry_at = 0, next_check = util_now_ms() + p->check_ms;

        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                int64_t now = util_now_ms(), wait;
                struct target t;

                if (p->discards) {
                        struct member *m = p->discards;

                        p->discards = m->next;
                        pthread_mutex_unlock(&p->lock);
                        remove_sandbox(p, m->handle);
                        member_free(m);
                        pthread_mutex_lock(&p->lock);
                        continue;
                }
                if (now >= next_check) {
                        pthread_mutex_unlock(&p->lock);
                        check_alive(p);
                        pthread_mutex_lock(&p->lock);
                        next_check = util_now_ms() + p->check_ms;
                        continue;
                }
                if (now >= retry_at && has_room(p) && next_missing_locked(p, &t)) {
                        /* A failing engine is asked again after 1 s, 2 s, ... at most 30 s. */
                        if (make_one_locked(p, &t) < 0) {
                                backoff = backoff ? backoff * 2 : 1000;
                                if (backoff > BACKOFF_MAX_MS)
                                        backoff = BACKOFF_MAX_MS;
                                retry_at = util_now_ms() + backoff;
                        } else {
                                backoff = 0;
                        }
                        target_clear(&t);
                        continue;
                }
                wait = next_check - now;
                if (retry_at > now && retry_at - now < wait)
                        wait = retry_at - now;
                timed_wait_locked(p, wait > 0 ? wait : 1);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

struct pool *pool_new(struct backend *backend, int64_t check_ms)
{
        struct pool *p = calloc(1, sizeof(*p));

        if (!p)
                return NULL;
        p->backend = backend;
        p->check_ms = check_ms > 0 ? check_ms : CHECK_MS_DEFAULT;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        return p;
}

int pool_start(struct pool *p, struct al_error *err)
{
        int r = pthread_create(&p->thread, NULL, pool_main, p);

        if (r != 0)
                return al_err(err, -r, "cannot start the pool thread");
        p->started = true;
        return 0;
}

int pool_configure(struct pool *p, const struct pool_target *targets, size_t n,
                   struct al_error *err)
{
        struct target *nt = n ? calloc(n, sizeof(*nt)) : NULL;
        struct member *stale = NULL, **pp;
        struct target *old;
        size_t n_old;

        if (n && !nt)
                return al_err(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (target_set(&nt[i], &targets[i]) < 0) {
                        for (size_t j = 0; j < i; j++)
                                target_clear(&nt[j]);
                        free(nt);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        pthread_mutex_lock(&p->lock);
        old = p->targets;
        n_old = p->n_targets;
        p->targets = nt;
        p->n_targets = n;
        /* Members made from a spec no target has any more, or past their target's size. */
        for (pp = &p->members; *pp;) {
                struct target *t = target_of_locked(p, (*pp)->key);

                if (!t || ready_locked(p, (*pp)->key) > t->size) {
                        struct member *m = *pp;

                        *pp = m->next;
                        m->next = stale;
                        stale = m;
                        p->counts.drained++;
                } else {
                        pp = &(*pp)->next;
                }
        }
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < n_old; i++)
                target_clear(&old[i]);
        free(old);
        while (stale) {
                struct member *m = stale;

                stale = m->next;
                remove_sandbox(p, m->handle);
                member_free(m);
        }
        return 0;
}

char *pool_claim(struct pool *p, const struct sandbox_spec *spec)
{
        _cleanup_free_ char *key = NULL;
        char *handle = NULL;

        if (!p || !pool_spec_poolable(spec))
                return NULL;
        key = spec_key(spec);
        if (!key)
                return NULL;
        pthread_mutex_lock(&p->lock);
        for (struct member **pp = &p->members; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->key, key) == 0) {
                        struct member *m = *pp;
                        struct target *t = target_of_locked(p, key);

                        *pp = m->next;
                        handle = TAKE_PTR(m->handle);
                        member_free(m);
                        if (t)
                                t->claimed++;
                        break;
                }
        if (handle)
                p->counts.claimed++;
        else if (target_of_locked(p, key))
                p->counts.missed++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        return handle;
}

void pool_set_room(struct pool *p, int (*room)(void *ctx), void *ctx)
{
        pthread_mutex_lock(&p->lock);
        p->room = room;
        p->room_ctx = ctx;
        pthread_mutex_unlock(&p->lock);
}

void pool_discard(struct pool *p, char *handle)
{
        struct member *m = calloc(1, sizeof(*m));

        if (!m) {
                /* Out of memory: remove it now rather than lose it. */
                remove_sandbox(p, handle);
                free(handle);
                return;
        }
        m->handle = handle;
        pthread_mutex_lock(&p->lock);
        m->next = p->discards;
        p->discards = m;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
}

int pool_count(struct pool *p)
{
        int n = 0;

        if (!p)
                return 0;
        pthread_mutex_lock(&p->lock);
        for (struct member *m = p->members; m; m = m->next)
                n++;
        pthread_mutex_unlock(&p->lock);
        return n;
}

json_t *pool_status(struct pool *p)
{
        json_t *a = json_array();

        if (!p)
                return a;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n_targets; i++) {
                struct target *t = &p->targets[i];

                json_array_append_new(
                    a, json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I}", "runtime", t->runtime,
                                 "isolation", policy_isolation_name(t->spec.isolation), "image",
                                 t->image ? t->image : "", "size", t->size, "ready",
                                 ready_locked(p, t->key), "claimed", (json_int_t)t->claimed, "made",
                                 (json_int_t)t->made, "died", (json_int_t)t->died));
        }
        pthread_mutex_unlock(&p->lock);
        return a;
}

void pool_counts(struct pool *p, struct pool_counts *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        *ret = p->counts;
        pthread_mutex_unlock(&p->lock);
}

void pool_free(struct pool *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        if (p->started)
                pthread_join(p->thread, NULL);
        while (p->discards) {
                struct member *m = p->discards;

                p->discards = m->next;
                remove_sandbox(p, m->handle);
                member_free(m);
        }
        while (p->members) {
                struct member *m = p->members;

                p->members = m->next;
                remove_sandbox(p, m->handle);
                member_free(m);
        }
        for (size_t i = 0; i < p->n_targets; i++)
                target_clear(&p->targets[i]);
        free(p->targets);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
}
