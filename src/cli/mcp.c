/* airlock mcp: MCP over stdio for agent frameworks that start their MCP servers as
 * subprocesses. Each newline-delimited JSON-RPC message read from stdin is POSTed to the
 * daemon's /mcp (Streamable HTTP) and the response written to stdout, one line each; the
 * daemon does the rest, so the tools, their checks and the audit are the same whichever way a
 * client comes. stdout carries MCP messages only; diagnostics go to stderr. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "cli.h"

/* JSON-RPC's code for an error of the server itself (the implementation-defined range). */
#define MCP_SERVER_ERROR    -32000
#define MCP_PARSE_ERROR     -32700
#define MCP_INVALID_REQUEST -32600

void cli_mcp_usage(FILE *out)
{
        fputs("Usage: airlock mcp [--agent NAME] [--session NAME]\n"
              "\n"
              "Serve the Model Context Protocol on stdin and stdout (the stdio transport:\n"
              "one JSON-RPC message per line), relayed to airlockd's /mcp. Agent frameworks\n"
              "start it as their MCP server's command; its tools run code and commands in\n"
              "sandboxes and manage sessions, sandboxes and background processes\n"
              "(docs/mcp.md).\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME    Act as this agent (default: the token's, else 'default')\n"
              "  -S, --session NAME  The session of run_code and run_command calls that name\n"
              "                      none (default: a fresh sandbox per call)\n"
              "  -s, --socket PATH   airlockd's socket\n"
              "  -h, --help          Show this help\n"
              "\n"
              "Environment: AIRLOCK_TOKEN, a bearer token, makes the calls act as its agent.\n",
              out);
}

/* Read one line of at most max bytes into b (without the newline). Returns 1 for a line, 0 at
 * the end of input, -E2BIG for a line past max (read to its end and dropped). */
static int read_line(FILE *in, struct buf *b, size_t max)
{
        bool over = false;
        int ch;

        buf_reset(b);
        while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
                if (over || b->len >= max) {
                        over = true;
                        continue;
                }
                if (buf_append(b, (char[]){(char)ch}, 1) < 0)
                        over = true;
        }
        if (ch == EOF && b->len == 0 && !over)
                return 0;
        return over ? -E2BIG : 1;
}

static void write_message(json_t *msg)
{
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

        if (text) {
                fputs(text, stdout);
                fputc('\n', stdout);
                fflush(stdout);
        }
        free(text);
}

/* An error for the request whose id is id (borrowed; NULL: null). */
static void write_error(json_t *id, int code, const char *msg)
{
        json_t *e = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                              id ? id : json_null(), "error", "code", code, "message", msg);

        write_message(e);
        json_decref(e);
}

/* Relay one message. A reply that is not JSON-RPC (the daemon refused the request before MCP
 * saw it: a bad token, a rate limit) becomes an error for the request's id. */
static void relay(struct cli_ctx *ctx, const char *path, const char *line, size_t len)
{
        struct cli_request req = {.method = "POST",
                                  .path = path,
                                  .body = line,
                                  .body_len = len,
                                  .accept = "application/json, text/event-stream"};
        struct cli_reply reply;
        struct al_error err = {0};
        json_t *msg = json_loadb(line, len, 0, NULL), *id = json_object_get(msg, "id"), *doc;
        bool is_request = json_is_object(msg) && json_object_get(msg, "method") && id;

        if (cli_http(ctx, &req, &reply, &err) < 0) {
                if (is_request || !msg)
                        write_error(id, MCP_SERVER_ERROR, err.msg);
                else
                        cli_errorf("%s", err.msg);
                goto out;
        }
        if (reply.status == 202)
                goto out;
        doc = cli_reply_json(&reply, &err);
        if (doc && reply.status == 200 && json_object_get(doc, "jsonrpc")) {
                write_message(doc);
        } else if (is_request || !msg) {
                json_t *e = json_object_get(doc, "error");
                const char *m = json_string_value(json_object_get(e, "message"));
                json_t *c = json_object_get(e, "code");
                char text[AL_ERR_MSG_MAX + 32];

                snprintf(text, sizeof(text), "%s (HTTP %ld)",
                         m ? m : "airlockd refused the request", reply.status);
                write_error(id, json_is_integer(c) ? (int)json_integer_value(c) : MCP_SERVER_ERROR,
                            text);
        }
        json_decref(doc);
out:
        cli_reply_free(&reply);
        json_decref(msg);
}

int cli_mcp_run(struct cli_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
            {"agent", required_argument, NULL, 'a'},
            {"session", required_argument, NULL, 'S'},
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *agent = NULL, *session = NULL;
        char path[256];
        struct buf line;
        int c, r;

        while ((c = getopt_long(argc, argv, "+a:S:s:h", opts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        agent = optarg;
                        break;
                case 'S':
                        session = optarg;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        cli_mcp_usage(stdout);
                        return 0;
                default:
                        fputs("See 'airlock mcp --help'.\n", stderr);
                        return CLI_EXIT_FAIL;
                }
        }
        if (optind < argc) {
                cli_errorf("mcp: unexpected argument '%s'", argv[optind]);
                return CLI_EXIT_FAIL;
        }
        /* Names only: they go into the path unescaped. */
        if ((agent && !util_name_valid(agent, 64)) || (session && !util_name_valid(session, 64))) {
                cli_errorf("mcp: --agent and --session take names of [A-Za-z0-9._-]");
                return CLI_EXIT_FAIL;
        }
        snprintf(path, sizeof(path), "/mcp%s%s%s%s%s", agent || session ? "?" : "",
                 agent ? "agent=" : "", agent ? agent : "", agent && session ? "&" : "",
                 session ? "session=" : "");
        if (session)
                strncat(path, session, sizeof(path) - strlen(path) - 1);
        buf_init(&line, CLI_LINE_MAX);
        while ((r = read_line(stdin, &line, CLI_LINE_MAX)) != 0) {
                if (r < 0) {
                        write_error(NULL, MCP_INVALID_REQUEST, "message too large");
                        continue;
                }
                if (line.len == 0 || strspn(line.data, " \t\r") == line.len)
                        continue;
                if (memchr(line.data, '\0', line.len)) {
                        write_error(NULL, MCP_PARSE_ERROR, "Parse error: NUL byte in the message");
                        continue;
                }
                relay(ctx, path, line.data, line.len);
        }
        buf_free(&line);
        return 0;
}
