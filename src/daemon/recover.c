/* Start-up recovery and the sandbox records: what a restart needs to find again. */
#include <stdio.h>
#include <string.h>

#include "daemon_private.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/util.h"

int daemon_record_sandbox(struct daemon *ctx, const struct scope_info *info, struct al_error *err)
{
        struct store_sandbox sb = {
            .id = info->handle,
            .backend = ctx->containers->ops->name,
            .scope = policy_scope_name(info->scope),
            .scope_key = info->key,
            .agent = info->agent,
            .session = info->session,
            .image = info->image,
            .created_at = info->created_ms,
            .last_used_at = info->last_used_ms,
        };

        return ctx->store ? store_sandbox_put(ctx->store, &sb, err) : 0;
}

static void on_created(void *cls, const struct scope_info *info)
{
        struct daemon *ctx = cls;
        struct al_error err;

        metrics_sandbox_created(policy_scope_name(info->scope));
        if (daemon_record_sandbox(ctx, info, &err) < 0)
                log_warn("recording sandbox %.12s: %s", info->handle, err.msg);
}

static void on_removed(void *cls, const struct scope_info *info)
{
        struct daemon *ctx = cls;
        struct al_error err;

        if (ctx->store && store_sandbox_remove(ctx->store, info->handle, 0, &err) < 0)
                log_warn("recording removal of sandbox %.12s: %s", info->handle, err.msg);
}

struct scope_hooks daemon_scope_hooks(struct daemon *ctx)
{
        struct scope_hooks h = {.created = on_created,
                                .removed = on_removed,
                                .resume = daemon_snapshot_resume_hook,
                                .ctx = ctx};

        return h;
}

static enum policy_scope scope_from_name(const char *s)
{
        if (s && strcmp(s, "agent") == 0)
                return SCOPE_AGENT;
        if (s && strcmp(s, "shared") == 0)
                return SCOPE_SHARED;
        return SCOPE_SESSION;
}

/* Take back the AGENT and SHARED sandboxes the store knows and the engine still runs; forget
 * the rest. Containers of this instance nobody took back are then removed as orphans. */
static int adopt_known(struct daemon *ctx, const struct policy *pol, int *ret_adopted,
                       struct al_error *err)
{
        json_t *rows = NULL, *row;
        size_t i;
        int r;

        *ret_adopted = 0;
        r = store_sandboxes_live(ctx->store, NULL, &rows, err);
        if (r < 0)
                return r;
        json_array_foreach(rows, i, row)
        {
                const char *id = json_string_value(json_object_get(row, "id"));
                const char *scope = json_string_value(json_object_get(row, "scope"));
                const char *backend = json_string_value(json_object_get(row, "backend"));
                struct scope_info info = {
                    .key = json_string_value(json_object_get(row, "scope_key")),
                    .handle = id,
                    .scope = scope_from_name(scope),
                    .agent = json_string_value(json_object_get(row, "agent")),
                    .session = json_string_value(json_object_get(row, "session")),
                    .image = json_string_value(json_object_get(row, "image")),
                    .created_ms = json_integer_value(json_object_get(row, "created_at")),
                    .last_used_ms = json_integer_value(json_object_get(row, "last_used_at")),
                };
                struct sandbox_spec spec = {.exec_user = pol->exec_user};
                struct al_error e2 = {0};
                bool keep = info.key && id && info.scope != SCOPE_SESSION && backend &&
                            strcmp(backend, ctx->containers->ops->name) == 0 &&
                            ctx->containers->ops->sandbox_adopt;

                if (keep &&
                    ctx->containers->ops->sandbox_adopt(ctx->containers, id, &spec, &e2) == 0 &&
                    scope_adopt(ctx->scopes, &info, &e2) == 0) {
                        log_info("adopted %s sandbox %.12s (%s)", scope, id, info.key);
                        (*ret_adopted)++;
                        continue;
                }
                if (keep)
                        log_info("sandbox %.12s (%s) is gone: %s", id, info.key, e2.msg);
                if (id)
                        store_sandbox_remove(ctx->store, id, 0, NULL);
        }
        json_decref(rows);
        return 0;
}

int daemon_recover(struct daemon *ctx, struct al_error *err)
{
        struct policy *pol = daemon_policy(ctx);
        int64_t aborted = 0;
        int adopted = 0, r;

        r = store_executions_abort_running(ctx->store, &aborted, err);
        if (r < 0)
                goto out;
        if (aborted > 0)
                log_warn("%lld execution(s) were running when airlockd stopped; marked aborted",
                         (long long)aborted);
        /* Suspends: a complete snapshot wins over its sandbox still running; suspends cut short
         * are finished once the live sandboxes are adopted, before orphans are removed. */
        if (ctx->snap_dirfd >= 0) {
                r = daemon_snapshots_settle(ctx, err);
                if (r < 0)
                        goto out;
        }
        r = adopt_known(ctx, pol, &adopted, err);
        if (r < 0)
                goto out;
        if (ctx->snap_dirfd >= 0) {
                r = daemon_snapshots_recover(ctx, err);
                if (r < 0)
                        goto out;
        }
        /* The engine may be down: then orphans wait for the next start, and execs get 503. */
        if (ctx->containers->ops->remove_instance(ctx->containers, ctx->instance_id, err) < 0)
                log_warn("cannot remove leftovers of a previous run: %s", err->msg);
        log_info("recovery: %d sandbox(es) adopted, %lld execution(s) marked aborted", adopted,
                 (long long)aborted);
        r = 0;
out:
        policy_unref(pol);
        return r;
}

int daemon_record_policy(struct daemon *ctx, const char *who)
{
        struct policy *pol = daemon_policy(ctx);
        char hash[65];
        struct al_error err;
        int64_t rev = 0;
        int r;

        sha256_hex(pol->text ? pol->text : "", pol->text ? strlen(pol->text) : 0, hash);
        r = store_policy_revision_add(ctx->store, pol->text ? pol->text : "", hash, who, 0, &rev,
                                      &err);
        if (r < 0)
                log_warn("recording the policy revision: %s", err.msg);
        else
                log_info("policy revision %lld (%.12s) applied by %s", (long long)rev, hash, who);
        policy_unref(pol);
        return r;
}
