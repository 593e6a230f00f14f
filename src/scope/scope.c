#include "airlock/scope.h"
#include "airlock/cleanup.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/log.h"
#include "airlock/pool.h"
#include "airlock/util.h"

enum entry_state { ENTRY_CREATING, ENTRY_READY, ENTRY_BROKEN, ENTRY_SUSPENDING };

struct scope_entry {
        char *key;
        char *handle;
        char *agent;
        char *session;
        char *image;
        enum policy_scope scope;
        enum entry_state state;
        int holds;
        int64_t created_ms;   /* wall clock */
        int64_t last_used_ms; /* wall clock */
        char *replaced;       /* made to replace a lost sandbox: why that one was lost */
        int resumed;          /* made from a snapshot: SCOPE_RESUMED or SCOPE_RESUMED_LOST */
        struct scope_entry *next;
};

/* Why the sandbox of a key was lost, kept until a new one is made for the key, so that the
 * next result for that scope can say it runs in a fresh sandbox. */
struct lost_note {
        char *key;
        char *reason;
        struct lost_note *next;
};

#define LOST_NOTES_MAX 256

struct scope_registry {
        struct backend *backend;
        struct scope_hooks hooks;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct scope_entry *entries;
        int64_t max_total, max_per_agent; /* 0: no cap */
        struct lost_note *lost;
        int n_lost;
        struct pool *pool; /* ready sandboxes for new SESSION entries; may be NULL */
};

static void note_free(struct lost_note *n)
{
        free(n->key);
        free(n->reason);
        free(n);
}

/* Remember why key's sandbox was lost (the newest note for a key wins); lock held. */
static void note_lost_locked(struct scope_registry *reg, const char *key, const char *reason)
{
        struct lost_note *n = calloc(1, sizeof(*n)), **pp;

        if (!n || !(n->key = strdup(key)) || !(n->reason = strdup(reason))) {
                if (n)
                        note_free(n);
                return;
        }
        n->next = reg->lost;
        reg->lost = n;
        reg->n_lost++;
        /* Drop older notes of the same key, and the oldest past the cap. */
        for (pp = &n->next; *pp;) {
                if (strcmp((*pp)->key, key) == 0 || reg->n_lost > LOST_NOTES_MAX) {
                        struct lost_note *old = *pp;

                        *pp = old->next;
                        note_free(old);
                        reg->n_lost--;
                } else {
                        pp = &(*pp)->next;
                }
        }
}

/* Take the note of key, if any (caller frees); lock held. */
static char *take_lost_locked(struct scope_registry *reg, const char *key)
{
        for (struct lost_note **pp = &reg->lost; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->key, key) == 0) {
                        struct lost_note *n = *pp;
                        char *reason = TAKE_PTR(n->reason);

                        *pp = n->next;
                        note_free(n);
                        reg->n_lost--;
                        return reason;
                }
        return NULL;
}

int scope_key(char *out, size_t len, enum policy_scope scope, const char *agent,
              const char *session, const char *image)
{
        int n;

        switch (scope) {
        case SCOPE_SESSION:
                if (!session)
                        return -EINVAL;
                n = snprintf(out, len, "session/%s/%s/%s", agent, session, image);
                break;
        case SCOPE_AGENT:
                n = snprintf(out, len, "agent/%s/%s", agent, image);
                break;
        default:
                n = snprintf(out, len, "shared/%s", image);
                break;
        }
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct scope_registry *scope_registry_new(struct backend *backend, const struct scope_hooks *hooks)
{
        struct scope_registry *reg = calloc(1, sizeof(*reg));

        if (!reg)
                return NULL;
        reg->backend = backend;
        if (hooks)
                reg->hooks = *hooks;
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->changed, NULL);
        return reg;
}

static void entry_free(struct scope_entry *e)
{
        if (!e)
                return;
        free(e->key);
        free(e->handle);
        free(e->agent);
        free(e->session);
        free(e->image);
        free(e->replaced);
        free(e);
}

void scope_registry_free(struct scope_registry *reg)
{
        if (!reg)
                return;
        while (reg->entries) {
                struct scope_entry *e = reg->entries;

                reg->entries = e->next;
                entry_free(e);
        }
        while (reg->lost) {
                struct lost_note *n = reg->lost;

                reg->lost = n->next;
                note_free(n);
        }
        pthread_cond_destroy(&reg->changed);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
}

static void info_of(const struct scope_entry *e, struct scope_info *info)
{
        info->key = e->key;
        info->handle = e->handle;
        info->scope = e->scope;
        info->agent = e->agent;
        info->session = e->session;
        info->image = e->image;
        info->created_ms = e->created_ms;
        info->last_used_ms = e->last_used_ms;
}

static struct scope_entry *find(struct scope_registry *reg, const char *key)
{
        for (struct scope_entry *e = reg->entries; e; e = e->next)
                if (strcmp(e->key, key) == 0)
                        return e;
        return NULL;
}

static void unlink_entry(struct scope_registry *reg, struct scope_entry *victim)
{
        for (struct scope_entry **pp = &reg->entries; *pp; pp = &(*pp)->next)
                if (*pp == victim) {
                        *pp = victim->next;
                        return;
                }
}

static struct scope_entry *entry_new(const char *key, enum policy_scope scope, const char *agent,
                                     const char *session, const char *image)
{
        struct scope_entry *e = calloc(1, sizeof(*e));

        if (!e)
                return NULL;
        e->scope = scope;
        e->key = strdup(key);
        e->agent = agent && scope != SCOPE_SHARED ? strdup(agent) : NULL;
        e->session = session && scope == SCOPE_SESSION ? strdup(session) : NULL;
        e->image = strdup(image ? image : "");
        e->created_ms = e->last_used_ms = util_wall_ms();
        if (!e->key || !e->image || (agent && scope != SCOPE_SHARED && !e->agent) ||
            (session && scope == SCOPE_SESSION && !e->session)) {
                entry_free(e);
                return NULL;
        }
        return e;
}

/* Remove an entry already unlinked from the registry (called without the lock). */
static void destroy(struct scope_registry *reg, struct scope_entry *e)
{
        struct scope_info info;
        struct al_error err;

        if (e->handle) {
                if (reg->backend->ops->sandbox_remove(reg->backend, e->handle, &err) < 0)
                        log_warn("removing sandbox %.12s: %s", e->handle, err.msg);
                info_of(e, &info);
                if (reg->hooks.removed)
                        reg->hooks.removed(reg->hooks.ctx, &info);
        }
        entry_free(e);
}

void scope_set_limits(struct scope_registry *reg, int64_t max_total, int64_t max_per_agent)
{
        pthread_mutex_lock(&reg->lock);
        reg->max_total = max_total;
        reg->max_per_agent = max_per_agent;
        pthread_mutex_unlock(&reg->lock);
}

void scope_set_pool(struct scope_registry *reg, struct pool *pool)
{
        pthread_mutex_lock(&reg->lock);
        reg->pool = pool;
        pthread_mutex_unlock(&reg->lock);
}

/* Whether one more sandbox fits the caps, counting those being made and the pooled ones
 * (called locked); from_pool: it is a pooled one changing hands, which adds nothing to the
 * total. Broken ones are on their way out and do not count. */
static int check_caps(struct scope_registry *reg, enum policy_scope scope, const char *agent,
                      bool from_pool, struct al_error *err)
{
        int64_t total = from_pool ? -1 : 0, mine = 0;

        total += pool_count(reg->pool);
        for (struct scope_entry *e = reg->entries; e; e = e->next) {
                if (e->state == ENTRY_BROKEN)
                        continue;
                total++;
                mine += scope != SCOPE_SHARED && agent && e->agent && strcmp(e->agent, agent) == 0;
        }
        if (reg->max_total > 0 && total >= reg->max_total)
                return al_err(err, -AL_E_LIMITED,
                              "sandbox limit reached: %lld live sandboxes ([daemon] "
                              "max_sandboxes)",
                              (long long)total);
        if (reg->max_per_agent > 0 && scope != SCOPE_SHARED && mine >= reg->max_per_agent)
                return al_err(err, -AL_E_LIMITED,
                              "sandbox limit reached: agent '%s' has %lld live sandboxes "
                              "([daemon] max_sandboxes_per_agent); end a session first",
                              agent, (long long)mine);
        return 0;
}

int scope_acquire(struct scope_registry *reg, const char *key, enum policy_scope scope,
                  const struct sandbox_spec *spec, struct scope_entry **ret, struct al_error *err)
{
        struct scope_info info;
        struct scope_entry *e;
        char *handle = NULL;
        int r;

        pthread_mutex_lock(&reg->lock);
        for (;;) {
                e = find(reg, key);
                if (!e || e->state == ENTRY_READY)
                        break;
                /* Someone is creating it, or a broken one is being removed: wait for them. */
                pthread_cond_wait(&reg->changed, &reg->lock);
        }
        if (e) {
                e->holds++;
                e->last_used_ms = util_wall_ms();
                pthread_mutex_unlock(&reg->lock);
                *ret = e;
                return 0;
        }
        /* A new session's sandbox comes ready from the pool when one fits its spec. */
        if (scope == SCOPE_SESSION)
                handle = pool_claim(reg->pool, spec);
        r = check_caps(reg, scope, spec->agent, handle != NULL, err);
        e = r < 0 ? NULL : entry_new(key, scope, spec->agent, spec->session, spec->image);
        if (!e) {
                pthread_mutex_unlock(&reg->lock);
                if (handle)
                        reg->backend->ops->sandbox_remove(reg->backend, handle, NULL);
                free(handle);
                return r < 0 ? r : al_err(err, -ENOMEM, "out of memory");
        }
        e->state = ENTRY_CREATING;
        e->holds = 1;
        e->replaced = take_lost_locked(reg, key);
        e->next = reg->entries;
        reg->entries = e;
        pthread_mutex_unlock(&reg->lock);

        /* Create outside the lock: it takes the engine's time, and other keys must not wait. */
        if (!handle)
                r = reg->backend->ops->sandbox_create(reg->backend, spec, &handle, err);
        /* A suspended sandbox of the key comes back in the new one before anyone uses it. */
        if (r >= 0 && reg->hooks.resume) {
                info_of(e, &info);
                info.handle = handle;
                r = reg->hooks.resume(reg->hooks.ctx, &info, err);
                if (r < 0) {
                        reg->backend->ops->sandbox_remove(reg->backend, handle, NULL);
                        free(TAKE_PTR(handle));
                } else {
                        e->resumed = r;
                }
        }

        pthread_mutex_lock(&reg->lock);
        if (r < 0) {
                /* The next try still replaces the lost sandbox. */
                if (e->replaced)
                        note_lost_locked(reg, key, e->replaced);
                unlink_entry(reg, e);
                entry_free(e);
                e = NULL;
        } else {
                e->handle = handle;
                e->state = ENTRY_READY;
                e->last_used_ms = util_wall_ms();
                info_of(e, &info);
        }
        pthread_cond_broadcast(&reg->changed);
        pthread_mutex_unlock(&reg->lock);
        if (r < 0)
                return r;
        if (reg->hooks.created)
                reg->hooks.created(reg->hooks.ctx, &info);
        *ret = e;
        return 0;
}

const char *scope_entry_handle(const struct scope_entry *e)
{
        return e->handle;
}

int scope_entry_take_resumed(struct scope_registry *reg, struct scope_entry *e)
{
        int resumed;

        pthread_mutex_lock(&reg->lock);
        resumed = e->resumed;
        e->resumed = 0;
        pthread_mutex_unlock(&reg->lock);
        return resumed;
}

char *scope_entry_take_replaced(struct scope_registry *reg, struct scope_entry *e)
{
        char *reason;

        pthread_mutex_lock(&reg->lock);
        reason = TAKE_PTR(e->replaced);
        pthread_mutex_unlock(&reg->lock);
        return reason;
}

void scope_release(struct scope_registry *reg, struct scope_entry *e, const char *lost)
{
        bool remove_now = false;

        pthread_mutex_lock(&reg->lock);
        e->holds--;
        e->last_used_ms = util_wall_ms();
        if (lost) {
                if (e->state != ENTRY_BROKEN)
                        note_lost_locked(reg, e->key, lost);
                e->state = ENTRY_BROKEN;
        }
        if (e->state == ENTRY_BROKEN && e->holds == 0) {
                unlink_entry(reg, e);
                remove_now = true;
        }
        pthread_mutex_unlock(&reg->lock);
        if (!remove_now)
                return;
        destroy(reg, e);
        pthread_mutex_lock(&reg->lock);
        pthread_cond_broadcast(&reg->changed);
        pthread_mutex_unlock(&reg->lock);
}

int scope_adopt(struct scope_registry *reg, const struct scope_info *info, struct al_error *err)
{
        struct scope_entry *e =
            entry_new(info->key, info->scope, info->agent, info->session, info->image);

        if (!e || !(e->handle = strdup(info->handle))) {
                entry_free(e);
                return al_err(err, -ENOMEM, "out of memory");
        }
        e->state = ENTRY_READY;
        e->created_ms = info->created_ms;
        e->last_used_ms = info->last_used_ms;
        pthread_mutex_lock(&reg->lock);
        if (find(reg, info->key)) {
                pthread_mutex_unlock(&reg->lock);
                entry_free(e);
                return al_err(err, -EEXIST, "scope '%s' already has a sandbox", info->key);
        }
        e->next = reg->entries;
        reg->entries = e;
        pthread_mutex_unlock(&reg->lock);
        return 0;
}

/* Take every entry matching pred out of the registry: idle ones into *out for removal, busy
 * ones marked broken so their last release removes them. Returns the number matched. */
static int take_matching(struct scope_registry *reg,
                         bool (*pred)(const struct scope_entry *e, const void *arg),
                         const void *arg, bool include_busy, struct scope_entry **out)
{
        struct scope_entry **pp = &reg->entries;
        int n = 0;

        *out = NULL;
        while (*pp) {
                struct scope_entry *e = *pp;

                if (e->state != ENTRY_READY || !pred(e, arg)) {
                        pp = &e->next;
                        continue;
                }
                if (e->holds > 0) {
                        if (include_busy) {
                                e->state = ENTRY_BROKEN;
                                n++;
                        }
                        pp = &e->next;
                        continue;
                }
                *pp = e->next;
                e->next = *out;
                *out = e;
                n++;
        }
        return n;
}

static int destroy_list(struct scope_registry *reg, struct scope_entry *list)
{
        int n = 0;

        while (list) {
                struct scope_entry *e = list;

                list = e->next;
                destroy(reg, e);
                n++;
        }
        if (n > 0) {
                pthread_mutex_lock(&reg->lock);
                pthread_cond_broadcast(&reg->changed);
                pthread_mutex_unlock(&reg->lock);
        }
        return n;
}

struct session_arg {
        const char *agent, *session;
};

static bool is_session(const struct scope_entry *e, const void *arg)
{
        const struct session_arg *a = arg;

        return e->scope == SCOPE_SESSION && e->agent && e->session &&
               strcmp(e->agent, a->agent) == 0 && strcmp(e->session, a->session) == 0;
}

int scope_end_session(struct scope_registry *reg, const char *agent, const char *session)
{
        struct session_arg a = {agent, session};
        struct scope_entry *list;
        int n;

        pthread_mutex_lock(&reg->lock);
        n = take_matching(reg, is_session, &a, true, &list);
        pthread_mutex_unlock(&reg->lock);
        destroy_list(reg, list);
        return n;
}

struct handle_arg {
        const char *prefix, *agent;
};

static bool is_handle(const struct scope_entry *e, const void *arg)
{
        const struct handle_arg *a = arg;

        return strncmp(e->handle, a->prefix, strlen(a->prefix)) == 0 &&
               (!a->agent || (e->agent && strcmp(e->agent, a->agent) == 0));
}

int scope_remove_handle(struct scope_registry *reg, const char *id_prefix, const char *agent,
                        struct al_error *err)
{
        struct handle_arg a = {id_prefix, agent};
        struct scope_entry *list;
        int n;

        if (strlen(id_prefix) < 12)
                return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
        pthread_mutex_lock(&reg->lock);
        n = take_matching(reg, is_handle, &a, true, &list);
        pthread_mutex_unlock(&reg->lock);
        destroy_list(reg, list);
        if (n == 0)
                return al_err(err, -ENOENT, "no sandbox '%s'", id_prefix);
        return n;
}

struct idle_arg {
        int64_t before_ms;
};

static bool is_idle_session(const struct scope_entry *e, const void *arg)
{
        const struct idle_arg *a = arg;

        return e->scope == SCOPE_SESSION && e->last_used_ms < a->before_ms;
}

int scope_reap_idle(struct scope_registry *reg, int64_t idle_ms)
{
        struct idle_arg a = {util_wall_ms() - idle_ms};
        struct scope_entry *list;

        pthread_mutex_lock(&reg->lock);
        take_matching(reg, is_idle_session, &a, false, &list);
        pthread_mutex_unlock(&reg->lock);
        return destroy_list(reg, list);
}

static bool is_any(const struct scope_entry *e, const void *arg)
{
        const bool *keep_persistent = arg;

        return !*keep_persistent || e->scope == SCOPE_SESSION;
}

int scope_remove_all(struct scope_registry *reg, bool keep_persistent)
{
        struct scope_entry *list;

        pthread_mutex_lock(&reg->lock);
        take_matching(reg, is_any, &keep_persistent, true, &list);
        pthread_mutex_unlock(&reg->lock);
        return destroy_list(reg, list);
}

/* Suspend one entry marked ENTRY_SUSPENDING (held by nobody): save, then remove its sandbox;
 * when save fails the entry is ready again, untouched. Called without the lock. */
static int suspend_entry(struct scope_registry *reg, struct scope_entry *e,
                         const struct scope_saver *saver, struct al_error *err)
{
        struct scope_info info;
        int r;

        info_of(e, &info);
        r = saver->save(saver->ctx, &info, err);
        pthread_mutex_lock(&reg->lock);
        if (r < 0) {
                e->state = ENTRY_READY;
        } else {
                unlink_entry(reg, e);
        }
        pthread_cond_broadcast(&reg->changed);
        pthread_mutex_unlock(&reg->lock);
        if (r < 0)
                return r;
        /* The snapshot is durable: only now does the sandbox go. */
        destroy(reg, e);
        return 0;
}

int scope_suspend(struct scope_registry *reg, const char *id_prefix, const char *agent,
                  const struct scope_saver *saver, struct al_error *err)
{
        struct scope_entry *e, *found = NULL;
        size_t n = strlen(id_prefix);

        if (n < 12)
                return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
        pthread_mutex_lock(&reg->lock);
        for (e = reg->entries; e; e = e->next)
                if (e->handle && strncmp(e->handle, id_prefix, n) == 0 &&
                    (!agent || (e->agent && strcmp(e->agent, agent) == 0))) {
                        found = e;
                        break;
                }
        if (!found || found->state == ENTRY_BROKEN) {
                pthread_mutex_unlock(&reg->lock);
                return al_err(err, -ENOENT, "no sandbox '%s'", id_prefix);
        }
        if (found->state != ENTRY_READY || found->holds > 0) {
                pthread_mutex_unlock(&reg->lock);
                return al_err(err, -EBUSY,
                              "sandbox '%s' is in use (an exec or file operation is running, or "
                              "it is being suspended): try again when it is idle",
                              id_prefix);
        }
        found->state = ENTRY_SUSPENDING;
        pthread_mutex_unlock(&reg->lock);
        return suspend_entry(reg, found, saver, err);
}

int scope_suspend_idle(struct scope_registry *reg, int64_t idle_ms, const struct scope_saver *saver)
{
        int64_t before = util_wall_ms() - idle_ms;
        int n = 0;

        for (;;) {
                struct scope_entry *e, *pick = NULL;
                struct al_error err = {0};

                /* One at a time: each takes the engine's time and the lock is not held. */
                pthread_mutex_lock(&reg->lock);
                for (e = reg->entries; e && !pick; e = e->next)
                        if (e->state == ENTRY_READY && e->holds == 0 && e->scope != SCOPE_SHARED &&
                            e->last_used_ms < before)
                                pick = e;
                if (pick)
                        pick->state = ENTRY_SUSPENDING;
                pthread_mutex_unlock(&reg->lock);
                if (!pick)
                        return n;
                if (suspend_entry(reg, pick, saver, &err) < 0) {
                        /* It stays live; used now, so the next round does not retry at once. */
                        log_warn("idle sandbox %.12s not suspended: %s", pick->handle, err.msg);
                        pthread_mutex_lock(&reg->lock);
                        pick->last_used_ms = util_wall_ms();
                        pthread_mutex_unlock(&reg->lock);
                        continue;
                }
                n++;
        }
}

json_t *scope_list(struct scope_registry *reg, const char *agent)
{
        json_t *a = json_array();

        pthread_mutex_lock(&reg->lock);
        for (struct scope_entry *e = reg->entries; e; e = e->next) {
                if (e->state != ENTRY_READY)
                        continue;
                if (agent && e->scope != SCOPE_SHARED && (!e->agent || strcmp(e->agent, agent)))
                        continue;
                json_array_append_new(
                    a, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:I, s:i}", "id",
                                 e->handle, "state", "live", "backend", reg->backend->ops->name,
                                 "scope", policy_scope_name(e->scope), "agent", e->agent, "session",
                                 e->session, "image", e->image, "created_ms",
                                 (json_int_t)e->created_ms, "last_used_ms",
                                 (json_int_t)e->last_used_ms, "execs_running", e->holds));
        }
        pthread_mutex_unlock(&reg->lock);
        return a;
}

bool scope_has_key(struct scope_registry *reg, const char *key)
{
        bool has;

        pthread_mutex_lock(&reg->lock);
        has = find(reg, key) != NULL;
        pthread_mutex_unlock(&reg->lock);
        return has;
}

int scope_count_agent(struct scope_registry *reg, const char *agent)
{
        int n = 0;

        pthread_mutex_lock(&reg->lock);
        for (struct scope_entry *e = reg->entries; e; e = e->next)
                n += e->state == ENTRY_READY && e->agent && strcmp(e->agent, agent) == 0;
        pthread_mutex_unlock(&reg->lock);
        return n;
}

int scope_count(struct scope_registry *reg, int scope)
{
        int n = 0;

        pthread_mutex_lock(&reg->lock);
        for (struct scope_entry *e = reg->entries; e; e = e->next)
                n += e->state == ENTRY_READY && (scope < 0 || (int)e->scope == scope);
        pthread_mutex_unlock(&reg->lock);
        return n;
}

int scope_room(struct scope_registry *reg)
{
        int64_t total = 0, max;

        pthread_mutex_lock(&reg->lock);
        max = reg->max_total;
        for (struct scope_entry *e = reg->entries; e; e = e->next)
                total += e->state != ENTRY_BROKEN;
        total += pool_count(reg->pool);
        pthread_mutex_unlock(&reg->lock);
        if (max <= 0)
                return INT_MAX;
        return total >= max ? 0 : (int)(max - total);
}
