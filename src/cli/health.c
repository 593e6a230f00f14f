/* airlock health: GET /v1/health as a table for people, or as JSON, with an exit status for
 * monitors that run commands: 0 ok, 1 degraded, 2 down, 3 when airlockd cannot be asked. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airlock/cleanup.h"

enum {
        HEALTH_EXIT_OK = 0,
        HEALTH_EXIT_DEGRADED = 1,
        HEALTH_EXIT_DOWN = 2,
        HEALTH_EXIT_UNKNOWN = 3,
};

void cli_health_usage(FILE *out)
{
        fputs("Usage: airlock health [--json] [--socket PATH]\n"
              "\n"
              "Ask airlockd how it and what it depends on are doing: the engine, the runtime\n"
              "images, the OCI runtimes, the database, free disk, the policy, the host backend\n"
              "and the live sandboxes, each with a status and what to do about it.\n"
              "\n"
              "Options:\n"
              "      --json         Print the daemon's health document as it is\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n"
              "\n"
              "Exit status: 0 ok, 1 degraded, 2 down, 3 when airlockd could not be asked.\n",
              out);
}

static int exit_for(const char *status)
{
        if (status && strcmp(status, "ok") == 0)
                return HEALTH_EXIT_OK;
        if (status && strcmp(status, "degraded") == 0)
                return HEALTH_EXIT_DEGRADED;
        if (status && strcmp(status, "down") == 0)
                return HEALTH_EXIT_DOWN;
        return HEALTH_EXIT_UNKNOWN;
}

static void print_table(json_t *doc)
{
        const char *status = json_string_value(json_object_get(doc, "status"));
        const char *version = json_string_value(json_object_get(doc, "version"));
        json_t *checks = json_object_get(doc, "checks"), *c;
        const char *name;

        printf("Status: %s (airlockd %s, checked in %.1f ms)\n\n", status ? status : "unknown",
               version ? version : "?", json_number_value(json_object_get(doc, "took_ms")));
        printf("%-14s %-9s %s\n", "SUBSYSTEM", "STATUS", "MESSAGE");
        json_object_foreach(checks, name, c)
        {
                const char *st = json_string_value(json_object_get(c, "status"));
                const char *msg = json_string_value(json_object_get(c, "message"));

                printf("%-14s %-9s %s\n", name, st ? st : "?", msg ? msg : "");
        }
}

int cli_health_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_request req = {.method = "GET", .path = "/v1/health", .timeout_s = 30};
        struct cli_reply reply = {0};
        struct al_error err = {0};
        json_t *doc = NULL;
        bool as_json = false;
        int c, status = HEALTH_EXIT_UNKNOWN;

        c = cli_parse_simple(ctx, argc, argv, "health", cli_health_usage, &as_json);
        if (c <= 0)
                return c == 0 ? 0 : HEALTH_EXIT_UNKNOWN;
        if (cli_http(ctx, &req, &reply, &err) < 0) {
                cli_errorf("%s", err.msg);
                goto out;
        }
        /* 503 carries the same document as 200: the daemon answers, something it needs does
         * not. Anything else is an error reply. */
        if (reply.status != 200 && reply.status != 503) {
                cli_report_api_error(&reply);
                goto out;
        }
        doc = cli_reply_json(&reply, &err);
        if (!json_is_object(doc) || !json_is_object(json_object_get(doc, "checks"))) {
                cli_errorf("%s", doc ? "airlockd's health is not a health document" : err.msg);
                goto out;
        }
        if (as_json) {
                if (json_dumpf(doc, stdout, JSON_INDENT(2)) < 0) {
                        cli_errorf("cannot print the health document");
                        goto out;
                }
                putchar('\n');
        } else {
                print_table(doc);
        }
        status = exit_for(json_string_value(json_object_get(doc, "status")));
out:
        json_decref(doc);
        cli_reply_free(&reply);
        return status;
}
