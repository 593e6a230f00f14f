/* Private to api/: recording executions. Both are no-ops when the daemon has no store. */
#pragma once
#include "daemon_private.h"

/* Record the exec as running (written, made durable by the finish's commit). a is filled for
 * audit_finish. */
int audit_begin(struct daemon *ctx, const struct exec_request *req, struct exec_result *res,
                const struct runtime *rt, const char *id, bool host, struct store_execution *a,
                struct al_error *err);
/* Record how it ended: the result when run_r >= 0, else the failure in err. Returns < 0 (and
 * sets err) only when a result could not be recorded. */
int audit_finish(struct daemon *ctx, struct store_execution *a, const struct exec_result *res,
                 int run_r, struct al_error *err);

/* audit_begin, called at most once, when the exec is about to run: a backend's
 * exec_spec.before_run (its ctx a struct audit_gate), or the service itself where the backend
 * cannot say when. Later calls return the first call's result. */
struct audit_gate {
        struct daemon *ctx;
        const struct exec_request *req;
        struct exec_result *res;
        const struct runtime *rt;
        const char *id;
        bool host;
        struct store_execution *a;
        bool done;
        int r;
};
int audit_gate_open(void *gate, struct al_error *err);
