/* Prometheus metrics: a small process-wide registry of labelled counters and one latency
 * histogram, written out in the Prometheus text exposition format (version 0.0.4).
 *
 * The registry is global and lives in static storage: any thread counts with one call and no
 * handle, nothing is allocated, and nothing needs freeing at exit. Every function is
 * thread-safe. Label values are copied, cut at METRICS_LABEL_MAX - 1 bytes, and bytes outside
 * printable ASCII become '_'. Each family holds a bounded number of label sets; a label set
 * beyond that is counted under one series whose labels are all "_overflow", so that no client
 * can grow the registry. Figures the daemon already keeps (live sandboxes, policy reloads)
 * are not counted here but handed to metrics_render at scrape time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/exec.h"
#include "airlock/types.h"

#define METRICS_LABEL_MAX  64         /* bytes of a label value, NUL included */
#define METRICS_RENDER_MAX (4u << 20) /* cap on the exposition text */
#define METRICS_SCOPES     3          /* enum policy_scope values */

/* The outcome label of an exec: "failed" when it could not run (r < 0), else "timeout",
 * "oom", "aborted" (the client went away), "signal", "error" (non-zero exit) or "ok".
 * res may be NULL when r < 0. Returns a static string. */
const char *metrics_exec_outcome(int r, const struct exec_result *res);

/* Count an exec that ended: airlock_executions_total{outcome,mode,backend,runtime}, and when
 * duration_ms >= 0 (it ran) airlock_exec_duration_seconds{backend}. NULL labels count as
 * "none". */
void metrics_exec_done(const char *outcome, const char *mode, const char *backend,
                       const char *runtime, int64_t duration_ms);
/* airlock_requests_rejected_total{reason}: a request answered with an error status. */
void metrics_rejected(const char *reason);
/* airlock_engine_errors_total{kind}: "unavailable" (the engine did not answer) or "api" (it
 * answered with an error). */
void metrics_engine_error(const char *kind);
/* The kind label for an error code: "unavailable" for -AL_E_ENGINE_DOWN, "api" for
 * -AL_E_ENGINE, NULL when the code is not an engine error. */
const char *metrics_engine_error_kind(int code);
/* airlock_sandboxes_created_total{scope}. */
void metrics_sandbox_created(const char *scope);
/* A connection through the egress proxy ended (or was refused); reason "" when none. */
void metrics_egress(bool allowed, const char *reason, uint64_t bytes_out, uint64_t bytes_in);

/* Suspend and resume (docs/suspend.md): airlock_suspends_total{result}, the bytes written
 * (airlock_snapshot_bytes_written_total), airlock_resumes_total{result} (ok, lost) and the
 * time a resume took (airlock_resume_seconds, a histogram; ms < 0: not observed), snapshots
 * deleted by retention (airlock_snapshots_expired_total). */
void metrics_suspended(int64_t bytes);
void metrics_suspend_failed(void);
void metrics_resumed(int64_t ms, bool lost);
void metrics_snapshot_expired(void);

/* What the daemon knows at scrape time. */
struct metrics_gauges {
        const char *version;                    /* airlock_build_info{version} */
        int64_t start_time_s;                   /* airlock_start_time_seconds */
        int64_t sandboxes_live[METRICS_SCOPES]; /* by enum policy_scope */
        uint64_t policy_reloads;                /* successful reloads */
        uint64_t policy_reload_failures;        /* refused reloads */
        int64_t execs_in_flight;                /* airlock_executions_in_flight */
        int64_t pool_ready;                     /* airlock_pool_ready */
        uint64_t pool_claimed, pool_missed;     /* airlock_pool_claims_total{result} */
        uint64_t pool_made, pool_died, pool_drained, pool_failed; /* airlock_pool_*_total */
        int64_t contexts_live, contexts_busy;                     /* airlock_contexts{state} */
        int64_t snapshots, snapshot_bytes; /* airlock_snapshots, airlock_snapshot_bytes */
};

/* The registry and the gauges as exposition text; *ret (caller frees, NUL-terminated) and
 * *ret_len. -ENOMEM, or -E2BIG past METRICS_RENDER_MAX. */
int metrics_render(const struct metrics_gauges *g, char **ret, size_t *ret_len);

/* Forget every count (for tests). */
void metrics_reset(void);
