/* airlock version: the client's version and what GET /v1/version says of the daemon. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airlock/cleanup.h"

void cli_version_usage(FILE *out)
{
        fputs("Usage: airlock version [--json] [--socket PATH]\n"
              "\n"
              "Show the version of this client and of the airlockd it talks to.\n"
              "\n"
              "Options:\n"
              "      --json         Print {\"client\":{...},\"daemon\":{...}}\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

/* Print the scalar fields of the daemon's answer beyond version and api, one per line. */
static void print_daemon(json_t *doc)
{
        const char *version = json_string_value(json_object_get(doc, "version"));
        const char *api = json_string_value(json_object_get(doc, "api"));
        const char *key;
        json_t *v;

        printf("Daemon: airlockd %s", version ? version : "(unknown)");
        if (api)
                printf(" (API %s)", api);
        putchar('\n');
        json_object_foreach(doc, key, v)
        {
                if (strcmp(key, "version") == 0 || strcmp(key, "api") == 0)
                        continue;
                if (json_is_string(v))
                        printf("  %s: %s\n", key, json_string_value(v));
                else if (json_is_integer(v))
                        printf("  %s: %lld\n", key, (long long)json_integer_value(v));
                else if (json_is_boolean(v))
                        printf("  %s: %s\n", key, json_is_true(v) ? "yes" : "no");
        }
}

int cli_version_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_request req = {.method = "GET", .path = "/v1/version", .timeout_s = 30};
        struct cli_reply reply = {0};
        struct al_error err = {0};
        json_t *doc = NULL, *out;
        bool as_json = false;
        int c, status = CLI_EXIT_FAIL;

        c = cli_parse_simple(ctx, argc, argv, "version", cli_version_usage, &as_json);
        if (c <= 0)
                return c == 0 ? 0 : CLI_EXIT_FAIL;

        if (!as_json)
                printf("Client: airlock %s\n", AIRLOCK_VERSION);
        if (cli_http(ctx, &req, &reply, &err) < 0) {
                cli_errorf("%s", err.msg);
                goto out;
        }
        if (reply.status != 200) {
                status = cli_report_api_error(&reply);
                goto out;
        }
        doc = cli_reply_json(&reply, &err);
        if (!json_is_object(doc)) {
                cli_errorf("%s", doc ? "airlockd's version is not a JSON object" : err.msg);
                goto out;
        }
        if (as_json) {
                out =
                    json_pack("{s:{s:s},s:O}", "client", "version", AIRLOCK_VERSION, "daemon", doc);
                if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) < 0) {
                        json_decref(out);
                        cli_errorf("cannot print the versions");
                        goto out;
                }
                putchar('\n');
                json_decref(out);
        } else {
                print_daemon(doc);
        }
        status = 0;
out:
        json_decref(doc);
        cli_reply_free(&reply);
        return status;
}
