#include "airlock/scope.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/log.h"
#include "airlock/util.h"

enum entry_state { ENTRY_CREATING, ENTRY_READY, ENTRY_BROKEN };

struct scope_entry {
        char *key;
        char *handle;
        enum entry_state state;
        int holds;
        int64_t last_used_ms;
        struct scope_entry *next;
};

struct scope_registry {
        struct backend *backend;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        struct scope_entry *entries;
};

struct scope_registry *scope_registry_new(struct backend *backend)
{
        struct scope_registry *reg = calloc(1, sizeof(*reg));

        if (!reg)
                return NULL;
        reg->backend = backend;
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
        pthread_cond_destroy(&reg->changed);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
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

int scope_acquire(struct scope_registry *reg, const char *key, const struct sandbox_spec *spec,
                  struct scope_entry **ret, struct al_error *err)
{
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
                e->last_used_ms = util_now_ms();
                pthread_mutex_unlock(&reg->lock);
                *ret = e;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e || !(e->key = strdup(key))) {
                free(e);
                pthread_mutex_unlock(&reg->lock);
                return al_err(err, -ENOMEM, "out of memory");
        }
        e->state = ENTRY_CREATING;
        e->holds = 1;
        e->next = reg->entries;
        reg->entries = e;
        pthread_mutex_unlock(&reg->lock);

        /* Create outside the lock: it takes the engine's time, and other keys must not wait. */
        r = reg->backend->ops->sandbox_create(reg->backend, spec, &handle, err);

        pthread_mutex_lock(&reg->lock);
        if (r < 0) {
                unlink_entry(reg, e);
                entry_free(e);
                e = NULL;
        } else {
                e->handle = handle;
                e->state = ENTRY_READY;
                e->last_used_ms = util_now_ms();
        }
        pthread_cond_broadcast(&reg->changed);
        pthread_mutex_unlock(&reg->lock);
        if (r < 0)
                return r;
        *ret = e;
        return 0;
}

const char *scope_entry_handle(const struct scope_entry *e)
{
        return e->handle;
}

void scope_release(struct scope_registry *reg, struct scope_entry *e, bool broken)
{
        struct al_error err;
        bool remove_now = false;

        pthread_mutex_lock(&reg->lock);
        e->holds--;
        e->last_used_ms = util_now_ms();
        if (broken)
                e->state = ENTRY_BROKEN;
        if (e->state == ENTRY_BROKEN && e->holds == 0) {
                unlink_entry(reg, e);
                remove_now = true;
        }
        pthread_mutex_unlock(&reg->lock);
        if (!remove_now)
                return;
        if (reg->backend->ops->sandbox_remove(reg->backend, e->handle, &err) < 0)
                log_warn("removing broken sandbox %.12s: %s", e->handle, err.msg);
        entry_free(e);
        pthread_mutex_lock(&reg->lock);
        pthread_cond_broadcast(&reg->changed);
        pthread_mutex_unlock(&reg->lock);
}

int scope_remove_all(struct scope_registry *reg)
{
        struct scope_entry *list;
        struct al_error err;
        int n = 0;

        pthread_mutex_lock(&reg->lock);
        list = reg->entries;
        reg->entries = NULL;
        pthread_mutex_unlock(&reg->lock);
        while (list) {
                struct scope_entry *e = list;

                list = e->next;
                if (e->handle) {
                        if (reg->backend->ops->sandbox_remove(reg->backend, e->handle, &err) < 0)
                                log_warn("removing sandbox %.12s: %s", e->handle, err.msg);
                        else
                                n++;
                }
                entry_free(e);
        }
        return n;
}

int scope_count(struct scope_registry *reg)
{
        int n = 0;

        pthread_mutex_lock(&reg->lock);
        for (struct scope_entry *e = reg->entries; e; e = e->next)
                n += e->state == ENTRY_READY;
        pthread_mutex_unlock(&reg->lock);
        return n;
}
