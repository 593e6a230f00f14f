/* airlock: the command-line client of airlockd. Global options, then a subcommand looked up in
 * a table; each subcommand parses its own options and talks to the daemon over its socket. */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "airlock/cleanup.h"

static int cli_help_run(struct cli_ctx *ctx, int argc, char **argv);
/* src/cli/token.c */
int cli_token_run(struct cli_ctx *ctx, int argc, char **argv);
void cli_token_usage(FILE *out);
/* src/cli/policy.c */

/* Subcommands: one row each (name, summary, run, usage). The usage functions are the one
 * source of the help text: --help, 'airlock help', the man page (contrib/gen-man.sh) and the
 * bash completion read it. A row with a NULL summary is callable but not listed. */
static const struct cli_command commands[] = {
    {"exec", "Run code, a command or a program in a sandbox", cli_exec_run, cli_exec_usage},
    {"ps", "List sandboxes, or the background processes of one", cli_ps_run, cli_ps_usage},
    {"sessions", "List sessions, or end one", cli_sessions_run, cli_sessions_usage},
    {"history", "Show the audit log of executions, or one in full", cli_history_run,
     cli_history_usage},
    {"kill", "Remove a sandbox, or end a background process", cli_kill_run, cli_kill_usage},
    {"suspend", "Suspend a sandbox to a snapshot; its next use resumes it", cli_suspend_run,
     cli_suspend_usage},
    {"policy", "Check a settings file, or show the policy in force", cli_policy_run,
     cli_policy_usage},
    {"health", "Show the health of airlockd and what it depends on (exit 0/1/2)", cli_health_run,
     cli_health_usage},
    {"mcp", "Serve MCP on stdin/stdout for agent frameworks (relayed to airlockd)", cli_mcp_run,
     cli_mcp_usage},
    {"token", "Issue, list and revoke bearer tokens of agents (admins)", cli_token_run,
     cli_token_usage},
    {"cp", "Copy files between this machine and a sandbox", cli_cp_run, cli_cp_usage},
    {"ls", "List a directory of a sandbox", cli_ls_run, cli_ls_usage},
    {"ctx", "Create code contexts, run code in them, list, interrupt and remove them", cli_ctx_run,
     cli_ctx_usage},
    {"version", "Show the client and daemon versions", cli_version_run, cli_version_usage},
    {"help", NULL, cli_help_run, NULL},
};

int cli_parse_simple(struct cli_ctx *ctx, int argc, char **argv, const char *name,
                     void (*usage)(FILE *out), bool *ret_json)
{
        struct cli_opts o;
        char full[64];
        int r;

        snprintf(full, sizeof(full), "airlock %s", name);
        r = cli_opts_parse(ctx, argc, argv, full, CLI_O_JSON, usage, &o);

        if (r <= 0)
                return r;
        if (o.argc > 0) {
                cli_errorf("%s: unexpected argument '%s'", name, o.argv[0]);
                return -1;
        }
        *ret_json = o.json;
        return 1;
}

void cli_errorf(const char *fmt, ...)
{
        va_list ap;

        fflush(stdout);
        fputs("airlock: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static const struct cli_command *command_find(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void usage(FILE *out)
{
        fputs("Usage: airlock [--socket PATH] COMMAND [OPTIONS] [ARGS...]\n"
              "\n"
              "The command-line client of airlockd, which runs code for AI agents in hardened\n"
              "containers.\n"
              "\n"
              "Commands:\n",
              out);
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (commands[i].summary)
                        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fputs("\n"
              "Options:\n"
              "  -s, --socket PATH  airlockd's socket (default: $AIRLOCK_SOCKET, else\n"
              "                     " CLI_DEFAULT_SOCKET ")\n"
              "  -h, --help         Show this help\n"
              "  -V, --version      Show the client version\n"
              "\n"
              "Run 'airlock COMMAND --help' for the options of a command.\n"
              "Exit status: that of the command run, or 125 when airlock itself fails.\n",
              out);
}

/* "airlock help [COMMAND]" */
static int cli_help_run(struct cli_ctx *ctx, int argc, char **argv)
{
        const struct cli_command *cmd;

        if (argc < 2) {
                usage(stdout);
                return 0;
        }
        cmd = command_find(argv[1]);
        if (!cmd || !cmd->usage) {
                cli_errorf("unknown command '%s'; see 'airlock --help'", argv[1]);
                return CLI_EXIT_FAIL;
        }
        cmd->usage(stdout);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        struct cli_ctx ctx = {0};
        const struct cli_command *cmd;
        const char *env;
        char name[64];
        int c, r;

        env = getenv("AIRLOCK_SOCKET");
        ctx.socket_path = env && *env ? env : CLI_DEFAULT_SOCKET;

        /* '+': stop at the command name; what follows belongs to the command. */
        while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        ctx.socket_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("airlock %s\n", AIRLOCK_VERSION);
                        return 0;
                default:
                        fputs("See 'airlock --help'.\n", stderr);
                        return CLI_EXIT_FAIL;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return CLI_EXIT_FAIL;
        }
        cmd = command_find(argv[optind]);
        if (!cmd) {
                cli_errorf("unknown command '%s'; see 'airlock --help'", argv[optind]);
                return CLI_EXIT_FAIL;
        }
        if (!*ctx.socket_path) {
                cli_errorf("the socket path is empty");
                return CLI_EXIT_FAIL;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                cli_errorf("cannot initialise libcurl");
                return CLI_EXIT_FAIL;
        }
        /* The command parses its own options from a fresh getopt state; getopt's messages
         * name argv[0], so make that "airlock exec" rather than "exec". */
        argc -= optind;
        argv += optind;
        snprintf(name, sizeof(name), "airlock %s", cmd->name);
        argv[0] = name;
        optind = 0;
        r = cmd->run(&ctx, argc, argv);
        curl_global_cleanup();
        return r;
}
