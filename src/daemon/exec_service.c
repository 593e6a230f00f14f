/* The exec service: from a validated request to a result. Decides sandbox or host, finds
 * the sandbox for the scope key, runs the exec and recovers from sandboxes that died. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_private.h"
#include "egress_hook.h"
#include "airlock/pool.h"
#include "airlock/cleanup.h"
#include "airlock/contexts.h"
#include "airlock/host_backend.h"
#include "airlock/log.h"
#include "airlock/provider.h"
#include "airlock/store.h"
#include "airlock/util.h"
#include "airlock/workspace.h"
#include "audit.h"

static void strv_freep(char ***v)
{
        util_strv_free(*v);
}

/* Where this exec runs and why. Until the classifier arrives, SELECTIVE errs to the sandbox. */
static int decide(struct daemon *ctx, const struct policy_effective *pol,
                  const struct exec_request *req, struct exec_result *res, bool *ret_host,
                  char *ret_provider, struct al_error *err)
{
        res->decision.mode = policy_mode_name(pol->mode);
        switch (pol->mode) {
        case MODE_ALL:
                *ret_host = false;
                snprintf(res->decision.reason, sizeof(res->decision.reason),
                         "mode all: every exec runs in a sandbox");
                break;
        case MODE_SELECTIVE: {
                struct rules_holder *h = daemon_rules(ctx);
                bool sandbox = true;

                classify_exec_route(
                    h ? h->rules : NULL, req, req->runtime ? req->runtime : pol->default_runtime,
                    &sandbox, ret_provider, res->decision.reason, sizeof(res->decision.reason));
                rules_holder_unref(h);
                if (!sandbox && !ctx->host) {
                        sandbox = true;
                        snprintf(res->decision.reason, sizeof(res->decision.reason),
                                 "low-risk, but the host backend is not available: sandboxed");
                }
                *ret_host = !sandbox;
                break;
        }
        case MODE_OFF:
                if (!ctx->host)
                        return al_err(err, -EOPNOTSUPP,
                                      "mode off runs code on the host, but the host backend is "
                                      "not available on this daemon");
                *ret_host = true;
                snprintf(res->decision.reason, sizeof(res->decision.reason),
                         "mode off: execs run directly on the host (hardened natively)");
                break;
        }
        if (*ret_host && req->network == 1)
                snprintf(res->decision.reason, sizeof(res->decision.reason),
                         "mode off: runs on the host, its network through the egress proxy");
        res->decision.sandboxed = !*ret_host;
        return 0;
}

/* The gvisor rules of the SELECTIVE rules file may raise an exec's tier (never lower it); a
 * raised exec is sandboxed whatever else was decided, and its reason says why. */
static void raise_tier(struct daemon *ctx, const struct policy_effective *pol,
                       const struct exec_request *req, struct exec_result *res, bool *host,
                       enum isolation_tier *tier)
{
        struct rules_holder *h;
        char why[CLASSIFY_REASON_MAX];
        bool gvisor = false;
        size_t n;

        if (pol->mode == MODE_OFF || *tier >= ISOLATION_GVISOR)
                return;
        h = daemon_rules(ctx);
        classify_isolation(h ? h->rules : NULL, req, &gvisor, why, sizeof(why));
        rules_holder_unref(h);
        if (!gvisor)
                return;
        *tier = ISOLATION_GVISOR;
        *host = false;
        res->decision.sandboxed = true;
        n = strlen(res->decision.reason);
        snprintf(res->decision.reason + n, sizeof(res->decision.reason) - n, "; gvisor tier by %s",
                 why);
}

const char *daemon_scope_image(const struct sandbox_spec *spec, char *buf, size_t len)
{
        if (spec->isolation == ISOLATION_CONTAINER)
                return spec->image;
        snprintf(buf, len, "%s#%s", spec->image, policy_isolation_name(spec->isolation));
        return buf;
}

int daemon_fill_spec(struct daemon *ctx, const struct policy_effective *eff,
                     const struct exec_request *req, const struct runtime *rt, bool host,
                     struct sandbox_spec *spec, char **ret_workspace, struct al_error *err)
{
        const struct policy *pol = eff->policy;
        uint32_t uid = pol->exec_uid, gid = pol->exec_gid;
        int r;

        spec->isolation = eff->isolation;
        spec->image = policy_runtime_image(rt, spec->isolation);
        spec->limits = eff->limits;
        spec->network = req->network == 1;
        spec->agent = req->agent;
        spec->session = req->session;
        spec->instance_id = ctx->instance_id;
        spec->keeper_user = pol->keeper_user;
        spec->exec_user = pol->exec_user;
        spec->seccomp_profile = ctx->seccomp_path;
        spec->scope = eff->scope;
        spec->workspace = eff->workspace;
        spec->workspace_dir = NULL;
        spec->provider = NULL;
        if (!host && policy_agent_provider(pol, req->agent)) {
                /* A remote sandbox: the provider's template for the runtime, and no host
                 * directory can be its workspace. */
                const struct policy_provider *pr = policy_agent_provider(pol, req->agent);

                spec->image = policy_provider_template(pr, rt->name);
                if (!spec->image)
                        return al_err(err, -EINVAL,
                                      "provider '%s' has no template for runtime '%s' (set "
                                      "template.%s or template in its section)",
                                      pr->name, rt->name, rt->name);
                spec->provider = pr->name;
                spec->workspace = WORKSPACE_NONE;
                return 0;
        }
        if (eff->workspace == WORKSPACE_NONE)
                return 0;
        /* The workspace belongs to whoever runs the code: the sandbox's exec user, or the
         * host backend's unprivileged user. */
        if (host)
                host_backend_user(ctx->host, &uid, &gid);
        r = workspace_set_prepare(ctx->workspaces, eff->workspace_root, req->agent, uid, gid,
                                  eff->limits.workspace_mb, ret_workspace, err);
        if (r < 0)
                return r;
        if (r > 0) {
                log_warn("%s", err->msg);
                al_err_clear(err);
        }
        spec->workspace_dir = *ret_workspace;
        return 0;
}

/* A SELECTIVE "provider:NAME" rule sent the exec to a provider's sandbox (the agent's own
 * backend = provider:NAME wins). A provider not in the settings, or without a template for the
 * runtime, leaves it in a local sandbox, and the reason says so. */
static void route_by_rule(const struct policy *pol, const struct runtime *rt, const char *name,
                          struct sandbox_spec *spec, struct exec_result *res)
{
        const struct policy_provider *pr = policy_provider(pol, name);
        const char *tmpl = pr ? policy_provider_template(pr, rt->name) : NULL;
        size_t n = strlen(res->decision.reason);

        if (!tmpl) {
                snprintf(res->decision.reason + n, sizeof(res->decision.reason) - n,
                         pr ? "; provider '%s' has no template for it: sandboxed locally"
                            : "; no [provider \"%s\"]: sandboxed locally",
                         name);
                return;
        }
        spec->image = tmpl;
        spec->provider = pr->name;
        spec->workspace = WORKSPACE_NONE;
        spec->workspace_dir = NULL;
}

/* The network tier decides whether an exec may ask for the network; what it may reach is the
 * egress proxy's to decide, connection by connection (docs/egress.md). */
static int check_network(const struct policy_effective *eff, const struct exec_request *req,
                         struct al_error *err)
{
        if (req->network != 1)
                return 0;
        /* A provider's sandbox is made without internet access: airlock cannot put its egress
         * proxy (allowed domains, the record) in front of it. */
        if (policy_agent_provider(eff->policy, req->agent))
                return al_err(err, -AL_E_FORBIDDEN,
                              "agent '%s' runs on provider '%s', whose sandboxes have no network "
                              "(airlock's egress policy cannot be enforced there)",
                              req->agent, policy_agent_provider(eff->policy, req->agent)->name);
        switch (eff->network_tier) {
        case NETWORK_ELEVATED:
        case NETWORK_STANDARD:
                return 0;
        default:
                return al_err(err, -AL_E_FORBIDDEN,
                              "network access is not allowed: the network tier is 'restricted'");
        }
}

/* A sandbox that vanished (engine restarted, container removed by hand) is remade once. */
static bool sandbox_gone(int r)
{
        return r == -ENOENT || r == -AL_E_CONFLICT;
}

static void notify_started(const struct exec_sink *sink, const struct exec_result *res, bool *done)
{
        if (*done || !sink || !sink->started)
                return;
        *done = true;
        sink->started(sink->ctx, res);
}

/* A background process: its audit row is finished when it ends, from the backend's thread;
 * with the network, its way out lasts as long as it runs. */
struct background {
        struct daemon *ctx;
        struct store_execution audit;
        char sandbox_id[80];
        const char *backend;
        struct egress_keep egress;
};

static void background_done(void *arg, const struct exec_result *res)
{
        struct background *bg = arg;
        struct exec_result r = *res;
        struct al_error err = {0};

        daemon_egress_release(&bg->egress);
        r.backend = bg->backend;
        memcpy(r.sandbox_id, bg->sandbox_id, sizeof(r.sandbox_id));
        if (audit_finish(bg->ctx, &bg->audit, &r, 0, &err) < 0)
                log_error("recording the end of background process %s: %s", bg->audit.id, err.msg);
        free(bg);
}

static int start_background(struct daemon *ctx, const char *handle, const struct sandbox_spec *spec,
                            const struct exec_spec *x, const struct exec_sink *sink,
                            const struct store_execution *audit, struct exec_result *res,
                            struct al_error *err)
{
        struct background *bg = calloc(1, sizeof(*bg));
        struct proc_hooks hooks = {.done = background_done,
                                   .ctx = bg,
                                   .cancel_fd = sink ? sink->cancel_fd : 0,
                                   .output_cap = (size_t)spec->limits.output_bytes};
        struct exec_spec bx = *x;
        int r;

        if (!bg)
                return al_err(err, -ENOMEM, "out of memory");
        bg->ctx = ctx;
        memcpy(bg->audit.id, audit->id, sizeof(bg->audit.id));
        memcpy(bg->sandbox_id, res->sandbox_id, sizeof(bg->sandbox_id));
        bg->backend = provider_router_label(ctx->containers, spec->provider);
        bx.timeout_ms = 0; /* it runs until it ends, is killed, or its sandbox goes */
        bx.stdin_fd = 0;
        daemon_egress_keep(&bg->egress, &bx);
        r = ctx->containers->ops->proc_start(ctx->containers, handle, &bx, &hooks,
                                             &res->background_pid, err);
        if (r < 0) {
                daemon_egress_release(&bg->egress);
                free(bg);
        }
        return r;
}

static int run_in_scope(struct daemon *ctx, const char *key, const struct sandbox_spec *spec,
                        const struct exec_spec *x, const struct exec_sink *sink,
                        const struct store_execution *audit, bool background,
                        const struct exec_hook *hook, struct exec_result *res, struct al_error *err)
{
        bool started = false;
        int r = 0;

        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_free_ char *replaced = NULL;
                struct scope_entry *e = NULL;
                const char *lost = NULL;
                char why[sizeof(res->sandbox_lost)];

                r = scope_acquire(ctx->scopes, key, spec->scope, spec, &e, err);
                if (r < 0)
                        return r;
                snprintf(res->sandbox_id, sizeof(res->sandbox_id), "%.12s", scope_entry_handle(e));
                replaced = scope_entry_take_replaced(ctx->scopes, e);
                switch (scope_entry_take_resumed(ctx->scopes, e)) {
                case SCOPE_RESUMED_LOST:
                        res->snapshot_lost = true;
                        /* fall through */
                case SCOPE_RESUMED:
                        res->resumed = true;
                        break;
                }
                if (replaced)
                        snprintf(res->sandbox_replaced, sizeof(res->sandbox_replaced), "%.190s",
                                 replaced);
                notify_started(sink, res, &started);
                if (hook)
                        r = hook->run(hook->arg, scope_entry_handle(e), x, sink, res, err);
                else if (background)
                        r = start_background(ctx, scope_entry_handle(e), spec, x, sink, audit, res,
                                             err);
                else
                        r = ctx->containers->ops->sandbox_exec(
                            ctx->containers, scope_entry_handle(e), x, sink, res, err);
                if (r >= 0 && !background) {
                        struct policy *pol = daemon_policy(ctx);

                        daemon_artifacts_collect(ctx, pol, scope_entry_handle(e), res);
                        policy_unref(pol);
                }
                if (r == -ESTALE) {
                        lost = why;
                        snprintf(why, sizeof(why), "%.190s", err->msg);
                } else if (r < 0 && sandbox_gone(r)) {
                        lost = why;
                        snprintf(why, sizeof(why), "the sandbox vanished: %.170s", err->msg);
                }
                scope_release(ctx->scopes, e, lost);
                if (r == -ESTALE) {
                        /* Processes of the exec survived the kill: the sandbox is unusable and
                         * removed, and the result says so. */
                        log_warn("sandbox %s lost: %s", res->sandbox_id, why);
                        snprintf(res->sandbox_lost, sizeof(res->sandbox_lost), "%s", why);
                        return 0;
                }
                if (!sandbox_gone(r))
                        return r;
                log_info("sandbox for '%s' is gone (%s); making a new one", key, err->msg);
                exec_result_clear(res);
                exec_result_init(res, (size_t)spec->limits.output_bytes);
                memcpy(res->execution_id, audit->id, sizeof(res->execution_id));
        }
        return r;
}

/* A one-off's artifacts are collected before its sandbox is removed (run_once's after_run). */
struct artifacts_hook {
        struct daemon *ctx;
        const struct policy *pol;
};

static void artifacts_after_run(void *p, const char *handle, struct exec_result *res)
{
        struct artifacts_hook *h = p;

        daemon_artifacts_collect(h->ctx, h->pol, handle, res);
}

int daemon_exec(struct daemon *ctx, const struct exec_request *req, const struct exec_sink *sink,
                struct exec_result *res, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(ctx);
        _cleanup_(strv_freep) char **argv = NULL, **artifacts_env = NULL;
        _cleanup_free_ char *workspace = NULL;
        const struct runtime *rt;
        struct sandbox_spec spec = {0};
        struct exec_spec x = {0};
        char execution_id[33], key[SCOPE_KEY_MAX];
        struct store_execution audit = {0};
        struct egress_exec ee = {0};
        struct audit_gate gate = {0};
        struct policy_effective eff;
        char rule_provider[POLICY_NAME_LEN_MAX + 1] = "";
        bool host = false, started = false;
        enum isolation_tier tier;
        char kimg[SCOPE_KEY_MAX];
        int r;

        /* Code for a context: its cell runs through here again, with the context's hook. */
        if ((req->context || req->language) && !req->hook)
                return daemon_context_exec(ctx, req, sink, res, err);
        r = exec_request_check(req, pol, err);
        if (r < 0)
                return r;
        if (policy_resolve(pol, req->agent, &eff) < 0)
                return al_err(err, -EINVAL, "invalid agent name");
        rt = policy_runtime(pol, req->runtime ? req->runtime : eff.default_runtime);
        if (!rt)
                return al_err(err, -EINVAL, "unknown runtime '%s'",
                              req->runtime ? req->runtime : eff.default_runtime);
        r = exec_request_argv(req, rt, &argv, err);
        if (r < 0)
                return r;
        r = check_network(&eff, req, err);
        if (r < 0)
                return r;
        r = decide(ctx, &eff, req, res, &host, rule_provider, err);
        if (r < 0)
                return r;
        tier = eff.isolation;
        raise_tier(ctx, &eff, req, res, &host, &tier);
        r = daemon_fill_spec(ctx, &eff, req, rt, host, &spec, &workspace, err);
        if (r < 0)
                return r;
        if (!host && !spec.provider)
                spec.image = policy_runtime_image(rt, tier);
        if (rule_provider[0] && !host && !spec.provider)
                route_by_rule(pol, rt, rule_provider, &spec, res);
        /* A sandbox is only handed out in a tier that is in force; a provider's sandbox is the
         * provider's own, in no tier of airlock's: code that must run in gVisor stays here. */
        if (!host && spec.provider && tier != ISOLATION_CONTAINER)
                return al_err(err, -AL_E_TIER_UNAVAILABLE,
                              "this exec must run in the %s tier, which provider '%s' cannot "
                              "guarantee",
                              policy_isolation_name(tier), spec.provider);
        spec.isolation = tier;
        if (!host && !spec.provider && (r = daemon_tier_ready(ctx, &spec, tier, err)) < 0)
                return r;
        if (!host && !spec.provider)
                res->tier = policy_isolation_name(tier);
        x.argv = argv;
        x.env = req->env;
        x.stdin_data = req->stdin_data;
        x.stdin_len = req->stdin_len;
        x.stdin_fd = req->stdin_fd;
        x.timeout_ms = (req->timeout_s > 0 ? req->timeout_s : eff.limits.timeout_s) * 1000;
        util_random_hex(execution_id, 16);
        if (req->hook && (host || scope_key(key, sizeof(key), eff.scope, req->agent, req->session,
                                            daemon_scope_image(&spec, kimg, sizeof(kimg))) < 0))
                return al_err(err, -EINVAL,
                              host ? "contexts need a sandbox; this agent's code runs on the host"
                                   : "contexts need a kept sandbox: give a session (or use scope "
                                     "agent or shared)");
        /* A sandboxed exec gets its own outputs directory: its artifacts are its own. A
         * provider's sandbox has none (collecting would cost a round trip per exec). */
        if (spec.provider) {
                size_t n = strlen(res->decision.reason);

                snprintf(res->decision.reason + n, sizeof(res->decision.reason) - n,
                         " (provider '%s')", spec.provider);
        } else if (!host) {
                artifacts_env = daemon_artifacts_env(pol, req->env, execution_id);
                if (artifacts_env)
                        x.env = artifacts_env;
        }
        if (req->background && (host ||
                                scope_key(key, sizeof(key), eff.scope, req->agent, req->session,
                                          daemon_scope_image(&spec, kimg, sizeof(kimg))) < 0 ||
                                !ctx->containers->ops->proc_start))
                return al_err(err, -EINVAL,
                              host ? "background processes need a sandbox; this exec runs on "
                                     "the host"
                                   : "background processes need a kept sandbox: give a session "
                                     "(or use scope agent or shared)");
        if (req->network == 1 &&
            daemon_egress_prepare(ctx, &eff, req->agent, execution_id, req->env, &ee, &x) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        audit.background = req->background;
        gate = (struct audit_gate){.ctx = ctx,
                                   .req = req,
                                   .res = res,
                                   .rt = rt,
                                   .id = execution_id,
                                   .host = host,
                                   .a = &audit};
        memcpy(res->execution_id, execution_id, sizeof(execution_id));
        /* An exec in a sandbox is recorded while the sandbox makes its process (before_run);
         * elsewhere, and when a stream announces the execution id at once, before asking. */
        if (host || req->background || (sink && sink->started)) {
                r = audit_gate_open(&gate, err);
                if (r < 0) {
                        daemon_egress_finish(&ee, res);
                        return r;
                }
        } else {
                x.before_run = audit_gate_open;
                x.before_run_ctx = &gate;
        }

        if (host) {
                notify_started(sink, res, &started);
                r = ctx->host->ops->run_once(ctx->host, &spec, &x, sink, res, err);
                res->backend = "host";
                /* A program that is not there is the request's fault, not a missing route. */
                if (r == -ENOENT)
                        err->code = r = -EINVAL;
        } else if (scope_key(key, sizeof(key), eff.scope, req->agent, req->session,
                             daemon_scope_image(&spec, kimg, sizeof(kimg))) < 0) {
                /* SESSION scope without a session: a fresh one-off sandbox, from the pool when
                 * one is ready. */
                _cleanup_free_ char *pooled = pool_claim(ctx->pool, &spec);

                if (pooled)
                        snprintf(res->sandbox_id, sizeof(res->sandbox_id), "%.12s", pooled);
                notify_started(sink, res, &started);
                if (pooled) {
                        r = ctx->containers->ops->sandbox_exec(ctx->containers, pooled, &x, sink,
                                                               res, err);
                        if (r >= 0)
                                daemon_artifacts_collect(ctx, pol, pooled, res);
                        /* Whatever happened, a one-off's sandbox goes with its exec: removed in
                         * the background, so that the answer does not wait for the engine. */
                        if (r == -ESTALE)
                                r = 0;
                        pool_discard(ctx->pool, TAKE_PTR(pooled));
                } else {
                        struct artifacts_hook ah = {.ctx = ctx, .pol = pol};

                        if (artifacts_env) {
                                x.after_run = artifacts_after_run;
                                x.after_run_ctx = &ah;
                        }
                        r = audit_gate_open(&gate, err);
                        if (r >= 0)
                                r = ctx->containers->ops->run_once(ctx->containers, &spec, &x, sink,
                                                                   res, err);
                }
                res->backend = ctx->containers->ops->name;
        } else {
                /* The caps of the policy this exec runs under ([daemon] max_sandboxes...). */
                scope_set_limits(ctx->scopes, pol->max_sandboxes, pol->max_sandboxes_per_agent);
                r = run_in_scope(ctx, key, &spec, &x, sink, &audit, req->background, req->hook, res,
                                 err);
                res->backend = ctx->containers->ops->name;
        }
        memcpy(res->execution_id, execution_id, sizeof(execution_id));
        res->sandboxed = !host;
        if (spec.provider)
                res->backend = provider_router_label(ctx->containers, spec.provider);
        daemon_egress_finish(&ee, res);
        /* A background process's row is finished when it ends. */
        if (req->background && r >= 0)
                return r;
        if (!gate.done) {
                /* Failed (or lost its sandbox) before anything of it could run: the request is
                 * recorded all the same. */
                struct al_error gerr = {0};

                if (audit_gate_open(&gate, &gerr) < 0)
                        log_error("recording execution %s: %s", execution_id, gerr.msg);
        }
        if (gate.r < 0)
                return r; /* no row to finish: it could not be begun */
        /* The record is durable before the caller may acknowledge anything. */
        if (audit_finish(ctx, &audit, res, r, err) < 0 && r >= 0)
                r = err->code;
        return r;
}
