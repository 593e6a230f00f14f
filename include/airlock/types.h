/* The small shared types every layer speaks of: engine kinds, the policy's modes, scopes,
 * workspace modes and network tiers, and the limits of a sandbox. Kept apart from policy.h so
 * that the backends, the exec shapes and the store need not see the settings object. */
#pragma once
#include <stdint.h>

enum engine_kind { ENGINE_DOCKER = 0, ENGINE_PODMAN = 1 };
enum policy_mode { MODE_OFF = 0, MODE_SELECTIVE, MODE_ALL };
enum policy_scope { SCOPE_SESSION = 0, SCOPE_AGENT, SCOPE_SHARED };
enum policy_workspace { WORKSPACE_NONE = 0, WORKSPACE_RO, WORKSPACE_RW };
/* restricted: no outbound network; standard: only allowed_domains (less blocked_domains);
 * elevated: full outbound. Stored now; enforcement comes with the network issue. */
enum policy_network_tier { NETWORK_RESTRICTED = 0, NETWORK_STANDARD, NETWORK_ELEVATED };
/* How far a sandbox's code is from the host kernel (docs/isolation.md): container (runc:
 * namespaces, seccomp, cgroups) or gvisor (gVisor's user-space kernel, itself under seccomp).
 * Ordered: a higher value isolates more, so a rule may only raise it. */
enum isolation_tier { ISOLATION_CONTAINER = 0, ISOLATION_GVISOR, ISOLATION_TIERS };

struct limits {
        double cpu_cores;      /* 0 < x <= 64 */
        int64_t memory_mb;     /* container memory and swap cap */
        int64_t disk_mb;       /* size of the writable tmpfs */
        int64_t max_processes; /* pids cgroup limit */
        int64_t timeout_s;     /* default and maximum per exec */
        int64_t output_bytes;  /* cap per stream (stdout, stderr) */
        int64_t workspace_mb;  /* size of the agent's workspace image; 0: no cap */
};
