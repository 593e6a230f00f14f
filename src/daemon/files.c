/* The files API and artifacts in the core (docs/files.md): every file operation is the
 * sandbox's own files helper (`/.airlock/agent --files ...`, src/agent/files.c), run as an exec
 * inside the sandbox, as its user, in its mount namespace; the daemon bounds what it reads
 * back (the output cap, the helper's error document, the artifacts document, the records). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock/cleanup.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "daemon_private.h"

#define HELPER      "/.airlock/agent"
#define HELPER_ARGS 16
/* A file operation's own time limit: uploads and downloads of the caps' sizes fit in it. */
#define HELPER_TIMEOUT_MS 120000
/* The helper's error document, and the artifacts document beyond the inline bytes. */
#define HELPER_STDERR_MAX  4096
#define ARTIFACT_DOC_SLACK (64u << 10)

enum policy_workspace daemon_files_workspace(struct daemon *d, const char *agent)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        struct policy_effective eff;

        if (policy_resolve(pol, agent ? agent : "default", &eff) < 0)
                return pol->workspace;
        return eff.workspace;
}

int daemon_files_sandbox(struct daemon *d, const char *agent, const char *session,
                         const char *runtime, char **ret_handle, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        _cleanup_free_ char *workspace = NULL;
        struct exec_request req = {.agent = (char *)agent,
                                   .session = (char *)session,
                                   .runtime = (char *)runtime,
                                   .network = -1};
        struct sandbox_spec spec = {0};
        struct policy_effective eff;
        struct scope_entry *e = NULL;
        const struct runtime *rt;
        char key[SCOPE_KEY_MAX], kimg[SCOPE_KEY_MAX];
        int r;

        r = exec_request_check(&req, pol, err);
        if (r < 0)
                return r;
        if (policy_resolve(pol, agent, &eff) < 0)
                return al_err(err, -EINVAL, "invalid agent name");
        if (eff.mode == MODE_OFF)
                return al_err(err, -AL_E_FORBIDDEN,
                              "agent '%s' runs its code on the host (mode off): the files API "
                              "serves sandboxes only",
                              agent);
        rt = policy_runtime(pol, runtime ? runtime : eff.default_runtime);
        if (!rt)
                return al_err(err, -EINVAL, "unknown runtime");
        r = daemon_fill_spec(d, &eff, &req, rt, false, &spec, &workspace, err);
        if (r < 0)
                return r;
        r = daemon_tier_ready(d, &spec, spec.isolation, err);
        if (r < 0)
                return r;
        if (scope_key(key, sizeof(key), eff.scope, agent, session,
                      daemon_scope_image(&spec, kimg, sizeof(kimg))) < 0)
                return al_err(err, -EINVAL,
                              "agent '%s' has scope 'session': name a session (a one-off "
                              "sandbox keeps no files)",
                              agent);
        scope_set_limits(d->scopes, pol->max_sandboxes, pol->max_sandboxes_per_agent);
        r = scope_acquire(d->scopes, key, spec.scope, &spec, &e, err);
        if (r < 0)
                return r;
        *ret_handle = strdup(scope_entry_handle(e));
        scope_release(d->scopes, e, NULL);
        return *ret_handle ? 0 : al_err(err, -ENOMEM, "out of memory");
}

int daemon_files_run(struct daemon *d, const char *handle, const char *const *args, const void *in,
                     size_t in_len, struct buf *out, struct al_error *err)
{
        const char *argv[HELPER_ARGS + 3] = {HELPER, "--files"};
        struct exec_spec x = {.argv = (char **)argv,
                              .stdin_data = in,
                              .stdin_len = in_len,
                              .timeout_ms = HELPER_TIMEOUT_MS};
        struct exec_result res;
        size_t n = 0;
        int r;

        while (args[n]) {
                if (n == HELPER_ARGS)
                        return al_err(err, -E2BIG, "too many arguments for the files helper");
                argv[2 + n] = args[n];
                n++;
        }
        exec_result_init(&res, out->max);
        res.err.max = HELPER_STDERR_MAX;
        /* A provider's sandbox: its own file service answers as the helper would. */
        r = d->containers->ops->files_remote
                ? d->containers->ops->files_remote(d->containers, handle, args, in, in_len, &res,
                                                   err)
                : 1;
        if (r == 1)
                r = d->containers->ops->sandbox_exec(d->containers, handle, &x, NULL, &res, err);
        if (r < 0) {
                if (r == -ENOENT)
                        al_err(err, -ENOENT, "the sandbox is gone");
        } else if (res.timed_out) {
                r = al_err(err, -ETIMEDOUT, "the file operation took too long");
        } else if (res.oom_killed) {
                r = al_err(err, -ENOMEM, "the file operation ran out of the sandbox's memory");
        } else if (res.exit_code == 127 || res.exit_code == 126) {
                r = al_err(err, -EOPNOTSUPP,
                           "this sandbox has no files helper (it has no in-sandbox agent)");
        } else if (res.exit_code != 0) {
                r = files_helper_error(res.err.data, res.err.len, err);
        } else if (buf_truncated(&res.out)) {
                r = al_err(err, -AL_E_TOO_LARGE, "the answer is larger than its limit");
        } else {
                buf_free(out);
                *out = res.out;
                res.out = (struct buf){0};
        }
        exec_result_clear(&res);
        return r;
}

char **daemon_artifacts_env(const struct policy *pol, char *const *req_env,
                            const char *execution_id)
{
        size_t n = 0;
        char **env;

        if (pol->files.artifacts_max <= 0)
                return NULL;
        while (req_env && req_env[n])
                n++;
        env = calloc(n + 2, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(env[i] = strdup(req_env[i])))
                        goto fail;
        if (asprintf(&env[n], "AIRLOCK_OUTPUTS_DIR=" FILES_OUTPUTS_ROOT "/%s", execution_id) < 0) {
                env[n] = NULL;
                goto fail;
        }
        return env;
fail:
        util_strv_free(env);
        return NULL;
}

void daemon_artifacts_collect(struct daemon *ctx, const struct policy *pol, const char *handle,
                              struct exec_result *res)
{
        char rel[96], dir[128], count[24], inl[24], max[24];
        const char *args[] = {"collect", FILES_AREA_TMP, rel, dir, count, inl, max, NULL};
        size_t cap = (size_t)pol->files.artifacts_max *
                         ((size_t)pol->files.artifact_inline_bytes * 4 / 3 + 8192) +
                     ARTIFACT_DOC_SLACK;
        struct al_error err = {0};
        struct buf out;
        size_t dropped = 0;
        json_t *list;

        if (pol->files.artifacts_max <= 0 || !res->outputs)
                return;
        snprintf(rel, sizeof(rel), "outputs/%s", res->execution_id);
        snprintf(dir, sizeof(dir), FILES_OUTPUTS_ROOT "/%s", res->execution_id);
        snprintf(count, sizeof(count), "%lld", (long long)pol->files.artifacts_max);
        snprintf(inl, sizeof(inl), "%lld", (long long)pol->files.artifact_inline_bytes);
        snprintf(max, sizeof(max), "%lld", (long long)pol->files.artifact_bytes);
        buf_init(&out, cap);
        if (daemon_files_run(ctx, handle, args, NULL, 0, &out, &err) < 0) {
                log_warn("artifacts of exec %s not collected: %s", res->execution_id, err.msg);
                buf_free(&out);
                return;
        }
        list = files_artifacts_check(out.data ? out.data : "", out.len, dir,
                                     (size_t)pol->files.artifacts_max, &dropped, &err);
        buf_free(&out);
        if (!list) {
                log_warn("artifacts of exec %s refused: %s", res->execution_id, err.msg);
                return;
        }
        if (json_array_size(list) == 0 && dropped == 0) {
                json_decref(list);
                return;
        }
        res->artifacts = list;
        res->artifacts_dropped = dropped;
}
