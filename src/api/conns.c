/* The open connections: admission by slot shares, and read deadlines kept by a sweeper. */
#include "conns.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"
#include "limits.h"
#include "routes.h"

/* How often the sweeper looks: a deadline is kept to within this. */
#define SWEEP_MS 250
/* A flood must not become a flood of log lines: one warning per interval at most. */
#define CONN_WARN_INTERVAL_MS 10000

struct conn_rec {
        struct conn_rec *prev, *next;
        int fd;
        uid_t uid;
        bool counted;             /* holds one of its uid's places in the limiter */
        bool health_only;         /* admitted to a reserved slot */
        bool cut;                 /* shut down by the sweeper */
        int64_t reading_since_ms; /* atomic; 0 while a request is being answered */
};

struct conns {
        struct api *ctx;
        int64_t max;
        pthread_mutex_t lock; /* the list, open, stop */
        pthread_cond_t wake;
        struct conn_rec *head;
        int64_t open;
        bool stop;
        pthread_t sweeper;
        /* warnings held back, per kind */
        int64_t refused_warn_ms, cut_warn_ms;
        unsigned long refused, cut;
};

static void uid_key(uid_t uid, char *key, size_t size)
{
        snprintf(key, size, "u:%lu", (unsigned long)uid);
}

/* Close, under c->lock, the connections whose request is overdue. */
static void sweep(struct conns *c, int64_t now, int64_t timeout_ms)
{
        unsigned long n = 0;

        for (struct conn_rec *r = c->head; r; r = r->next) {
                int64_t since = __atomic_load_n(&r->reading_since_ms, __ATOMIC_ACQUIRE);

                if (r->cut || since == 0 || now - since < timeout_ms)
                        continue;
                /* MHD owns the fd and closes it only after the CLOSED notification, which
                 * takes this lock: the fd is still this connection's. */
                shutdown(r->fd, SHUT_RDWR);
                r->cut = true;
                n++;
                metrics_rejected("read_timeout");
        }
        if (!n)
                return;
        c->cut += n;
        if (now - c->cut_warn_ms >= CONN_WARN_INTERVAL_MS) {
                c->cut_warn_ms = now;
                log_warn("closed %lu connections that sent no whole request within [daemon] "
                         "read_timeout_s = %lld (%lu so far)",
                         n, (long long)(timeout_ms / 1000), c->cut);
        }
}

static void *sweeper_main(void *arg)
{
        struct conns *c = arg;

        pthread_mutex_lock(&c->lock);
        while (!c->stop) {
                struct policy *pol = daemon_policy(c->ctx->core);
                int64_t timeout_ms = pol->read_timeout_s * 1000;
                struct timespec ts;

                policy_unref(pol);
                sweep(c, util_now_ms(), timeout_ms);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += SWEEP_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&c->wake, &c->lock, &ts);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

struct conns *conns_new(struct api *ctx, int64_t max, struct al_error *err)
{
        struct conns *c = calloc(1, sizeof(*c));
        int r;

        if (!c) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        c->ctx = ctx;
        c->max = max;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->wake, NULL);
        r = pthread_create(&c->sweeper, NULL, sweeper_main, c);
        if (r != 0) {
                pthread_cond_destroy(&c->wake);
                pthread_mutex_destroy(&c->lock);
                free(c);
                al_err_errno(err, -r, "cannot start the connection sweeper");
                return NULL;
        }
        return c;
}

void conns_free(struct conns *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->sweeper, NULL);
        while (c->head) {
                struct conn_rec *r = c->head;

                c->head = r->next;
                free(r);
        }
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

static void refuse(struct conns *c, int fd, uid_t uid, int64_t cap)
{
        int64_t now = util_now_ms();

        /* MHD owns the fd: shut it down and its thread sees the end at once. */
        shutdown(fd, SHUT_RDWR);
        metrics_rejected("too_many_connections");
        c->refused++;
        if (now - c->refused_warn_ms >= CONN_WARN_INTERVAL_MS) {
                c->refused_warn_ms = now;
                log_warn("uid %lu holds its share of connections (%lld: [daemon] "
                         "max_connections_per_uid, at most half of max_connections less "
                         "reserved_connections) or all %lld are open; closing the ones past it "
                         "(%lu so far)",
                         (unsigned long)uid, (long long)cap, (long long)c->max, c->refused);
        }
}

static void opened(struct conns *c, struct MHD_Connection *conn, void **socket_context)
{
        struct conn_rec *rec;
        struct policy *pol;
        struct ucred cred;
        int64_t per_uid, reserved, open_uid = 0;
        enum limits_conn verdict;
        char key[LIMITER_KEY_MAX];
        int fd = api_connection_fd(conn);

        *socket_context = NULL;
        api_peer_of(conn, &cred);
        /* TCP (the MCP and E2B listeners) has no credentials: its clients share one uid's share. */
        if (c->ctx->mcp_only || c->ctx->e2b)
                cred.uid = CONNS_TCP_UID;
        pol = daemon_policy(c->ctx->core);
        per_uid = pol->max_connections_per_uid;
        reserved = pol->reserved_connections;
        policy_unref(pol);
        rec = calloc(1, sizeof(*rec));
        uid_key(cred.uid, key, sizeof(key));
        pthread_mutex_lock(&c->lock);
        if (c->ctx->limiter)
                open_uid = limiter_count(c->ctx->limiter, LIMITER_CONNECTIONS, key);
        verdict = limits_conn_admit(c->max, reserved, per_uid, c->open, open_uid);
        /* A peer without credentials cannot be given a share; the limiter's key table full
         * refuses too. */
        if (!rec || cred.uid == (uid_t)-1 ||
            (verdict != LIMITS_CONN_REFUSE && c->ctx->limiter &&
             limiter_enter(c->ctx->limiter, LIMITER_CONNECTIONS, key, 0) < 0))
                verdict = LIMITS_CONN_REFUSE;
        if (verdict == LIMITS_CONN_REFUSE) {
                refuse(c, fd, cred.uid, limits_conn_uid_cap(c->max, reserved, per_uid));
                pthread_mutex_unlock(&c->lock);
                free(rec);
                return;
        }
        rec->fd = fd;
        rec->uid = cred.uid;
        rec->counted = c->ctx->limiter != NULL;
        rec->health_only = verdict == LIMITS_CONN_HEALTH_ONLY;
        rec->reading_since_ms = util_now_ms();
        rec->next = c->head;
        if (c->head)
                c->head->prev = rec;
        c->head = rec;
        c->open++;
        pthread_mutex_unlock(&c->lock);
        *socket_context = rec;
}

static void closed(struct conns *c, void **socket_context)
{
        struct conn_rec *rec = *socket_context;
        char key[LIMITER_KEY_MAX];

        if (!rec)
                return;
        *socket_context = NULL;
        pthread_mutex_lock(&c->lock);
        if (rec->prev)
                rec->prev->next = rec->next;
        else
                c->head = rec->next;
        if (rec->next)
                rec->next->prev = rec->prev;
        c->open--;
        if (rec->counted && c->ctx->limiter) {
                uid_key(rec->uid, key, sizeof(key));
                limiter_leave(c->ctx->limiter, LIMITER_CONNECTIONS, key);
        }
        pthread_mutex_unlock(&c->lock);
        free(rec);
}

void conns_notify(struct conns *c, struct MHD_Connection *conn, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe)
{
        if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
                closed(c, socket_context);
        else
                opened(c, conn, socket_context);
}

static struct conn_rec *rec_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return info ? info->socket_context : NULL;
}

void conns_request_read(struct MHD_Connection *conn)
{
        struct conn_rec *rec = rec_of(conn);

        if (rec)
                __atomic_store_n(&rec->reading_since_ms, 0, __ATOMIC_RELEASE);
}

void conns_request_done(struct MHD_Connection *conn)
{
        struct conn_rec *rec = rec_of(conn);

        if (rec)
                __atomic_store_n(&rec->reading_since_ms, util_now_ms(), __ATOMIC_RELEASE);
}

bool conns_health_only(struct MHD_Connection *conn)
{
        struct conn_rec *rec = rec_of(conn);

        return rec && rec->health_only;
}
