/* Which sandbox serves which scope key. Finds or creates the sandbox for a key exactly once,
 * however many execs ask at the same time, and removes what it made on request or shutdown. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/error.h"

struct scope_registry;
struct scope_entry;

/* The registry makes sandboxes with backend (borrowed). Caller frees. */
struct scope_registry *scope_registry_new(struct backend *backend);
/* Frees the bookkeeping only; call scope_remove_all first to remove the sandboxes. */
void scope_registry_free(struct scope_registry *reg);

/* Find or create the sandbox for key, made from spec when it has to be created.
 * On success *ret is held (in use) until scope_release. */
int scope_acquire(struct scope_registry *reg, const char *key, const struct sandbox_spec *spec,
                  struct scope_entry **ret, struct al_error *err);
/* The backend handle of a held entry (valid while held). */
const char *scope_entry_handle(const struct scope_entry *e);
/* Release a hold; when broken is true the sandbox is removed and the next acquire makes a new
 * one (used when the sandbox died or could not be cleaned up after a timeout). */
void scope_release(struct scope_registry *reg, struct scope_entry *e, bool broken);

/* Remove every sandbox the registry made (waits for none: callers stop execs first).
 * Returns the number removed. */
int scope_remove_all(struct scope_registry *reg);
/* Number of live sandboxes. */
int scope_count(struct scope_registry *reg);
