/* Shared between the policy object (policy.c) and the settings parser (parse.c). */
#pragma once
#include <jansson.h>

#include "airlock/host_options.h"
#include "airlock/policy.h"

/* Append a runtime to the catalog; any of image, run, shell may be NULL (filled in later).
 * Returns the new entry's index, -E2BIG past POLICY_RUNTIMES_MAX, or -ENOMEM. */
int policy_runtime_add(struct policy *p, const char *name, const char *image, const char *run,
                       const char *shell, int line);
/* Index of the runtime named name, or -1. */
int policy_runtime_index(const struct policy *p, const char *name);
/* True when name is one of the built-in runtimes (python, node, bash, sh). */
bool policy_runtime_builtin(const char *name);

/* The policy's [host] options with the strings they point at, which the policy owns. */
struct policy_host {
        struct host_options opt; /* first: struct policy.host points here */
        char *user;
        char *seccomp_deny;
        char *cgroup_parent;
        char *default_path;
};

enum policy_host_string {
        POLICY_HOST_USER,
        POLICY_HOST_SECCOMP_DENY,
        POLICY_HOST_CGROUP_PARENT,
        POLICY_HOST_PATH,
};

/* Replace one string of the policy's [host] options with a copy of v; -ENOMEM. */
int policy_host_set(struct policy *p, enum policy_host_string which, const char *v);

/* Append an empty [agent] section named name; returns its index, -E2BIG past
 * POLICY_AGENTS_MAX, or -ENOMEM. */
int policy_agent_add(struct policy *p, const char *name, int line);
/* Index of the agent section named name, or -1. */
int policy_agent_index(const struct policy *p, const char *name);
/* Append a copy of s to the NULL-terminated vector *v (which may be NULL); -ENOMEM. */
int policy_strv_push(char ***v, const char *s);
/* True when v holds s. */
bool policy_strv_contains(char *const *v, const char *s);

/* JSON views shared by policy.c and resolve.c; new references, NULL when out of memory. */
json_t *policy_strv_to_json(char *const *v);
json_t *policy_network_to_json(enum policy_network_tier tier, char *const *allowed,
                               char *const *blocked, char *const *cidrs);
/* The keys an [agent] section set, with their values, named as in the file. */
json_t *policy_agent_to_json(const struct policy_agent *a);

/* [access] and [client "name"] (access.c). */
/* Append an empty client section named name; its index, -E2BIG past POLICY_CLIENTS_MAX, or
 * -ENOMEM. */
int policy_client_add(struct policy *p, const char *name, int line);
/* Index of the client section named name, or -1. */
int policy_client_index(const struct policy *p, const char *name);
/* Append uid to the vector *v of *n entries; -ENOMEM. */
int policy_uid_push(uint32_t **v, size_t *n, uint32_t uid);
/* Set the access defaults of a new policy; -ENOMEM. */
int policy_access_init(struct policy *p);
/* Free what [access] and the [client] sections hold. */
void policy_access_free(struct policy *p);
/* The "access" and "clients" members of the policy's JSON view; false when out of memory. */
bool policy_access_to_json(const struct policy *p, json_t *o);

/* parse_provider.c: free what a [provider] section holds. */
void policy_provider_clear(struct policy_provider *pr);
