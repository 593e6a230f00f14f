/* Warm pools: ready sandboxes kept per runtime (per sandbox spec), so that a new session's
 * first exec and a one-off exec claim one instead of waiting for the engine to make one. A
 * thread refills the pool in the background; a sandbox is handed out at most once; pooled
 * sandboxes that die are noticed and replaced; a reload that changes what the sandboxes would
 * be made from drains the stale ones; every pooled sandbox is removed at shutdown.
 *
 * A pooled sandbox carries no agent, session or workspace: only execs whose sandbox spec
 * matches the pool's (same image, limits, users, seccomp profile, no network, no workspace)
 * claim one. Anything else is made as before. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "airlock/backend.h"

struct pool;

/* What the pool should hold: size ready sandboxes made from spec (copied). */
struct pool_target {
        const char *runtime; /* for listings */
        struct sandbox_spec spec;
        int size;
};

/* Watches pooled sandboxes every check_ms (0: 5000) and refills; backend borrowed. The thread
 * starts with pool_start. Caller frees with pool_free (which removes every pooled sandbox). */
struct pool *pool_new(struct backend *backend, int64_t check_ms);
int pool_start(struct pool *p, struct al_error *err);
/* Replace the targets (start-up and reload): members made from a spec no target has any more
 * are removed; the refill thread makes what is missing. */
int pool_configure(struct pool *p, const struct pool_target *targets, size_t n,
                   struct al_error *err);
/* A ready sandbox made from a spec equal to spec, taken out of the pool (the caller owns
 * the handle and the sandbox from now on), or NULL when there is none. Wakes the refill. */
char *pool_claim(struct pool *p, const struct sandbox_spec *spec);
/* Hand back a sandbox to be removed in the background (a one-off's, after its exec): the
 * caller answers without waiting for the engine. pool_free removes what is still waiting. */
void pool_discard(struct pool *p, char *handle);
/* Whether a sandbox made from spec could come from a pool (ignoring whether one is ready). */
bool pool_spec_poolable(const struct sandbox_spec *spec);
/* How many more sandboxes may exist now (the caps, pooled ones included); the pool makes one
 * only while it is > 0. Unset: no limit. */
void pool_set_room(struct pool *p, int (*room)(void *ctx), void *ctx);
/* Ready sandboxes held now (they count against the sandbox caps). */
int pool_count(struct pool *p);
/* Per target: runtime, size, ready, claimed, made, died (a JSON array, new reference). */
json_t *pool_status(struct pool *p);
/* Remove every pooled sandbox and stop the thread; NULL is a no-op. */
void pool_free(struct pool *p);

/* Counters since start, for metrics. */
struct pool_counts {
        long long claimed, missed, made, died, drained, failed;
};
void pool_counts(struct pool *p, struct pool_counts *ret);
