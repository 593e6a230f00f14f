/* airlock suspend: POST /v1/sandboxes/{id}/suspend (docs/suspend.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void cli_suspend_usage(FILE *out)
{
        fputs("Usage: airlock suspend SANDBOX [--agent NAME]\n"
              "\n"
              "Suspend a sandbox (its id, or the first 12 characters of it or more): its /tmp\n"
              "and install home are written to a snapshot and the sandbox is removed. The next\n"
              "exec or file call of its scope resumes it in a fresh sandbox with those files;\n"
              "running processes and contexts do not survive. 'airlock ps' lists it as\n"
              "suspended; 'airlock kill SANDBOX' deletes the snapshot.\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME   The agent that owns it\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static void suspended_line(json_t *doc)
{
        const char *id = json_string_value(json_object_get(doc, "id"));

        printf("sandbox %.12s suspended: %lld bytes of snapshot in %lld ms\n", id ? id : "?",
               (long long)json_integer_value(json_object_get(doc, "snapshot_bytes")),
               (long long)json_integer_value(json_object_get(doc, "duration_ms")));
}

int cli_suspend_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_request req = {.method = "POST", .timeout_s = 600};
        struct cli_opts o;
        char path[256];
        json_t *doc;
        int r = cli_opts_parse(ctx, argc, argv, "airlock suspend", CLI_O_JSON | CLI_O_AGENT,
                               cli_suspend_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        if (o.argc != 1 || strlen(o.argv[0]) > 64 ||
            strspn(o.argv[0], "0123456789abcdef") != strlen(o.argv[0])) {
                cli_errorf("suspend: expected one sandbox id; see 'airlock suspend --help'");
                return CLI_EXIT_FAIL;
        }
        snprintf(path, sizeof(path), "/v1/sandboxes/%s/suspend%s%s", o.argv[0],
                 o.agent ? "?agent=" : "", o.agent ? o.agent : "");
        req.path = path;
        doc = cli_call(ctx, &req);
        if (!doc)
                return CLI_EXIT_FAIL;
        r = o.json ? cli_print_json(doc) : (suspended_line(doc), 0);
        json_decref(doc);
        return r;
}
