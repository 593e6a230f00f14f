/* The host backend: execs run directly on the host, without a container, but hardened
 * natively: an unprivileged user, no capabilities, no_new_privs, a seccomp deny-list, rlimits,
 * and, where the host offers them, fresh network, mount and PID namespaces and a cgroup for
 * memory and process limits. Each exec reports the protections that were really in force in
 * exec_result.isolation. See docs/host-backend.md for every setting and its default. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/error.h"
#include "airlock/host_options.h"

/* A new host backend. opt is borrowed (strings are copied). Reads and compiles the seccomp
 * deny-list, resolves the user and probes which namespaces and cgroups the host offers;
 * fails when a REQUIRED protection is missing. Free with backend_free. */
struct backend *host_backend_new(const struct host_options *opt, struct al_error *err);

/* Apply new options (settings reload) atomically: execs already running keep the old ones.
 * On failure the backend keeps its current options. */
int host_backend_reload(struct backend *b, const struct host_options *opt, struct al_error *err);

/* The uid and gid host execs run as (the [host] user), e.g. to give the agent's workspace to
 * that user before a host exec: the backend does not change ownership itself. */
void host_backend_user(struct backend *b, uint32_t *ret_uid, uint32_t *ret_gid);

/* The protections this host offers (static strings, as in exec_result.isolation), for logging
 * and health. Returns how many were stored in ret (at most max). */
size_t host_backend_available(struct backend *b, const char **ret, size_t max);
