/* An exec request held against the policy: the agent's runtimes, limits and timeout. */
#include <errno.h>
#include <stdio.h>

#include "airlock/exec.h"
#include "airlock/policy.h"

int exec_request_check(const struct exec_request *req, const struct policy *pol,
                       struct al_error *err)
{
        struct policy_effective e;
        const char *name;

        /* The agent's own section, where it has one, decides its runtimes and limits. */
        if (policy_resolve(pol, req->agent ? req->agent : "default", &e) < 0)
                return al_err(err, -EINVAL, "invalid agent name");
        name = req->runtime ? req->runtime : e.default_runtime;
        if (!policy_runtime(pol, name)) {
                char names[256];
                size_t o = 0;

                names[0] = '\0';
                for (size_t i = 0; i < pol->n_runtimes && o < sizeof(names); i++)
                        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                                              pol->runtimes[i].name);
                return al_err(err, -EINVAL, "unknown runtime '%s' (available: %s)", name, names);
        }
        if (!policy_effective_runtime_allowed(&e, name))
                return al_err(err, -AL_E_FORBIDDEN, "agent '%s' may not use runtime '%s'",
                              e.agent ? e.agent : "default", name);
        if (req->timeout_s > e.limits.timeout_s)
                return al_err(err, -EINVAL, "timeout_s %lld exceeds the policy maximum of %lld",
                              (long long)req->timeout_s, (long long)e.limits.timeout_s);
        return 0;
}
