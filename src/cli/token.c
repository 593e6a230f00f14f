/* airlock token: bearer tokens for agent frameworks that share one uid. "create AGENT" asks
 * airlockd for a token that may act only as AGENT and prints it (once: the daemon keeps only
 * its hash), "list" shows the tokens without secrets, "revoke ID" ends one. Admins only. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

/* The entry points main.c's command table names (declared there as well). */
int cli_token_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_token_usage(FILE *out);

#define TOKEN_NAME_MAX 64 /* agent names and token ids */

void cli_token_usage(FILE *out)
{
        fputs("Usage: airlock token create AGENT [--json]\n"
              "       airlock token list [--json]\n"
              "       airlock token revoke ID\n"
              "\n"
              "Bearer tokens let agent frameworks that share one uid act each as one agent:\n"
              "a request with 'Authorization: Bearer TOKEN' may act only as the token's agent\n"
              "(the airlock client sends $AIRLOCK_TOKEN). Only admins manage tokens.\n"
              "\n"
              "create  Issue a token for AGENT and print it on stdout. It is shown this once:\n"
              "        airlockd stores only its SHA-256.\n"
              "list    The tokens: id, agent, when made, last used and revoked.\n"
              "revoke  Revoke the token with this id; requests with it get 401 from now on.\n"
              "\n"
              "Options:\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static int token_create(struct cli_ctx *ctx, const char *agent, bool as_json)
{
        struct cli_request req = {.method = "POST", .path = "/v1/tokens", .timeout_s = 30};
        _cleanup_free_ char *body = NULL;
        json_t *in, *doc;
        int status = CLI_EXIT_FAIL;

        if (!util_name_valid(agent, TOKEN_NAME_MAX)) {
                cli_errorf("token create: agent name '%s' must be 1 to %d characters from "
                           "[A-Za-z0-9._-]",
                           agent, TOKEN_NAME_MAX);
                return CLI_EXIT_FAIL;
        }
        in = json_pack("{s:s}", "agent", agent);
        body = in ? json_dumps(in, JSON_COMPACT) : NULL;
        json_decref(in);
        if (!body) {
                cli_errorf("out of memory");
                return CLI_EXIT_FAIL;
        }
        req.body = body;
        req.body_len = strlen(body);
        doc = cli_call(ctx, &req);
        if (!doc)
                return CLI_EXIT_FAIL;
        if (as_json) {
                status = cli_print_json(doc);
        } else if (json_is_string(json_object_get(doc, "token"))) {
                /* The token alone on stdout, for $(airlock token create ...). */
                printf("%s\n", json_string_value(json_object_get(doc, "token")));
                fflush(stdout);
                fprintf(stderr,
                        "airlock: token %s for agent '%s'; it is shown only this once (revoke: "
                        "airlock token revoke %s)\n",
                        json_string_value(json_object_get(doc, "id")), agent,
                        json_string_value(json_object_get(doc, "id")));
                status = 0;
        } else {
                cli_errorf("airlockd's answer has no token");
        }
        json_decref(doc);
        return status;
}

static int token_list(struct cli_ctx *ctx, bool as_json)
{
        struct cli_request req = {.method = "GET", .path = "/v1/tokens", .timeout_s = 30};
        json_t *doc = cli_call(ctx, &req), *row;
        char c[32], u[32], r[32];
        size_t i;
        int status = 0;

        if (!doc)
                return CLI_EXIT_FAIL;
        if (as_json) {
                status = cli_print_json(doc);
                json_decref(doc);
                return status;
        }
        printf("%-32s  %-20s  %-20s  %-20s  %s\n", "ID", "AGENT", "CREATED", "LAST USED",
               "REVOKED");
        json_array_foreach(json_object_get(doc, "tokens"), i, row)
        {
                const char *id = json_string_value(json_object_get(row, "id"));
                const char *agent = json_string_value(json_object_get(row, "agent"));

                printf("%-32s  %-20s  %-20s  %-20s  %s\n", id ? id : "?", agent ? agent : "?",
                       cli_when(json_object_get(row, "created_at"), c, sizeof(c)),
                       cli_when(json_object_get(row, "last_used_at"), u, sizeof(u)),
                       cli_when(json_object_get(row, "revoked_at"), r, sizeof(r)));
        }
        json_decref(doc);
        return status;
}

static int token_revoke(struct cli_ctx *ctx, const char *id)
{
        struct cli_request req = {.method = "DELETE", .timeout_s = 30};
        char path[128];
        json_t *doc;

        /* Ids are hex; anything else would need escaping in the path, and is no id. */
        if (!util_name_valid(id, TOKEN_NAME_MAX)) {
                cli_errorf("token revoke: '%s' is not a token id", id);
                return CLI_EXIT_FAIL;
        }
        snprintf(path, sizeof(path), "/v1/tokens/%s", id);
        req.path = path;
        doc = cli_call(ctx, &req);
        if (!doc)
                return CLI_EXIT_FAIL;
        fprintf(stderr, "airlock: token %s revoked\n", id);
        json_decref(doc);
        return 0;
}

int cli_token_run(struct cli_ctx *ctx, int argc, char **argv)
{
        enum { OPT_JSON = 0x100 };
        static const struct option opts[] = {
            {"json", no_argument, NULL, OPT_JSON},
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        bool as_json = false;
        const char *sub;
        int c;

        /* Options may come before or after the subcommand's words. */
        while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_JSON:
                        as_json = true;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        cli_token_usage(stdout);
                        return 0;
                default:
                        fputs("See 'airlock token --help'.\n", stderr);
                        return CLI_EXIT_FAIL;
                }
        }
        if (optind >= argc) {
                cli_token_usage(stderr);
                return CLI_EXIT_FAIL;
        }
        sub = argv[optind++];
        if (strcmp(sub, "create") == 0 && argc - optind == 1)
                return token_create(ctx, argv[optind], as_json);
        if (strcmp(sub, "list") == 0 && argc - optind == 0)
                return token_list(ctx, as_json);
        if (strcmp(sub, "revoke") == 0 && argc - optind == 1 && !as_json)
                return token_revoke(ctx, argv[optind]);
        cli_errorf("token: expected 'create AGENT', 'list' or 'revoke ID'; see 'airlock token "
                   "--help'");
        return CLI_EXIT_FAIL;
}
