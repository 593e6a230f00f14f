/* One exec in a live container sandbox. The engine runs the exec shim (airlock-exec) as the
 * code's user; once the stream is open the daemon moves the shim into the exec's own cgroup,
 * and only then does the shim run the code. When the exec ends, for whatever reason, every
 * process left in that cgroup is ended: an exec is a unit, and nothing else in the sandbox is
 * touched. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../exec_cgroup.h"
#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "docker_private.h"

#define PLACE_WAIT_MS 3000 /* the engine reports the exec's pid within this */
#define KILL_WAIT_MS  3000 /* every process of an exec ends within this, or the sandbox goes */
#define EXIT_WAIT_MS  3000 /* the engine notices the shim's exit within this */

long long dexec_events_max(const char *path)
{
        char buf[256], *p;
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        p = strstr(buf, "max ");
        return p ? strtoll(p + 4, NULL, 10) : -1;
}

long long dexec_oom_kills(const char *path)
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

/* The last number on the line of /proc/PID/status that starts with field; -1 when unknown. */
static long long status_last(long long pid, const char *field)
{
        char path[64], line[256];
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = strlen(field);
        long long v = -1;

        snprintf(path, sizeof(path), "/proc/%lld/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, n) == 0) {
                        char *p = line + n, *end;

                        for (;;) {
                                long long x = strtoll(p, &end, 10);

                                if (end == p)
                                        break;
                                v = x;
                                p = end;
                        }
                        break;
                }
        return v;
}

long long dexec_ns_pid(long long pid)
{
        return status_last(pid, "NSpid:");
}

long long dexec_ppid(long long pid)
{
        return status_last(pid, "PPid:");
}

static void pause_ms(int ms)
{
        struct timespec ts = {0, (long)ms * 1000000L};

        nanosleep(&ts, NULL);
}

void dexec_clear(struct dexec *e)
{
        if (e->agent_fd >= 0) {
                close(e->agent_fd);
                e->agent_fd = -1;
        }
        free(e->workdir);
        e->workdir = NULL;
        free(e->run_dir);
        e->run_dir = NULL;
        free(e->pids_events);
        e->pids_events = NULL;
        free(e->cg_root);
        e->cg_root = NULL;
        free(e->agent_exec);
        e->agent_exec = NULL;
        if (e->cg) {
                /* Ended already by dexec_finish (or past hope: its sandbox goes): no second
                 * pass over the cgroup. */
                if (!e->emptied && !e->kill_failed)
                        exec_cgroup_kill(e->cg, KILL_WAIT_MS);
                exec_cgroup_free(e->cg);
                e->cg = NULL;
        }
        free(e->exec_id);
        e->exec_id = NULL;
        free(e->oom_path);
        e->oom_path = NULL;
}

int dexec_open(struct dbackend *d, const char *id, const struct exec_spec *x, struct dexec *ret,
               struct al_error *err)
{
        struct dsandbox_ref ref = {0};
        struct sandbox_spec es = {0};
        char name[EXEC_CGROUP_NAME_MAX];
        json_t *body;
        int r;

        *ret = (struct dexec){.d = d, .container_id = id, .pid = -1, .nspid = -1, .agent_fd = -1};
        r = dsandbox_ref_get(d, id, &ref);
        if (r < 0)
                return al_err(err, r, "sandbox %.12s is not known to this backend", id);
        ret->oom_path = TAKE_PTR(ref.oom_path);
        ret->workdir = TAKE_PTR(ref.workdir);
        ret->init_pid = ref.init_pid;
        ret->gvisor = ref.gvisor;
        ret->pids_events = TAKE_PTR(ref.pids_events);
        ret->pids_before = dexec_events_max(ret->pids_events);
        if (ref.run_dir && !(ret->run_dir = strdup(ref.run_dir))) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto fail;
        }
        exec_cgroup_name(name);
        /* In gVisor the code's processes are no host processes: the agent ends the exec. */
        r = ref.gvisor ? 0 : exec_cgroup_new(ref.cg_root, name, &ret->cg, err);
        ret->cg_root = TAKE_PTR(ref.cg_root);
        if (r < 0) {
                /* The sandbox's cgroup is gone: so is the sandbox. */
                if (r == -ENOENT)
                        al_err(err, r, "sandbox %.12s is gone", id);
                goto fail;
        }
        /* The network goes through the proxy the agent relays to (docs/egress.md): without an
         * agent there is no way out, which the hook records. */
        if (x->egress && x->egress->open(x->egress->ctx, ref.run_dir, ref.exec_user, err) < 0) {
                r = err->code;
                goto fail;
        }
        /* The hot path: the sandbox's agent. Without one (or when its socket is gone), the
         * engine's exec API through the shim. */
        if (ref.run_dir &&
            dagent_connect(ref.run_dir, ref.init_pid, ref.gvisor, &ret->agent_fd, NULL) == 0) {
                dsandbox_ref_clear(&ref);
                dsandbox_agent_seen(d, id, true);
                r = dagent_exec_json(ret, x, &ret->agent_exec);
                if (r < 0) {
                        al_err(err, -EINVAL, "cannot encode the exec (is every string UTF-8?)");
                        dexec_clear(ret);
                }
                return r < 0 ? -EINVAL : 0;
        }
        if (ref.run_dir)
                dsandbox_agent_seen(d, id, false);
        if (ref.gvisor) {
                /* An engine exec in gVisor could not be placed in a cgroup nor ended whole. */
                r = al_err(err, -ESTALE,
                           "the agent of gVisor sandbox %.12s does not answer (no engine "
                           "fallback in the gvisor tier)",
                           id);
                goto fail;
        }
        es.exec_user = ref.exec_user;
        body = hostconfig_exec_body(&es, x, name);
        if (!body) {
                r = al_err(err, -EINVAL, "cannot encode the exec (is every string UTF-8?)");
                goto fail;
        }
        r = engine_exec_create(d->engine, id, body, &ret->exec_id, err);
        json_decref(body);
        if (r < 0)
                goto fail;
        dsandbox_ref_clear(&ref);
        return 0;
fail:
        dsandbox_ref_clear(&ref);
        dexec_clear(ret);
        return r;
}

/* The stream is open: find the shim's pid and move it into the exec's cgroup. Until then it
 * waits, and runs nothing of the code. */
static int on_open(void *ctx, struct al_error *err)
{
        struct dexec *e = ctx;
        int64_t until = util_now_ms() + PLACE_WAIT_MS;
        int r;

        for (int round = 0;; round++) {
                json_t *insp = NULL;

                r = engine_exec_inspect(e->d->engine, e->exec_id, &insp, err);
                if (r < 0)
                        return r;
                e->pid = json_integer_value(json_object_get(insp, "Pid"));
                json_decref(insp);
                if (e->pid > 0)
                        break;
                if (util_now_ms() >= until)
                        return al_err(err, -AL_E_ENGINE,
                                      "the engine did not report the pid of "
                                      "exec %.12s",
                                      e->exec_id);
                pause_ms(round < 10 ? 1 : 5);
        }
        e->nspid = dexec_ns_pid(e->pid);
        r = exec_cgroup_place(e->cg, e->pid, err);
        if (r < 0) {
                kill((pid_t)e->pid, SIGKILL);
                return al_err_wrap(err, r, "exec %.12s", e->exec_id);
        }
        e->oom_before = dexec_oom_kills(e->oom_path);
        return e->on_placed ? e->on_placed(e->placed_ctx) : 0;
}

void dexec_kill(struct dexec *e)
{
        /* gVisor: the agent kills the exec's group and sweeps what it left (agent/sweep.c);
         * before STARTED there is nothing of it yet, and a closed connection ends it. */
        if (e->gvisor) {
                if (e->nspid > 0 && e->run_dir &&
                    dagent_signal(e->run_dir, e->init_pid, e->nspid, SIGKILL, NULL) < 0)
                        e->kill_failed = true;
        } else if (exec_cgroup_kill(e->cg, KILL_WAIT_MS) == -ETIMEDOUT) {
                e->kill_failed = true;
        }
        e->killed = true;
}

static void on_deadline(void *ctx)
{
        struct dexec *e = ctx;

        e->res->timed_out = true;
        dexec_kill(e);
}

int dexec_output(void *ctx, int stream, const char *data, size_t len)
{
        struct dexec *e = ctx;
        struct buf *b = stream == 2 ? &e->res->err : &e->res->out;
        size_t room = b->max > b->len ? b->max - b->len : 0;
        size_t fwd = len < room ? len : room;
        int r;

        /* The stream carries exactly what the capture keeps: past the cap, bytes are counted
         * and dropped, so a flood costs no memory. */
        if (fwd > 0 && e->sink && e->sink->output) {
                r = e->sink->output(e->sink->ctx, stream == 2 ? EXEC_STDERR : EXEC_STDOUT, data,
                                    fwd);
                if (r < 0)
                        return r;
        }
        if (e->out_lock) {
                pthread_mutex_lock(e->out_lock);
                r = buf_append(b, data, len);
                pthread_mutex_unlock(e->out_lock);
                return r;
        }
        return buf_append(b, data, len);
}

int dexec_pump(struct dexec *e, const struct exec_spec *x, struct engine_stream_io *io,
               struct al_error *err)
{
        enum engine_stream_end end = STREAM_EOF;
        int r;

        e->res->transport = e->agent_fd >= 0 ? "agent" : "engine";
        if (e->agent_fd >= 0)
                return dagent_pump(e, x, io, err);
        e->t0 = util_now_ms();
        io->stdin_data = x->stdin_data;
        io->stdin_len = x->stdin_len;
        io->output = dexec_output;
        io->ctx = e;
        io->deadline_ms = x->timeout_ms > 0 ? e->t0 + x->timeout_ms : 0;
        io->on_deadline = on_deadline;
        io->on_open = on_open;
        io->drain_ms = DEXEC_DRAIN_MS;
        r = engine_exec_start(e->d->engine, e->exec_id, io, &end, err);
        if (r < 0)
                return r;
        if (end == STREAM_CANCELLED) {
                e->res->timed_out = false;
                e->res->aborted = true;
        }
        if (end == STREAM_WATCH_HUP || end == STREAM_ABORTED) {
                /* The client is gone: end what it started rather than let it run on. */
                e->res->aborted = true;
                e->res->timed_out = false;
                dexec_kill(e);
        }
        return 0;
}

void dexec_set_exit(struct exec_result *res, long long code)
{
        res->exit_code = (int)code;
        /* Engines report a death by signal N as 128+N. */
        res->signal = code > 128 && code <= 128 + 64 ? (int)(code - 128) : 0;
}

int dexec_finish(struct dexec *e, struct al_error *err)
{
        int64_t until;
        int r;

        /* The main process is done: whatever it left running ends with it (in gVisor, the
         * agent swept it before its EXIT). */
        r = e->gvisor ? 0 : exec_cgroup_kill(e->cg, KILL_WAIT_MS);
        if (r == -ETIMEDOUT)
                e->kill_failed = true;
        e->emptied = r == 0;
        if (e->kill_failed)
                return al_err(err, -ESTALE,
                              "processes of exec %.12s survived being killed for %d ms",
                              e->exec_id ? e->exec_id : "through the agent", KILL_WAIT_MS);
        until = util_now_ms() + EXIT_WAIT_MS;
        /* Through the agent, its EXIT frame carried the exit. */
        for (int round = 0; e->exec_id; round++) {
                json_t *insp = NULL;

                r = engine_exec_inspect(e->d->engine, e->exec_id, &insp, err);
                if (r < 0)
                        return r;
                if (!json_is_true(json_object_get(insp, "Running"))) {
                        dexec_set_exit(e->res,
                                       json_integer_value(json_object_get(insp, "ExitCode")));
                        json_decref(insp);
                        break;
                }
                json_decref(insp);
                if (util_now_ms() >= until) {
                        /* Its cgroup is empty, so nothing of it runs: the engine's record
                         * lags. It was killed. */
                        dexec_set_exit(e->res, 128 + SIGKILL);
                        break;
                }
                pause_ms(round < 10 ? 2 : 20);
        }
        if (e->res->signal == SIGKILL && !e->killed) {
                long long after = dexec_oom_kills(e->oom_path);

                e->res->oom_killed = e->oom_before >= 0 && after > e->oom_before;
        }
        e->res->duration_ms = util_now_ms() - e->t0;
        return 0;
}
