/* The effective policy for one agent: its [agent "name"] section's values where it sets them,
 * the global sections' everywhere else. Nothing is copied: the result borrows from the policy,
 * so a caller resolves once per request while it holds its policy reference. */
#include "airlock/policy.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "airlock/util.h"
#include "policy/policy_private.h"

int policy_resolve(const struct policy *p, const char *agent, struct policy_effective *ret)
{
        const struct policy_agent *a = NULL;
        struct policy_effective e;
        unsigned set;

        if (!p || !ret)
                return -EINVAL;
        if (agent) {
                if (!util_name_valid(agent, POLICY_NAME_LEN_MAX))
                        return -EINVAL;
                a = policy_agent(p, agent);
        }
        set = a ? a->set : 0;
        e = (struct policy_effective){
            .policy = p,
            .agent = agent,
            .section = a,
            .mode = set & POLICY_AGENT_MODE ? a->mode : p->mode,
            .scope = set & POLICY_AGENT_SCOPE ? a->scope : p->scope,
            .workspace = set & POLICY_AGENT_WORKSPACE ? a->workspace : p->workspace,
            .workspace_root = p->workspace_root,
            .limits = p->limits,
            .network_tier = set & POLICY_AGENT_NETWORK ? a->network : p->network.tier,
            .allowed_domains =
                set & POLICY_AGENT_ALLOWED_DOMAINS ? a->allowed_domains : p->network.allowed,
            .blocked_domains =
                set & POLICY_AGENT_BLOCKED_DOMAINS ? a->blocked_domains : p->network.blocked,
            .allowed_cidrs = set & POLICY_AGENT_ALLOWED_CIDRS ? a->allowed_cidrs : p->network.cidrs,
            .default_runtime =
                set & POLICY_AGENT_DEFAULT_RUNTIME ? a->default_runtime : p->default_runtime,
            .runtimes = set & POLICY_AGENT_RUNTIMES ? a->runtimes : NULL,
            .isolation = set & POLICY_AGENT_ISOLATION ? a->isolation : p->isolation,
        };
        if (set & POLICY_AGENT_CPU_CORES)
                e.limits.cpu_cores = a->limits.cpu_cores;
        if (set & POLICY_AGENT_MEMORY_MB)
                e.limits.memory_mb = a->limits.memory_mb;
        if (set & POLICY_AGENT_DISK_MB)
                e.limits.disk_mb = a->limits.disk_mb;
        if (set & POLICY_AGENT_MAX_PROCESSES)
                e.limits.max_processes = a->limits.max_processes;
        if (set & POLICY_AGENT_TIMEOUT_S)
                e.limits.timeout_s = a->limits.timeout_s;
        if (set & POLICY_AGENT_OUTPUT_KB)
                e.limits.output_bytes = a->limits.output_bytes;
        if (set & POLICY_AGENT_WORKSPACE_MB)
                e.limits.workspace_mb = a->limits.workspace_mb;
        *ret = e;
        return 0;
}

bool policy_effective_runtime_allowed(const struct policy_effective *e, const char *runtime)
{
        if (!e || !e->policy || !runtime || !policy_runtime(e->policy, runtime))
                return false;
        /* A runtimes list is never empty (the parser refuses that): NULL means all. */
        return !e->runtimes || policy_strv_contains(e->runtimes, runtime);
}

/* The runtimes the agent may use, by name, in catalog order. */
static json_t *allowed_runtimes_to_json(const struct policy_effective *e)
{
        const struct policy *p = e->policy;
        json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < p->n_runtimes; i++) {
                if (e->runtimes && !policy_strv_contains(e->runtimes, p->runtimes[i].name))
                        continue;
                if (json_array_append_new(a, json_string(p->runtimes[i].name)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

json_t *policy_effective_to_json(const struct policy_effective *e, const char *agent)
{
        const struct limits *l;

        if (!e || !e->policy)
                return NULL;
        l = &e->limits;
        if (!agent)
                agent = e->agent;
        /* json_pack steals the "o" arguments, also when it fails. "overrides" names the keys
         * the agent's own section set; the rest is the global policy. */
        return json_pack("{s:s?, s:o, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:f, s:I, s:I, s:I, s:I, "
                         "s:I, s:I}, s:o, s:o, s:b, s:s}",
                         "agent", agent, "overrides",
                         e->section ? policy_agent_to_json(e->section) : json_object(), "sandbox",
                         "mode", policy_mode_name(e->mode), "scope", policy_scope_name(e->scope),
                         "workspace", policy_workspace_name(e->workspace), "workspace_root",
                         e->workspace_root, "default_runtime", e->default_runtime, "limits",
                         "cpu_cores", l->cpu_cores, "memory_mb", (json_int_t)l->memory_mb,
                         "disk_mb", (json_int_t)l->disk_mb, "max_processes",
                         (json_int_t)l->max_processes, "timeout_s", (json_int_t)l->timeout_s,
                         "output_kb", (json_int_t)(l->output_bytes / 1024), "workspace_mb",
                         (json_int_t)l->workspace_mb, "network",
                         policy_network_to_json(e->network_tier, e->allowed_domains,
                                                e->blocked_domains, e->allowed_cidrs),
                         "runtimes", allowed_runtimes_to_json(e), "runtimes_restricted",
                         e->runtimes != NULL, "isolation", policy_isolation_name(e->isolation));
}
