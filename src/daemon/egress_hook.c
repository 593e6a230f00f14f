/* The daemon's side of the egress proxy (docs/egress.md): start and stop it, give each exec
 * with the network its way out (the proxy's socket in the sandbox's run directory, the
 * sandbox's rules, the proxy variables in the exec's environment), collect what was refused,
 * record every connection in the store and the metrics, and push new rules on reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/egress.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/policy.h"
#include "airlock/store.h"
#include "airlock/util.h"
#include "daemon_private.h"
#include "egress_hook.h"

static void record(void *arg, const struct egress_record *rec)
{
        struct daemon *d = arg;
        struct store_egress e = {.execution_id = rec->execution_id,
                                 .sandbox = rec->sandbox,
                                 .host = rec->host,
                                 .port = rec->port,
                                 .address = rec->address,
                                 .protocol = rec->protocol,
                                 .allowed = rec->allowed,
                                 .reason = rec->reason,
                                 .bytes_out = rec->bytes_out,
                                 .bytes_in = rec->bytes_in,
                                 .started_at = rec->started_ms,
                                 .duration_ms = rec->duration_ms};
        struct al_error err = {0};

        metrics_egress(rec->allowed, rec->reason, (uint64_t)rec->bytes_out,
                       (uint64_t)rec->bytes_in);
        if (d->store && store_egress_add(d->store, &e, &err) < 0)
                log_error("egress record of %s:%d: %s", rec->host, rec->port, err.msg);
        if (!rec->allowed)
                log_info("egress refused for exec %s: %s:%d (%s)",
                         rec->execution_id[0] ? rec->execution_id : "-", rec->host, rec->port,
                         rec->reason);
}

int daemon_egress_start(struct daemon *d, struct al_error *err)
{
        return egress_new(record, d, &d->egress, err);
}

void daemon_egress_stop(struct daemon *d)
{
        egress_free(d->egress);
        d->egress = NULL;
}

static void rules_of(const struct policy_effective *eff, struct egress_rules *ret)
{
        *ret = (struct egress_rules){.tier = eff->network_tier,
                                     .allowed = eff->allowed_domains,
                                     .blocked = eff->blocked_domains,
                                     .cidrs = eff->allowed_cidrs};
}

struct reload_ctx {
        struct policy *pol;
};

static int rules_for(void *arg, const char *agent, struct egress_rules *ret)
{
        struct reload_ctx *rc = arg;
        struct policy_effective eff;

        if (policy_resolve(rc->pol, agent, &eff) < 0)
                return -1;
        rules_of(&eff, ret);
        return 0;
}

void daemon_egress_reload(struct daemon *d)
{
        struct reload_ctx rc = {.pol = daemon_policy(d)};

        if (d->egress && rc.pol)
                egress_reload(d->egress, rules_for, &rc);
        policy_unref(rc.pol);
}

/* The agent's rules in force now, not when the request came: a reload while the sandbox was
 * being made (seconds under load) is honoured as egress_reload honours it for bindings made
 * before it. *ret_pol holds the strings the rules point to (NULL: the request's were used). */
static void rules_now(const struct egress_exec *ee, struct policy **ret_pol,
                      struct egress_rules *ret)
{
        struct policy *pol = daemon_policy(ee->ctx);
        struct policy_effective eff;

        *ret_pol = NULL;
        if (pol && policy_resolve(pol, ee->agent, &eff) == 0) {
                rules_of(&eff, ret);
                *ret_pol = pol;
                return;
        }
        policy_unref(pol);
        rules_of(ee->eff, ret);
}

static int on_open(void *arg, const char *run_dir, const char *exec_user, struct al_error *err)
{
        struct egress_exec *ee = arg;
        struct egress_rules rules;
        unsigned uid = 0, gid = 0;
        struct al_error e = {0};
        struct policy *pol;
        int r;

        if (ee->run_dir) {
                /* The exec is being retried in a new sandbox: leave the old one. */
                json_decref(egress_unbind(ee->ctx->egress, ee->run_dir, ee->exec_id));
                free(ee->run_dir);
                ee->run_dir = NULL;
        }
        if (!ee->ctx->egress) {
                snprintf(ee->error, sizeof(ee->error), "the egress proxy is not running");
                return 0;
        }
        if (!run_dir) {
                snprintf(ee->error, sizeof(ee->error),
                         "this sandbox has no agent to relay its egress (made by an older "
                         "version): no way out");
                return 0;
        }
        if (!exec_user || sscanf(exec_user, "%u:%u", &uid, &gid) != 2) {
                snprintf(ee->error, sizeof(ee->error), "no exec user for the egress socket");
                return 0;
        }
        rules_now(ee, &pol, &rules);
        r = egress_bind(ee->ctx->egress, run_dir, uid, gid, ee->agent, &rules, ee->exec_id, &e);
        policy_unref(pol);
        if (r < 0) {
                /* Fail closed: the exec runs, with no way out, and its result says why. */
                log_warn("egress for exec %s: %s", ee->exec_id, e.msg);
                snprintf(ee->error, sizeof(ee->error), "%.150s", e.msg);
                return 0;
        }
        ee->run_dir = strdup(run_dir);
        if (!ee->run_dir) {
                json_decref(egress_unbind(ee->ctx->egress, run_dir, ee->exec_id));
                return al_err(err, -ENOMEM, "out of memory");
        }
        ee->error[0] = '\0';
        return 0;
}

/* The host backend's way: a namespace where the proxy listens on loopback. */
static int on_netns(void *arg, int *ret_fd, struct al_error *err)
{
        struct egress_exec *ee = arg;
        struct egress_rules rules;
        struct al_error e = {0};
        struct policy *pol;
        int r;

        *ret_fd = -1;
        if (ee->host_ns) {
                json_decref(egress_netns_close(ee->ctx->egress, ee->exec_id));
                ee->host_ns = false;
        }
        if (!ee->ctx->egress) {
                snprintf(ee->error, sizeof(ee->error), "the egress proxy is not running");
                return 0;
        }
        rules_now(ee, &pol, &rules);
        r = egress_netns_open(ee->ctx->egress, ee->agent, &rules, ee->exec_id, ret_fd, &e);
        policy_unref(pol);
        if (r < 0) {
                log_warn("egress for host exec %s: %s", ee->exec_id, e.msg);
                snprintf(ee->error, sizeof(ee->error), "%.150s", e.msg);
                return 0;
        }
        ee->host_ns = true;
        ee->error[0] = '\0';
        (void)err;
        return 0;
}

/* The variables every common client reads (curl, wget, pip, git, Python, npm, Node >= 22.21
 * with NODE_USE_ENV_PROXY); the request's own values for these names are replaced. */
static const char *const proxy_names[] = {
    "HTTP_PROXY",         "HTTPS_PROXY", "http_proxy", "https_proxy",      "NO_PROXY",
    "no_proxy",           "ALL_PROXY",   "all_proxy",  "npm_config_proxy", "npm_config_https_proxy",
    "NODE_USE_ENV_PROXY",
};

static bool is_proxy_var(const char *kv)
{
        size_t n = strcspn(kv, "=");

        for (size_t i = 0; i < sizeof(proxy_names) / sizeof(proxy_names[0]); i++)
                if (strlen(proxy_names[i]) == n && strncmp(kv, proxy_names[i], n) == 0)
                        return true;
        return false;
}

int daemon_egress_prepare(struct daemon *ctx, const struct policy_effective *eff, const char *agent,
                          const char *execution_id, char **req_env, struct egress_exec *ee,
                          struct exec_spec *x)
{
        char url[64], socks[64];
        size_t n = util_strv_len(req_env), k = 0;
        char **env = calloc(n + 16, sizeof(char *));
        bool elevated = eff->network_tier == NETWORK_ELEVATED;

        if (!env)
                return -ENOMEM;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", EGRESS_SANDBOX_PORT);
        snprintf(socks, sizeof(socks), "socks5h://127.0.0.1:%d", EGRESS_SANDBOX_PORT);
        for (size_t i = 0; i < n; i++)
                if (!is_proxy_var(req_env[i]) && !(env[k++] = strdup(req_env[i])))
                        goto oom;
        for (size_t i = 0; i < 4; i++)
                if (asprintf(&env[k++], "%s=%s", proxy_names[i], url) < 0)
                        goto oom;
        for (size_t i = 4; i < 6; i++)
                if (!(env[k++] = strdup(i == 4 ? "NO_PROXY=localhost,127.0.0.1,::1"
                                               : "no_proxy=localhost,127.0.0.1,::1")))
                        goto oom;
        /* SOCKS5 only where the tier allows other TCP: elsewhere it would only be refused. */
        for (size_t i = 6; elevated && i < 8; i++)
                if (asprintf(&env[k++], "%s=%s", proxy_names[i], socks) < 0)
                        goto oom;
        if (asprintf(&env[k++], "npm_config_proxy=%s", url) < 0 ||
            asprintf(&env[k++], "npm_config_https_proxy=%s", url) < 0 ||
            !(env[k++] = strdup("NODE_USE_ENV_PROXY=1")))
                goto oom;
        *ee = (struct egress_exec){.ctx = ctx, .eff = eff, .agent = agent, .env = env};
        snprintf(ee->exec_id, sizeof(ee->exec_id), "%s", execution_id);
        ee->hook = (struct exec_egress){.open = on_open, .netns = on_netns, .ctx = ee};
        x->env = env;
        x->egress = &ee->hook;
        return 0;
oom:
        util_strv_free(env);
        return -ENOMEM;
}

void daemon_egress_finish(struct egress_exec *ee, struct exec_result *res)
{
        if (!ee->ctx)
                return;
        if (ee->host_ns) {
                json_decref(res->egress_denied);
                res->egress_denied = egress_netns_close(ee->ctx->egress, ee->exec_id);
                ee->host_ns = false;
        } else if (ee->run_dir) {
                json_decref(res->egress_denied);
                res->egress_denied = egress_unbind(ee->ctx->egress, ee->run_dir, ee->exec_id);
        } else if (!res->egress_denied) {
                res->egress_denied = json_array();
        }
        snprintf(res->egress_error, sizeof(res->egress_error), "%s", ee->error);
        free(ee->run_dir);
        ee->run_dir = NULL;
        util_strv_free(ee->env);
        ee->env = NULL;
        ee->ctx = NULL;
}

static int keep_open(void *arg, const char *run_dir, const char *exec_user, struct al_error *err)
{
        struct egress_keep *k = arg;
        int r;

        daemon_egress_release(k); /* a retry in a new sandbox leaves the old one */
        r = k->ee->hook.open(k->ee, run_dir, exec_user, err);
        k->run_dir = k->ee->run_dir;
        k->ee->run_dir = NULL;
        return r;
}

void daemon_egress_keep(struct egress_keep *k, struct exec_spec *x)
{
        struct egress_exec *ee = x->egress ? x->egress->ctx : NULL;

        if (!ee || !ee->ctx)
                return;
        *k = (struct egress_keep){.ctx = ee->ctx, .ee = ee};
        memcpy(k->exec_id, ee->exec_id, sizeof(k->exec_id));
        k->hook = (struct exec_egress){.open = keep_open, .ctx = k};
        x->egress = &k->hook;
}

void daemon_egress_release(struct egress_keep *k)
{
        if (k->run_dir && k->ctx->egress)
                json_decref(egress_unbind(k->ctx->egress, k->run_dir, k->exec_id));
        free(k->run_dir);
        k->run_dir = NULL;
}
