/* Which sandbox serves which scope. A scope key names one sandbox:
 *   SESSION  session/<agent>/<session>/<image>  one per conversation, removed when it ends
 *   AGENT    agent/<agent>/<image>              one per agent, kept across sessions and restarts
 *   SHARED   shared/<image>                     one for every agent
 * The registry finds or creates the sandbox for a key exactly once however many execs ask at
 * the same time, and removes sandboxes on request, when idle, and at shutdown. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/backend.h"
#include "airlock/error.h"
#include "airlock/policy.h"

#define SCOPE_KEY_MAX 512

struct scope_registry;
struct scope_entry;

/* What the registry tells the rest of the daemon about (to record it). */
struct scope_info {
        const char *key;
        const char *handle;
        enum policy_scope scope;
        const char *agent;   /* NULL for SHARED */
        const char *session; /* NULL unless SESSION */
        const char *image;
        int64_t created_ms; /* wall clock */
        int64_t last_used_ms;
};

/* What resume returns for a new sandbox. */
#define SCOPE_RESUMED      1 /* its key's snapshot was put back in it */
#define SCOPE_RESUMED_LOST 2 /* the key had a snapshot that could not be read: it starts empty */

struct scope_hooks {
        void (*created)(void *ctx, const struct scope_info *info);
        void (*removed)(void *ctx, const struct scope_info *info);
        /* Called when a sandbox was just made for a key (info->handle), before anyone may use
         * it: put back the key's snapshot, if any. 0 (none), SCOPE_RESUMED,
         * SCOPE_RESUMED_LOST, or < 0 with err: the new sandbox is removed and the acquire
         * fails. May be NULL. */
        int (*resume)(void *ctx, const struct scope_info *info, struct al_error *err);
        void *ctx;
};

/* Saves a sandbox about to be suspended (its snapshot made durable); < 0 with err keeps it
 * live. */
struct scope_saver {
        int (*save)(void *ctx, const struct scope_info *info, struct al_error *err);
        void *ctx;
};

/* The key for a scope; NULL session under SESSION means no key (a one-off). Returns < 0 when
 * the result would not fit. */
int scope_key(char *out, size_t len, enum policy_scope scope, const char *agent,
              const char *session, const char *image);

/* The registry makes sandboxes with backend (borrowed). hooks may be NULL. Caller frees. */
struct scope_registry *scope_registry_new(struct backend *backend, const struct scope_hooks *hooks);
/* Frees the bookkeeping only; remove sandboxes first with scope_remove_all. */
void scope_registry_free(struct scope_registry *reg);

struct pool;
/* New SESSION sandboxes are claimed from pool (borrowed; NULL: none) when one fits; pooled
 * sandboxes count against the caps below. */
void scope_set_pool(struct scope_registry *reg, struct pool *pool);

/* Caps on live sandboxes, in all and per agent (SHARED ones count in all only); 0 for none.
 * scope_acquire fails with -AL_E_LIMITED when it would have to make one past either. */
void scope_set_limits(struct scope_registry *reg, int64_t max_total, int64_t max_per_agent);

/* Find or create the sandbox for key (made from spec when it must be created).
 * On success *ret is held (in use) until scope_release. */
int scope_acquire(struct scope_registry *reg, const char *key, enum policy_scope scope,
                  const struct sandbox_spec *spec, struct scope_entry **ret, struct al_error *err);
const char *scope_entry_handle(const struct scope_entry *e);
/* Release a hold. lost (NULL when the sandbox is fine) says why the sandbox is unusable (it
 * vanished, or an exec's processes could not be ended): it is removed, and the next acquire
 * of the key makes a new one that remembers the reason (scope_entry_take_replaced). */
void scope_release(struct scope_registry *reg, struct scope_entry *e, const char *lost);
/* When e was made to replace a lost sandbox, why that one was lost (caller frees); once per
 * entry, so only the first exec in the new sandbox reports it. NULL otherwise. */
char *scope_entry_take_replaced(struct scope_registry *reg, struct scope_entry *e);

/* SCOPE_RESUMED or SCOPE_RESUMED_LOST when e was made from a snapshot, else 0; once per
 * entry, so only the first result in the new sandbox reports it. */
int scope_entry_take_resumed(struct scope_registry *reg, struct scope_entry *e);

/* Suspend the sandbox whose handle starts with id_prefix (>= 12 chars; agent, when not NULL,
 * must own it): acquires of its key wait meanwhile; saver saves it, then it is removed; on
 * failure it stays live. -ENOENT unknown, -EBUSY in use (held), else saver's error. */
int scope_suspend(struct scope_registry *reg, const char *id_prefix, const char *agent,
                  const struct scope_saver *saver, struct al_error *err);
/* Suspend every SESSION and AGENT sandbox not used for idle_ms (none in use); one that cannot
 * be saved stays live (logged). Returns how many were suspended. */
int scope_suspend_idle(struct scope_registry *reg, int64_t idle_ms,
                       const struct scope_saver *saver);

/* Put a live sandbox found at start-up back under its key (ready, not held). */
int scope_adopt(struct scope_registry *reg, const struct scope_info *info, struct al_error *err);

/* Remove the sandboxes of one session of one agent; in-use ones go when their execs end.
 * Returns how many were found. */
int scope_end_session(struct scope_registry *reg, const char *agent, const char *session);
/* Remove the sandbox whose handle starts with id_prefix (>= 12 chars); agent, when not NULL,
 * must own it. -ENOENT when none matches. */
int scope_remove_handle(struct scope_registry *reg, const char *id_prefix, const char *agent,
                        struct al_error *err);
/* Remove SESSION sandboxes not used for idle_ms (none in use). Returns how many. */
int scope_reap_idle(struct scope_registry *reg, int64_t idle_ms);
/* Remove every sandbox, or only SESSION ones when keep_persistent (AGENT and SHARED stay for the
 * next start). Returns how many were removed. */
int scope_remove_all(struct scope_registry *reg, bool keep_persistent);

/* Live sandboxes as a JSON array; only agent's (plus SHARED) when agent is not NULL. */
json_t *scope_list(struct scope_registry *reg, const char *agent);
/* Whether key has an entry (live, being made, suspended or removed right now). */
bool scope_has_key(struct scope_registry *reg, const char *key);
/* Number of live sandboxes of one agent (SHARED ones not counted). */
int scope_count_agent(struct scope_registry *reg, const char *agent);
/* How many more sandboxes [daemon] max_sandboxes allows now, pooled ones counted (INT_MAX
 * without a cap). */
int scope_room(struct scope_registry *reg);
/* Number of live sandboxes, in all (scope < 0) or of one scope. */
int scope_count(struct scope_registry *reg, int scope);
