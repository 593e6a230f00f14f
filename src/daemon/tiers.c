/* Isolation tiers (docs/isolation.md): whether each tier is really in force before a sandbox of
 * it is handed out. The backend says whether it can make the tier at all (the engine has the
 * runtime); for the gvisor tier a probe sandbox then checks from inside that the code talks to
 * a kernel other than the host's and runs under seccomp (runsc ignores the container's
 * profile without --oci-seccomp) without capabilities. Each sandbox is also checked when made
 * (the backend: its first host process is runsc's exactly in the gvisor tier). A tier found
 * unavailable is asked again after TIER_RETRY_MS, so that a fix (setup run, engine restarted)
 * is noticed without a restart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_private.h"
#include "airlock/backend.h"
#include "airlock/cleanup.h"
#include "airlock/log.h"
#include "airlock/util.h"

#define TIER_RETRY_MS 60000
#define PROBE_OUT_MAX 8192
#define PROBE_TIMEOUT 20000

/* The probe's findings in its output: the kernel's version line and the status fields. */
static int probe_check(enum isolation_tier t, const char *out, struct al_error *err)
{
        _cleanup_free_ char *host = NULL;
        const char *seccomp = strstr(out, "\nSeccomp:"), *caps = strstr(out, "\nCapEff:");
        size_t n = strcspn(out, "\n");
        bool same_kernel;

        if (util_read_file("/proc/version", 4096, &host, NULL, NULL, NULL) < 0)
                return al_err(err, -EIO, "cannot read the host's /proc/version");
        same_kernel = strncmp(out, host, n) == 0 && n == strcspn(host, "\n");
        if (t == ISOLATION_GVISOR && same_kernel)
                return al_err(err, -EPROTO,
                              "the probe sandbox runs on the host's kernel, not gVisor's");
        if (t == ISOLATION_CONTAINER && !same_kernel)
                return al_err(err, -EPROTO, "the probe sandbox does not run on the host's kernel");
        if (!seccomp || strtol(seccomp + strlen("\nSeccomp:"), NULL, 10) != 2)
                return al_err(err, -EPROTO,
                              "seccomp is not in force in the probe sandbox (runsc needs "
                              "--oci-seccomp: contrib/runsc.sh)");
        if (!caps || strtoull(caps + strlen("\nCapEff:"), NULL, 16) != 0)
                return al_err(err, -EPROTO, "the probe sandbox's code has capabilities");
        return 0;
}

static int probe(struct daemon *d, const struct sandbox_spec *like, enum isolation_tier t,
                 struct al_error *err)
{
        struct backend *b = d->containers;
        struct sandbox_spec spec = *like;
        char *argv[] = {"cat", "/proc/version", "/proc/self/status", NULL};
        struct exec_spec x = {.argv = argv, .timeout_ms = PROBE_TIMEOUT};
        struct exec_result res;
        _cleanup_free_ char *handle = NULL;
        int r;

        if (b->ops->tier_supported && (r = b->ops->tier_supported(b, t, err)) < 0)
                return r;
        if (!b->ops->tier_supported && t != ISOLATION_CONTAINER)
                return al_err(err, -EOPNOTSUPP, "the %s backend has only the container tier",
                              b->ops->name);
        /* The container tier's hardening is the engine's, checked by each sandbox's creation
         * and the tests; only a tier made by another runtime needs a look inside. */
        if (t == ISOLATION_CONTAINER)
                return 0;
        spec.isolation = t;
        spec.network = false;
        spec.workspace = WORKSPACE_NONE;
        spec.workspace_dir = NULL;
        spec.session = NULL;
        r = b->ops->sandbox_create(b, &spec, &handle, err);
        if (r < 0)
                return al_err_wrap(err, r, "making a probe sandbox");
        exec_result_init(&res, PROBE_OUT_MAX);
        r = b->ops->sandbox_exec(b, handle, &x, NULL, &res, err);
        if (r >= 0 && res.exit_code != 0)
                r = al_err(err, -EPROTO, "the probe exited with %d", res.exit_code);
        if (r >= 0)
                r = probe_check(t, res.out.data ? res.out.data : "", err);
        exec_result_clear(&res);
        b->ops->sandbox_remove(b, handle, NULL);
        return r;
}

int daemon_tier_ready(struct daemon *d, const struct sandbox_spec *like, enum isolation_tier t,
                      struct al_error *err)
{
        struct daemon_tier *s;
        int64_t now = util_now_ms();
        int r;

        if (t < 0 || t >= ISOLATION_TIERS)
                return al_err(err, -EINVAL, "no such isolation tier");
        s = &d->tiers[t];
        pthread_mutex_lock(&d->tiers_lock);
        if (s->state == 0 || (s->state < 0 && now - s->checked_ms >= TIER_RETRY_MS)) {
                struct al_error perr = {0};

                r = probe(d, like, t, &perr);
                s->state = r < 0 ? -1 : 1;
                s->checked_ms = util_now_ms();
                snprintf(s->why, sizeof(s->why), "%s", r < 0 ? perr.msg : "");
                if (r < 0)
                        log_warn("isolation tier %s is unavailable: %s", policy_isolation_name(t),
                                 perr.msg);
                else
                        log_info("isolation tier %s is in force", policy_isolation_name(t));
        }
        r = s->state > 0
                ? 0
                : al_err(err, -AL_E_TIER_UNAVAILABLE, "isolation tier '%s' is unavailable: %s",
                         policy_isolation_name(t), s->why);
        pthread_mutex_unlock(&d->tiers_lock);
        return r;
}

json_t *daemon_tiers_json(struct daemon *d)
{
        json_t *o = json_object();

        pthread_mutex_lock(&d->tiers_lock);
        for (int t = 0; o && t < ISOLATION_TIERS; t++) {
                const struct daemon_tier *s = &d->tiers[t];

                json_object_set_new(o, policy_isolation_name((enum isolation_tier)t),
                                    json_pack("{s:s, s:s?}", "state",
                                              s->state > 0   ? "available"
                                              : s->state < 0 ? "unavailable"
                                                             : "unchecked",
                                              "reason", s->state < 0 ? s->why : NULL));
        }
        pthread_mutex_unlock(&d->tiers_lock);
        return o;
}

unsigned daemon_tiers_used(struct daemon *d, const struct policy *pol)
{
        struct rules_holder *h = daemon_rules(d);
        unsigned used = 1u << pol->isolation;

        for (size_t i = 0; i < pol->n_agents; i++)
                if (pol->agents[i].set & POLICY_AGENT_ISOLATION)
                        used |= 1u << pol->agents[i].isolation;
        for (size_t i = 0; i < pol->n_runtimes; i++)
                if (pol->runtimes[i].pool_gvisor > 0)
                        used |= 1u << ISOLATION_GVISOR;
        if (h && pol->mode != MODE_OFF && classify_rules_gvisor(h->rules) > 0)
                used |= 1u << ISOLATION_GVISOR;
        rules_holder_unref(h);
        return used;
}

/* At start, in the background: the tiers the policy uses are checked before the first exec
 * needs them, and health can say whether they are in force. */
static void *tiers_main(void *arg)
{
        struct daemon *d = arg;
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        const struct runtime *rt = policy_runtime(pol, pol->default_runtime);
        unsigned used = daemon_tiers_used(d, pol);

        for (int t = 0; rt && t < ISOLATION_TIERS; t++) {
                struct sandbox_spec like = {.limits = pol->limits,
                                            .instance_id = d->instance_id,
                                            .keeper_user = pol->keeper_user,
                                            .exec_user = pol->exec_user,
                                            .seccomp_profile = d->seccomp_path,
                                            .scope = SCOPE_SESSION,
                                            .isolation = (enum isolation_tier)t};

                like.image = policy_runtime_image(rt, like.isolation);
                if (used & (1u << t))
                        daemon_tier_ready(d, &like, like.isolation, NULL);
        }
        return NULL;
}

void daemon_tiers_start(struct daemon *d)
{
        d->tiers_started = pthread_create(&d->tiers_thread, NULL, tiers_main, d) == 0;
}

void daemon_tiers_stop(struct daemon *d)
{
        if (d->tiers_started)
                pthread_join(d->tiers_thread, NULL);
        d->tiers_started = false;
}
