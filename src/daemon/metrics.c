/* The metrics registry and its Prometheus text exposition (GET /metrics is api/metrics.c).
 *
 * Static tables behind one mutex: execs take milliseconds at the very least, so a lock and a
 * linear scan of a few hundred label sets per count cost nothing next to them, and static
 * storage means no allocation on the counting path and nothing to free at exit. */
#include "airlock/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/cleanup.h"
#include "airlock/error.h"

#define LABELS_MAX 4
#define OVERFLOW   "_overflow"

struct series {
        char labels[LABELS_MAX][METRICS_LABEL_MAX];
        uint64_t value;
};

struct counter_family {
        const char *name;
        const char *help;
        int n_labels;
        const char *label_names[LABELS_MAX];
        struct series *series; /* cap entries; the last one is kept for the overflow */
        size_t n, cap;
};

/* Upper bounds of the latency buckets, from the 44 ms of an exec in a warm sandbox to the
 * longest timeouts admins set; +Inf follows. */
static const struct {
        int64_t ms;
        const char *le;
} buckets[] = {
    {5, "0.005"},  {10, "0.01"},  {25, "0.025"}, {50, "0.05"},    {100, "0.1"},
    {250, "0.25"}, {500, "0.5"},  {1000, "1"},   {2500, "2.5"},   {5000, "5"},
    {10000, "10"}, {30000, "30"}, {60000, "60"}, {120000, "120"},
};
#define N_BUCKETS ARRAY_SIZE(buckets)
#define HIST_MAX  16

struct hist_series {
        char backend[METRICS_LABEL_MAX];
        uint64_t counts[N_BUCKETS]; /* per bucket, not cumulative */
        uint64_t count;
        int64_t sum_ms;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct series exec_series[256], rejected_series[64], engine_series[16], created_series[16],
    egress_series[64], egress_bytes_series[4];

static struct counter_family executions = {
    "airlock_executions_total",
    "Executions that ended, by outcome (ok, error, timeout, oom, signal, aborted, failed), "
    "policy mode, backend and runtime.",
    4,
    {"outcome", "mode", "backend", "runtime"},
    exec_series,
    0,
    ARRAY_SIZE(exec_series),
};
static struct counter_family rejected = {
    "airlock_requests_rejected_total",
    "API requests answered with an error status, by error code.",
    1,
    {"reason"},
    rejected_series,
    0,
    ARRAY_SIZE(rejected_series),
};
static struct counter_family engine_errors = {
    "airlock_engine_errors_total",
    "Exec failures caused by the container engine: unavailable (it did not answer) or api "
    "(it answered with an error).",
    1,
    {"kind"},
    engine_series,
    0,
    ARRAY_SIZE(engine_series),
};
static struct counter_family created = {
    "airlock_sandboxes_created_total",
    "Sandboxes created for a scope key (one-off sandboxes are not counted).",
    1,
    {"scope"},
    created_series,
    0,
    ARRAY_SIZE(created_series),
};

static struct counter_family egress_conns = {
    "airlock_egress_connections_total",
    "Connections through the egress proxy, by result (allowed, refused) and reason (why refused "
    "or cut; none when allowed and ended normally).",
    2,
    {"result", "reason"},
    egress_series,
    0,
    ARRAY_SIZE(egress_series),
};
static struct counter_family egress_bytes = {
    "airlock_egress_bytes_total",
    "Bytes carried by the egress proxy, by direction (out: from sandboxes, in: to them).",
    1,
    {"direction"},
    egress_bytes_series,
    0,
    ARRAY_SIZE(egress_bytes_series),
};

static struct hist_series hist[HIST_MAX];
static size_t n_hist;

/* Suspend and resume. */
static struct {
        uint64_t suspended, suspend_failed, resumed, resume_lost, expired, bytes;
        struct hist_series latency;
} snap;

/* Cut at the cap and keep to printable ASCII: the exposition must stay valid UTF-8 and one
 * line per sample whatever a caller passes. */
static void label_copy(char dst[METRICS_LABEL_MAX], const char *src)
{
        size_t i = 0;

        if (!src || !*src)
                src = "none";
        for (; src[i] && i < METRICS_LABEL_MAX - 1; i++)
                dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '_';
        dst[i] = '\0';
}

static bool labels_equal(const struct series *s, char v[][METRICS_LABEL_MAX], int n)
{
        for (int i = 0; i < n; i++)
                if (strcmp(s->labels[i], v[i]) != 0)
                        return false;
        return true;
}

/* Under lock: the series for these label values, made when new (or the overflow one). */
static struct series *series_get(struct counter_family *f, const char *const *values)
{
        char v[LABELS_MAX][METRICS_LABEL_MAX];
        struct series *s;

        for (int i = 0; i < f->n_labels; i++)
                label_copy(v[i], values[i]);
        for (size_t i = 0; i < f->n; i++)
                if (labels_equal(&f->series[i], v, f->n_labels))
                        return &f->series[i];
        if (f->n + 1 < f->cap) {
                s = &f->series[f->n++];
                memcpy(s->labels, v, sizeof(v));
                s->value = 0;
                return s;
        }
        s = &f->series[f->cap - 1];
        for (int i = 0; i < f->n_labels; i++)
                snprintf(s->labels[i], METRICS_LABEL_MAX, "%s", OVERFLOW);
        return s;
}

static void count(struct counter_family *f, const char *const *values)
{
        pthread_mutex_lock(&lock);
        series_get(f, values)->value++;
        pthread_mutex_unlock(&lock);
}

const char *metrics_exec_outcome(int r, const struct exec_result *res)
{
        if (r < 0 || !res)
                return "failed";
        if (res->timed_out)
                return "timeout";
        if (res->oom_killed)
                return "oom";
        if (res->aborted)
                return "aborted";
        if (res->signal)
                return "signal";
        return res->exit_code == 0 ? "ok" : "error";
}

static void hist_add(struct hist_series *h, int64_t ms)
{
        size_t k = 0;

        while (k < N_BUCKETS && ms > buckets[k].ms)
                k++;
        if (k < N_BUCKETS)
                h->counts[k]++;
        h->count++;
        h->sum_ms += ms;
}

static void observe(const char *backend, int64_t ms)
{
        char b[METRICS_LABEL_MAX];
        struct hist_series *h = NULL;

        label_copy(b, backend);
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_hist && !h; i++)
                if (strcmp(hist[i].backend, b) == 0)
                        h = &hist[i];
        if (!h && n_hist + 1 < HIST_MAX) {
                h = &hist[n_hist++];
                memcpy(h->backend, b, sizeof(b));
        }
        if (!h) {
                h = &hist[HIST_MAX - 1];
                snprintf(h->backend, sizeof(h->backend), "%s", OVERFLOW);
        }
        hist_add(h, ms);
        pthread_mutex_unlock(&lock);
}

void metrics_exec_done(const char *outcome, const char *mode, const char *backend,
                       const char *runtime, int64_t duration_ms)
{
        const char *v[] = {outcome, mode, backend, runtime};

        count(&executions, v);
        if (duration_ms >= 0)
                observe(backend, duration_ms);
}

void metrics_rejected(const char *reason)
{
        count(&rejected, &reason);
}

void metrics_engine_error(const char *kind)
{
        count(&engine_errors, &kind);
}

const char *metrics_engine_error_kind(int code)
{
        if (code == -AL_E_ENGINE_DOWN)
                return "unavailable";
        if (code == -AL_E_ENGINE)
                return "api";
        return NULL;
}

void metrics_sandbox_created(const char *scope)
{
        count(&created, &scope);
}

void metrics_egress(bool allowed, const char *reason, uint64_t bytes_out, uint64_t bytes_in)
{
        const char *v[] = {allowed ? "allowed" : "refused", reason};
        const char *out = "out", *in = "in";

        pthread_mutex_lock(&lock);
        series_get(&egress_conns, v)->value++;
        series_get(&egress_bytes, &out)->value += bytes_out;
        series_get(&egress_bytes, &in)->value += bytes_in;
        pthread_mutex_unlock(&lock);
}

void metrics_reset(void)
{
        struct counter_family *all[] = {&executions, &rejected,     &engine_errors,
                                        &created,    &egress_conns, &egress_bytes};

        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                memset(all[i]->series, 0, all[i]->cap * sizeof(*all[i]->series));
                all[i]->n = 0;
        }
        memset(hist, 0, sizeof(hist));
        n_hist = 0;
        memset(&snap, 0, sizeof(snap));
        pthread_mutex_unlock(&lock);
}

/* ---- exposition ---- */

/* The text being written; the first failure sticks and is reported once at the end. */
struct out {
        struct buf b;
        int r;
};

static void outn(struct out *o, const char *p, size_t n)
{
        if (o->r == 0)
                o->r = buf_append(&o->b, p, n);
}

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
        char line[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        /* Every format here is a name and a number: far below the line size. */
        if (n < 0 || (size_t)n >= sizeof(line)) {
                o->r = o->r ? o->r : -E2BIG;
                return;
        }
        outn(o, line, (size_t)n);
}

/* Write s with backslash and newline escaped, and the double quote too when quote. */
static void out_escaped(struct out *o, const char *s, bool quote)
{
        for (const char *p = s; *p; p++) {
                if (*p == '\\')
                        outn(o, "\\\\", 2);
                else if (*p == '\n')
                        outn(o, "\\n", 2);
                else if (quote && *p == '"')
                        outn(o, "\\\"", 2);
                else
                        outn(o, p, 1);
        }
}

static void put_header(struct out *o, const char *name, const char *type, const char *help)
{
        outf(o, "# HELP %s ", name);
        out_escaped(o, help, false);
        outf(o, "\n# TYPE %s %s\n", name, type);
}

static void put_label(struct out *o, bool first, const char *name, const char *value)
{
        outf(o, "%s%s=\"", first ? "" : ",", name);
        out_escaped(o, value, true);
        outn(o, "\"", 1);
}

static void put_counters(struct out *o, const struct counter_family *f)
{
        put_header(o, f->name, "counter", f->help);
        for (size_t i = 0; i < f->cap; i++) {
                const struct series *s = &f->series[i];

                /* The overflow slot sits past n and shows only once it was used. */
                if (i >= f->n && (i != f->cap - 1 || s->value == 0))
                        continue;
                outf(o, "%s{", f->name);
                for (int l = 0; l < f->n_labels; l++)
                        put_label(o, l == 0, f->label_names[l], s->labels[l]);
                outf(o, "} %" PRIu64 "\n", s->value);
        }
}

static void put_histogram(struct out *o)
{
        static const char name[] = "airlock_exec_duration_seconds";

        put_header(o, name, "histogram",
                   "Time from the start of an exec to its result, by backend (execs that ran).");
        for (size_t i = 0; i < HIST_MAX; i++) {
                const struct hist_series *h = &hist[i];
                uint64_t cum = 0;

                if (i >= n_hist && (i != HIST_MAX - 1 || h->count == 0))
                        continue;
                for (size_t k = 0; k < N_BUCKETS; k++) {
                        cum += h->counts[k];
                        outf(o, "%s_bucket{", name);
                        put_label(o, true, "backend", h->backend);
                        outf(o, ",le=\"%s\"} %" PRIu64 "\n", buckets[k].le, cum);
                }
                outf(o, "%s_bucket{", name);
                put_label(o, true, "backend", h->backend);
                outf(o, ",le=\"+Inf\"} %" PRIu64 "\n", h->count);
                outf(o, "%s_sum{", name);
                put_label(o, true, "backend", h->backend);
                outf(o, "} %" PRId64 ".%03d\n", h->sum_ms / 1000, (int)(h->sum_ms % 1000));
                outf(o, "%s_count{", name);
                put_label(o, true, "backend", h->backend);
                outf(o, "} %" PRIu64 "\n", h->count);
        }
}

static void put_gauges(struct out *o, const struct metrics_gauges *g)
{
        put_header(o, "airlock_build_info", "gauge", "The running airlockd's version (always 1).");
        outf(o, "airlock_build_info{");
        put_label(o, true, "version", g->version ? g->version : "unknown");
        outf(o, "} 1\n");
        put_header(o, "airlock_start_time_seconds", "gauge",
                   "When airlockd started, in seconds since the epoch.");
        outf(o, "airlock_start_time_seconds %" PRId64 "\n", g->start_time_s);
        put_header(o, "airlock_sandboxes_live", "gauge",
                   "Sandboxes alive under a scope key, by scope.");
        for (int s = 0; s < METRICS_SCOPES; s++) {
                outf(o, "airlock_sandboxes_live{");
                put_label(o, true, "scope", policy_scope_name((enum policy_scope)s));
                outf(o, "} %" PRId64 "\n", g->sandboxes_live[s]);
        }
        put_header(o, "airlock_pool_ready", "gauge",
                   "Ready sandboxes held in the warm pools (they count against the caps).");
        outf(o, "airlock_pool_ready %" PRId64 "\n", g->pool_ready);
        put_header(o, "airlock_pool_claims_total", "counter",
                   "New sandboxes asked of the warm pools: served from one (hit) or made (miss).");
        outf(o, "airlock_pool_claims_total{result=\"hit\"} %" PRIu64 "\n", g->pool_claimed);
        outf(o, "airlock_pool_claims_total{result=\"miss\"} %" PRIu64 "\n", g->pool_missed);
        put_header(o, "airlock_pool_sandboxes_total", "counter",
                   "Pooled sandboxes by what happened to them: made, died while pooled, drained "
                   "(a reload changed their spec), failed (could not be made).");
        outf(o, "airlock_pool_sandboxes_total{event=\"made\"} %" PRIu64 "\n", g->pool_made);
        outf(o, "airlock_pool_sandboxes_total{event=\"died\"} %" PRIu64 "\n", g->pool_died);
        outf(o, "airlock_pool_sandboxes_total{event=\"drained\"} %" PRIu64 "\n", g->pool_drained);
        outf(o, "airlock_pool_sandboxes_total{event=\"failed\"} %" PRIu64 "\n", g->pool_failed);
        put_header(o, "airlock_contexts", "gauge",
                   "Code contexts (live interpreters in sandboxes), idle or running a cell.");
        outf(o, "airlock_contexts{state=\"idle\"} %" PRId64 "\n",
             g->contexts_live - g->contexts_busy);
        outf(o, "airlock_contexts{state=\"busy\"} %" PRId64 "\n", g->contexts_busy);
        put_header(o, "airlock_executions_in_flight", "gauge", "Executions running now.");
        outf(o, "airlock_executions_in_flight %" PRId64 "\n", g->execs_in_flight);
        put_header(o, "airlock_policy_reloads_total", "counter",
                   "Settings reloads applied (SIGHUP or POST /v1/policy/reload).");
        outf(o, "airlock_policy_reloads_total %" PRIu64 "\n", g->policy_reloads);
        put_header(o, "airlock_policy_reload_failures_total", "counter",
                   "Settings reloads refused (the running policy was kept).");
        outf(o, "airlock_policy_reload_failures_total %" PRIu64 "\n", g->policy_reload_failures);
}

void metrics_suspended(int64_t bytes)
{
        pthread_mutex_lock(&lock);
        snap.suspended++;
        snap.bytes += bytes > 0 ? (uint64_t)bytes : 0;
        pthread_mutex_unlock(&lock);
}

void metrics_suspend_failed(void)
{
        pthread_mutex_lock(&lock);
        snap.suspend_failed++;
        pthread_mutex_unlock(&lock);
}

void metrics_resumed(int64_t ms, bool lost)
{
        pthread_mutex_lock(&lock);
        if (lost)
                snap.resume_lost++;
        else
                snap.resumed++;
        if (ms >= 0)
                hist_add(&snap.latency, ms);
        pthread_mutex_unlock(&lock);
}

void metrics_snapshot_expired(void)
{
        pthread_mutex_lock(&lock);
        snap.expired++;
        pthread_mutex_unlock(&lock);
}

static void put_snapshots(struct out *o, const struct metrics_gauges *g)
{
        static const char name[] = "airlock_resume_seconds";
        uint64_t cum = 0;

        put_header(o, "airlock_suspends_total", "counter",
                   "Sandboxes suspended to a snapshot (ok) or left live because it failed.");
        outf(o, "airlock_suspends_total{result=\"ok\"} %" PRIu64 "\n", snap.suspended);
        outf(o, "airlock_suspends_total{result=\"failed\"} %" PRIu64 "\n", snap.suspend_failed);
        put_header(o, "airlock_snapshot_bytes_written_total", "counter",
                   "Bytes of snapshots written by suspends.");
        outf(o, "airlock_snapshot_bytes_written_total %" PRIu64 "\n", snap.bytes);
        put_header(o, "airlock_resumes_total", "counter",
                   "Suspended sandboxes resumed: with their files (ok) or empty because the "
                   "snapshot was missing or corrupt (lost).");
        outf(o, "airlock_resumes_total{result=\"ok\"} %" PRIu64 "\n", snap.resumed);
        outf(o, "airlock_resumes_total{result=\"lost\"} %" PRIu64 "\n", snap.resume_lost);
        put_header(o, "airlock_snapshots_expired_total", "counter",
                   "Snapshots deleted by [sandbox] snapshot_retention_s.");
        outf(o, "airlock_snapshots_expired_total %" PRIu64 "\n", snap.expired);
        put_header(o, "airlock_snapshots", "gauge", "Suspended sandboxes (snapshots stored).");
        outf(o, "airlock_snapshots %" PRId64 "\n", g->snapshots);
        put_header(o, "airlock_snapshot_bytes", "gauge", "Bytes of the snapshots stored.");
        outf(o, "airlock_snapshot_bytes %" PRId64 "\n", g->snapshot_bytes);
        put_header(o, name, "histogram",
                   "Time to put a snapshot back into a fresh sandbox (read, check, unpack).");
        for (size_t k = 0; k < N_BUCKETS; k++) {
                cum += snap.latency.counts[k];
                outf(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, buckets[k].le, cum);
        }
        outf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, snap.latency.count);
        outf(o, "%s_sum %" PRId64 ".%03d\n", name, snap.latency.sum_ms / 1000,
             (int)(snap.latency.sum_ms % 1000));
        outf(o, "%s_count %" PRIu64 "\n", name, snap.latency.count);
}

int metrics_render(const struct metrics_gauges *g, char **ret, size_t *ret_len)
{
        struct out o = {.r = 0};
        size_t len;
        char *text;

        buf_init(&o.b, METRICS_RENDER_MAX);
        put_gauges(&o, g);
        pthread_mutex_lock(&lock);
        put_counters(&o, &executions);
        put_histogram(&o);
        put_counters(&o, &created);
        put_counters(&o, &engine_errors);
        put_counters(&o, &rejected);
        put_counters(&o, &egress_conns);
        put_counters(&o, &egress_bytes);
        put_snapshots(&o, g);
        pthread_mutex_unlock(&lock);
        if (o.r == 0 && buf_truncated(&o.b))
                o.r = -E2BIG;
        if (o.r < 0) {
                buf_free(&o.b);
                return o.r;
        }
        text = buf_steal(&o.b, &len);
        if (!text)
                return -ENOMEM;
        *ret = text;
        *ret_len = len;
        return 0;
}
