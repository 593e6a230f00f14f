/* The limiter: token buckets and counters per client key, exec slots with a bounded queue. */
#include "limits.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airlock/util.h"

/* Bucket levels are kept in 1/60000 of a request, so that a refill of rate_per_min requests
 * a minute is rate_per_min units a millisecond: integer arithmetic, no rounding drift. */
#define UNIT_PER_REQUEST 60000
#define MINUTE_MS        60000

struct limiter_key {
        char key[LIMITER_KEY_MAX];
        int64_t level;   /* bucket level in units */
        int64_t last_ms; /* when level was last brought up to date */
        int64_t counts[2];
};

struct limiter {
        int64_t (*clock_ms)(void);
        pthread_mutex_t lock;
        pthread_cond_t slot_free; /* on CLOCK_MONOTONIC */
        struct limiter_key *keys; /* n of LIMITER_KEYS_MAX, unordered */
        int n;
        int64_t running, waiting;
};

struct limiter *limiter_new(int64_t (*clock_ms)(void))
{
        struct limiter *l = calloc(1, sizeof(*l));
        pthread_condattr_t attr;

        if (!l)
                return NULL;
        l->keys = calloc(LIMITER_KEYS_MAX, sizeof(*l->keys));
        if (!l->keys) {
                free(l);
                return NULL;
        }
        l->clock_ms = clock_ms ? clock_ms : util_now_ms;
        pthread_mutex_init(&l->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&l->slot_free, &attr);
        pthread_condattr_destroy(&attr);
        return l;
}

void limiter_free(struct limiter *l)
{
        if (!l)
                return;
        pthread_cond_destroy(&l->slot_free);
        pthread_mutex_destroy(&l->lock);
        free(l->keys);
        free(l);
}

/* A key that holds nothing and whose bucket is full again (a minute refills any bucket). */
static bool forgettable(const struct limiter_key *k, int64_t now)
{
        return k->counts[0] == 0 && k->counts[1] == 0 && now - k->last_ms >= MINUTE_MS;
}

/* The entry for key, made when create (with a full bucket: level -1 until first used); NULL
 * when unknown and not create, or when every slot is taken by a key still in use. */
static struct limiter_key *find(struct limiter *l, const char *key, bool create, int64_t now)
{
        char k[LIMITER_KEY_MAX];
        int victim = -1;

        snprintf(k, sizeof(k), "%s", key);
        for (int i = 0; i < l->n; i++) {
                if (strcmp(l->keys[i].key, k) == 0)
                        return &l->keys[i];
                if (victim < 0 && forgettable(&l->keys[i], now))
                        victim = i;
        }
        if (!create)
                return NULL;
        if (l->n < LIMITER_KEYS_MAX)
                victim = l->n++;
        if (victim < 0)
                return NULL;
        memset(&l->keys[victim], 0, sizeof(l->keys[victim]));
        memcpy(l->keys[victim].key, k, sizeof(k));
        l->keys[victim].level = -1;
        l->keys[victim].last_ms = now;
        return &l->keys[victim];
}

int limiter_rate_take(struct limiter *l, const char *key, int64_t rate_per_min,
                      int64_t *ret_retry_s)
{
        int64_t now, cap, elapsed, missing;
        struct limiter_key *k;
        int r = 0;

        if (rate_per_min <= 0)
                return 0;
        pthread_mutex_lock(&l->lock);
        now = l->clock_ms();
        k = find(l, key, true, now);
        if (!k) {
                pthread_mutex_unlock(&l->lock);
                if (ret_retry_s)
                        *ret_retry_s = MINUTE_MS / 1000;
                return -AL_E_LIMITED;
        }
        cap = rate_per_min * UNIT_PER_REQUEST;
        if (k->level < 0) {
                k->level = cap;
        } else {
                elapsed = now - k->last_ms;
                /* A minute fills any bucket; the cap also keeps the product in range. */
                if (elapsed > MINUTE_MS)
                        elapsed = MINUTE_MS;
                if (elapsed > 0)
                        k->level += elapsed * rate_per_min;
                /* A reload may have lowered the rate: never hold more than the new cap. */
                if (k->level > cap)
                        k->level = cap;
        }
        k->last_ms = now;
        if (k->level >= UNIT_PER_REQUEST) {
                k->level -= UNIT_PER_REQUEST;
        } else {
                missing = UNIT_PER_REQUEST - k->level;
                if (ret_retry_s) {
                        /* Milliseconds until one request's worth, rounded up to seconds. */
                        int64_t ms = (missing + rate_per_min - 1) / rate_per_min;

                        *ret_retry_s = (ms + 999) / 1000;
                        if (*ret_retry_s < 1)
                                *ret_retry_s = 1;
                }
                r = -AL_E_LIMITED;
        }
        pthread_mutex_unlock(&l->lock);
        return r;
}

int limiter_enter(struct limiter *l, enum limiter_counter which, const char *key, int64_t max)
{
        struct limiter_key *k;
        int r = 0;

        pthread_mutex_lock(&l->lock);
        k = find(l, key, true, l->clock_ms());
        if (!k || (max > 0 && k->counts[which] >= max))
                r = -AL_E_LIMITED;
        else
                k->counts[which]++;
        pthread_mutex_unlock(&l->lock);
        return r;
}

void limiter_leave(struct limiter *l, enum limiter_counter which, const char *key)
{
        struct limiter_key *k;
        int64_t now;

        pthread_mutex_lock(&l->lock);
        now = l->clock_ms();
        k = find(l, key, false, now);
        if (k && k->counts[which] > 0) {
                k->counts[which]--;
                /* Counted from now: the bucket's refill is not affected (see rate_take). */
                if (k->level < 0)
                        k->last_ms = now;
        }
        pthread_mutex_unlock(&l->lock);
}

int64_t limiter_count(struct limiter *l, enum limiter_counter which, const char *key)
{
        struct limiter_key *k;
        int64_t n;

        pthread_mutex_lock(&l->lock);
        k = find(l, key, false, l->clock_ms());
        n = k ? k->counts[which] : 0;
        pthread_mutex_unlock(&l->lock);
        return n;
}

int limiter_slot_enter(struct limiter *l, int64_t max_running, int64_t queue_max,
                       int64_t timeout_ms, struct al_error *err)
{
        struct timespec until;
        int rc = 0;

        pthread_mutex_lock(&l->lock);
        if (l->running < max_running) {
                l->running++;
                pthread_mutex_unlock(&l->lock);
                return 0;
        }
        if (l->waiting >= queue_max || timeout_ms <= 0) {
                pthread_mutex_unlock(&l->lock);
                return al_err(err, -AL_E_LIMITED,
                              "airlockd is busy: %lld execs running and %lld waiting (see "
                              "[daemon] max_execs and queue_max)",
                              (long long)max_running, (long long)queue_max);
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        l->waiting++;
        while (l->running >= max_running && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&l->slot_free, &l->lock, &until);
        l->waiting--;
        if (l->running < max_running) {
                l->running++;
                pthread_mutex_unlock(&l->lock);
                return 0;
        }
        pthread_mutex_unlock(&l->lock);
        return al_err(err, -AL_E_LIMITED,
                      "airlockd is busy: no exec slot came free within %llds (see [daemon] "
                      "max_execs and queue_timeout_s)",
                      (long long)(timeout_ms / 1000));
}

void limiter_slot_leave(struct limiter *l)
{
        pthread_mutex_lock(&l->lock);
        if (l->running > 0)
                l->running--;
        pthread_cond_signal(&l->slot_free);
        pthread_mutex_unlock(&l->lock);
}

void limiter_slot_stats(struct limiter *l, int64_t *ret_running, int64_t *ret_waiting)
{
        pthread_mutex_lock(&l->lock);
        if (ret_running)
                *ret_running = l->running;
        if (ret_waiting)
                *ret_waiting = l->waiting;
        pthread_mutex_unlock(&l->lock);
}

int limiter_keys(struct limiter *l)
{
        int n;

        pthread_mutex_lock(&l->lock);
        n = l->n;
        pthread_mutex_unlock(&l->lock);
        return n;
}

int64_t limits_conn_reserve(int64_t max, int64_t reserved)
{
        if (max <= 0 || reserved <= 0)
                return 0;
        return reserved < max / 4 ? reserved : max / 4;
}

int64_t limits_conn_uid_cap(int64_t max, int64_t reserved, int64_t per_uid)
{
        int64_t share = (max - limits_conn_reserve(max, reserved)) / 2;

        if (share < 1)
                share = 1;
        return per_uid > 0 && per_uid < share ? per_uid : share;
}

enum limits_conn limits_conn_admit(int64_t max, int64_t reserved, int64_t per_uid,
                                   int64_t open_total, int64_t open_uid)
{
        if (open_total >= max || open_uid >= limits_conn_uid_cap(max, reserved, per_uid))
                return LIMITS_CONN_REFUSE;
        if (open_total >= max - limits_conn_reserve(max, reserved))
                return LIMITS_CONN_HEALTH_ONLY;
        return LIMITS_CONN_ADMIT;
}
