/* airlock policy: "check FILE" validates a settings file locally, with the daemon's own parser,
 * and prints every problem as FILE:LINE: message; "show" prints the policy airlockd has in
 * force (GET /v1/policy), for one agent with --agent. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/policy.h"
#include "airlock/util.h"

/* The entry points main.c's command table names (declared there as well: cli.h is not this
 * file's to change). */

/* What "check" exits with when the file has problems or cannot be read. */
#define CLI_POLICY_INVALID 1

void cli_policy_usage(FILE *out)
{
        fputs("Usage: airlock policy check FILE\n"
              "       airlock policy show [--agent NAME] [--socket PATH]\n"
              "\n"
              "check  Validate a settings file (e.g. /etc/airlock/airlock.conf) before airlockd\n"
              "       loads it. Every problem is printed on stderr as FILE:LINE: message.\n"
              "       Exit status 0 when the file is good, 1 when it is not, 125 on bad usage.\n"
              "show   Print the policy airlockd has in force as JSON; with --agent, the\n"
              "       effective policy for that agent (its [agent] section over the rest).\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME   (show) the agent whose effective policy to print\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static int policy_check(const char *path)
{
        struct policy_problems probs = {0};
        _cleanup_(policy_unrefp) struct policy *p = NULL;
        struct al_error err = {0};
        int r;

        r = policy_load(path, &p, &probs, &err);
        if (r < 0) {
                fflush(stdout);
                if (probs.n == 0)
                        /* Not about a line: the file is missing, unreadable, too large or
                         * writable by everyone. The message names the file. */
                        fprintf(stderr, "%s\n", err.msg);
                for (size_t i = 0; i < probs.n; i++) {
                        if (probs.items[i].line > 0)
                                fprintf(stderr, "%s:%d: %s\n", path, probs.items[i].line,
                                        probs.items[i].msg);
                        else
                                fprintf(stderr, "%s: %s\n", path, probs.items[i].msg);
                }
                if (probs.n > 1)
                        fprintf(stderr, "%s: %zu problems; nothing in this file would be applied\n",
                                path, probs.n);
                policy_problems_free(&probs);
                return CLI_POLICY_INVALID;
        }
        /* What the daemon would refuse to start with, though the file itself is fine. */
        if (policy_check_host_ids(p, NULL, &err) < 0) {
                fflush(stdout);
                fprintf(stderr, "%s: %s\n", path, err.msg);
                return CLI_POLICY_INVALID;
        }
        printf("%s: ok (mode %s, scope %s, %zu runtimes, %zu agents)\n", path,
               policy_mode_name(p->mode), policy_scope_name(p->scope), p->n_runtimes, p->n_agents);
        return 0;
}

static int policy_show(struct cli_ctx *ctx, const char *agent)
{
        struct cli_request req = {.method = "GET", .path = "/v1/policy", .timeout_s = 30};
        struct cli_reply reply = {0};
        struct al_error err = {0};
        char path[128];
        json_t *doc = NULL;
        int status = CLI_EXIT_FAIL;

        if (agent) {
                /* Names are from [A-Za-z0-9._-]: nothing to escape in the query. */
                if (!util_name_valid(agent, POLICY_NAME_LEN_MAX)) {
                        cli_errorf("policy show: agent name '%s' must be 1 to %d characters "
                                   "from [A-Za-z0-9._-]",
                                   agent, POLICY_NAME_LEN_MAX);
                        return CLI_EXIT_FAIL;
                }
                snprintf(path, sizeof(path), "/v1/policy?agent=%s", agent);
                req.path = path;
        }
        if (cli_http(ctx, &req, &reply, &err) < 0) {
                cli_errorf("%s", err.msg);
                goto out;
        }
        if (reply.status != 200) {
                status = cli_report_api_error(&reply);
                goto out;
        }
        doc = cli_reply_json(&reply, &err);
        if (!doc) {
                cli_errorf("%s", err.msg);
                goto out;
        }
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
                cli_errorf("cannot print the policy");
                goto out;
        }
        putchar('\n');
        status = 0;
out:
        json_decref(doc);
        cli_reply_free(&reply);
        return status;
}

int cli_policy_run(struct cli_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
            {"agent", required_argument, NULL, 'a'},
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *agent = NULL, *sub;
        int c;

        /* Options may come before or after the action word. */
        while ((c = getopt_long(argc, argv, "a:s:h", opts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        agent = optarg;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        cli_policy_usage(stdout);
                        return 0;
                default:
                        fputs("See 'airlock policy --help'.\n", stderr);
                        return CLI_EXIT_FAIL;
                }
        }
        if (optind >= argc) {
                cli_policy_usage(stderr);
                return CLI_EXIT_FAIL;
        }
        sub = argv[optind++];
        if (strcmp(sub, "check") == 0) {
                if (agent) {
                        cli_errorf("policy check: --agent applies to 'show' only");
                        return CLI_EXIT_FAIL;
                }
                if (argc - optind != 1) {
                        cli_errorf("policy check: expected one FILE, got %d arguments",
                                   argc - optind);
                        return CLI_EXIT_FAIL;
                }
                return policy_check(argv[optind]);
        }
        if (strcmp(sub, "show") == 0) {
                if (optind < argc) {
                        cli_errorf("policy show: unexpected argument '%s'", argv[optind]);
                        return CLI_EXIT_FAIL;
                }
                return policy_show(ctx, agent);
        }
        cli_errorf("policy: unknown action '%s' (check, show); see 'airlock policy --help'", sub);
        return CLI_EXIT_FAIL;
}
