/* Docker and Podman backend: sandboxes are containers hardened by hostconfig.c; execs run
 * through the Engine API's exec endpoints, one-off runs through attach + start + wait. */
#include "airlock/docker_backend.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "hostconfig.h"

#define SECCOMP_MAX (512 * 1024)
#define DRAIN_MS    1500

/* What the backend remembers of each live sandbox it made. */
struct dsandbox {
        char *id;
        char *exec_user;
        char *oom_path; /* memory.oom_control (v1) or memory.events (v2), or NULL */
        struct dsandbox *next;
};

struct dbackend {
        struct engine *engine;
        struct hostconfig_env env;
        char *seccomp_text;
        char *seccomp_path;
        pthread_mutex_t lock;
        struct dsandbox *sandboxes;
        struct backend_ops ops; /* docker_ops, named for the engine */
};

static struct dbackend *priv(struct backend *b)
{
        return b->priv;
}

/* Counter of OOM kills in the cgroup file at path; -1 when unknown. */
static long long oom_kills(const char *path)
{
        char buf[1024], *p;
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (!path)
                return -1;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        p = strstr(buf, "oom_kill ");
        return p ? strtoll(p + 9, NULL, 10) : -1;
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

static void dsandbox_free(struct dsandbox *s)
{
        if (!s)
                return;
        free(s->id);
        free(s->exec_user);
        free(s->oom_path);
        free(s);
}

/* Copy of what we know of a sandbox (the list may change under us). */
static int dsandbox_lookup(struct dbackend *d, const char *id, char **ret_user, char **ret_oom)
{
        int r = -ENOENT;

        pthread_mutex_lock(&d->lock);
        for (struct dsandbox *s = d->sandboxes; s; s = s->next)
                if (strcmp(s->id, id) == 0) {
                        *ret_user = strdup(s->exec_user);
                        *ret_oom = s->oom_path ? strdup(s->oom_path) : NULL;
                        r = *ret_user ? 0 : -ENOMEM;
                        break;
                }
        pthread_mutex_unlock(&d->lock);
        return r;
}

static void dsandbox_forget(struct dbackend *d, const char *id)
{
        struct dsandbox **pp;

        pthread_mutex_lock(&d->lock);
        for (pp = &d->sandboxes; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->id, id) == 0) {
                        struct dsandbox *s = *pp;

                        *pp = s->next;
                        dsandbox_free(s);
                        break;
                }
        pthread_mutex_unlock(&d->lock);
}

/* Per-exec state shared with the stream callbacks. */
struct run_ctx {
        struct dbackend *d;
        const char *container_id;
        const char *exec_user;
        const struct exec_sink *sink;
        struct exec_result *res;
        bool oneshot;
        bool kill_failed;
};

static int on_output(void *ctx, int stream, const char *data, size_t len)
{
        struct run_ctx *c = ctx;
        struct buf *b = stream == 2 ? &c->res->err : &c->res->out;
        size_t room = b->max > b->len ? b->max - b->len : 0;
        size_t fwd = len < room ? len : room;
        int r;

        /* The stream carries exactly what the capture keeps: past the cap, bytes are counted
         * and dropped, so a flood costs no memory. */
        if (fwd > 0 && c->sink && c->sink->output) {
                r = c->sink->output(c->sink->ctx, stream == 2 ? EXEC_STDERR : EXEC_STDOUT, data,
                                    fwd);
                if (r < 0)
                        return r;
        }
        return buf_append(b, data, len);
}

/* Timeout inside a long-lived sandbox: end every process of the code's uid. The keeper and the
 * init run under another uid and survive, so the sandbox and its files stay. */
static void on_deadline_exec(void *ctx)
{
        struct run_ctx *c = ctx;
        struct exec_spec kx = {.argv = (char **)hostconfig_kill_all_argv};
        struct sandbox_spec ks = {.exec_user = c->exec_user};
        _cleanup_free_ char *kid = NULL;
        struct engine_stream_io io = {.deadline_ms = util_now_ms() + 5000, .watch_fd = -1};
        enum engine_stream_end end;
        json_t *body = hostconfig_exec_body(&ks, &kx);

        c->res->timed_out = true;
        if (!body || engine_exec_create(c->d->engine, c->container_id, body, &kid, NULL) < 0 ||
            engine_exec_start(c->d->engine, kid, &io, &end, NULL) < 0)
                c->kill_failed = true;
        json_decref(body);
}

static void on_deadline_oneshot(void *ctx)
{
        struct run_ctx *c = ctx;

        c->res->timed_out = true;
        if (engine_container_kill(c->d->engine, c->container_id, "KILL", NULL) < 0)
                c->kill_failed = true;
}

/* Remember a live container as a sandbox: who runs the code and where its OOM counter is. */
static int dsandbox_register(struct dbackend *d, const char *id, const char *exec_user,
                             json_t *insp, struct al_error *err)
{
        struct dsandbox *s = calloc(1, sizeof(*s));

        if (!s)
                return al_err(err, -ENOMEM, "out of memory");
        s->id = strdup(id);
        s->exec_user = strdup(exec_user);
        s->oom_path = oom_path_for_pid(
            json_integer_value(json_object_get(json_object_get(insp, "State"), "Pid")));
        if (!s->id || !s->exec_user) {
                dsandbox_free(s);
                return al_err(err, -ENOMEM, "out of memory");
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

static int d_sandbox_adopt(struct backend *b, const char *handle, const struct sandbox_spec *spec,
                           struct al_error *err)
{
        struct dbackend *d = priv(b);
        json_t *insp = NULL;
        int r;

        r = engine_container_inspect(d->engine, handle, &insp, err);
        if (r < 0)
                return r;
        if (!json_is_true(json_object_get(json_object_get(insp, "State"), "Running"))) {
                json_decref(insp);
                return al_err(err, -ENOENT, "sandbox %.12s is not running", handle);
        }
        r = dsandbox_register(d, json_string_value(json_object_get(insp, "Id")) ?: handle,
                              spec->exec_user, insp, err);
        json_decref(insp);
        if (r < 0)
                return r;
        /* Whatever the code was running when the last daemon died has nobody to report to. */
        {
                struct exec_result res;
                struct run_ctx c = {
                    .d = d, .container_id = handle, .exec_user = spec->exec_user, .res = &res};

                exec_result_init(&res, 0);
                on_deadline_exec(&c);
                exec_result_clear(&res);
                if (c.kill_failed)
                        return al_err(err, -EIO, "cannot end stray processes in sandbox %.12s",
                                      handle);
        }
        return 0;
}

static int d_sandbox_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                            struct al_error *err)
{
        struct dbackend *d = priv(b);
        _cleanup_free_ char *id = NULL;
        json_t *body, *insp = NULL;
        int r;

        body = hostconfig_sandbox_body(spec, &d->env);
        if (!body)
                return al_err(err, -ENOMEM, "cannot build the container body");
        r = engine_container_create(d->engine, NULL, body, &id, err);
        json_decref(body);
        if (r < 0)
                return al_err_wrap(err, "creating a sandbox from image '%s'", spec->image);
        r = engine_container_start(d->engine, id, err);
        if (r >= 0)
                r = engine_container_inspect(d->engine, id, &insp, err);
        if (r < 0) {
                engine_container_remove(d->engine, id, NULL);
                return al_err_wrap(err, "starting sandbox %.12s", id);
        }
        r = dsandbox_register(d, id, spec->exec_user, insp, err);
        json_decref(insp);
        if (r < 0) {
                engine_container_remove(d->engine, id, NULL);
                return r;
        }
        *ret_handle = TAKE_PTR(id);
        return 0;
}

static void set_exit(struct exec_result *res, long long code)
{
        res->exit_code = (int)code;
        /* Engines report a death by signal N as 128+N. */
        res->signal = code > 128 && code <= 128 + 64 ? (int)(code - 128) : 0;
}

static int d_sandbox_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                          const struct exec_sink *sink, struct exec_result *res,
                          struct al_error *err)
{
        struct dbackend *d = priv(b);
        _cleanup_free_ char *user = NULL, *oom_path = NULL, *exec_id = NULL;
        struct sandbox_spec es = {0};
        struct run_ctx c = {.d = d, .container_id = handle, .sink = sink, .res = res};
        struct engine_stream_io io = {0};
        enum engine_stream_end end = STREAM_EOF;
        long long oom_before;
        int64_t t0 = util_now_ms();
        json_t *body, *insp = NULL;
        int r;

        r = dsandbox_lookup(d, handle, &user, &oom_path);
        if (r < 0)
                return al_err(err, r, "sandbox %.12s is not known to this backend", handle);
        es.exec_user = user;
        c.exec_user = user;
        body = hostconfig_exec_body(&es, x);
        if (!body)
                return al_err(err, -EINVAL, "cannot encode the exec (is every string UTF-8?)");
        r = engine_exec_create(d->engine, handle, body, &exec_id, err);
        json_decref(body);
        if (r < 0)
                return r;
        oom_before = oom_kills(oom_path);
        io.stdin_data = x->stdin_data;
        io.stdin_len = x->stdin_len;
        io.output = on_output;
        io.ctx = &c;
        io.deadline_ms = x->timeout_ms > 0 ? t0 + x->timeout_ms : 0;
        io.watch_fd = sink ? sink->watch_fd : -1;
        io.cancel_fd = sink ? sink->cancel_fd : 0;
        io.on_deadline = on_deadline_exec;
        io.drain_ms = DRAIN_MS;
        r = engine_exec_start(d->engine, exec_id, &io, &end, err);
        if (r < 0)
                return r;
        if (end == STREAM_CANCELLED) {
                res->timed_out = false;
                res->aborted = true;
        }
        if (end == STREAM_WATCH_HUP || end == STREAM_ABORTED) {
                /* The client is gone: end what it started rather than let it run on. */
                res->aborted = true;
                on_deadline_exec(&c);
                res->timed_out = false;
        }
        r = engine_exec_inspect(d->engine, exec_id, &insp, err);
        if (r < 0)
                return r;
        if (json_is_true(json_object_get(insp, "Running"))) {
                json_decref(insp);
                res->duration_ms = util_now_ms() - t0;
                /* Something survived the kill: the caller must discard this sandbox. */
                return al_err(err, -ESTALE, "exec %.12s did not end after being killed", exec_id);
        }
        set_exit(res, json_integer_value(json_object_get(insp, "ExitCode")));
        json_decref(insp);
        if (res->signal == 9) {
                long long after = oom_kills(oom_path);

                res->oom_killed = !res->timed_out && oom_before >= 0 && after > oom_before;
        }
        res->duration_ms = util_now_ms() - t0;
        return 0;
}

static int start_container(void *ctx, struct al_error *err)
{
        struct run_ctx *c = ctx;

        return engine_container_start(c->d->engine, c->container_id, err);
}

static int d_sandbox_remove(struct backend *b, const char *handle, struct al_error *err)
{
        dsandbox_forget(priv(b), handle);
        return engine_container_remove(priv(b)->engine, handle, err);
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
        if (r == -ESTALE)
                r = 0; /* the sandbox goes anyway */
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
        struct run_ctx c = {.d = d, .sink = sink, .res = res, .oneshot = true};
        struct engine_stream_io io = {0};
        enum engine_stream_end end = STREAM_EOF;
        int64_t t0 = util_now_ms(), status = -1;
        json_t *body, *insp = NULL;
        int r;

        if (d->env.kind == ENGINE_PODMAN)
                return run_once_via_sandbox(b, spec, x, sink, res, err);
        body = hostconfig_oneshot_body(spec, &d->env, x);
        if (!body)
                return al_err(err, -EINVAL, "cannot encode the exec (is every string UTF-8?)");
        r = engine_container_create(d->engine, NULL, body, &id, err);
        json_decref(body);
        if (r < 0)
                return al_err_wrap(err, "creating a sandbox from image '%s'", spec->image);
        c.container_id = id;
        io.stdin_data = x->stdin_data;
        io.stdin_len = x->stdin_len;
        io.output = on_output;
        io.ctx = &c;
        io.deadline_ms = x->timeout_ms > 0 ? t0 + x->timeout_ms : 0;
        io.watch_fd = sink ? sink->watch_fd : -1;
        io.cancel_fd = sink ? sink->cancel_fd : 0;
        io.on_deadline = on_deadline_oneshot;
        io.drain_ms = DRAIN_MS;
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

                set_exit(res, status);
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
                r = engine_container_remove(d->engine, id, err);
                if (r < 0 && first == 0)
                        first = r;
        }
        json_decref(list);
        return first;
}

static void d_free(struct backend *b)
{
        struct dbackend *d = priv(b);

        while (d->sandboxes) {
                struct dsandbox *s = d->sandboxes;

                d->sandboxes = s->next;
                dsandbox_free(s);
        }
        pthread_mutex_destroy(&d->lock);
        free(d->seccomp_text);
        free(d->seccomp_path);
        free(d);
        free(b);
}

/* One set of operations for both engines; only the name differs (it shows in results). */
static const struct backend_ops docker_ops = {
    .name = "docker",
    .sandbox_create = d_sandbox_create,
    .sandbox_exec = d_sandbox_exec,
    .run_once = d_run_once,
    .sandbox_alive = d_sandbox_alive,
    .sandbox_remove = d_sandbox_remove,
    .sandbox_adopt = d_sandbox_adopt,
    .remove_instance = d_remove_instance,
    .free = d_free,
};

struct backend *docker_backend_new(struct engine *engine, const char *seccomp_path,
                                   struct al_error *err)
{
        struct backend *b = calloc(1, sizeof(*b));
        struct dbackend *d = calloc(1, sizeof(*d));
        struct rlimit rl;

        if (!b || !d) {
                free(b);
                free(d);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&d->lock, NULL);
        d->engine = engine;
        d->env.kind = engine_kind(engine);
        if (util_read_file(seccomp_path, SECCOMP_MAX, &d->seccomp_text, NULL, NULL, err) < 0) {
                al_err_wrap(err, "loading the seccomp profile");
                pthread_mutex_destroy(&d->lock);
                free(d);
                free(b);
                return NULL;
        }
        d->seccomp_path = realpath(seccomp_path, NULL);
        d->env.seccomp_text = d->seccomp_text;
        d->env.seccomp_path = d->seccomp_path;
        /* Podman starts a container only when its ulimits fit within the host's hard limits. */
        d->env.ulimits.nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long long)rl.rlim_max : 1024;
        d->env.ulimits.nproc = getrlimit(RLIMIT_NPROC, &rl) == 0 ? (long long)rl.rlim_max : 4096;
        d->ops = docker_ops;
        if (d->env.kind == ENGINE_PODMAN)
                d->ops.name = "podman";
        b->ops = &d->ops;
        b->priv = d;
        return b;
}
