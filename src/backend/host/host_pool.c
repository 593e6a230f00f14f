/* The pool of spawner slots. A slot is a set of cgroups with one spawner process in them;
 * each exec's init is forked by the spawner, so it starts inside the cgroups without a move
 * (which costs an RCU grace period, 10-30 ms). A thread keeps the pool filled in the
 * background; an exec that finds no ready slot is launched directly instead. */
#include "backend/host/host_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

static void slot_destroy(struct host_slot *s)
{
        struct pollfd pf;
        siginfo_t si;

        if (!s)
                return;
        if (s->sock >= 0)
                close(s->sock); /* the spawner exits when its socket closes */
        if (s->pidfd >= 0) {
                pf = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
                if (poll(&pf, 1, 1000) <= 0)
                        (void)syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
                while (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | __WALL) < 0 &&
                       errno == EINTR)
                        ;
                close(s->pidfd);
        }
        (void)host_cg_destroy(&s->cg, 5000, NULL);
        host_cfg_unref(s->cfg);
        free(s);
}

static struct host_slot *slot_new(struct host_cfg *cfg, const char *instance, struct al_error *err)
{
        struct host_slot *s;
        struct host_launch tmpl;
        struct limits lim = {0};
        char name[HOST_CG_NAME_MAX], hex[17];
        int r;

        s = calloc(1, sizeof(*s));
        if (!s) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        s->sock = s->pidfd = -1;
        s->cfg = host_cfg_ref(cfg);
        snprintf(s->instance, sizeof(s->instance), "%s", instance);
        if (util_random_hex(hex, 8) < 0) {
                al_err(err, -EIO, "no randomness");
                goto fail;
        }
        snprintf(name, sizeof(name), "%s-p%s", instance, hex);
        /* No limits until an exec sets its own. */
        r = host_cg_create(&cfg->cg, name, &lim, 0, HOST_CG_SLOT, &s->cg, err);
        if (r < 0)
                goto fail_nocg;
        memset(&tmpl, 0, sizeof(tmpl));
        host_cfg_template(cfg, &tmpl);
        tmpl.netns = cfg->netns;
        r = host_spawner_start(&tmpl, s->cg.procs_fd, (size_t)s->cg.n, &s->sock, &s->pidfd, &s->pid,
                               err);
        host_cg_close_fds(&s->cg);
        if (r < 0)
                goto fail;
        return s;
fail_nocg:
        s->cg.n = 0;
fail:
        slot_destroy(s);
        return NULL;
}

static void *pool_thread(void *arg)
{
        struct host_pool *p = arg;

        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                struct host_cfg *cfg;
                struct host_slot *s;
                char inst[sizeof(p->instance)];
                struct al_error err = {0};

                if (!p->cfg || p->n_total >= p->target) {
                        pthread_cond_wait(&p->cond, &p->lock);
                        continue;
                }
                cfg = host_cfg_ref(p->cfg);
                memcpy(inst, p->instance, sizeof(inst));
                p->n_total++;
                pthread_mutex_unlock(&p->lock);
                s = slot_new(cfg, inst, &err);
                host_cfg_unref(cfg);
                pthread_mutex_lock(&p->lock);
                if (!s) {
                        struct timespec ts;
                        int wait_s = p->failures < 5 ? 1 << p->failures : 30;

                        /* The launches fall back to the direct path meanwhile. */
                        p->n_total--;
                        p->failures++;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += wait_s;
                        (void)pthread_cond_timedwait(&p->cond, &p->lock, &ts);
                        continue;
                }
                p->failures = 0;
                s->next = p->ready;
                p->ready = s;
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

void host_pool_init(struct host_pool *p)
{
        memset(p, 0, sizeof(*p));
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
}

void host_pool_clear(struct host_pool *p, const char *instance)
{
        struct host_slot *gone = NULL;

        pthread_mutex_lock(&p->lock);
        for (struct host_slot **pp = &p->ready; *pp;) {
                struct host_slot *s = *pp;

                if (instance && strcmp(s->instance, instance) != 0) {
                        pp = &s->next;
                        continue;
                }
                *pp = s->next;
                s->next = gone;
                gone = s;
                p->n_total--;
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        while (gone) {
                struct host_slot *s = gone;

                gone = s->next;
                slot_destroy(s);
        }
}

void host_pool_fini(struct host_pool *p)
{
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (p->started)
                pthread_join(p->thread, NULL);
        host_pool_clear(p, NULL);
        host_cfg_unref(p->cfg);
        p->cfg = NULL;
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
}

struct host_slot *host_pool_take(struct host_pool *p, struct host_cfg *cfg, const char *instance,
                                 size_t target)
{
        struct host_slot *found = NULL, *stale = NULL;

        if (target == 0 || strlen(instance) > HOST_INSTANCE_MAX)
                return NULL;
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
                pthread_mutex_unlock(&p->lock);
                return NULL;
        }
        if (p->cfg != cfg || strcmp(p->instance, instance) != 0) {
                host_cfg_unref(p->cfg);
                p->cfg = host_cfg_ref(cfg);
                snprintf(p->instance, sizeof(p->instance), "%s", instance);
        }
        p->target = target;
        if (!p->started) {
                sigset_t all, old;

                /* The refill thread takes none of the daemon's signals. */
                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                p->started = pthread_create(&p->thread, NULL, pool_thread, p) == 0;
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        for (struct host_slot **pp = &p->ready; *pp;) {
                struct host_slot *s = *pp;

                if (s->cfg != cfg || strcmp(s->instance, instance) != 0) {
                        /* Made before a reload, or for another instance: retire it. */
                        *pp = s->next;
                        s->next = stale;
                        stale = s;
                        p->n_total--;
                        continue;
                }
                if (!found) {
                        *pp = s->next;
                        found = s;
                        continue;
                }
                pp = &s->next;
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        while (stale) {
                struct host_slot *s = stale;

                stale = s->next;
                slot_destroy(s);
        }
        if (found)
                found->next = NULL;
        return found;
}

void host_pool_drop(struct host_pool *p, struct host_slot *s)
{
        pthread_mutex_lock(&p->lock);
        p->n_total--;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        slot_destroy(s);
}

void host_pool_put(struct host_pool *p, struct host_slot *s)
{
        struct pollfd pf = {.fd = s->pidfd, .events = POLLIN};
        int64_t deadline = util_now_ms() + 200;
        int n;

        /* The init's exit took its namespace down; wait for the last exits to be counted. */
        while ((n = host_cg_count(&s->cg)) > 1 && util_now_ms() < deadline) {
                struct timespec ts = {0, 500000};

                nanosleep(&ts, NULL);
        }
        if (n != 1 || poll(&pf, 1, 0) != 0) {
                host_pool_drop(p, s);
                return;
        }
        pthread_mutex_lock(&p->lock);
        if (p->stop || s->cfg != p->cfg) {
                pthread_mutex_unlock(&p->lock);
                host_pool_drop(p, s);
                return;
        }
        s->next = p->ready;
        p->ready = s;
        pthread_mutex_unlock(&p->lock);
}

int host_slot_prepare(struct host_slot *s, const struct limits *lim, struct al_error *err)
{
        int r = host_cg_set_limits(&s->cg, lim, HOST_SLOT_EXTRA_PIDS, err);

        if (r < 0)
                return r;
        s->oom_base = host_cg_oom_kills(&s->cg);
        return 0;
}
