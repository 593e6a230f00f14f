/* Suspend and resume (docs/suspend.md): a sandbox's writable areas are packed by its own files
 * helper inside it, written as a checksummed snapshot (snapshot.c), recorded in the store, and
 * only then is the sandbox removed; the next use of its scope key makes a fresh sandbox and
 * unpacks the snapshot there (the scope registry's resume hook). A crash at any point leaves
 * the live sandbox or a complete, recorded snapshot; start-up settles which. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/files.h"
#include "airlock/log.h"
#include "airlock/metrics.h"
#include "airlock/snapshot.h"
#include "airlock/util.h"
#include "daemon_private.h"

extern char **environ;

/* What a pack or unpack may carry beyond the cap: record headers and tar blocks. */
#define SNAPSHOT_SLACK (8u << 20)

static const char *row_str(json_t *row, const char *k)
{
        return json_string_value(json_object_get(row, k));
}

static int64_t row_int(json_t *row, const char *k)
{
        return json_integer_value(json_object_get(row, k));
}

/* ---- start-up: the directory, CRIU ---- */

/* Whether CRIU could keep memory: `criu check` must pass (it does not on kernels >= 6.13 with
 * Debian's 3.17, and a non-root sandbox could not be dumped anyway: DESIGN.md). */
static void detect_criu(struct daemon *d)
{
        const char *argv[] = {"criu", "check", NULL};
        posix_spawn_file_actions_t fa;
        int status = 0;
        pid_t pid;

        d->criu_ok = false;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid, "criu", &fa, NULL, (char **)argv, environ) != 0) {
                snprintf(d->criu_status, sizeof(d->criu_status), "criu is not installed");
        } else if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                snprintf(d->criu_status, sizeof(d->criu_status),
                         "'criu check' fails on this kernel (it needs root and a supported "
                         "vDSO layout)");
        } else {
                snprintf(d->criu_status, sizeof(d->criu_status),
                         "'criu check' passes, but airlock does not dump memory: sandboxes run "
                         "as non-root users, which CRIU cannot dump without CAP_SYS_RESOURCE");
        }
        posix_spawn_file_actions_destroy(&fa);
}

int daemon_snapshots_open(struct daemon *d, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        char path[4096];
        int r;

        snprintf(path, sizeof(path), "%s/snapshots", pol->state_dir);
        r = util_mkdir_p(path, 0700);
        if (r < 0)
                return al_err(err, r, "cannot create '%s': %s", path, strerror(-r));
        d->snap_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->snap_dirfd < 0)
                return al_err_errno(err, -errno, "cannot open '%s'", path);
        detect_criu(d);
        log_info("memory snapshots (CRIU) unavailable: %s", d->criu_status);
        if (pol->snapshots.memory)
                log_error("[sandbox] memory_snapshots = criu, but %s: suspends will be refused "
                          "until it is set to off",
                          d->criu_status);
        return 0;
}

/* ---- suspend ---- */

static void drop_row(struct daemon *d, const char *key)
{
        struct al_error e2;

        if (store_snapshot_delete(d->store, key, &e2) < 0 && e2.code != -ENOENT)
                log_error("forgetting the snapshot of '%s': %s", key, e2.msg);
}

/* The areas packed by the sandbox's files helper, each into recs[i] (capped at max). */
static int pack_areas(struct daemon *d, const char *handle, int64_t max, int64_t entries,
                      struct buf recs[SNAPSHOT_AREAS], struct al_error *err)
{
        char maxs[24], ents[24];

        snprintf(ents, sizeof(ents), "%lld", (long long)entries);
        for (int i = 0; i < SNAPSHOT_AREAS; i++) {
                const char *args[] = {
                    "pack", snapshot_areas[i].root, ".", snapshot_areas[i].top, maxs, ents, NULL};
                int r;

                /* The cap is on all the areas together: each gets what the others left. */
                snprintf(maxs, sizeof(maxs), "%lld", (long long)max);
                buf_init(&recs[i], (size_t)max + SNAPSHOT_SLACK);
                r = daemon_files_run(d, handle, args, NULL, 0, &recs[i], err);
                if (r < 0)
                        return al_err_wrap(err, r, "cannot pack %s", snapshot_areas[i].root);
                max -= (int64_t)recs[i].len;
                if (max < 0)
                        return al_err(err, -AL_E_TOO_LARGE, "the areas are larger than the cap");
        }
        return 0;
}

struct save_ctx {
        struct daemon *d;
        int64_t bytes; /* out: the snapshot's size */
};

/* The tier a sandbox was made in: its scope key ends in "#TIER" past the container tier
 * (daemon_scope_image). */
static const char *key_tier(const char *key)
{
        const char *h = key ? strrchr(key, '#') : NULL;

        return h && h[1] ? h + 1 : "container";
}

static int save_snapshot(struct save_ctx *sc, const struct scope_info *info, struct al_error *err)
{
        struct daemon *d = sc->d;
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        _cleanup_free_ char *name = snapshot_file_name(info->handle), *manifest = NULL;
        struct buf recs[SNAPSHOT_AREAS] = {0};
        struct store_snapshot sn = {.scope_key = info->key,
                                    .id = info->handle,
                                    .scope = policy_scope_name(info->scope),
                                    .agent = info->agent,
                                    .session = info->session,
                                    .image = info->image,
                                    .tier = key_tier(info->key),
                                    .state = "suspending"};
        struct policy_effective eff;
        struct sandbox_spec spec = {.image = info->image};
        char sha[SHA256_HEX_LEN];
        int64_t used = 0, limit = pol->snapshots.max_bytes;
        int r;

        if (pol->snapshots.memory && !d->criu_ok)
                return al_err(err, -EOPNOTSUPP,
                              "[sandbox] memory_snapshots = criu, but memory snapshots are "
                              "unavailable here (%s): set it to off to suspend with the files",
                              d->criu_status);
        if (!name || d->snap_dirfd < 0)
                return al_err(err, -EIO, "snapshots are unavailable");
        if (info->agent && pol->snapshots.quota_bytes > 0) {
                r = store_snapshots_total(d->store, info->agent, NULL, &used, err);
                if (r < 0)
                        return r;
                if (used >= pol->snapshots.quota_bytes)
                        return al_err(err, -ENOSPC,
                                      "snapshot quota reached: agent '%s' has %lld MiB of "
                                      "snapshots ([sandbox] snapshot_quota_mb = %lld)",
                                      info->agent, (long long)(used >> 20),
                                      (long long)(pol->snapshots.quota_bytes >> 20));
                if (pol->snapshots.quota_bytes - used < limit)
                        limit = pol->snapshots.quota_bytes - used;
        }
        if (policy_resolve(pol, info->agent ? info->agent : "default", &eff) == 0)
                spec.limits = eff.limits;
        manifest = snapshot_manifest(&spec, sn.tier);
        sn.manifest = manifest;
        sn.file = name;
        /* 1. The intent, durable before anything is written: a crash from here on is settled
         * at start-up (daemon_snapshots_recover). */
        r = store_snapshot_put(d->store, &sn, err);
        if (r < 0)
                return r;
        /* 2. The areas, packed inside the sandbox; 3. the file, whole and synced. */
        r = pack_areas(d, info->handle, limit, pol->files.entries_max * 100, recs, err);
        if (r == 0)
                r = snapshot_write(d->snap_dirfd, name, recs, SNAPSHOT_AREAS, limit, &sn.bytes, sha,
                                   err);
        for (int i = 0; i < SNAPSHOT_AREAS; i++)
                buf_free(&recs[i]);
        if (r < 0) {
                drop_row(d, info->key);
                if (r == -AL_E_TOO_LARGE || r == -EFBIG)
                        return al_err(err,
                                      limit < pol->snapshots.max_bytes ? -ENOSPC : -AL_E_TOO_LARGE,
                                      "the sandbox's state is larger than %s (%lld MiB): it "
                                      "stays live",
                                      limit < pol->snapshots.max_bytes
                                          ? "what is left of the agent's snapshot quota"
                                          : "[sandbox] snapshot_max_mb",
                                      (long long)(limit >> 20));
                return r;
        }
        /* 4. The snapshot is complete: recorded so, durably, before the sandbox goes. */
        sn.state = "complete";
        sn.sha256 = sha;
        r = store_snapshot_put(d->store, &sn, err);
        if (r < 0) {
                unlinkat(d->snap_dirfd, name, 0);
                drop_row(d, info->key);
                return r;
        }
        sc->bytes = sn.bytes;
        metrics_suspended(sn.bytes);
        log_info("sandbox %.12s (%s) suspended: snapshot of %lld bytes", info->handle, info->key,
                 (long long)sn.bytes);
        return 0;
}

/* The registry's saver: a failure (the sandbox stays live) is counted, whoever asked. */
static int save(void *arg, const struct scope_info *info, struct al_error *err)
{
        int r = save_snapshot(arg, info, err);

        if (r < 0)
                metrics_suspend_failed();
        return r;
}

int daemon_suspend(struct daemon *d, const char *id_prefix, const char *agent, json_t **ret,
                   struct al_error *err)
{
        struct save_ctx sc = {.d = d};
        struct scope_saver saver = {.save = save, .ctx = &sc};
        int64_t t0 = util_now_ms();
        int r;

        r = scope_suspend(d->scopes, id_prefix, agent, &saver, err);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:s, s:I, s:I}", "id", id_prefix, "state", "suspended",
                         "snapshot_bytes", (json_int_t)sc.bytes, "duration_ms",
                         (json_int_t)(util_now_ms() - t0));
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

/* ---- resume ---- */

/* The snapshot could not be used: forgotten, loudly, and the sandbox starts empty. */
static int lost(struct daemon *d, json_t *row, const char *why)
{
        const char *file = row_str(row, "file");

        log_error("snapshot of sandbox %.12s (%s) lost: %s; it resumes empty", row_str(row, "id"),
                  row_str(row, "scope_key"), why);
        metrics_resumed(-1, true);
        if (file)
                unlinkat(d->snap_dirfd, file, 0);
        drop_row(d, row_str(row, "scope_key"));
        return SCOPE_RESUMED_LOST;
}

static int unpack_areas(struct daemon *d, const char *handle, struct buf recs[SNAPSHOT_AREAS],
                        struct al_error *err)
{
        for (int i = 0; i < SNAPSHOT_AREAS; i++) {
                char max[24];
                const char *args[] = {"unpack", snapshot_areas[i].root, ".", max, "links", NULL};
                struct buf out;
                int r;

                if (recs[i].len == 0)
                        continue;
                snprintf(max, sizeof(max), "%zu", recs[i].len + 1);
                buf_init(&out, 4096);
                r = daemon_files_run(d, handle, args, recs[i].data, recs[i].len, &out, err);
                buf_free(&out);
                if (r < 0)
                        return al_err_wrap(err, r, "cannot put back %s", snapshot_areas[i].root);
        }
        return 0;
}

/* Whether an unpack failed on what the snapshot holds rather than on the way to the sandbox
 * (the engine, the agent, time). */
static bool unpack_refused(int r)
{
        return r == -EINVAL || r == -EPROTO || r == -ENOSPC || r == -AL_E_CONFLICT ||
               r == -AL_E_FORBIDDEN || r == -AL_E_TOO_LARGE;
}

static int resume(void *arg, const struct scope_info *info, struct al_error *err)
{
        struct daemon *d = arg;
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        struct buf tar, recs[SNAPSHOT_AREAS] = {0};
        json_t *row = NULL;
        int64_t t0 = util_now_ms();
        size_t skipped = 0;
        const char *state, *file;
        struct al_error why = {0};
        int r;

        if (!d->store || d->snap_dirfd < 0)
                return 0;
        r = store_snapshot_get(d->store, info->key, &row, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        state = row_str(row, "state");
        file = row_str(row, "file");
        if (!state || strcmp(state, "complete") != 0 || !file) {
                r = lost(d, row,
                         "its suspend never completed (airlockd stopped during it and "
                         "the sandbox was gone)");
                json_decref(row);
                return r;
        }
        buf_init(&tar, (size_t)row_int(row, "bytes") + 1);
        r = snapshot_read(d->snap_dirfd, file, row_int(row, "bytes"), row_str(row, "sha256"), &tar,
                          &why);
        if (r == 0) {
                for (int i = 0; i < SNAPSHOT_AREAS; i++)
                        buf_init(&recs[i], tar.len + SNAPSHOT_SLACK);
                r = snapshot_tar_to_records(tar.data, tar.len, (size_t)pol->files.entries_max * 100,
                                            recs, &skipped, &why);
        }
        buf_free(&tar);
        if (r == -ENOENT || r == -EBADMSG || r == -EINVAL || r == -AL_E_TOO_LARGE) {
                for (int i = 0; i < SNAPSHOT_AREAS; i++)
                        buf_free(&recs[i]);
                r = lost(d, row, why.msg);
                json_decref(row);
                return r;
        }
        log_debug("resuming %s: snapshot read, checked and parsed in %lld ms", info->key,
                  (long long)(util_now_ms() - t0));
        if (r == 0)
                r = unpack_areas(d, info->handle, recs, &why);
        for (int i = 0; i < SNAPSHOT_AREAS; i++)
                buf_free(&recs[i]);
        if (r < 0 && unpack_refused(r)) {
                /* The sandbox's helper refused what the snapshot holds (it does not fit the
                 * sandbox as the policy makes it now, or its code raced the pack into an
                 * impossible tree): retrying would refuse it forever. */
                r = lost(d, row, why.msg);
                json_decref(row);
                return r;
        }
        if (r < 0) {
                /* Kept: the next use tries again in another fresh sandbox. */
                json_decref(row);
                return al_err(err, r, "cannot resume the suspended sandbox: %s", why.msg);
        }
        if (skipped > 0)
                log_warn("resuming %s: %zu link(s) pointing outside their area were left out",
                         info->key, skipped);
        /* Put back: the snapshot is spent. The new sandbox is recorded first (an AGENT one is
         * then adopted after a crash here), then the row goes; a file left by a crash after
         * that is removed at the next start. */
        if (daemon_record_sandbox(d, info, &why) < 0) {
                json_decref(row);
                return al_err(err, why.code, "cannot record the resumed sandbox: %s", why.msg);
        }
        drop_row(d, info->key);
        unlinkat(d->snap_dirfd, file, 0);
        metrics_resumed(util_now_ms() - t0, false);
        log_info("sandbox for '%s' resumed from %.12s into %.12s in %lld ms", info->key,
                 row_str(row, "id"), info->handle, (long long)(util_now_ms() - t0));
        json_decref(row);
        return SCOPE_RESUMED;
}

int daemon_snapshot_resume_hook(void *ctx, const struct scope_info *info, struct al_error *err)
{
        return resume(ctx, info, err);
}

/* ---- the reaper's round: idle suspends and retention ---- */

void daemon_snapshots_tick(struct daemon *d, int64_t idle_suspend_s, int64_t retention_s)
{
        json_t *rows = NULL, *row;
        struct al_error err;
        int64_t now = util_wall_ms();
        size_t i;

        if (idle_suspend_s > 0) {
                struct save_ctx sc = {.d = d};
                struct scope_saver saver = {.save = save, .ctx = &sc};
                int n = scope_suspend_idle(d->scopes, idle_suspend_s * 1000, &saver);

                if (n > 0)
                        log_info("suspended %d sandbox(es) idle for %llds", n,
                                 (long long)idle_suspend_s);
        }
        if (retention_s <= 0 || store_snapshots_list(d->store, NULL, &rows, &err) < 0)
                return;
        json_array_foreach(rows, i, row)
        {
                const char *state = row_str(row, "state"), *file = row_str(row, "file");

                if (!state || strcmp(state, "complete") != 0 ||
                    !snapshot_expired(row_int(row, "created_at"), now, retention_s))
                        continue;
                if (store_snapshot_delete(d->store, row_str(row, "scope_key"), &err) < 0)
                        continue;
                if (file)
                        unlinkat(d->snap_dirfd, file, 0);
                metrics_snapshot_expired();
                log_info("snapshot of sandbox %.12s (%s) deleted: older than %llds",
                         row_str(row, "id"), row_str(row, "scope_key"), (long long)retention_s);
        }
        json_decref(rows);
}

/* ---- listing, removal, health ---- */

json_t *daemon_snapshots_list(struct daemon *d, const char *agent)
{
        json_t *rows = NULL, *out = json_array(), *row;
        struct al_error err;
        size_t i;

        if (!out || !d->store || store_snapshots_list(d->store, NULL, &rows, &err) < 0)
                return out;
        json_array_foreach(rows, i, row)
        {
                const char *a = row_str(row, "agent");

                if (agent && a && strcmp(a, agent) != 0)
                        continue;
                /* "suspending": a suspend under way (or cut short by a crash, its sandbox
                 * gone: the next use reports snapshot_lost). */
                bool complete = strcmp(row_str(row, "state") ?: "", "complete") == 0;

                json_array_append_new(
                    out,
                    json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:s?}", "id",
                              row_str(row, "id"), "state", complete ? "suspended" : "suspending",
                              "backend", d->containers ? d->containers->ops->name : NULL, "scope",
                              row_str(row, "scope"), "agent", a, "session", row_str(row, "session"),
                              "image", row_str(row, "image"), "suspended_ms",
                              (json_int_t)row_int(row, "created_at"), "snapshot_bytes",
                              (json_int_t)row_int(row, "bytes"), "tier", row_str(row, "tier")));
        }
        json_decref(rows);
        return out;
}

/* Delete the snapshots (rows and files) whose id starts with id_prefix (when not NULL), of
 * agent (when not NULL) and of session (when not NULL); returns how many, or < 0. */
static int remove_matching(struct daemon *d, const char *id_prefix, const char *agent,
                           const char *session, struct al_error *err)
{
        json_t *rows = NULL, *row;
        size_t i;
        int n = 0;

        if (!d->store || store_snapshots_list(d->store, NULL, &rows, err) < 0)
                return d->store ? err->code : 0;
        json_array_foreach(rows, i, row)
        {
                const char *id = row_str(row, "id"), *a = row_str(row, "agent");
                const char *s = row_str(row, "session"), *file = row_str(row, "file");

                if (!id || (id_prefix && strncmp(id, id_prefix, strlen(id_prefix)) != 0) ||
                    (agent && (!a || strcmp(a, agent))) || (session && (!s || strcmp(s, session))))
                        continue;
                if (store_snapshot_delete(d->store, row_str(row, "scope_key"), err) < 0)
                        continue;
                if (file)
                        unlinkat(d->snap_dirfd, file, 0);
                n++;
        }
        json_decref(rows);
        return n;
}

int daemon_snapshot_remove(struct daemon *d, const char *id_prefix, const char *agent,
                           struct al_error *err)
{
        int n;

        if (strlen(id_prefix) < 12)
                return al_err(err, -EINVAL, "a sandbox id has at least 12 characters");
        n = remove_matching(d, id_prefix, agent, NULL, err);
        if (n == 0)
                return al_err(err, -ENOENT, "no sandbox '%s'", id_prefix);
        return n < 0 ? n : 0;
}

int daemon_snapshots_end_session(struct daemon *d, const char *agent, const char *session)
{
        struct al_error err;

        return remove_matching(d, NULL, agent, session, &err);
}

json_t *daemon_snapshots_health(struct daemon *d)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        int64_t count = 0, bytes = 0;
        struct al_error err;

        if (d->store)
                store_snapshots_total(d->store, NULL, &count, &bytes, &err);
        return json_pack("{s:I, s:I, s:I, s:I, s:{s:b, s:b, s:s}}", "count", (json_int_t)count,
                         "bytes", (json_int_t)bytes, "idle_suspend_s",
                         (json_int_t)pol->snapshots.idle_suspend_s, "retention_s",
                         (json_int_t)pol->snapshots.retention_s, "memory", "enabled",
                         pol->snapshots.memory, "available", 0, "reason", d->criu_status);
}

/* ---- start-up reconciliation ---- */

/* Before the live sandboxes are adopted: a complete snapshot whose sandbox still runs (a crash
 * between recording it and removing the sandbox) wins, and the sandbox is left to be removed
 * as an orphan; a missing or mismatched file is reported now (the next use reports it too). */
int daemon_snapshots_settle(struct daemon *d, struct al_error *err)
{
        json_t *rows = NULL, *row;
        size_t i;
        int r;

        r = store_snapshots_list(d->store, NULL, &rows, err);
        if (r < 0)
                return r;
        json_array_foreach(rows, i, row)
        {
                const char *state = row_str(row, "state"), *file = row_str(row, "file");
                struct stat st;

                if (!state || strcmp(state, "complete") != 0)
                        continue;
                store_sandbox_remove(d->store, row_str(row, "id"), 0, NULL);
                if (!file || fstatat(d->snap_dirfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_size != row_int(row, "bytes"))
                        log_error("snapshot of sandbox %.12s (%s) is missing or damaged: it "
                                  "will resume empty (snapshot_lost)",
                                  row_str(row, "id"), row_str(row, "scope_key"));
        }
        json_decref(rows);
        return 0;
}

/* Files of the snapshots directory that no row names (a crash mid-write, or after a resume
 * forgot its row): removed. */
static void remove_strays(struct daemon *d, json_t *rows)
{
        int fd = dup(d->snap_dirfd);
        DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        while ((de = readdir(dir))) {
                bool known = false;
                json_t *row;
                size_t i;

                if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
                        continue;
                json_array_foreach(rows, i, row)
                {
                        const char *file = row_str(row, "file");

                        known |= file && strcmp(file, de->d_name) == 0;
                }
                if (!known && unlinkat(d->snap_dirfd, de->d_name, 0) == 0)
                        log_info("removed stray snapshot file '%s'", de->d_name);
        }
        closedir(dir);
}

/* The sandbox of info taken back for a suspend: already adopted (AGENT, SHARED), or adopted
 * now whatever its scope. */
static int adopt_for_suspend(struct daemon *d, const struct scope_info *info,
                             const struct sandbox_spec *spec, struct al_error *err)
{
        int r;

        if (scope_has_key(d->scopes, info->key))
                return 0;
        if (!d->containers->ops->sandbox_adopt)
                return al_err(err, -ENOENT, "the backend cannot take sandboxes back");
        r = d->containers->ops->sandbox_adopt(d->containers, info->handle, spec, err);
        if (r < 0)
                return r;
        return scope_adopt(d->scopes, info, err);
}

/* After adoption, before orphans are removed: a suspend that was begun and not completed is
 * finished now when its sandbox still runs (adopted first, whatever its scope), or left as a
 * lost snapshot for the next use to report when it does not. */
int daemon_snapshots_recover(struct daemon *d, struct al_error *err)
{
        _cleanup_(policy_unrefp) struct policy *pol = daemon_policy(d);
        json_t *rows = NULL, *row;
        size_t i;
        int r;

        r = store_snapshots_list(d->store, NULL, &rows, err);
        if (r < 0)
                return r;
        json_array_foreach(rows, i, row)
        {
                const char *state = row_str(row, "state"), *id = row_str(row, "id");
                const char *scope = row_str(row, "scope");
                struct scope_info info = {
                    .key = row_str(row, "scope_key"),
                    .handle = id,
                    .scope = strcmp(scope ? scope : "", "agent") == 0    ? SCOPE_AGENT
                             : strcmp(scope ? scope : "", "shared") == 0 ? SCOPE_SHARED
                                                                         : SCOPE_SESSION,
                    .agent = row_str(row, "agent"),
                    .session = row_str(row, "session"),
                    .image = row_str(row, "image"),
                    .created_ms = row_int(row, "created_at"),
                    .last_used_ms = row_int(row, "created_at"),
                };
                struct sandbox_spec spec = {.exec_user = pol->exec_user};
                struct al_error e2 = {0};
                json_t *done = NULL;

                if (!state || !id || !info.key)
                        continue;
                if (strcmp(state, "complete") == 0) {
                        /* A live sandbox adopted for the key is the one this snapshot was put
                         * back into (its own sandbox was not adopted: settle saw to it); the
                         * crash came before the snapshot was forgotten. */
                        if (scope_has_key(d->scopes, info.key)) {
                                log_info("snapshot of %.12s (%s) was already resumed: deleted", id,
                                         info.key);
                                unlinkat(d->snap_dirfd, row_str(row, "file"), 0);
                                drop_row(d, info.key);
                        }
                        continue;
                }
                /* An AGENT or SHARED sandbox was adopted already; a SESSION one is taken back
                 * here only to be suspended. */
                if (adopt_for_suspend(d, &info, &spec, &e2) < 0) {
                        log_error("suspend of sandbox %.12s (%s) was cut short by a stop and "
                                  "the sandbox is gone (%s): its next use reports "
                                  "snapshot_lost",
                                  id, info.key, e2.msg);
                        continue;
                }
                if (daemon_suspend(d, id, NULL, &done, &e2) < 0)
                        log_error("finishing the suspend of sandbox %.12s (%s): %s; it stays "
                                  "live",
                                  id, info.key, e2.msg);
                else
                        log_info("finished the suspend of sandbox %.12s (%s) cut short by a "
                                 "stop",
                                 id, info.key);
                json_decref(done);
        }
        json_decref(rows);
        rows = NULL;
        if (store_snapshots_list(d->store, NULL, &rows, err) == 0)
                remove_strays(d, rows);
        json_decref(rows);
        return 0;
}
