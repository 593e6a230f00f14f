/* Private to backend/provider/: the provider backends the router holds. */
#pragma once
#include "airlock/backend.h"
#include "airlock/policy.h"

/* An E2B provider backend for [provider] pr (its settings are copied: a reload does not change
 * a provider in use). NULL with err on ENOMEM. */
struct backend *e2b_backend_new(const struct policy_provider *pr, struct al_error *err);
/* "e2b:NAME", valid while the backend lives. */
const char *e2b_backend_label(struct backend *b);
