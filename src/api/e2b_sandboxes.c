/* The E2B sandboxes of a listener: each is an airlock session ("e2b-" and 16 hex digits) of
 * the API key's agent, with the runtime its template names, an access token for the in-sandbox
 * API, an end time (E2B's timeout), metadata and environment. Kept in memory, like contexts:
 * a SESSION-scope sandbox ends with the daemon anyway. A reaper ends the sandboxes whose time
 * is up: their processes are killed and their session ended (its sandboxes removed). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/scope.h"
#include "airlock/store.h"
#include "airlock/util.h"
#include "e2b.h"
#include "routes.h"

/* The longest timeout asked for is cut to this (E2B's own ceiling is 24 hours). */
#define E2B_TIMEOUT_MAX_S 86400
#define E2B_SANDBOXES_MAX 1024

struct sb {
        struct sb *next;
        struct e2b_sandbox_info info;
};

struct e2b {
        struct api *ctx;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        struct sb *list;
        size_t n;
        bool stop;
        pthread_t reaper;
        bool reaper_running;
        struct e2b_procs *procs;
};

void e2b_sandbox_info_clear(struct e2b_sandbox_info *s)
{
        json_decref(s->metadata);
        json_decref(s->env);
        memset(s, 0, sizeof(*s));
}

static void info_copy(struct e2b_sandbox_info *dst, const struct e2b_sandbox_info *src)
{
        *dst = *src;
        json_incref(dst->metadata);
        json_incref(dst->env);
}

struct e2b_procs *e2b_procs_of(struct e2b *e)
{
        return e->procs;
}

/* End a sandbox taken off the list: its processes, its session (and so its sandboxes). */
static void sandbox_end(struct e2b *e, struct sb *s, const char *why)
{
        struct al_error err = {0};
        int n;

        e2b_procs_kill_sandbox(e->procs, s->info.id);
        n = scope_end_session(daemon_scopes(e->ctx->core), s->info.agent, s->info.id);
        if (daemon_store(e->ctx->core) &&
            store_session_end(daemon_store(e->ctx->core), s->info.agent, s->info.id, 0, &err) < 0 &&
            err.code != -ENOENT)
                log_warn("e2b: recording the end of session '%s': %s", s->info.id, err.msg);
        log_info("e2b: sandbox %s of agent '%s' %s: %d sandbox(es) removed", s->info.id,
                 s->info.agent, why, n);
        e2b_sandbox_info_clear(&s->info);
        free(s);
}

static void *reaper(void *arg)
{
        struct e2b *e = arg;

        pthread_mutex_lock(&e->lock);
        while (!e->stop) {
                struct timespec ts;
                struct sb **pp = &e->list, *expired = NULL;
                int64_t now = util_wall_ms();

                while (*pp) {
                        struct sb *s = *pp;

                        if (s->info.end_ms <= now) {
                                *pp = s->next;
                                s->next = expired;
                                expired = s;
                                e->n--;
                        } else {
                                pp = &s->next;
                        }
                }
                pthread_mutex_unlock(&e->lock);
                while (expired) {
                        struct sb *s = expired;

                        expired = s->next;
                        sandbox_end(e, s, "timed out");
                }
                pthread_mutex_lock(&e->lock);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                if (!e->stop)
                        pthread_cond_timedwait(&e->wake, &e->lock, &ts);
        }
        pthread_mutex_unlock(&e->lock);
        return NULL;
}

struct e2b *e2b_new(struct api *ctx)
{
        struct e2b *e = calloc(1, sizeof(*e));

        if (!e)
                return NULL;
        e->ctx = ctx;
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->wake, NULL);
        e->procs = e2b_procs_new();
        if (!e->procs || pthread_create(&e->reaper, NULL, reaper, e) != 0) {
                e2b_procs_free(e->procs);
                free(e);
                return NULL;
        }
        e->reaper_running = true;
        return e;
}

void e2b_free(struct e2b *e)
{
        struct sb *s;

        if (!e)
                return;
        pthread_mutex_lock(&e->lock);
        e->stop = true;
        pthread_cond_broadcast(&e->wake);
        pthread_mutex_unlock(&e->lock);
        if (e->reaper_running)
                pthread_join(e->reaper, NULL);
        while ((s = e->list)) {
                e->list = s->next;
                sandbox_end(e, s, "ended with the daemon");
        }
        e2b_procs_free(e->procs);
        pthread_cond_destroy(&e->wake);
        pthread_mutex_destroy(&e->lock);
        free(e);
}

static int64_t clamp_timeout(int64_t s)
{
        return s < 0 ? 0 : s > E2B_TIMEOUT_MAX_S ? E2B_TIMEOUT_MAX_S : s;
}

int e2b_sandbox_add(struct e2b *e, const struct e2b_sandbox_info *want, int64_t timeout_s,
                    struct e2b_sandbox_info *ret, struct al_error *err)
{
        struct sb *s = calloc(1, sizeof(*s));

        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        info_copy(&s->info, want);
        if (!s->info.metadata)
                s->info.metadata = json_object();
        if (!s->info.env)
                s->info.env = json_object();
        memcpy(s->info.id, "e2b-", 4);
        util_random_hex(s->info.id + 4, (E2B_ID_LEN - 4) / 2);
        util_random_hex(s->info.token, E2B_TOKEN_LEN / 2);
        s->info.started_ms = util_wall_ms();
        s->info.end_ms = s->info.started_ms + clamp_timeout(timeout_s) * 1000;
        pthread_mutex_lock(&e->lock);
        if (e->n >= E2B_SANDBOXES_MAX) {
                pthread_mutex_unlock(&e->lock);
                e2b_sandbox_info_clear(&s->info);
                free(s);
                return al_err(err, -AL_E_LIMITED, "%d E2B sandboxes are open: kill some first",
                              E2B_SANDBOXES_MAX);
        }
        s->next = e->list;
        e->list = s;
        e->n++;
        info_copy(ret, &s->info);
        pthread_mutex_unlock(&e->lock);
        return 0;
}

/* The entry of id (and agent when not NULL); under the lock. */
static struct sb **find(struct e2b *e, const char *id, const char *agent)
{
        for (struct sb **pp = &e->list; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->info.id, id) == 0)
                        return !agent || strcmp((*pp)->info.agent, agent) == 0 ? pp : NULL;
        return NULL;
}

int e2b_sandbox_get(struct e2b *e, const char *id, const char *agent, struct e2b_sandbox_info *ret)
{
        struct sb **pp;

        pthread_mutex_lock(&e->lock);
        pp = find(e, id, agent);
        if (pp)
                info_copy(ret, &(*pp)->info);
        pthread_mutex_unlock(&e->lock);
        return pp ? 0 : -ENOENT;
}

int e2b_sandbox_set_timeout(struct e2b *e, const char *id, const char *agent, int64_t timeout_s)
{
        struct sb **pp;

        pthread_mutex_lock(&e->lock);
        pp = find(e, id, agent);
        if (pp)
                (*pp)->info.end_ms = util_wall_ms() + clamp_timeout(timeout_s) * 1000;
        pthread_cond_broadcast(&e->wake);
        pthread_mutex_unlock(&e->lock);
        return pp ? 0 : -ENOENT;
}

int e2b_sandbox_kill(struct e2b *e, const char *id, const char *agent, struct al_error *err)
{
        struct sb **pp, *s = NULL;

        pthread_mutex_lock(&e->lock);
        pp = find(e, id, agent);
        if (pp) {
                s = *pp;
                *pp = s->next;
                e->n--;
        }
        pthread_mutex_unlock(&e->lock);
        if (!s)
                return al_err(err, -ENOENT, "sandbox '%.64s' not found", id);
        sandbox_end(e, s, "killed on request");
        return 0;
}

json_t *e2b_sandbox_doc(const struct e2b_sandbox_info *s, bool with_token, bool listed)
{
        char started[32], end[32];
        json_t *o;

        if (!listed) {
                o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "templateID", s->template_id,
                              "sandboxID", s->id, "alias", s->template_id, "clientID", "airlock",
                              "envdVersion", E2B_ENVD_VERSION, "domain");
                if (o && with_token) {
                        json_object_set_new(o, "envdAccessToken", json_string(s->token));
                        /* The code interpreter's context calls carry only this one. */
                        json_object_set_new(o, "trafficAccessToken", json_string(s->token));
                }
                return o;
        }
        e2b_time_format(s->started_ms, started);
        e2b_time_format(s->end_ms, end);
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:O, s:s, s:s, s:[]}",
                      "templateID", s->template_id, "alias", s->template_id, "sandboxID", s->id,
                      "clientID", "airlock", "startedAt", started, "endAt", end, "cpuCount",
                      s->cpu_count, "memoryMB", s->memory_mb, "diskSizeMB", s->disk_mb, "metadata",
                      s->metadata, "state", "running", "envdVersion", E2B_ENVD_VERSION,
                      "volumeMounts");
        if (o && with_token)
                json_object_set_new(o, "envdAccessToken", json_string(s->token));
        return o;
}

json_t *e2b_sandboxes_list(struct e2b *e, const char *agent)
{
        json_t *rows = json_array();

        pthread_mutex_lock(&e->lock);
        for (struct sb *s = e->list; s && rows; s = s->next)
                if (strcmp(s->info.agent, agent) == 0)
                        json_array_append_new(rows, e2b_sandbox_doc(&s->info, false, true));
        pthread_mutex_unlock(&e->lock);
        return rows;
}

int e2b_sandbox_authorize(struct e2b *e, const char *id, const char *token, char ret_agent[65])
{
        struct sb **pp;
        unsigned diff = 0;
        size_t n = token ? strlen(token) : 0;
        int r = -ENOENT;

        pthread_mutex_lock(&e->lock);
        pp = find(e, id, NULL);
        if (pp) {
                const char *want = (*pp)->info.token;

                /* Constant time over the token's own length. */
                for (size_t i = 0; i < E2B_TOKEN_LEN; i++)
                        diff |= (unsigned char)want[i] ^ (unsigned char)(i < n ? token[i] : 0);
                r = diff == 0 && n == E2B_TOKEN_LEN ? 0 : -EKEYREJECTED;
                if (r == 0)
                        snprintf(ret_agent, 65, "%s", (*pp)->info.agent);
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}
