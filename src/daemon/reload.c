/* Policy reloads: a bad file never replaces the running policy; the rules go with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_private.h"
#include "egress_hook.h"
#include "airlock/cleanup.h"
#include "airlock/host_backend.h"
#include "airlock/provider.h"
#include "airlock/log.h"
#include "airlock/util.h"

static int replace_str(char **field, const char *value)
{
        char *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int daemon_apply_overrides(struct daemon *ctx, struct policy *p, struct al_error *err)
{
        if ((ctx->cfg.socket_override &&
             replace_str(&p->socket_path, ctx->cfg.socket_override) < 0) ||
            (ctx->cfg.state_dir_override &&
             policy_set_state_dir(p, ctx->cfg.state_dir_override) < 0))
                return al_err(err, -ENOMEM, "out of memory");
        return 0;
}

/* What cannot change without a restart keeps its running value; say so when it differs. */
static int keep_startup_settings(struct policy *fresh, const struct policy *running)
{
        static const char *const what = "takes effect at the next start";

        if (strcmp(fresh->socket_path, running->socket_path) != 0)
                log_warn("[daemon] socket changed: %s", what);
        if (strcmp(fresh->state_dir, running->state_dir) != 0)
                log_warn("[daemon] state_dir changed: %s", what);
        if (fresh->engine_kind != running->engine_kind ||
            strcmp(fresh->engine_socket, running->engine_socket) != 0)
                log_warn("[engine] changed: %s", what);
        if (strcmp(fresh->monitor_listen, running->monitor_listen) != 0)
                log_warn("[monitor] listen changed: %s", what);
        if (replace_str(&fresh->socket_path, running->socket_path) < 0 ||
            policy_set_state_dir(fresh, running->state_dir) < 0 ||
            replace_str(&fresh->engine_socket, running->engine_socket) < 0 ||
            replace_str(&fresh->monitor_listen, running->monitor_listen) < 0)
                return -ENOMEM;
        fresh->engine_kind = running->engine_kind;
        return 0;
}

void daemon_host_options(struct daemon *ctx, const struct policy *pol, struct host_options *ret)
{
        *ret = *pol->host;
        ret->workspace_root = pol->workspace_root;
        ret->hide_paths[0] = pol->state_dir;
        ret->hide_paths[1] = ctx->socket_dir;
        ret->hide_paths[2] = NULL;
}

int daemon_reload(struct daemon *ctx, const char *who, struct policy_problems *problems,
                  struct al_error *err)
{
        struct policy *fresh = NULL, *old;
        struct rules_holder *rules = NULL, *old_rules;
        int r;

        if (!ctx->cfg.config_path)
                return al_err(err, -ENOENT,
                              "airlockd runs on built-in defaults (no settings "
                              "file); there is nothing to reload");
        r = policy_load(ctx->cfg.config_path, &fresh, problems, err);
        if (r >= 0)
                r = daemon_apply_overrides(ctx, fresh, err);
        if (r >= 0)
                r = policy_check_host_ids(fresh, NULL, err);
        if (r >= 0) {
                old = daemon_policy(ctx);
                r = keep_startup_settings(fresh, old);
                policy_unref(old);
                if (r < 0)
                        al_err(err, r, "out of memory");
        }
        /* The rules and the host backend's settings go with the policy: all apply, or none. */
        if (r >= 0) {
                _cleanup_free_ char *path =
                    util_policy_file(fresh->selective_rules, "selective.rules");

                r = path ? rules_holder_load(path, &rules, problems, err)
                         : al_err(err, -ENOMEM, "out of memory");
        }
        /* Providers new in the file are made now; one made earlier keeps its settings. */
        if (r >= 0 && ctx->containers)
                r = provider_router_configure(ctx->containers, fresh, err);
        if (r >= 0 && ctx->host) {
                struct host_options ho;

                daemon_host_options(ctx, fresh, &ho);
                r = host_backend_reload(ctx->host, &ho, err);
                if (r < 0)
                        al_err_wrap(err, r, "[host]");
        }
        pthread_rwlock_wrlock(&ctx->policy_lock);
        if (r < 0) {
                ctx->reload_failures++;
                snprintf(ctx->last_reload_error, sizeof(ctx->last_reload_error), "%s", err->msg);
                pthread_rwlock_unlock(&ctx->policy_lock);
                policy_unref(fresh);
                rules_holder_unref(rules);
                log_error("reload asked by %s refused, running policy kept: %s", who, err->msg);
                return r;
        }
        old = ctx->policy;
        ctx->policy = fresh;
        old_rules = ctx->rules;
        ctx->rules = rules;
        ctx->reloads++;
        ctx->last_reload_error[0] = '\0';
        ctx->policy_loaded_ms = util_wall_ms();
        pthread_rwlock_unlock(&ctx->policy_lock);
        policy_unref(old);
        rules_holder_unref(old_rules);
        /* Pools follow: members made from what changed (image, limits) are drained. */
        daemon_pool_configure(ctx, fresh);
        /* Sandboxes with egress follow at once: connections now refused are cut. */
        daemon_egress_reload(ctx);
        log_info("policy reloaded from '%s' (asked by %s): mode %s, scope %s", ctx->cfg.config_path,
                 who, policy_mode_name(fresh->mode), policy_scope_name(fresh->scope));
        if (ctx->store)
                daemon_record_policy(ctx, who);
        return 0;
}
