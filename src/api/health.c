/* GET /v1/health: one entry per subsystem, each with a status, a message a person can act on,
 * and its figures; an overall status; HTTP 200 for ok and degraded, 503 for down.
 *
 * Every check is bounded: the engine probes share one budget of HEALTH_ENGINE_BUDGET_MS (a
 * socket that accepts but never answers costs that much, a missing socket fails at once), and
 * the database waits at most HEALTH_DB_WAIT_MS for its write lock. Monitors poll: an answer
 * is reused for HEALTH_CACHE_MS, and concurrent requests wait for the one check in progress
 * rather than each probing the engine; a reload makes the answer stale at once. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/host_backend.h"
#include "airlock/util.h"
#include "airlock/pool.h"
#include "routes.h"

#define HEALTH_ENGINE_BUDGET_MS 6000
#define HEALTH_PING_MS          2000
#define HEALTH_DB_WAIT_MS       500
#define HEALTH_CACHE_MS         1000
#define DISK_LOW_PERCENT        5.0
#define DISK_LOW_BYTES          (512LL << 20)
#define MESSAGE_MAX             512
#define WORKSPACE_FULL_PERCENT  95

/* The status of one check; UNKNOWN when it could not run (it never sets the overall one). */
enum health_status { HEALTH_OK = 0, HEALTH_DEGRADED, HEALTH_DOWN, HEALTH_UNKNOWN };

static const char *const status_names[] = {"ok", "degraded", "down", "unknown"};

/* A check being built: its status, message and figures. */
struct check {
        enum health_status status;
        char message[MESSAGE_MAX];
        json_t *doc; /* figures */
};

static double now_ms_precise(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void check_init(struct check *c)
{
        c->status = HEALTH_OK;
        c->message[0] = '\0';
        c->doc = json_object();
}

/* Raise the status to st (never lower it) and, when it rises or no message was set yet, say
 * why: the most serious problem is the one the message names. */
static void check_set(struct check *c, enum health_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check_set(struct check *c, enum health_status st, const char *fmt, ...)
{
        va_list ap;

        /* A status never drops, and the first problem of a level is the one named. */
        if (c->message[0] && (st < c->status || (st == c->status && st != HEALTH_OK)))
                return;
        c->status = st;
        va_start(ap, fmt);
        vsnprintf(c->message, sizeof(c->message), fmt, ap);
        va_end(ap);
}

static void put(json_t *o, const char *key, json_t *v)
{
        if (o && v)
                json_object_set_new(o, key, v);
        else
                json_decref(v);
}

/* The overall status, and the message of the check that set it ("engine: ..."). */
struct overall {
        enum health_status status;
        char message[MESSAGE_MAX + 32];
};

/* Finish c into the checks object under name; folds its status into *overall. */
static void check_done(json_t *checks, const char *name, struct check *c, struct overall *overall)
{
        json_t *o =
            json_pack("{s:s, s:s}", "status", status_names[c->status], "message", c->message);

        if (o && c->doc)
                json_object_update(o, c->doc);
        json_decref(c->doc);
        c->doc = NULL;
        put(checks, name, o);
        if (c->status != HEALTH_UNKNOWN && c->status > overall->status) {
                overall->status = c->status;
                snprintf(overall->message, sizeof(overall->message), "%s: %s", name, c->message);
        }
}

/* What is left of the budget, at least 1 ms: libcurl takes 0 as "no timeout at all". */
static long remaining_ms(double deadline)
{
        double left = deadline - now_ms_precise();

        return left < 1 ? 1 : (long)left;
}

/* ---- the engine, its images and OCI runtimes ---- */

struct engine_probe {
        bool reachable;
        struct engine_version ver;
        json_t *info; /* GET /info, or NULL */
};

static void check_engine(struct api *ctx, const struct policy *pol, double deadline,
                         struct engine_probe *probe, struct check *c)
{
        const char *sock = engine_socket(daemon_engine(ctx->core));
        enum engine_kind kind = engine_kind(daemon_engine(ctx->core));
        struct al_error err = {0};
        long budget = remaining_ms(deadline);
        double t0 = now_ms_precise(), rtt;
        int r;

        put(c->doc, "kind", json_string(engine_kind_name(kind)));
        put(c->doc, "socket", json_string(sock));
        r = engine_ping_within(daemon_engine(ctx->core),
                               budget < HEALTH_PING_MS ? budget : HEALTH_PING_MS, &err);
        rtt = now_ms_precise() - t0;
        put(c->doc, "reachable", json_boolean(r == 0));
        if (r < 0) {
                check_set(c, HEALTH_DOWN,
                          "%s; execs get 503 until it answers: start the %s engine or fix "
                          "[engine] socket",
                          err.msg, engine_kind_name(kind));
                return;
        }
        put(c->doc, "rtt_ms", json_real((double)(int64_t)(rtt * 100) / 100));
        probe->reachable = true;
        r = engine_version_within(daemon_engine(ctx->core), remaining_ms(deadline), &probe->ver,
                                  &err);
        if (r < 0) {
                check_set(c, HEALTH_DOWN, "%s", err.msg);
                return;
        }
        put(c->doc, "version", json_string(probe->ver.version));
        put(c->doc, "api_version", json_string(probe->ver.api_version));
        put(c->doc, "used_api", json_string(probe->ver.used_api));
        put(c->doc, "podman", json_boolean(probe->ver.is_podman));
        if (engine_info_within(daemon_engine(ctx->core), remaining_ms(deadline), &probe->info,
                               &err) < 0)
                probe->info = NULL;
        /* Podman needs the ulimits airlock sets only for it; a mismatch breaks execs. */
        if (kind == ENGINE_PODMAN && !probe->ver.is_podman)
                check_set(c, HEALTH_DEGRADED,
                          "[engine] kind is podman but the engine at %s is Docker %s: set "
                          "kind = docker",
                          sock, probe->ver.version);
        else if (kind == ENGINE_DOCKER && probe->ver.is_podman)
                check_set(c, HEALTH_DEGRADED,
                          "[engine] kind is docker but the engine at %s is Podman %s: set "
                          "kind = podman",
                          sock, probe->ver.version);
        else
                check_set(c, HEALTH_OK, "%s %s (API %s) answers at %s in %.1f ms",
                          probe->ver.is_podman ? "Podman" : "Docker", probe->ver.version,
                          probe->ver.api_version, sock, rtt);
}

/* What the engine last said of an image: images come and go rarely, so a fresh answer is
 * reused (IMAGE_FRESH_MS), and an older one stands in when a slow engine does not answer in
 * time (IMAGE_STALE_MS), rather than calling a present image unknown. */
#define IMAGE_CACHE_MAX 32
#define IMAGE_FRESH_MS  30000
#define IMAGE_STALE_MS  600000

static struct {
        char image[256];
        int64_t at; /* monotonic ms */
        bool present;
} image_cache[IMAGE_CACHE_MAX];
static pthread_mutex_t image_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 present, 0 missing, -1 unknown (nothing younger than max_age_ms). */
static int image_cached(const char *image, int64_t max_age_ms)
{
        int v = -1;

        pthread_mutex_lock(&image_cache_lock);
        for (size_t i = 0; i < IMAGE_CACHE_MAX; i++)
                if (image_cache[i].at > 0 && strcmp(image_cache[i].image, image) == 0 &&
                    util_now_ms() - image_cache[i].at <= max_age_ms)
                        v = image_cache[i].present;
        pthread_mutex_unlock(&image_cache_lock);
        return v;
}

static void image_remember(const char *image, bool present)
{
        size_t slot = 0;

        if (strlen(image) >= sizeof(image_cache[0].image))
                return;
        pthread_mutex_lock(&image_cache_lock);
        for (size_t i = 0; i < IMAGE_CACHE_MAX; i++) {
                if (strcmp(image_cache[i].image, image) == 0) {
                        slot = i;
                        break;
                }
                if (image_cache[i].at < image_cache[slot].at)
                        slot = i;
        }
        snprintf(image_cache[slot].image, sizeof(image_cache[slot].image), "%s", image);
        image_cache[slot].at = util_now_ms();
        image_cache[slot].present = present;
        pthread_mutex_unlock(&image_cache_lock);
}

static void check_images(struct api *ctx, const struct policy *pol, double deadline,
                         const struct engine_probe *probe, struct check *c)
{
        json_t *list = json_array();
        size_t missing = 0, unchecked = 0;
        const char *first_rt = NULL, *first_img = NULL;

        put(c->doc, "runtimes", list);
        for (size_t i = 0; i < pol->n_runtimes; i++) {
                const struct runtime *rt = &pol->runtimes[i];
                struct al_error err = {0};
                json_t *present;
                long left = remaining_ms(deadline);
                int r;

                r = probe->reachable ? image_cached(rt->image, IMAGE_FRESH_MS) : -1;
                if (r >= 0) {
                        present = json_boolean(r);
                        if (!r && !missing++) {
                                first_rt = rt->name;
                                first_img = rt->image;
                        }
                } else if (!probe->reachable || left <= 1) {
                        unchecked++;
                        present = json_null();
                } else {
                        r = engine_image_inspect_within(daemon_engine(ctx->core), rt->image, left,
                                                        NULL, &err);
                        if (r == -ENOENT || r >= 0)
                                image_remember(rt->image, r >= 0);
                        /* A slow engine: what it said not long ago stands in. */
                        if (r < 0 && r != -ENOENT && image_cached(rt->image, IMAGE_STALE_MS) == 1)
                                r = 0;
                        if (r == -ENOENT) {
                                if (!missing++) {
                                        first_rt = rt->name;
                                        first_img = rt->image;
                                }
                                present = json_false();
                        } else if (r < 0) {
                                unchecked++;
                                present = json_null();
                        } else {
                                present = json_true();
                        }
                }
                json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "name", rt->name, "image",
                                                      rt->image, "present", present));
        }
        if (!probe->reachable) {
                check_set(c, HEALTH_UNKNOWN, "not checked: the engine is not answering");
                return;
        }
        if (missing == 1)
                check_set(c, HEALTH_DEGRADED,
                          "runtime '%s': image %s is missing from the engine; execs on it fail "
                          "until it is built or pulled (docs/images.md)",
                          first_rt, first_img);
        else if (missing > 1)
                check_set(c, HEALTH_DEGRADED,
                          "%zu runtime images are missing, first %s (runtime '%s'); build or "
                          "pull them (docs/images.md)",
                          missing, first_img, first_rt);
        else if (unchecked > 0)
                check_set(c, HEALTH_DEGRADED,
                          "%zu of %zu runtime images could not be checked in time: the engine is "
                          "slow",
                          unchecked, pol->n_runtimes);
        else
                check_set(c, HEALTH_OK, "all %zu runtime images are present", pol->n_runtimes);
}

static void check_oci(const struct engine_probe *probe, struct check *c)
{
        json_t *rts = probe->info ? json_object_get(probe->info, "Runtimes") : NULL;
        const char *def =
            probe->info ? json_string_value(json_object_get(probe->info, "DefaultRuntime")) : NULL;
        json_t *list = json_array(), *v;
        char names[256] = "";
        size_t o = 0, usable = 0;
        bool runsc = false;
        const char *name;

        put(c->doc, "runtimes", list);
        put(c->doc, "default", def ? json_string(def) : json_null());
        if (!probe->reachable) {
                check_set(c, HEALTH_UNKNOWN, "not checked: the engine is not answering");
                return;
        }
        if (!json_is_object(rts)) {
                check_set(c, HEALTH_OK, "the engine does not list its OCI runtimes");
                return;
        }
        json_object_foreach(rts, name, v)
        {
                const char *path = json_string_value(json_object_get(v, "path"));
                /* Podman lists what its configuration names, installed or not; an absolute
                 * path on this host tells. A bare name (Docker) is looked up by the engine. */
                bool known = path && path[0] == '/';
                bool installed = !known || access(path, X_OK) == 0;

                json_array_append_new(
                    list, json_pack("{s:s, s:s?, s:o}", "name", name, "path", path, "installed",
                                    known ? json_boolean(installed) : json_null()));
                if (!installed)
                        continue;
                usable++;
                if (strcmp(name, "runsc") == 0)
                        runsc = true;
                if (o < sizeof(names))
                        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "",
                                              name);
        }
        put(c->doc, "runsc", json_boolean(runsc));
        if (usable == 0)
                check_set(c, HEALTH_DEGRADED, "the engine lists no installed OCI runtime");
        else
                check_set(c, HEALTH_OK, "%s (default %s)%s", names, def ? def : "unknown",
                          runsc ? "" : "; gVisor (runsc) is not available");
}

/* ---- the database ---- */

static void check_database(struct api *ctx, const struct policy *pol, struct check *c)
{
        struct store_stats st = {0};
        struct al_error err = {0};
        char path[4096];

        snprintf(path, sizeof(path), "%s/airlock.db", pol->state_dir);
        put(c->doc, "path", json_string(path));
        put(c->doc, "open", json_boolean(daemon_store(ctx->core) != NULL));
        if (!daemon_store(ctx->core)) {
                put(c->doc, "writable", json_false());
                check_set(c, HEALTH_DOWN, "the database is not open; see the daemon's log");
                return;
        }
        if (store_stats(daemon_store(ctx->core), &st, &err) < 0) {
                check_set(c, HEALTH_DOWN, "cannot read the database: %s", err.msg);
        } else {
                put(c->doc, "schema_version", json_integer(st.schema_version));
                put(c->doc, "size_bytes", json_integer(st.file_bytes));
                put(c->doc, "wal_bytes", json_integer(st.wal_bytes));
                put(c->doc, "executions", json_integer(st.executions));
        }
        if (store_check_writable(daemon_store(ctx->core), HEALTH_DB_WAIT_MS, &err) < 0) {
                put(c->doc, "writable", json_false());
                check_set(c, HEALTH_DOWN,
                          "the database is not writable (%s): execs are refused because they "
                          "cannot be audited; look for a process holding %s",
                          err.msg, path);
                return;
        }
        put(c->doc, "writable", json_true());
        if (c->status == HEALTH_OK)
                check_set(c, HEALTH_OK, "open and writable, schema %d, %.1f MiB", st.schema_version,
                          (double)(st.file_bytes + st.wal_bytes) / 1048576.0);
}

/* ---- free disk ---- */

/* statvfs of path, or of its nearest existing ancestor (the workspace root is made lazily). */
static int statvfs_near(const char *path, struct statvfs *ret, char *used, size_t len)
{
        snprintf(used, len, "%s", path);
        for (;;) {
                char *slash;

                if (statvfs(used, ret) == 0)
                        return 0;
                if (errno != ENOENT)
                        return -errno;
                slash = strrchr(used, '/');
                if (!slash)
                        return -ENOENT;
                if (slash == used) {
                        used[1] = '\0';
                        return statvfs(used, ret) == 0 ? 0 : -errno;
                }
                *slash = '\0';
        }
}

static void disk_one(json_t *list, const char *what, const char *path, struct check *c)
{
        struct statvfs sv;
        char used[4096];
        int64_t free_b, total_b;
        double pct;
        int r = statvfs_near(path, &sv, used, sizeof(used));

        if (r < 0) {
                json_array_append_new(list, json_pack("{s:s, s:s}", "name", what, "path", path));
                check_set(c, HEALTH_DEGRADED, "cannot inspect %s directory %s: %s", what, path,
                          strerror(-r));
                return;
        }
        /* What an unprivileged writer may use: the root reserve is no comfort. */
        free_b = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
        total_b = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        pct = total_b > 0 ? 100.0 * (double)free_b / (double)total_b : 0;
        json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, s:f, s:I}", "name", what,
                                              "path", path, "free_bytes", (json_int_t)free_b,
                                              "total_bytes", (json_int_t)total_b, "free_percent",
                                              (double)(int64_t)(pct * 10) / 10, "free_inodes",
                                              (json_int_t)sv.f_favail));
        if (free_b < DISK_LOW_BYTES || pct < DISK_LOW_PERCENT)
                check_set(c, HEALTH_DEGRADED,
                          "only %.0f MiB (%.1f%%) free under the %s directory %s: free space "
                          "(old workspaces, the engine's images) before writes fail",
                          (double)free_b / 1048576.0, pct, what, path);
}

static void check_disk(const struct policy *pol, struct check *c)
{
        json_t *list = json_array();

        put(c->doc, "paths", list);
        disk_one(list, "state", pol->state_dir, c);
        disk_one(list, "workspace", pol->workspace_root, c);
        if (c->status == HEALTH_OK)
                check_set(c, HEALTH_OK, "enough free space under %s and %s", pol->state_dir,
                          pol->workspace_root);
}

/* ---- workspaces ---- */

/* Each mounted workspace's use of its cap. A full workspace is its agent's business (its
 * writes get ENOSPC, nobody else's do), so it is named here but does not degrade the daemon. */
static void check_workspaces(struct api *ctx, const struct policy *pol, struct check *c)
{
        struct workspace_usage *u = NULL;
        json_t *list = json_array();
        size_t n = 0, full = 0;
        char names[256] = "";

        put(c->doc, "workspace_mb", json_integer(pol->limits.workspace_mb));
        put(c->doc, "agents", list);
        if (workspace_set_usage(daemon_workspaces(ctx->core), &u, &n) < 0) {
                check_set(c, HEALTH_UNKNOWN, "out of memory");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                bool near_full =
                    u[i].free_bytes < u[i].limit_bytes / 100 * (100 - WORKSPACE_FULL_PERCENT);

                json_array_append_new(
                    list, json_pack("{s:s, s:I, s:I, s:I, s:b}", "agent", u[i].agent, "used_bytes",
                                    (json_int_t)u[i].used_bytes, "free_bytes",
                                    (json_int_t)u[i].free_bytes, "limit_bytes",
                                    (json_int_t)u[i].limit_bytes, "near_full", near_full));
                if (near_full && full++ < 4)
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                                 full > 1 ? ", " : "", u[i].agent);
        }
        free(u);
        if (full)
                check_set(c, HEALTH_OK, "%zu of %zu mounted workspace(s) at least %d%% full: %s%s",
                          full, n, WORKSPACE_FULL_PERCENT, names, full > 4 ? ", ..." : "");
        else
                check_set(c, HEALTH_OK, "%zu workspace(s) mounted, none near its cap", n);
}

/* ---- the policy ---- */

static void check_policy(struct api *ctx, const struct policy *pol, struct check *c)
{
        struct daemon_gauges g;
        const char *last_error;
        char sha[65];
        unsigned long reloads, failures;
        int64_t loaded_ms, revision = -1;
        struct al_error err = {0};
        json_t *rev = NULL;

        daemon_gauges(ctx->core, &g);
        reloads = g.reloads;
        failures = g.reload_failures;
        loaded_ms = g.policy_loaded_ms;
        last_error = g.last_reload_error;
        policy_text_sha256(pol, sha);
        if (daemon_store(ctx->core) &&
            store_policy_revision_latest(daemon_store(ctx->core), &rev, &err) == 0)
                revision = json_integer_value(json_object_get(rev, "revision"));
        json_decref(rev);
        put(c->doc, "revision", revision >= 0 ? json_integer(revision) : json_null());
        put(c->doc, "sha256", json_string(sha));
        put(c->doc, "source", pol->source_path ? json_string(pol->source_path) : json_null());
        put(c->doc, "mode", json_string(policy_mode_name(pol->mode)));
        /* Until a reload, the policy in force is the one read at start. */
        put(c->doc, "loaded_at", json_integer(loaded_ms ? loaded_ms : g.started_ms));
        put(c->doc, "reloads", json_integer((json_int_t)reloads));
        put(c->doc, "reload_failures", json_integer((json_int_t)failures));
        put(c->doc, "last_reload_error", last_error[0] ? json_string(last_error) : json_null());
        if (last_error[0])
                check_set(c, HEALTH_DEGRADED,
                          "the last reload was refused, the previous policy still runs: %s; fix "
                          "the file and reload",
                          last_error);
        else
                check_set(c, HEALTH_OK, "revision %lld from %s, mode %s", (long long)revision,
                          pol->source_path ? pol->source_path : "the built-in defaults",
                          policy_mode_name(pol->mode));
}

/* ---- the host backend and the sandboxes ---- */

/* True when some exec may be sent to the host: mode off or selective, globally or for an
 * agent. In mode all everywhere a missing host backend costs nothing. */
static bool host_needed(const struct policy *pol)
{
        if (pol->mode != MODE_ALL)
                return true;
        for (size_t i = 0; i < pol->n_agents; i++)
                if ((pol->agents[i].set & POLICY_AGENT_MODE) && pol->agents[i].mode != MODE_ALL)
                        return true;
        return false;
}

static void check_host(struct api *ctx, const struct policy *pol, struct check *c)
{
        const char *prot[32];
        json_t *list = json_array();
        size_t n;

        put(c->doc, "available", json_boolean(daemon_host(ctx->core) != NULL));
        put(c->doc, "protections", list);
        if (!daemon_host(ctx->core)) {
                if (host_needed(pol))
                        check_set(c, HEALTH_DEGRADED,
                                  "the host backend is not available (the reason is in the "
                                  "daemon's log at start): mode off execs are refused and "
                                  "SELECTIVE's low-risk ones are sandboxed");
                else
                        check_set(c, HEALTH_OK,
                                  "the host backend is not available; not needed in mode all");
                return;
        }
        n = host_backend_available(daemon_host(ctx->core), prot, ARRAY_SIZE(prot));
        for (size_t i = 0; i < n; i++)
                json_array_append_new(list, json_string(prot[i]));
        check_set(c, HEALTH_OK, "available with %zu protections", n);
}

/* The isolation tiers (docs/isolation.md): which are in force; one the policy uses but that is
 * unavailable degrades (its execs get 503 tier_unavailable). */
static void check_isolation(struct api *ctx, const struct policy *pol, struct check *c)
{
        json_t *tiers = daemon_tiers_json(ctx->core), *used = json_array();
        unsigned mask = daemon_tiers_used(ctx->core, pol);
        const char *bad = NULL;

        for (int t = 0; t < ISOLATION_TIERS; t++) {
                const char *name = policy_isolation_name((enum isolation_tier)t);
                const char *state =
                    json_string_value(json_object_get(json_object_get(tiers, name), "state"));

                if (!(mask & (1u << t)))
                        continue;
                json_array_append_new(used, json_string(name));
                if (!bad && state && strcmp(state, "unavailable") == 0)
                        bad = name;
        }
        put(c->doc, "tiers", tiers);
        put(c->doc, "used", used);
        if (bad)
                check_set(c, HEALTH_DEGRADED,
                          "isolation tier '%s' is used by the policy but unavailable: its execs "
                          "are refused",
                          bad);
        else
                check_set(c, HEALTH_OK,
                          "every tier the policy uses is in force or not yet checked");
}

static void check_sandboxes(struct api *ctx, struct check *c)
{
        json_t *live = json_object();
        struct daemon_gauges g;
        int total = 0, inflight;

        for (int s = SCOPE_SESSION; s <= SCOPE_SHARED; s++) {
                int n = daemon_scopes(ctx->core) ? scope_count(daemon_scopes(ctx->core), s) : 0;

                total += n;
                put(live, policy_scope_name((enum policy_scope)s), json_integer(n));
        }
        daemon_gauges(ctx->core, &g);
        inflight = g.inflight;
        put(c->doc, "live", live);
        put(c->doc, "total", json_integer(total));
        put(c->doc, "executions_in_flight", json_integer(inflight));
        put(c->doc, "pooled", json_integer(pool_count(daemon_pool(ctx->core))));
        {
                struct backend *b = daemon_containers(ctx->core);
                json_t *st = b && b->ops->status ? b->ops->status(b) : NULL;

                /* Sandboxes whose agent is gone run execs through the engine, slowly. */
                put(c->doc, "without_agent",
                    json_integer(json_integer_value(json_object_get(st, "without_agent"))));
                json_decref(st);
        }
        put(c->doc, "pools", pool_status(daemon_pool(ctx->core)));
        {
                unsigned n_ctx, n_busy;

                daemon_contexts_count(ctx->core, &n_ctx, &n_busy);
                put(c->doc, "contexts",
                    json_pack("{s:i, s:i}", "total", (int)n_ctx, "busy", (int)n_busy));
        }
        check_set(c, HEALTH_OK, "%d live sandbox%s (and %d pooled), %d exec%s running", total,
                  total == 1 ? "" : "es", pool_count(daemon_pool(ctx->core)), inflight,
                  inflight == 1 ? "" : "s");
}

/* Suspended sandboxes (docs/suspend.md): how many snapshots and bytes, and whether memory
 * snapshots (CRIU) could be kept here; asking for them where they cannot be is degraded. */
static void check_snapshots(struct api *ctx, const struct policy *pol, struct check *c)
{
        json_t *h = daemon_snapshots_health(ctx->core);
        json_t *mem = json_object_get(h, "memory");

        if (c->doc && h)
                json_object_update(c->doc, h);
        if (pol->snapshots.memory)
                check_set(c, HEALTH_DEGRADED,
                          "memory_snapshots = criu, but memory snapshots are unavailable (%s): "
                          "suspends are refused",
                          json_string_value(json_object_get(mem, "reason")));
        else
                check_set(c, HEALTH_OK, "%lld suspended sandbox(es), %lld bytes of snapshots",
                          (long long)json_integer_value(json_object_get(h, "count")),
                          (long long)json_integer_value(json_object_get(h, "bytes")));
        json_decref(h);
}

/* ---- the document ---- */

static json_t *health_run(struct api *ctx, enum health_status *ret_overall)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx->core);
        struct overall overall = {HEALTH_OK, "every subsystem is ok"};
        struct engine_probe probe = {0};
        double t0 = now_ms_precise(), deadline = t0 + HEALTH_ENGINE_BUDGET_MS;
        json_t *checks = json_object(), *doc;
        struct daemon_gauges g;
        int64_t started_ms;
        struct check c;

        check_init(&c);
        check_engine(ctx, pol, deadline, &probe, &c);
        check_done(checks, "engine", &c, &overall);
        check_init(&c);
        check_images(ctx, pol, deadline, &probe, &c);
        check_done(checks, "images", &c, &overall);
        check_init(&c);
        check_oci(&probe, &c);
        check_done(checks, "oci_runtimes", &c, &overall);
        json_decref(probe.info);
        check_init(&c);
        check_database(ctx, pol, &c);
        check_done(checks, "database", &c, &overall);
        check_init(&c);
        check_disk(pol, &c);
        check_done(checks, "disk", &c, &overall);
        check_init(&c);
        check_workspaces(ctx, pol, &c);
        check_done(checks, "workspaces", &c, &overall);
        check_init(&c);
        check_policy(ctx, pol, &c);
        check_done(checks, "policy", &c, &overall);
        check_init(&c);
        check_host(ctx, pol, &c);
        check_done(checks, "host_backend", &c, &overall);
        check_init(&c);
        check_isolation(ctx, pol, &c);
        check_done(checks, "isolation", &c, &overall);
        check_init(&c);
        check_sandboxes(ctx, &c);
        check_done(checks, "sandboxes", &c, &overall);
        check_init(&c);
        check_snapshots(ctx, pol, &c);
        check_done(checks, "snapshots", &c, &overall);
        daemon_gauges(ctx->core, &g);
        started_ms = g.started_ms;

        doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:o}", "status",
                        status_names[overall.status], "message", overall.message, "version",
                        AIRLOCK_VERSION, "instance", daemon_instance_id(ctx->core), "checked_at",
                        (json_int_t)util_wall_ms(), "uptime_s",
                        (json_int_t)((util_wall_ms() - started_ms) / 1000), "took_ms",
                        (double)(int64_t)((now_ms_precise() - t0) * 10) / 10, "checks", checks);
        *ret_overall = overall.status;
        return doc;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_text;
static int64_t cache_at_ms;
static unsigned cache_status;
static unsigned long cache_reloads; /* the daemon's reloads (applied or refused) it saw */

/* The health document as text, from the cache when fresh; caller frees. */
static char *health_text(struct api *ctx, unsigned *ret_status)
{
        enum health_status overall;
        struct daemon_gauges g;
        unsigned long reloads;
        char *text = NULL;
        json_t *doc;

        /* A document from before a reload is not served after it: the pools, the policy and
         * the images it names may all have changed. */
        daemon_gauges(ctx->core, &g);
        reloads = g.reloads + g.reload_failures;
        pthread_mutex_lock(&cache_lock);
        if (!cache_text || util_now_ms() - cache_at_ms >= HEALTH_CACHE_MS ||
            reloads != cache_reloads) {
                doc = health_run(ctx, &overall);
                text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                if (text) {
                        free(cache_text);
                        cache_text = text;
                        cache_at_ms = util_now_ms();
                        cache_reloads = reloads;
                        cache_status =
                            overall == HEALTH_DOWN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
                }
        }
        text = cache_text ? strdup(cache_text) : NULL;
        *ret_status = cache_status;
        pthread_mutex_unlock(&cache_lock);
        return text;
}

ROUTE_HANDLER(route_health)
{
        unsigned status;
        char *text = health_text(ctx, &status);

        if (!text)
                return api_send_error(conn, -ENOMEM, "cannot build the health document");
        return api_send_text(conn, status, text, strlen(text), "application/json",
                             (const char *const[]){"Cache-Control", "no-store", NULL});
}
