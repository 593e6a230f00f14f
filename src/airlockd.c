/* airlockd: load the settings, connect the engine, serve the API until SIGTERM, clean up. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airlock/api.h"
#include "airlock/cleanup.h"
#include "airlock/docker_backend.h"
#include "airlock/host_backend.h"
#include "airlock/log.h"
#include "airlock/util.h"
#include "airlock/workspace.h"

#define DRAIN_SECONDS_DEFAULT 30
#define CANCEL_GRACE_SECONDS  10

struct options {
        const char *config;
        const char *socket;
        const char *state_dir;
        const char *log_level;
        int64_t drain_seconds;
};

static void usage(FILE *f)
{
        fprintf(f, "usage: airlockd [--config FILE] [--socket PATH] [--state-dir DIR]"
                   " [--log-level LEVEL]\n"
                   "  --config FILE     settings file (default /etc/airlock/airlock.conf)\n"
                   "  --socket PATH     API socket (default from settings)\n"
                   "  --state-dir DIR   state directory (default from settings)\n"
                   "  --log-level L     error|warn|info|debug (default from settings)\n"
                   "  --drain-seconds N on SIGTERM, let running execs finish for N seconds\n"
                   "                    before killing them (default 30)\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"socket", required_argument, NULL, 's'},
            {"state-dir", required_argument, NULL, 'd'},
            {"log-level", required_argument, NULL, 'l'},
            {"drain-seconds", required_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        int c;

        o->config = "/etc/airlock/airlock.conf";
        o->drain_seconds = DRAIN_SECONDS_DEFAULT;
        while ((c = getopt_long(argc, argv, "c:s:d:l:D:hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        o->config = optarg;
                        break;
                case 's':
                        o->socket = optarg;
                        break;
                case 'd':
                        o->state_dir = optarg;
                        break;
                case 'l':
                        o->log_level = optarg;
                        break;
                case 'D':
                        if (util_parse_int64(optarg, 0, 3600, &o->drain_seconds) < 0) {
                                fprintf(stderr, "--drain-seconds takes 0..3600\n");
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                case 'V':
                        printf("airlockd %s\n", AIRLOCK_VERSION);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
        char tmp[4096];

        if (strlen(path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        strcpy(tmp, path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The instance id names everything this daemon (with this state directory) creates, so that
 * after a crash the next start finds and removes what the last one left. */
static int load_instance_id(const char *state_dir, char out[33], struct al_error *err)
{
        char path[4096];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/instance-id", state_dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, out, 32);
                if (n == 32) {
                        out[32] = '\0';
                        for (int i = 0; i < 32; i++)
                                if (!strchr("0123456789abcdef", out[i]))
                                        return al_err(err, -EINVAL, "'%s' is corrupt", path);
                        return 0;
                }
                return al_err(err, -EINVAL, "'%s' is corrupt (delete it to start afresh)", path);
        }
        if (errno != ENOENT)
                return al_err_errno(err, -errno, "cannot read '%s'", path);
        util_random_hex(out, 16);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, out, 32) != 32 || fsync(fd) < 0)
                return al_err_errno(err, -errno, "cannot write '%s'", path);
        return 0;
}

/* Wait until no exec is in flight or until deadline; true when none is left. */
static bool wait_inflight(struct airlock_ctx *ctx, int64_t seconds)
{
        struct timespec until;
        bool idle;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += seconds;
        pthread_mutex_lock(&ctx->inflight_lock);
        while (ctx->inflight > 0)
                if (pthread_cond_timedwait(&ctx->inflight_done, &ctx->inflight_lock, &until) ==
                    ETIMEDOUT)
                        break;
        idle = ctx->inflight == 0;
        pthread_mutex_unlock(&ctx->inflight_lock);
        return idle;
}

/* SIGTERM: stop accepting, let running execs finish until the deadline, then kill them (they
 * end with aborted results, recorded like any other) and wait for their replies to go out. */
static void drain(struct airlock_ctx *ctx, struct api_server *server, int64_t seconds)
{
        uint64_t one = 1;

        api_server_quiesce(server);
        pthread_mutex_lock(&ctx->inflight_lock);
        ctx->draining = true;
        if (ctx->inflight > 0)
                log_info("draining: %d exec(s) running; waiting up to %llds", ctx->inflight,
                         (long long)seconds);
        pthread_mutex_unlock(&ctx->inflight_lock);
        if (wait_inflight(ctx, seconds))
                return;
        log_warn("drain deadline passed: killing the execs still running");
        if (write(ctx->cancel_fd, &one, sizeof(one)) != sizeof(one))
                log_error("cannot signal running execs: %s", strerror(errno));
        if (!wait_inflight(ctx, CANCEL_GRACE_SECONDS))
                log_error("execs still running %ds after being killed; their sandboxes are "
                          "removed now",
                          CANCEL_GRACE_SECONDS);
}

static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_wake = PTHREAD_COND_INITIALIZER;
static bool reaper_stop;

/* Removes SESSION sandboxes idle past [sandbox] idle_timeout_s. */
static void *reaper_main(void *arg)
{
        struct airlock_ctx *ctx = arg;

        pthread_mutex_lock(&reaper_lock);
        while (!reaper_stop) {
                struct policy *pol = ctx_policy(ctx);
                int64_t idle_s = pol->idle_timeout_s, tick = idle_s > 0 && idle_s < 20 ? 1 : 5;
                struct timespec until;

                policy_unref(pol);
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += tick;
                pthread_cond_timedwait(&reaper_wake, &reaper_lock, &until);
                if (reaper_stop || idle_s <= 0)
                        continue;
                pthread_mutex_unlock(&reaper_lock);
                {
                        int n = scope_reap_idle(ctx->scopes, idle_s * 1000);

                        if (n > 0)
                                log_info("removed %d session sandbox(es) idle for %llds", n,
                                         (long long)idle_s);
                }
                pthread_mutex_lock(&reaper_lock);
        }
        pthread_mutex_unlock(&reaper_lock);
        return NULL;
}

static void print_problems(const char *path, const struct policy_problems *pp)
{
        for (size_t i = 0; i < pp->n; i++)
                log_error("%s:%d: %s", path, pp->items[i].line, pp->items[i].msg);
}

int main(int argc, char **argv)
{
        struct options opt = {0};
        struct airlock_ctx ctx = {0};
        struct policy_problems problems = {0};
        struct api_server *server = NULL;
        struct monitor_server *monitor = NULL;
        struct engine_version ver;
        struct al_error err = {0};
        struct policy *pol = NULL;
        bool reaper_started = false, socket_made = false;
        pthread_t reaper;
        enum log_level lvl;
        sigset_t sigs;
        int r, fd, sig, status = 1;

        if (parse_args(argc, argv, &opt) < 0)
                return 2;
        /* Signals are taken by the main thread only; every thread inherits this mask. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (access(opt.config, F_OK) == 0) {
                r = policy_load(opt.config, &pol, &problems, &err);
                if (r < 0) {
                        print_problems(opt.config, &problems);
                        policy_problems_free(&problems);
                        log_error("cannot load settings: %s", err.msg);
                        return 1;
                }
        } else {
                log_warn("settings file '%s' not found; using the built-in defaults", opt.config);
                pol = policy_new_default();
        }
        if (!pol) {
                log_error("out of memory");
                return 1;
        }
        ctx.config_path = access(opt.config, F_OK) == 0 ? opt.config : NULL;
        ctx.socket_override = opt.socket;
        ctx.state_dir_override = opt.state_dir;
        if (ctx_apply_overrides(&ctx, pol, &err) < 0) {
                log_error("%s", err.msg);
                policy_unref(pol);
                return 1;
        }
        if (log_level_parse(opt.log_level ? opt.log_level : pol->log_level, &lvl) == 0)
                log_set_level(lvl);
        /* The sandbox users must be nobody on the host; a clash is a refusal to start. */
        if (policy_check_host_ids(pol, NULL, &err) < 0) {
                log_error("refusing to start: %s", err.msg);
                policy_unref(pol);
                return 1;
        }

        ctx.started_ms = util_wall_ms();
        pthread_rwlock_init(&ctx.policy_lock, NULL);
        ctx.cancel_fd = eventfd(0, EFD_CLOEXEC);
        if (ctx.cancel_fd < 0) {
                log_error("eventfd: %s", strerror(errno));
                return 1;
        }
        pthread_mutex_init(&ctx.inflight_lock, NULL);
        pthread_cond_init(&ctx.inflight_done, NULL);
        ctx.policy = pol;

        r = mkdir_p(pol->state_dir, 0700);
        if (r < 0) {
                log_error("cannot create state directory '%s': %s", pol->state_dir, strerror(-r));
                goto out;
        }
        if (load_instance_id(pol->state_dir, ctx.instance_id, &err) < 0) {
                log_error("%s", err.msg);
                goto out;
        }
        {
                char dir[4096];

                snprintf(dir, sizeof(dir), "%s/workspace-images", pol->state_dir);
                ctx.workspaces = workspace_set_new(dir, &err);
                if (!ctx.workspaces) {
                        log_error("%s", err.msg);
                        goto out;
                }
        }
        ctx.engine = engine_new(pol->engine_socket, pol->engine_kind, &err);
        if (!ctx.engine) {
                log_error("%s", err.msg);
                goto out;
        }
        if (engine_version(ctx.engine, &ver, &err) < 0)
                log_warn("%s; requests will get 503 until it answers", err.msg);
        else
                log_info("engine %s %s at '%s', API %s", ver.is_podman ? "podman" : "docker",
                         ver.version, pol->engine_socket, ver.used_api);
        ctx.seccomp_path = ctx_policy_file(pol->seccomp_profile, "seccomp.json");
        {
                struct policy_problems rp = {0};

                _cleanup_free_ char *rules =
                    ctx_policy_file(pol->selective_rules, "selective.rules");

                if (!rules || !ctx.seccomp_path) {
                        log_error("out of memory");
                        goto out;
                }
                if (rules_holder_load(rules, &ctx.rules, &rp, &err) < 0) {
                        print_problems("selective.rules", &rp);
                        policy_problems_free(&rp);
                        log_error("cannot load the SELECTIVE rules: %s", err.msg);
                        goto out;
                }
        }
        ctx.containers = docker_backend_new(ctx.engine, ctx.seccomp_path, &err);
        if (!ctx.containers) {
                log_error("%s", err.msg);
                goto out;
        }
        {
                struct host_options ho = *pol->host;
                char sockdir[4096], *slash;

                snprintf(sockdir, sizeof(sockdir), "%s", pol->socket_path);
                slash = strrchr(sockdir, '/');
                if (slash && slash != sockdir)
                        *slash = '\0';
                snprintf(ctx.socket_dir, sizeof(ctx.socket_dir), "%s", sockdir);
                ho.workspace_root = pol->workspace_root;
                ho.hide_paths[0] = pol->state_dir;
                ho.hide_paths[1] = ctx.socket_dir;
                ho.hide_paths[2] = NULL;
                ctx.host = host_backend_new(&ho, &err);
                if (!ctx.host)
                        log_warn("host backend unavailable (mode off and SELECTIVE's low-risk "
                                 "execs will be refused or sandboxed): %s",
                                 err.msg);
        }
        {
                struct scope_hooks hooks = ctx_scope_hooks(&ctx);

                ctx.scopes = scope_registry_new(ctx.containers, &hooks);
        }
        if (!ctx.scopes) {
                log_error("out of memory");
                goto out;
        }
        {
                char db[4096];

                snprintf(db, sizeof(db), "%s/airlock.db", pol->state_dir);
                if (store_open(db, &ctx.store, &err) < 0) {
                        log_error("%s", err.msg);
                        goto out;
                }
        }
        ctx_record_policy(&ctx, "startup");
        /* What a previous run of this instance left behind (a crash) is settled first. */
        if (ctx.host && ctx.host->ops->remove_instance(ctx.host, ctx.instance_id, &err) < 0)
                log_warn("cannot clean the host backend's leftovers: %s", err.msg);
        if (ctx_recover(&ctx, &err) < 0) {
                log_error("recovery failed: %s", err.msg);
                goto out;
        }

        {
                char dir[4096], *slash;

                snprintf(dir, sizeof(dir), "%s", pol->socket_path);
                slash = strrchr(dir, '/');
                if (slash && slash != dir) {
                        *slash = '\0';
                        mkdir_p(dir, 0755);
                }
        }
        fd = api_listen_unix(pol->socket_path, pol->socket_group, &err);
        if (fd < 0) {
                log_error("%s", err.msg);
                goto out;
        }
        socket_made = true;
        if (pthread_create(&reaper, NULL, reaper_main, &ctx) == 0)
                reaper_started = true;
        /* An admin who asked for the monitor listener and does not get it should know at
         * once, not when the panel stays blank. Started before the API, while no reload can
         * have replaced pol. */
        if (pol->monitor_listen[0]) {
                monitor = monitor_start(&ctx, pol->monitor_listen, &err);
                if (!monitor) {
                        log_error("%s", err.msg);
                        close(fd);
                        goto out;
                }
                log_info("monitor listener on %s (GET /v1/health, GET /metrics)",
                         pol->monitor_listen);
        }
        /* Logged before serving: once requests flow, a reload may replace pol. */
        log_info("airlockd %s serving on '%s' (instance %s, mode %s, seccomp '%s')",
                 AIRLOCK_VERSION, pol->socket_path, ctx.instance_id, policy_mode_name(pol->mode),
                 ctx.seccomp_path);
        server = api_server_start(&ctx, fd, &err);
        if (!server) {
                log_error("%s", err.msg);
                goto out;
        }

        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        ctx_reload_policy(&ctx, "SIGHUP", NULL, &err);
                        continue;
                }
                log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                break;
        }
        status = 0;
        drain(&ctx, server, opt.drain_seconds);
out:
        if (reaper_started) {
                pthread_mutex_lock(&reaper_lock);
                reaper_stop = true;
                pthread_cond_signal(&reaper_wake);
                pthread_mutex_unlock(&reaper_lock);
                pthread_join(reaper, NULL);
        }
        if (ctx.scopes) {
                /* SESSION sandboxes end with the daemon; AGENT and SHARED ones are kept for
                 * the next start, which adopts them. */
                r = scope_remove_all(ctx.scopes, true);
                log_info("removed %d session sandbox(es), kept %d agent/shared one(s)", r,
                         scope_count(ctx.scopes, -1));
        }
        if (ctx.containers &&
            ctx.containers->ops->remove_instance(ctx.containers, ctx.instance_id, &err) < 0)
                log_warn("cannot remove this instance's containers: %s", err.msg);
        monitor_stop(monitor);
        api_server_stop(server);
        /* After the sandboxes: a workspace leaves with nothing mounted from its image. */
        r = workspace_set_free(ctx.workspaces);
        if (r > 0)
                log_warn("%d workspace(s) still in use at exit: detached lazily", r);
        /* ctx.policy, not pol: a reload may have freed the policy read at start (the socket
         * path itself never changes on reload). */
        if (socket_made)
                unlink(ctx.policy->socket_path);
        scope_registry_free(ctx.scopes);
        /* Backends first: background processes end there, and their records go to the store. */
        backend_free(ctx.containers);
        backend_free(ctx.host);
        store_close(ctx.store);
        rules_holder_unref(ctx.rules);
        free(ctx.seccomp_path);
        close(ctx.cancel_fd);
        engine_free(ctx.engine);
        policy_unref(ctx.policy);
        return status;
}
