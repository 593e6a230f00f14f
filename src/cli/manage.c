/* airlock ps, sessions, history, kill: what runs, what ran, and ending it. Each is a thin view
 * over one or two v1 routes (docs/api.md): a table on stdout for people, the daemon's JSON
 * with --json for scripts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "cli.h"

/* A word that is a sandbox id, a session or an execution id: the safe alphabet only. */
static bool word_ok(const char *name, const char *what, const char *w)
{
        if (util_name_valid(w, 128))
                return true;
        cli_errorf("%s: '%s' is not a %s", name, w, what);
        return false;
}

/* ---- airlock ps ---- */

void cli_ps_usage(FILE *out)
{
        fputs("Usage: airlock ps [--agent NAME] [--json]\n"
              "       airlock ps SANDBOX [--json]\n"
              "\n"
              "List the sandboxes (those of your agents), live or suspended, or the background\n"
              "processes of one sandbox (its id, or the first 12 characters of it or more).\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME   Only this agent's sandboxes\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static void sandboxes_table(json_t *doc)
{
        static const char *const heads[] = {"SANDBOX", "STATE",   "AGENT",     "SESSION", "SCOPE",
                                            "IMAGE",   "CREATED", "LAST USED", "EXECS"};
        json_t *rows = json_array(), *row;
        char c[32], u[32], n[24];
        size_t i;

        json_array_foreach(json_object_get(doc, "sandboxes"), i, row)
        {
                char id[13];

                snprintf(id, sizeof(id), "%s", cli_str(row, "id") ? cli_str(row, "id") : "?");
                /* A suspended one was last used when it was suspended. */
                cli_table_add(rows, 9, id, cli_str(row, "state"), cli_str(row, "agent"),
                              cli_str(row, "session"), cli_str(row, "scope"), cli_str(row, "image"),
                              cli_ago(json_object_get(row, "created_ms"), c, sizeof(c)),
                              cli_ago(json_object_get(row, "last_used_ms")
                                          ?: json_object_get(row, "suspended_ms"),
                                      u, sizeof(u)),
                              cli_num(row, "execs_running", n, sizeof(n)));
        }
        cli_table_print(heads, ARRAY_SIZE(heads), rows);
        json_decref(rows);
}

static void processes_table(json_t *doc)
{
        static const char *const heads[] = {"PID", "STATE", "EXIT", "SIGNAL", "STARTED", "COMMAND"};
        json_t *rows = json_array(), *row;
        char p[24], e[24], s[24], t[32];
        size_t i;

        json_array_foreach(json_object_get(doc, "processes"), i, row) cli_table_add(
            rows, 6, cli_num(row, "pid", p, sizeof(p)), cli_str(row, "state"),
            cli_num(row, "exit_code", e, sizeof(e)), cli_num(row, "signal", s, sizeof(s)),
            cli_ago(json_object_get(row, "started_ms"), t, sizeof(t)), cli_str(row, "command"));
        cli_table_print(heads, ARRAY_SIZE(heads), rows);
        json_decref(rows);
}

int cli_ps_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_opts o;
        char path[256];
        int r = cli_opts_parse(ctx, argc, argv, "airlock ps", CLI_O_JSON | CLI_O_AGENT,
                               cli_ps_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        if (o.argc > 1 || (o.argc == 1 && o.agent)) {
                cli_errorf("ps: expected no argument or one sandbox id; see 'airlock ps --help'");
                return CLI_EXIT_FAIL;
        }
        if (o.argc == 1) {
                if (!word_ok("ps", "sandbox id", o.argv[0]))
                        return CLI_EXIT_FAIL;
                snprintf(path, sizeof(path), "/v1/sandboxes/%s/processes", o.argv[0]);
                return cli_show(cli_get(ctx, path), o.json, processes_table);
        }
        snprintf(path, sizeof(path), "/v1/sandboxes%s%s", o.agent ? "?agent=" : "",
                 o.agent ? o.agent : "");
        return cli_show(cli_get(ctx, path), o.json, sandboxes_table);
}

/* ---- airlock sessions ---- */

void cli_sessions_usage(FILE *out)
{
        fputs("Usage: airlock sessions [--agent NAME] [--all] [--json]\n"
              "       airlock sessions end SESSION [--agent NAME] [--json]\n"
              "\n"
              "List the sessions of your agents (the active ones; --all adds ended ones), or\n"
              "end one: its sandboxes and their files are removed.\n"
              "\n"
              "Options:\n"
              "  -a, --agent NAME   Only this agent's sessions; with end, the session's agent\n"
              "                     (default: 'default')\n"
              "  -A, --all          Include ended sessions\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static void sessions_table(json_t *doc)
{
        static const char *const heads[] = {"AGENT", "SESSION", "CREATED", "LAST USED", "ENDED"};
        json_t *rows = json_array(), *row;
        char c[32], u[32], e[32];
        size_t i;

        json_array_foreach(json_object_get(doc, "sessions"), i, row)
            cli_table_add(rows, 5, cli_str(row, "agent"), cli_str(row, "session"),
                          cli_ago(json_object_get(row, "created_at"), c, sizeof(c)),
                          cli_ago(json_object_get(row, "last_used_at"), u, sizeof(u)),
                          cli_ago(json_object_get(row, "ended_at"), e, sizeof(e)));
        cli_table_print(heads, ARRAY_SIZE(heads), rows);
        json_decref(rows);
}

static void ended_line(json_t *doc)
{
        printf("session '%s' of agent '%s' ended: %lld sandbox(es) removed\n",
               cli_str(doc, "session") ? cli_str(doc, "session") : "?",
               cli_str(doc, "agent") ? cli_str(doc, "agent") : "?",
               (long long)json_integer_value(json_object_get(doc, "sandboxes_removed")));
}

int cli_sessions_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_request req = {.method = "POST", .timeout_s = 120};
        struct cli_opts o;
        char path[256];
        int r = cli_opts_parse(ctx, argc, argv, "airlock sessions",
                               CLI_O_JSON | CLI_O_AGENT | CLI_O_ALL, cli_sessions_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        if (o.argc == 2 && strcmp(o.argv[0], "end") == 0 && !o.all) {
                if (!word_ok("sessions end", "session name", o.argv[1]))
                        return CLI_EXIT_FAIL;
                snprintf(path, sizeof(path), "/v1/sessions/%s/end?agent=%s", o.argv[1],
                         o.agent ? o.agent : "default");
                req.path = path;
                return cli_show(cli_call(ctx, &req), o.json, ended_line);
        }
        if (o.argc != 0) {
                cli_errorf("sessions: expected no argument or 'end SESSION'; see 'airlock "
                           "sessions --help'");
                return CLI_EXIT_FAIL;
        }
        snprintf(path, sizeof(path), "/v1/sessions?%s%s%s", o.agent ? "agent=" : "",
                 o.agent ? o.agent : "", o.all ? "&ended=1" : "");
        return cli_show(cli_get(ctx, path), o.json, sessions_table);
}

/* ---- airlock history ---- */

void cli_history_usage(FILE *out)
{
        fputs("Usage: airlock history [FILTERS] [--json]\n"
              "       airlock history EXECUTION_ID [--json]\n"
              "\n"
              "The audit log: every execution, newest first (refused ones too), or one\n"
              "execution in full.\n"
              "\n"
              "Filters:\n"
              "  -a, --agent NAME      Only this agent's\n"
              "  -S, --session NAME    Only this session's\n"
              "      --state STATE     running, done, failed or aborted\n"
              "      --backend NAME    docker, podman or host\n"
              "      --since WHEN      Started at or after WHEN: 30s, 10m, 2h, 7d ago, or\n"
              "                        milliseconds since the epoch\n"
              "      --until WHEN      Started before WHEN (as --since)\n"
              "  -n, --limit N         At most N rows (1..500, default 50)\n"
              "\n"
              "Options:\n"
              "      --json            Print the daemon's JSON answer\n"
              "  -s, --socket PATH     airlockd's socket\n"
              "  -h, --help            Show this help\n",
              out);
}

/* "30s", "10m", "2h", "7d" (that long ago) or ms since the epoch, as ms since the epoch. */
static int parse_when(const char *s, int64_t *ret)
{
        static const struct {
                char unit;
                int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
        size_t n = strlen(s);
        char digits[24];
        int64_t v;

        if (n == 0 || n >= sizeof(digits))
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                if (s[n - 1] != units[i].unit)
                        continue;
                memcpy(digits, s, n - 1);
                digits[n - 1] = '\0';
                if (util_parse_int64(digits, 0, INT64_MAX / units[i].ms, &v) < 0)
                        return -EINVAL;
                *ret = util_wall_ms() - v * units[i].ms;
                return 0;
        }
        return util_parse_int64(s, 0, INT64_MAX, ret);
}

static void executions_table(json_t *doc)
{
        static const char *const heads[] = {"EXECUTION", "STARTED", "AGENT", "SESSION", "RUNTIME",
                                            "STATE",     "EXIT",    "MS",    "CODE"};
        json_t *rows = json_array(), *row;
        char t[32], e[32], d[24];
        size_t i;

        json_array_foreach(json_object_get(doc, "executions"), i, row)
        {
                char id[13], code[64];
                const char *exit = cli_num(row, "exit_code", e, sizeof(e));
                const char *preview = cli_str(row, "code_preview");
                size_t j;

                snprintf(id, sizeof(id), "%s", cli_str(row, "id") ? cli_str(row, "id") : "?");
                if (json_is_true(json_object_get(row, "timed_out")))
                        exit = "timeout";
                else if (json_is_true(json_object_get(row, "oom_killed")))
                        exit = "oom";
                else if (json_is_string(
                             json_object_get(json_object_get(row, "decision"), "mode")) &&
                         strcmp(cli_str(json_object_get(row, "decision"), "mode"), "refused") == 0)
                        exit = "refused";
                /* The code's first line, on one line. */
                snprintf(code, sizeof(code), "%s", preview ? preview : "");
                for (j = 0; code[j]; j++)
                        if (code[j] == '\n' || code[j] == '\r' || code[j] == '\t')
                                code[j] = ' ';
                cli_table_add(
                    rows, 9, id, cli_when(json_object_get(row, "started_at"), t, sizeof(t)),
                    cli_str(row, "agent"), cli_str(row, "session"), cli_str(row, "runtime"),
                    cli_str(row, "state"), exit, cli_num(row, "duration_ms", d, sizeof(d)), code);
        }
        cli_table_print(heads, ARRAY_SIZE(heads), rows);
        json_decref(rows);
        if (json_is_string(json_object_get(doc, "next_cursor")))
                fprintf(stderr,
                        "airlock: more rows: use --until, --limit or --json (next_cursor %s)\n",
                        cli_str(doc, "next_cursor"));
}

/* One execution in full: every field, one per line, nested ones flattened. */
static void print_fields(json_t *o, const char *prefix)
{
        const char *key;
        json_t *v;

        json_object_foreach(o, key, v)
        {
                char name[128];

                snprintf(name, sizeof(name), "%s%s", prefix, key);
                if (json_is_object(v)) {
                        char sub[130];

                        snprintf(sub, sizeof(sub), "%s.", name);
                        print_fields(v, sub);
                        continue;
                }
                if (json_is_string(v)) {
                        const char *s = json_string_value(v);

                        printf("%-20s %s%s", name, strchr(s, '\n') ? "\n" : "", s);
                        if (!*s || s[strlen(s) - 1] != '\n')
                                putchar('\n');
                } else if (json_is_null(v)) {
                        printf("%-20s -\n", name);
                } else {
                        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

                        printf("%-20s %s\n", name, text ? text : "?");
                        free(text);
                }
        }
}

static void execution_full(json_t *doc)
{
        char t[32];

        /* Times as people read them, before the raw fields. */
        printf("%-20s %s\n", "started", cli_when(json_object_get(doc, "started_at"), t, sizeof(t)));
        print_fields(doc, "");
}

int cli_history_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_opts o;
        struct buf path;
        int64_t since = 0, until = 0;
        int r = cli_opts_parse(ctx, argc, argv, "airlock history",
                               CLI_O_JSON | CLI_O_AGENT | CLI_O_FILTERS, cli_history_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        if ((o.since && parse_when(o.since, &since) < 0) ||
            (o.until && parse_when(o.until, &until) < 0)) {
                cli_errorf("history: --since and --until take 30s, 10m, 2h, 7d or milliseconds "
                           "since the epoch");
                return CLI_EXIT_FAIL;
        }
        buf_init(&path, 1024);
        if (o.argc == 1) {
                if (o.agent || o.session || o.state || o.backend || o.since || o.until || o.limit) {
                        cli_errorf("history: filters do not apply to one execution");
                        return CLI_EXIT_FAIL;
                }
                if (!word_ok("history", "execution id", o.argv[0]))
                        return CLI_EXIT_FAIL;
                buf_appendf(&path, "/v1/executions/%s", o.argv[0]);
                r = cli_show(cli_get(ctx, path.data), o.json, execution_full);
        } else if (o.argc == 0) {
                buf_appendf(&path, "/v1/executions?limit=%s", o.limit ? o.limit : "50");
                if (o.agent)
                        buf_appendf(&path, "&agent=%s", o.agent);
                if (o.session)
                        buf_appendf(&path, "&session=%s", o.session);
                if (o.state)
                        buf_appendf(&path, "&state=%s", o.state);
                if (o.backend)
                        buf_appendf(&path, "&backend=%s", o.backend);
                if (o.since)
                        buf_appendf(&path, "&since=%lld", (long long)since);
                if (o.until)
                        buf_appendf(&path, "&until=%lld", (long long)until);
                r = cli_show(cli_get(ctx, path.data), o.json, executions_table);
        } else {
                cli_errorf("history: expected filters or one execution id");
                r = CLI_EXIT_FAIL;
        }
        buf_free(&path);
        return r;
}

/* ---- airlock kill ---- */

void cli_kill_usage(FILE *out)
{
        fputs("Usage: airlock kill SANDBOX\n"
              "       airlock kill SANDBOX PID\n"
              "\n"
              "Remove a sandbox (its id, or the first 12 characters of it or more) with its\n"
              "processes and files, or end one of its background processes (see 'airlock ps\n"
              "SANDBOX') and everything that process started.\n"
              "\n"
              "Options:\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n",
              out);
}

static void removed_line(json_t *doc)
{
        if (json_is_integer(json_object_get(doc, "pid")))
                printf("process %lld of sandbox %.12s ended\n",
                       (long long)json_integer_value(json_object_get(doc, "pid")),
                       cli_str(doc, "sandbox_id") ? cli_str(doc, "sandbox_id") : "?");
        else
                printf("sandbox %.12s removed\n", cli_str(doc, "id") ? cli_str(doc, "id") : "?");
}

int cli_kill_run(struct cli_ctx *ctx, int argc, char **argv)
{
        struct cli_request req = {.method = "DELETE", .timeout_s = 120};
        struct cli_opts o;
        char path[256];
        int64_t pid;
        int r = cli_opts_parse(ctx, argc, argv, "airlock kill", CLI_O_JSON, cli_kill_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        if (o.argc < 1 || o.argc > 2) {
                cli_errorf("kill: expected SANDBOX or SANDBOX PID; see 'airlock kill --help'");
                return CLI_EXIT_FAIL;
        }
        if (!word_ok("kill", "sandbox id", o.argv[0]))
                return CLI_EXIT_FAIL;
        if (o.argc == 2) {
                if (util_parse_int64(o.argv[1], 1, 4194304, &pid) < 0) {
                        cli_errorf("kill: '%s' is not a process id", o.argv[1]);
                        return CLI_EXIT_FAIL;
                }
                snprintf(path, sizeof(path), "/v1/sandboxes/%s/processes/%lld", o.argv[0],
                         (long long)pid);
        } else {
                snprintf(path, sizeof(path), "/v1/sandboxes/%s", o.argv[0]);
        }
        req.path = path;
        return cli_show(cli_call(ctx, &req), o.json, removed_line);
}
