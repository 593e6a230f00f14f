/* Shared between the policy object (policy.c) and the settings parser (parse.c). */
#pragma once
#include "airlock/policy.h"

/* Append a runtime to the catalog; any of image, run, shell may be NULL (filled in later).
 * Returns the new entry's index, -E2BIG past POLICY_RUNTIMES_MAX, or -ENOMEM. */
int policy_runtime_add(struct policy *p, const char *name, const char *image, const char *run,
                       const char *shell, int line);
/* Index of the runtime named name, or -1. */
int policy_runtime_index(const struct policy *p, const char *name);
/* True when name is one of the built-in runtimes (python, node, bash, sh). */
bool policy_runtime_builtin(const char *name);
