/* Docker and Podman backend: sandboxes are containers hardened by hostconfig.c; execs run
 * through the Engine API's exec endpoints (docker_exec.c; background ones in docker_procs.c),
 * one-off runs through attach + start + wait. */
#include "airlock/docker_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "airlock/cleanup.h"
#include "../exec_cgroup.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "docker_private.h"

#define SECCOMP_MAX (512 * 1024)
#define SWEEP_MS    3000

static struct dbackend *priv(struct backend *b)
{
        return b->priv;
}

/* Find the memory cgroup of the container's init to watch its OOM-kill counter. */
static char *oom_path_for_pid(long long pid)
{
        char path[64], line[1024];
        _cleanup_fclose_ FILE *f = NULL;
        char *found = NULL;

        snprintf(path, sizeof(path), "/proc/%lld/cgroup", pid);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        while (!found && fgets(line, sizeof(line), f)) {
                char *ctrl = strchr(line, ':'), *cg;

                if (!ctrl)
                        continue;
                cg = strchr(ctrl + 1, ':');
                if (!cg)
                        continue;
                *cg++ = '\0';
                cg[strcspn(cg, "\n")] = '\0';
                ctrl++;
                if (strcmp(ctrl, "memory") == 0 || strstr(ctrl, ",memory") ||
                    strstr(ctrl, "memory,")) {
                        if (asprintf(&found, "/sys/fs/cgroup/memory%s/memory.oom_control", cg) < 0)
                                found = NULL;
                } else if (ctrl[0] == '\0' && line[0] == '0') {
                        if (asprintf(&found, "/sys/fs/cgroup%s/memory.events", cg) < 0)
                                found = NULL;
                }
        }
        if (found && access(found, R_OK) != 0) {
                free(found);
                found = NULL;
        }
        return found;
}

/* The events file of the pids cgroup of pid (v1: pids.events, "max N"), or NULL. */
static char *pids_events_for_pid(long long pid)
{
        char path[64], line[1024];
        _cleanup_fclose_ FILE *f = NULL;
        char *found = NULL;

        snprintf(path, sizeof(path), "/proc/%lld/cgroup", pid);
        f = fopen(path, "re");
        while (f && !found && fgets(line, sizeof(line), f)) {
                char *ctrl = strchr(line, ':'), *cg = ctrl ? strchr(ctrl + 1, ':') : NULL;

                if (!cg)
                        continue;
                *cg++ = '\0';
                cg[strcspn(cg, "\n")] = '\0';
                if (strcmp(ctrl + 1, "pids") == 0 &&
                    asprintf(&found, "/sys/fs/cgroup/pids%s/pids.events", cg) < 0)
                        found = NULL;
                else if (ctrl[1] == '\0' && line[0] == '0' &&
                         asprintf(&found, "/sys/fs/cgroup%s/pids.events", cg) < 0)
                        found = NULL;
        }
        return found;
}

static void dsandbox_free(struct dsandbox *s)
{
        if (!s)
                return;
        free(s->id);
        free(s->exec_user);
        free(s->oom_path);
        free(s->cg_root);
        free(s->run_dir);
        free(s->workdir);
        free(s->pids_events);
        free(s);
}

struct dsandbox *dsandbox_find_locked(struct dbackend *d, const char *id)
{
        for (struct dsandbox *s = d->sandboxes; s; s = s->next)
                if (strcmp(s->id, id) == 0)
                        return s;
        return NULL;
}

void dsandbox_ref_clear(struct dsandbox_ref *ref)
{
        free(ref->exec_user);
        free(ref->oom_path);
        free(ref->cg_root);
        free(ref->run_dir);
        free(ref->workdir);
        free(ref->pids_events);
        *ref = (struct dsandbox_ref){0};
}

int dsandbox_ref_get(struct dbackend *d, const char *id, struct dsandbox_ref *ret)
{
        struct dsandbox *s;
        int r = -ENOENT;

        pthread_mutex_lock(&d->lock);
        s = dsandbox_find_locked(d, id);
        if (s) {
                ret->exec_user = strdup(s->exec_user);
                ret->oom_path = s->oom_path ? strdup(s->oom_path) : NULL;
                ret->cg_root = strdup(s->cg_root);
                ret->run_dir = s->run_dir ? strdup(s->run_dir) : NULL;
                ret->workdir = strdup(s->workdir ? s->workdir : SANDBOX_WORKDIR);
                ret->init_pid = s->init_pid;
                ret->gvisor = s->gvisor;
                ret->pids_events = s->pids_events ? strdup(s->pids_events) : NULL;
                r = ret->exec_user && ret->cg_root && ret->workdir && (!s->run_dir || ret->run_dir)
                        ? 0
                        : -ENOMEM;
        }
        pthread_mutex_unlock(&d->lock);
        if (r < 0)
                dsandbox_ref_clear(ret);
        return r;
}

void dsandbox_agent_seen(struct dbackend *d, const char *id, bool up)
{
        struct dsandbox *s;
        bool changed = false;

        pthread_mutex_lock(&d->lock);
        s = dsandbox_find_locked(d, id);
        if (s && s->agent_down == up) {
                s->agent_down = !up;
                changed = true;
        }
        pthread_mutex_unlock(&d->lock);
        if (changed)
                log_warn("sandbox %.12s: %s", id,
                         up ? "its agent answers again"
                            : "its agent does not answer; engine execs");
}

/* Take the record of id out of the list, ending its background processes; gone is fine. */
static void dsandbox_forget(struct dbackend *d, const char *id)
{
        struct dsandbox **pp, *s = NULL;

        pthread_mutex_lock(&d->lock);
        for (pp = &d->sandboxes; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->id, id) == 0) {
                        s = *pp;
                        *pp = s->next;
                        break;
                }
        pthread_mutex_unlock(&d->lock);
        if (s) {
                dprocs_end_all(d, s);
                dsandbox_free(s);
        }
}

/* Remember a live container as a sandbox: who runs the code, where its OOM counter and its
 * cgroups are, and its agent (run_dir, NULL for none). */
static int dsandbox_register(struct dbackend *d, const char *id, const char *exec_user,
                             const char *run_dir, bool gvisor, json_t *insp, struct al_error *err)
{
        const char *wd =
            json_string_value(json_object_get(json_object_get(insp, "Config"), "WorkingDir"));
        struct dsandbox *s = calloc(1, sizeof(*s));
        long long pid;
        int r;

        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        s->id = strdup(id);
        s->exec_user = strdup(exec_user);
        s->run_dir = run_dir ? strdup(run_dir) : NULL;
        s->workdir = strdup(wd && *wd ? wd : SANDBOX_WORKDIR);
        pid = json_integer_value(json_object_get(json_object_get(insp, "State"), "Pid"));
        s->init_pid = pid;
        s->gvisor = gvisor;
        /* gVisor counts no sandbox process in the host's pids cgroup until it has a host task
         * of its own, and a full cgroup then kills the whole sandbox: the code's processes are
         * capped inside too, at the limit the pids cgroup has without runsc's headroom. */
        if (gvisor)
                s->pids_events = pids_events_for_pid(pid);
        s->oom_path = oom_path_for_pid(pid);
        if (!s->id || !s->exec_user || !s->workdir || (run_dir && !s->run_dir)) {
                dsandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
        }
        r = exec_cgroup_root(pid, &s->cg_root, err);
        if (r < 0) {
                dsandbox_free(s);
                return al_err_wrap(err, r, "sandbox %.12s", id);
        }
        pthread_mutex_lock(&d->lock);
        s->next = d->sandboxes;
        d->sandboxes = s;
        pthread_mutex_unlock(&d->lock);
        return 0;
}

static bool dsandbox_known(struct dbackend *d, const char *id)
{
        bool known = false;

        pthread_mutex_lock(&d->lock);
        for (struct dsandbox *s = d->sandboxes; s && !known; s = s->next)
                known = strcmp(s->id, id) == 0;
        pthread_mutex_unlock(&d->lock);
        return known;
}

/* True when the container has airlock's exec shim mounted (made by a version that has one). */
static bool has_exec_shim(json_t *insp)
{
        json_t *m;
        size_t i;

        json_array_foreach(json_object_get(insp, "Mounts"), i, m)
        {
                const char *dst = json_string_value(json_object_get(m, "Destination"));

                if (dst && strcmp(dst, SANDBOX_EXEC_SHIM) == 0)
                        return true;
        }
        return false;
}

/* Forget a sandbox's agent: its execs go through the engine from now on. */
static void dsandbox_drop_agent(struct dbackend *d, const char *id)
{
        struct dsandbox *s;

        pthread_mutex_lock(&d->lock);
        s = dsandbox_find_locked(d, id);
        if (s) {
                free(s->run_dir);
                s->run_dir = NULL;
        }
        pthread_mutex_unlock(&d->lock);
}

/* Whether the engine ran the container (its inspect document) with gVisor. */
static bool insp_gvisor(json_t *insp)
{
        const char *rt =
            json_string_value(json_object_get(json_object_get(insp, "HostConfig"), "Runtime"));

        return rt && strcmp(rt, HOSTCONFIG_GVISOR_RUNTIME) == 0;
}

/* The tier is in force: the container's first host process is runsc's sandbox (the Sentry)
 * exactly when it was made for the gvisor tier. A sandbox claiming a tier it does not have is
 * never handed out. */
static int tier_in_force(json_t *insp, bool gvisor, struct al_error *err)
{
        long long pid = json_integer_value(json_object_get(json_object_get(insp, "State"), "Pid"));
        char path[64], exe[4096];
        ssize_t n;
        bool runsc;

        snprintf(path, sizeof(path), "/proc/%lld/exe", pid);
        n = readlink(path, exe, sizeof(exe) - 1);
        if (pid <= 0 || n <= 0)
                return al_err(err, -ESRCH, "cannot see the sandbox's process %lld", pid);
        exe[n] = '\0';
        runsc = strcmp(strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe, "runsc") == 0;
        if (runsc != gvisor)
                return al_err(err, -EPROTO,
                              "the sandbox is %s gVisor, but was asked for the %s tier: not "
                              "handed out (is the engine's runtime '%s' what setup made?)",
                              runsc ? "in" : "not in", gvisor ? "gvisor" : "container",
                              HOSTCONFIG_GVISOR_RUNTIME);
        return 0;
}

static int d_sandbox_adopt(struct backend *b, const char *handle, const struct sandbox_spec *spec,
                           struct al_error *err)
{
        struct dbackend *d = priv(b);
        struct dsandbox_ref ref = {0};
        json_t *insp = NULL;
        const char *id;
        bool gvisor;
        int r;

        r = engine_container_inspect(d->engine, handle, &insp, err);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(json_object_get(insp, "State"), "Running"))) {
                json_decref(insp);
                return al_err(err, -ENOENT, "sandbox %.12s is not running", handle);
        }
        if (!has_exec_shim(insp)) {
                json_decref(insp);
                return al_err(err, -ENOENT,
                              "sandbox %.12s was made without the exec shim (by "
                              "an older airlock): not adopted",
                              handle);
        }
        id = json_string_value(json_object_get(insp, "Id")) ?: handle;
        /* Its tier is what the engine ran it with, whatever the record says. */
        gvisor = insp_gvisor(insp);
        r = tier_in_force(insp, gvisor, err);
        if (r >= 0)
                r = dsandbox_register(d, id, spec->exec_user, dagent_dir_of(d, insp), gvisor, insp,
                                      err);
        if (r >= 0)
                r = dsandbox_ref_get(d, id, &ref);
        json_decref(insp);
        if (r < 0)
                return r;
        /* An agent that does not answer leaves the sandbox to the engine's exec API. */
        if (ref.run_dir && dagent_ping(ref.run_dir, ref.init_pid, gvisor, AGENT_PING_MS, err) < 0) {
                log_warn("sandbox %.12s: its agent does not answer (%s); engine execs", handle,
                         err->msg);
                dsandbox_drop_agent(d, id);
        }
        /* Whatever the code was running when the last daemon died has nobody to report to
         * (in gVisor, the agent's next sweep ends it). */
        r = gvisor ? 0 : exec_cgroup_sweep(ref.cg_root, SWEEP_MS);
        dsandbox_ref_clear(&ref);
        if (r < 0)
                return al_err(err, -EIO, "cannot end stray processes in sandbox %.12s", handle);
        return 0;
}

static int d_tier_supported(struct backend *b, enum isolation_tier t, struct al_error *err)
{
        struct dbackend *d = priv(b);
        json_t *info = NULL;
        int r;

        if (t == ISOLATION_CONTAINER)
                return 0;
        if (t != ISOLATION_GVISOR)
                return al_err(err, -EOPNOTSUPP, "no such tier");
        if (d->env.kind == ENGINE_PODMAN)
                return al_err(err, -EOPNOTSUPP,
                              "the gvisor tier needs Docker: Podman's compat API ignores the "
                              "runtime a container asks for (docs/isolation.md)");
        r = engine_info(d->engine, &info, err);
        if (r < 0)
                return r;
        r = json_object_get(json_object_get(info, "Runtimes"), HOSTCONFIG_GVISOR_RUNTIME)
                ? 0
                : al_err(err, -EOPNOTSUPP,
                         "Docker has no runtime '%s' (contrib/setup.sh registers runsc under "
                         "that name)",
                         HOSTCONFIG_GVISOR_RUNTIME);
        json_decref(info);
        return r;
}

static int d_sandbox_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                            struct al_error *err)
{
        struct dbackend *d = priv(b);
        _cleanup_free_ char *id = NULL, *run_dir = NULL;
        bool gvisor = spec->isolation == ISOLATION_GVISOR;
        json_t *body, *insp = NULL;
        long long pid;
        int r;

        if (gvisor && d->env.kind == ENGINE_PODMAN)
                return d_tier_supported(b, spec->isolation, err);
        r = dagent_dir_make(d, spec->exec_user, &run_dir, err);
        if (r < 0)
                return r;
        body = hostconfig_sandbox_body(spec, &d->env, run_dir);
        if (!body) {
                dagent_dir_remove(run_dir);
                return al_err(err, -ENOMEM, "cannot build the container body");
        }
        r = engine_container_create(d->engine, NULL, body, &id, err);
        json_decref(body);
        if (r < 0) {
                dagent_dir_remove(run_dir);
                return al_err_wrap(err, r, "creating a sandbox from image '%s'", spec->image);
        }
        r = engine_container_start(d->engine, id, err);
        if (r >= 0)
                r = engine_container_inspect(d->engine, id, &insp, err);
        if (r < 0) {
                engine_container_remove(d->engine, id, NULL);
                dagent_dir_remove(run_dir);
                return al_err_wrap(err, r, "starting sandbox %.12s", id);
        }
        pid = json_integer_value(json_object_get(json_object_get(insp, "State"), "Pid"));
        r = tier_in_force(insp, gvisor, err);
        if (r >= 0)
                r = dsandbox_register(d, id, spec->exec_user, run_dir, gvisor, insp, err);
        json_decref(insp);
        /* The agent is up within a few milliseconds of the start (gVisor: a few hundred); the
         * sandbox is handed out only once it answers. */
        if (r >= 0)
                r = dagent_wait(run_dir, pid, gvisor, err);
        if (r < 0) {
                dsandbox_forget(d, id);
                engine_container_remove(d->engine, id, NULL);
                dagent_dir_remove(run_dir);
                return r;
        }
        *ret_handle = TAKE_PTR(id);
        return 0;
}

static int d_sandbox_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                          const struct exec_sink *sink, struct exec_result *res,
                          struct al_error *err)
{
        struct engine_stream_io io = {.watch_fd = sink ? sink->watch_fd : -1,
                                      .cancel_fd = sink ? sink->cancel_fd : 0};
        struct dexec e;
        int r;

        r = dexec_open(priv(b), handle, x, &e, err);
        if (r < 0)
                return r;
        e.sink = sink;
        e.res = res;
        /* Through the engine, the shim runs nothing before it is placed; through the agent,
         * dagent_pump calls it once the EXEC is on its way. */
        if (e.agent_fd < 0 && x->before_run && (r = x->before_run(x->before_run_ctx, err)) < 0) {
                dexec_clear(&e);
                return r;
        }
        r = dexec_pump(&e, x, &io, err);
        if (r >= 0) {
                r = dexec_finish(&e, err);
        } else if (e.agent_failed && e.gvisor && e.oom_before >= 0 &&
                   dexec_oom_kills(e.oom_path) > e.oom_before) {
                /* In gVisor the kernel's OOM killer ends the whole sandbox (its Sentry holds
                 * the code's memory): the exec was OOM-killed, and its sandbox with it. */
                res->oom_killed = true;
                dexec_set_exit(res, 128 + 9);
                r = al_err(err, -ESTALE, "out of memory: the gVisor sandbox was killed");
        } else if (e.agent_failed && e.gvisor && e.pids_before >= 0 &&
                   dexec_events_max(e.pids_events) > e.pids_before) {
                /* Likewise a full pids cgroup: runsc cannot make the task it needs. */
                dexec_set_exit(res, 128 + 9);
                r = al_err(err, -ESTALE,
                           "the process limit was reached: the gVisor sandbox was killed");
        } else if (e.agent_failed) {
                /* A misbehaving agent costs its sandbox: the caller removes it and says so. */
                r = al_err_wrap(err, -ESTALE, "the sandbox's agent failed");
        }
        dexec_clear(&e);
        return r;
}

static int start_container(void *ctx, struct al_error *err)
{
        struct dexec *c = ctx;

        return engine_container_start(c->d->engine, c->container_id, err);
}

static void on_deadline_oneshot(void *ctx)
{
        struct dexec *c = ctx;

        c->res->timed_out = true;
        engine_container_kill(c->d->engine, c->container_id, "KILL", NULL);
}

static int d_sandbox_remove(struct backend *b, const char *handle, struct al_error *err)
{
        struct dbackend *d = priv(b);
        _cleanup_free_ char *run_dir = NULL;
        json_t *insp = NULL;
        int r;

        /* Its agent directory, from the record or (a sandbox not held) its labels. */
        pthread_mutex_lock(&d->lock);
        {
                struct dsandbox *s = dsandbox_find_locked(d, handle);

                if (s && s->run_dir)
                        run_dir = strdup(s->run_dir);
        }
        pthread_mutex_unlock(&d->lock);
        if (!run_dir && engine_container_inspect(d->engine, handle, &insp, NULL) == 0) {
                const char *dir = dagent_dir_of(d, insp);

                run_dir = dir ? strdup(dir) : NULL;
                json_decref(insp);
        }
        dsandbox_forget(d, handle);
        r = engine_container_remove(d->engine, handle, err);
        if (r >= 0)
                dagent_dir_remove(run_dir);
        return r;
}

/* A one-off through a short-lived sandbox: its memory cgroup outlives the exec, so an OOM kill
 * can be read from it. Podman neither reports OOMKilled for such containers nor keeps their
 * cgroup once the main process is gone, so this is its one-off path. */
static int run_once_via_sandbox(struct backend *b, const struct sandbox_spec *spec,
                                const struct exec_spec *x, const struct exec_sink *sink,
                                struct exec_result *res, struct al_error *err)
{
        _cleanup_free_ char *id = NULL;
        int64_t t0 = util_now_ms();
        int r;

        r = d_sandbox_create(b, spec, &id, err);
        if (r < 0)
                return r;
        r = d_sandbox_exec(b, id, x, sink, res, err);
        if (r == -ESTALE) {
                /* The sandbox goes anyway; the result says why it could not be kept. */
                snprintf(res->sandbox_lost, sizeof(res->sandbox_lost), "%.190s", err->msg);
                r = 0;
        }
        if (r >= 0 && x->after_run)
                x->after_run(x->after_run_ctx, id, res);
        d_sandbox_remove(b, id, NULL);
        res->duration_ms = util_now_ms() - t0;
        snprintf(res->sandbox_id, sizeof(res->sandbox_id), "%.12s", id);
        return r;
}

static int d_run_once(struct backend *b, const struct sandbox_spec *spec, const struct exec_spec *x,
                      const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct dbackend *d = priv(b);
        _cleanup_free_ char *id = NULL;
        struct dexec c = {.d = d, .sink = sink, .res = res};
        struct engine_stream_io io = {0};
        enum engine_stream_end end = STREAM_EOF;
        int64_t t0 = util_now_ms(), status = -1;
        json_t *body, *insp = NULL;
        int r;

        /* Podman, execs with the network (whose way out is the sandbox's agent) and execs
         * whose artifacts are collected from the sandbox before it goes. */
        if (d->env.kind == ENGINE_PODMAN || x->egress || x->after_run ||
            spec->isolation != ISOLATION_CONTAINER)
                return run_once_via_sandbox(b, spec, x, sink, res, err);
        body = hostconfig_oneshot_body(spec, &d->env, x);
        if (!body)
                return al_err(err, -EINVAL, "cannot encode the exec (is every string UTF-8?)");
        r = engine_container_create(d->engine, NULL, body, &id, err);
        json_decref(body);
        if (r < 0)
                return al_err_wrap(err, r, "creating a sandbox from image '%s'", spec->image);
        c.container_id = id;
        io.stdin_data = x->stdin_data;
        io.stdin_len = x->stdin_len;
        io.output = dexec_output;
        io.ctx = &c;
        io.deadline_ms = x->timeout_ms > 0 ? t0 + x->timeout_ms : 0;
        io.watch_fd = sink ? sink->watch_fd : -1;
        io.cancel_fd = sink ? sink->cancel_fd : 0;
        io.on_deadline = on_deadline_oneshot;
        io.drain_ms = DEXEC_DRAIN_MS;
        r = engine_container_attach(d->engine, id, &io, start_container, &c, &end, err);
        if (r >= 0 && end == STREAM_CANCELLED) {
                res->timed_out = false;
                res->aborted = true;
        }
        if (r >= 0 && (end == STREAM_WATCH_HUP || end == STREAM_ABORTED)) {
                res->aborted = true;
                engine_container_kill(d->engine, id, "KILL", NULL);
        }
        if (r >= 0)
                r = engine_container_wait(d->engine, id, &status, err);
        if (r >= 0)
                r = engine_container_inspect(d->engine, id, &insp, err);
        if (r >= 0) {
                json_t *state = json_object_get(insp, "State");

                dexec_set_exit(res, status);
                res->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
                json_decref(insp);
        }
        /* One-off sandboxes never outlive their exec, whatever happened above. */
        engine_container_remove(d->engine, id, NULL);
        res->duration_ms = util_now_ms() - t0;
        snprintf(res->sandbox_id, sizeof(res->sandbox_id), "%.12s", id);
        return r < 0 ? r : 0;
}

static int d_sandbox_alive(struct backend *b, const char *handle, struct al_error *err)
{
        json_t *insp = NULL;
        int r = engine_container_inspect(priv(b)->engine, handle, &insp, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = json_is_true(json_object_get(json_object_get(insp, "State"), "Running"));
        json_decref(insp);
        return r;
}

static int d_remove_instance(struct backend *b, const char *instance_id, struct al_error *err)
{
        struct dbackend *d = priv(b);
        char label[128];
        json_t *list = NULL, *c;
        size_t i;
        int r, first = 0;

        snprintf(label, sizeof(label), "airlock.instance=%s", instance_id);
        r = engine_container_list(d->engine, label, &list, err);
        if (r < 0)
                return r;
        json_array_foreach(list, i, c)
        {
                const char *id = json_string_value(json_object_get(c, "Id"));

                if (!id || dsandbox_known(d, id))
                        continue;
                r = d_sandbox_remove(b, id, err);
                if (r < 0 && first == 0)
                        first = r;
        }
        json_decref(list);
        dagent_dir_sweep(d);
        return first;
}

static void d_free(struct backend *b)
{
        struct dbackend *d = priv(b);

        while (d->sandboxes) {
                struct dsandbox *s = d->sandboxes;

                d->sandboxes = s->next;
                dprocs_end_all(d, s);
                dsandbox_free(s);
        }
        pthread_mutex_destroy(&d->lock);
        free(d->seccomp_text);
        free(d->seccomp_text_gvisor);
        free(d->seccomp_path);
        free(d->exec_shim);
        free(d->agent_bin);
        free(d->lib_dir);
        free(d->pyshims);
        free(d->run_root);
        /* Kept sandboxes hold their bind mount of it; a new start writes it again. */
        if (d->hosts_file)
                unlink(d->hosts_file);
        free(d->hosts_file);
        free(d);
        free(b);
}

/* One set of operations for both engines; only the name differs (it shows in results). */
static json_t *d_status(struct backend *b)
{
        struct dbackend *d = priv(b);
        int n = 0, without = 0;

        pthread_mutex_lock(&d->lock);
        for (struct dsandbox *s = d->sandboxes; s; s = s->next) {
                n++;
                without += s->run_dir == NULL || s->agent_down;
        }
        pthread_mutex_unlock(&d->lock);
        return json_pack("{s:i, s:i}", "sandboxes", n, "without_agent", without);
}

static const struct backend_ops docker_ops = {
    .name = "docker",
    .sandbox_create = d_sandbox_create,
    .sandbox_exec = d_sandbox_exec,
    .proc_start = dprocs_start,
    .proc_list = dprocs_list,
    .proc_kill = dprocs_kill,
    .ctx_connect = dctx_connect,
    .proc_signal = dctx_signal,
    .tier_supported = d_tier_supported,
    .status = d_status,
    .run_once = d_run_once,
    .sandbox_alive = d_sandbox_alive,
    .sandbox_remove = d_sandbox_remove,
    .sandbox_adopt = d_sandbox_adopt,
    .remove_instance = d_remove_instance,
    .free = d_free,
};

/* Where program NAME of airlock is, executable, or NULL with err set. */
static int write_hosts(const char *path, struct al_error *err)
{
        static const char text[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n";
        _cleanup_close_ int fd =
            open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) ||
            fchmod(fd, 0644) < 0)
                return al_err_errno(err, -errno, "writing '%s'", path);
        return 0;
}

static char *find_program(const char *name, const char *what, struct al_error *err)
{
        char *path = util_program_file(name);

        if (path && access(path, X_OK) == 0)
                return path;
        al_err(err, -ENOENT,
               "the %s '%s' is missing (build it, or set AIRLOCK_LIBEXEC_DIR to where %s is)", what,
               path ? path : name, name);
        free(path);
        return NULL;
}

struct backend *docker_backend_new(struct engine *engine, const char *seccomp_path,
                                   const char *run_root, struct al_error *err)
{
        struct backend *b = calloc(1, sizeof(*b));
        struct dbackend *d = calloc(1, sizeof(*d));
        struct rlimit rl;
        int r;

        if (!b || !d) {
                free(b);
                free(d);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&d->lock, NULL);
        b->priv = d;
        d->engine = engine;
        d->env.kind = engine_kind(engine);
        r = util_read_admin_file(seccomp_path, SECCOMP_MAX, &d->seccomp_text, NULL, err);
        if (r < 0) {
                al_err_wrap(err, r, "loading the seccomp profile");
                goto fail;
        }
        d->seccomp_path = realpath(seccomp_path, NULL);
        d->exec_shim = find_program("airlock-exec", "in-sandbox exec shim", err);
        d->agent_bin = d->exec_shim ? find_program("airlock-agent", "in-sandbox agent", err) : NULL;
        if (!d->agent_bin)
                goto fail;
        /* Agent directories: root's, and searchable so the engine can bind them. */
        if (mkdir(run_root, 0711) < 0 && errno != EEXIST) {
                al_err_errno(err, -errno, "making '%s'", run_root);
                goto fail;
        }
        d->run_root = realpath(run_root, NULL);
        if (!d->run_root) {
                al_err_errno(err, -errno, "resolving '%s'", run_root);
                goto fail;
        }
        /* Podman copies the host's /etc/hosts into containers: a sandbox gets one that names
         * localhost only (a dot-file, which the sweep of agent directories passes over). */
        if (d->env.kind == ENGINE_PODMAN) {
                if (asprintf(&d->hosts_file, "%s/.hosts", d->run_root) < 0) {
                        d->hosts_file = NULL;
                        al_err(err, -ENOMEM, "out of memory");
                        goto fail;
                }
                if (write_hosts(d->hosts_file, err) < 0)
                        goto fail;
                d->env.hosts = d->hosts_file;
        }
        d->env.exec_shim = d->exec_shim;
        d->env.agent = d->agent_bin;
        /* The contexts' interpreter driver: without it, sandboxes work but contexts do not. */
        d->lib_dir = util_program_file("airlock-lib");
        if (d->lib_dir && access(d->lib_dir, R_OK | X_OK) < 0) {
                free(d->lib_dir);
                d->lib_dir = NULL;
        }
        d->env.lib_dir = d->lib_dir;
        /* The Python shims are optional: without them plots are not turned into artifacts. */
        d->pyshims = util_program_file("airlock-python");
        if (d->pyshims && access(d->pyshims, R_OK | X_OK) < 0) {
                log_warn("no Python shims at '%s': plots will not become artifacts", d->pyshims);
                free(d->pyshims);
                d->pyshims = NULL;
        }
        d->env.pyshims = d->pyshims;
        d->env.seccomp_text = d->seccomp_text;
        d->seccomp_text_gvisor = hostconfig_seccomp_gvisor(d->seccomp_text);
        d->env.seccomp_text_gvisor = d->seccomp_text_gvisor;
        d->env.seccomp_path = d->seccomp_path;
        /* Podman starts a container only when its ulimits fit within the host's hard limits. */
        d->env.ulimits.nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long long)rl.rlim_max : 1024;
        d->env.ulimits.nproc = getrlimit(RLIMIT_NPROC, &rl) == 0 ? (long long)rl.rlim_max : 4096;
        d->ops = docker_ops;
        if (d->env.kind == ENGINE_PODMAN)
                d->ops.name = "podman";
        b->ops = &d->ops;
        return b;
fail:
        d_free(b);
        return NULL;
}
