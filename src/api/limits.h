/* Private to api/: the limiter. Per client key ("u:1000" for a uid, "t:..." for a token): a
 * token bucket for the request rate, a counter of requests in progress and one of open
 * connections. Daemon-wide: slots for running execs and a bounded queue of execs waiting for
 * one. Pure bookkeeping behind one mutex, with an injectable clock so that tests need not
 * sleep; the caps are passed on every call, so a reloaded policy applies at once.
 *
 * Memory is bounded: at most LIMITER_KEYS_MAX keys are tracked; a key with nothing in
 * progress and a bucket refilled to the brim is forgotten when room is needed, and when no key
 * can be forgotten a new one is refused like an exhausted one. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "airlock/error.h"

#define LIMITER_KEYS_MAX 4096
#define LIMITER_KEY_MAX  40 /* bytes of a key, NUL included; longer keys are cut */

struct limiter;

/* clock_ms: a monotonic clock in milliseconds; NULL for util_now_ms. Caller frees with
 * limiter_free. NULL when out of memory. */
struct limiter *limiter_new(int64_t (*clock_ms)(void));
/* NULL is a no-op; nothing may be waiting for a slot. */
void limiter_free(struct limiter *l);

/* Take one request from key's bucket, which holds rate_per_min requests and refills at
 * rate_per_min a minute (a whole minute's worth may come at once). rate_per_min 0 means
 * unlimited. 0 when allowed; -AL_E_LIMITED when the bucket is empty, with *ret_retry_s
 * (may be NULL) the whole seconds until it holds a request again (at least 1). */
int limiter_rate_take(struct limiter *l, const char *key, int64_t rate_per_min,
                      int64_t *ret_retry_s);

enum limiter_counter {
        LIMITER_REQUESTS = 0, /* requests in progress */
        LIMITER_CONNECTIONS,  /* connections open */
};

/* Count one more request or connection of key when fewer than max are counted (max 0:
 * unlimited); -AL_E_LIMITED otherwise. Every 0 return needs one limiter_leave. */
int limiter_enter(struct limiter *l, enum limiter_counter which, const char *key, int64_t max);
void limiter_leave(struct limiter *l, enum limiter_counter which, const char *key);
/* How many are counted for key (0 for an unknown key). */
int64_t limiter_count(struct limiter *l, enum limiter_counter which, const char *key);

/* Take one of max_running exec slots, waiting up to timeout_ms for one while fewer than
 * queue_max others wait. 0 with a slot (give it back with limiter_slot_leave);
 * -AL_E_LIMITED with err set when the queue is full or the wait timed out. */
int limiter_slot_enter(struct limiter *l, int64_t max_running, int64_t queue_max,
                       int64_t timeout_ms, struct al_error *err);
void limiter_slot_leave(struct limiter *l);
/* Slots taken and execs waiting, for health and tests. */
void limiter_slot_stats(struct limiter *l, int64_t *ret_running, int64_t *ret_waiting);
/* Keys tracked, for tests. */
int limiter_keys(struct limiter *l);

/* Connection slots. Of max connections, the last `reserved` (at most a quarter of them) serve
 * only GET /v1/health and /v1/version, so that many uids together cannot lock out a monitor;
 * one uid, root and the daemon's own included, holds at most half of the rest and at most
 * per_uid (0: only that half), so that one uid cannot lock out the others. */
enum limits_conn {
        LIMITS_CONN_ADMIT,       /* a general slot */
        LIMITS_CONN_HEALTH_ONLY, /* a reserved slot: health and version only */
        LIMITS_CONN_REFUSE,      /* past the uid's cap, or past max */
};

/* The reserved slots: min(reserved, max / 4). */
int64_t limits_conn_reserve(int64_t max, int64_t reserved);
/* The most one uid may hold: half the general slots (at least 1), and per_uid when > 0. */
int64_t limits_conn_uid_cap(int64_t max, int64_t reserved, int64_t per_uid);
/* Whether a new connection is admitted, with open_total connections open in all and open_uid
 * of its uid (this one not counted). */
enum limits_conn limits_conn_admit(int64_t max, int64_t reserved, int64_t per_uid,
                                   int64_t open_total, int64_t open_uid);
