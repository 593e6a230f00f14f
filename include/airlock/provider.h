/* Remote sandbox providers behind the backend interface (docs/providers.md). The router is a
 * backend that holds the local one (Docker or Podman) and one backend per [provider "NAME"]
 * section: a sandbox spec with a provider goes to that provider, a handle "ID@NAME" to the
 * provider NAME, everything else to the local backend. */
#pragma once
#include "airlock/backend.h"
#include "airlock/error.h"
#include "airlock/policy.h"

/* A router over local (taken: the router frees it). NULL with err on ENOMEM. */
struct backend *provider_router_new(struct backend *local, struct al_error *err);
/* Make a backend for each provider of pol the router does not hold yet. A provider already
 * held keeps the settings it was made with until the daemon restarts (its sandboxes were made
 * there); that is logged. Returns 0, or < 0 with err. */
int provider_router_configure(struct backend *router, const struct policy *pol,
                              struct al_error *err);
/* What results show as the backend of a sandbox of provider (NULL: the local backend's
 * name): "e2b:NAME". Valid while the router lives. */
const char *provider_router_label(struct backend *router, const char *provider);
/* Whether a handle names a provider's sandbox. */
bool provider_handle(const char *handle);
