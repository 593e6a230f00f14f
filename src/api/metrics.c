/* GET /metrics: the daemon's gauges and the registry (daemon/metrics.c) as exposition text. */
#include <stdlib.h>
#include <string.h>

#include "airlock/daemon.h"
#include "airlock/metrics.h"
#include "airlock/pool.h"
#include "airlock/contexts.h"
#include "routes.h"

/* ---- GET /metrics ---- */

static void gauges_from(struct api *ctx, struct metrics_gauges *g)
{
        struct daemon_gauges dg;

        memset(g, 0, sizeof(*g));
        g->version = AIRLOCK_VERSION;
        daemon_gauges(ctx->core, &dg);
        g->start_time_s = dg.started_ms / 1000;
        for (int s = 0; s < METRICS_SCOPES; s++)
                g->sandboxes_live[s] =
                    daemon_scopes(ctx->core) ? scope_count(daemon_scopes(ctx->core), s) : 0;
        g->policy_reloads = dg.reloads;
        g->policy_reload_failures = dg.reload_failures;
        g->execs_in_flight = dg.inflight;
        {
                unsigned total, busy;

                daemon_contexts_count(ctx->core, &total, &busy);
                g->contexts_live = total;
                g->contexts_busy = busy;
        }
        {
                json_t *h = daemon_snapshots_health(ctx->core);

                g->snapshots = json_integer_value(json_object_get(h, "count"));
                g->snapshot_bytes = json_integer_value(json_object_get(h, "bytes"));
                json_decref(h);
        }
        if (daemon_pool(ctx->core)) {
                struct pool_counts pc;

                pool_counts(daemon_pool(ctx->core), &pc);
                g->pool_ready = pool_count(daemon_pool(ctx->core));
                g->pool_claimed = (uint64_t)pc.claimed;
                g->pool_missed = (uint64_t)pc.missed;
                g->pool_made = (uint64_t)pc.made;
                g->pool_died = (uint64_t)pc.died;
                g->pool_drained = (uint64_t)pc.drained;
                g->pool_failed = (uint64_t)pc.failed;
        }
}

ROUTE_HANDLER(route_metrics)
{
        struct metrics_gauges g;
        char *text = NULL;
        size_t len = 0;
        int r;

        gauges_from(ctx, &g);
        r = metrics_render(&g, &text, &len);
        if (r < 0)
                return api_send_error(conn, r, "cannot render the metrics");
        return api_send_text(conn, MHD_HTTP_OK, text, len,
                             "text/plain; version=0.0.4; charset=utf-8", NULL);
}
