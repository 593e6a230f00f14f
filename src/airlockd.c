/* airlockd: load the settings, start the core (src/daemon/), serve the API until SIGTERM,
 * drain, clean up. */
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
#include "airlock/daemon.h"
#include "airlock/log.h"
#include "airlock/util.h"

#define DRAIN_SECONDS_DEFAULT 30

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

int main(int argc, char **argv)
{
        struct options opt = {0};
        struct daemon_config cfg = {0};
        struct policy_problems problems = {0};
        struct api_server *server = NULL;
        struct monitor_server *monitor = NULL;
        struct api_server *mcp = NULL;
        char mcp_listen[128] = "", e2b_listen[128] = "";
        struct api_server *e2b = NULL;
        struct daemon *d = NULL;
        struct al_error err = {0};
        struct policy *pol = NULL;
        bool socket_made = false;
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
                        daemon_log_problems(opt.config, &problems);
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
        cfg.config_path = access(opt.config, F_OK) == 0 ? opt.config : NULL;
        cfg.socket_override = opt.socket;
        cfg.state_dir_override = opt.state_dir;
        d = daemon_new(&cfg, pol, &err);
        if (!d) {
                log_error("%s", err.msg);
                return 1;
        }
        if (log_level_parse(opt.log_level ? opt.log_level : pol->log_level, &lvl) == 0)
                log_set_level(lvl);
        /* The sandbox users must be nobody on the host; a clash is a refusal to start. */
        if (policy_check_host_ids(pol, NULL, &err) < 0) {
                log_error("refusing to start: %s", err.msg);
                daemon_free(d);
                return 1;
        }
        if (daemon_start(d, &err) < 0) {
                log_error("%s", err.msg);
                goto out;
        }
        fd = api_listen_unix(pol->socket_path, pol->socket_group, &err);
        if (fd < 0) {
                log_error("%s", err.msg);
                goto out;
        }
        socket_made = true;
        /* An admin who asked for the monitor listener and does not get it should know at
         * once, not when the panel stays blank. Started before the API, while no reload can
         * have replaced pol. */
        if (pol->monitor_listen[0]) {
                monitor = monitor_start(d, pol->monitor_listen, &err);
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
                 AIRLOCK_VERSION, pol->socket_path, daemon_instance_id(d),
                 policy_mode_name(pol->mode), daemon_seccomp_path(d));
        snprintf(mcp_listen, sizeof(mcp_listen), "%s", pol->mcp_listen);
        snprintf(e2b_listen, sizeof(e2b_listen), "%s", pol->e2b_listen);
        server = api_server_start(d, fd, &err);
        if (!server) {
                log_error("%s", err.msg);
                goto out;
        }
        /* MCP over loopback TCP, for clients that cannot reach a UNIX socket (docs/mcp.md). */
        if (mcp_listen[0]) {
                mcp = api_mcp_start(server, mcp_listen, &err);
                if (!mcp) {
                        log_error("%s", err.msg);
                        goto out;
                }
                log_info("MCP listener on %s (POST /mcp, bearer tokens only)", mcp_listen);
        }
        /* The E2B-compatible API for the E2B SDKs (docs/e2b.md). */
        if (e2b_listen[0]) {
                e2b = api_e2b_start(server, e2b_listen, &err);
                if (!e2b) {
                        log_error("%s", err.msg);
                        goto out;
                }
                log_info("E2B listener on %s (API keys are airlock tokens)", e2b_listen);
        }

        for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        daemon_reload(d, "SIGHUP", NULL, &err);
                        continue;
                }
                log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                break;
        }
        status = 0;
        /* SIGTERM: stop accepting, let running execs finish until the deadline, then kill them
         * and wait for their replies to go out. */
        api_server_quiesce(mcp);
        api_server_quiesce(e2b);
        api_server_quiesce(server);
        daemon_drain(d, opt.drain_seconds);
out:
        /* The E2B sandboxes end (their sessions) while the core still serves. */
        api_server_stop(e2b);
        daemon_stop(d);
        monitor_stop(monitor);
        api_server_stop(mcp);
        api_server_stop(server);
        /* The running policy, not pol: a reload may have freed the policy read at start (the
         * socket path itself never changes on reload). */
        if (socket_made) {
                pol = daemon_policy(d);
                unlink(pol->socket_path);
                policy_unref(pol);
        }
        daemon_free(d);
        return status;
}
