/* What the listing commands share: one call to the daemon that reports its own failure, the
 * --json output, times, and tables for people (columns as wide as their widest cell). */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "cli.h"

json_t *cli_call(struct cli_ctx *ctx, const struct cli_request *req)
{
        struct cli_reply reply = {0};
        struct al_error err = {0};
        json_t *doc = NULL;

        if (cli_http(ctx, req, &reply, &err) < 0) {
                cli_errorf("%s", err.msg);
                goto out;
        }
        if (reply.status < 200 || reply.status > 299) {
                cli_report_api_error(&reply);
                goto out;
        }
        doc = cli_reply_json(&reply, &err);
        if (!doc)
                cli_errorf("%s", err.msg);
out:
        cli_reply_free(&reply);
        return doc;
}

json_t *cli_get(struct cli_ctx *ctx, const char *path)
{
        struct cli_request req = {.method = "GET", .path = path, .timeout_s = 60};

        return cli_call(ctx, &req);
}

int cli_show(json_t *doc, bool json, void (*human)(json_t *doc))
{
        int r = 0;

        if (!doc)
                return CLI_EXIT_FAIL;
        if (json)
                r = cli_print_json(doc);
        else
                human(doc);
        json_decref(doc);
        return r;
}

const char *cli_str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

const char *cli_num(json_t *o, const char *key, char *buf, size_t size)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                return NULL;
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
}

int cli_print_json(json_t *doc)
{
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                return CLI_EXIT_FAIL;
        putchar('\n');
        return 0;
}

const char *cli_when(json_t *v, char *buf, size_t size)
{
        time_t t;
        struct tm tm;

        if (!json_is_integer(v))
                return "-";
        t = (time_t)(json_integer_value(v) / 1000);
        if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm))
                return "?";
        return buf;
}

const char *cli_ago(json_t *v, char *buf, size_t size)
{
        long long s;

        if (!json_is_integer(v))
                return "-";
        s = (long long)(util_wall_ms() - json_integer_value(v)) / 1000;
        if (s < 0)
                s = 0;
        if (s < 60)
                snprintf(buf, size, "%llds ago", s);
        else if (s < 3600)
                snprintf(buf, size, "%lldm ago", s / 60);
        else if (s < 86400)
                snprintf(buf, size, "%lldh ago", s / 3600);
        else
                snprintf(buf, size, "%lldd ago", s / 86400);
        return buf;
}

/* Widest cell allowed on a terminal; a pipe gets cells whole. */
#define CLI_CELL_MAX 60

int cli_table_add(json_t *rows, size_t ncols, ...)
{
        json_t *row = json_array();
        va_list ap;

        if (!row)
                return -ENOMEM;
        va_start(ap, ncols);
        for (size_t i = 0; i < ncols; i++) {
                const char *s = va_arg(ap, const char *);

                json_array_append_new(row, json_string(s ? s : "-"));
        }
        va_end(ap);
        return json_array_append_new(rows, row);
}

void cli_table_print(const char *const *heads, size_t ncols, json_t *rows)
{
        bool tty = isatty(STDOUT_FILENO);
        size_t w[CLI_TABLE_COLS_MAX] = {0}, i, j;
        json_t *row;

        if (ncols > CLI_TABLE_COLS_MAX)
                ncols = CLI_TABLE_COLS_MAX;
        for (j = 0; j < ncols; j++)
                w[j] = strlen(heads[j]);
        json_array_foreach(rows, i, row) for (j = 0; j < ncols; j++)
        {
                size_t n = strlen(json_string_value(json_array_get(row, j)) ?: "");

                if (tty && n > CLI_CELL_MAX)
                        n = CLI_CELL_MAX;
                if (n > w[j])
                        w[j] = n;
        }
        for (j = 0; j < ncols; j++)
                printf("%-*s%s", j + 1 < ncols ? (int)w[j] : 0, heads[j],
                       j + 1 < ncols ? "  " : "\n");
        json_array_foreach(rows, i, row)
        {
                for (j = 0; j < ncols; j++) {
                        const char *s = json_string_value(json_array_get(row, j)) ?: "";
                        int n = (int)strlen(s);

                        /* One line per row on a terminal: a long cell is cut with "...". */
                        if (tty && n > CLI_CELL_MAX)
                                printf("%.*s...%s", CLI_CELL_MAX - 3, s, j + 1 < ncols ? "  " : "");
                        else if (j + 1 < ncols)
                                printf("%-*s  ", (int)w[j], s);
                        else
                                fputs(s, stdout);
                }
                putchar('\n');
        }
}

int cli_opts_parse(struct cli_ctx *ctx, int argc, char **argv, const char *name, unsigned accepted,
                   void (*usage)(FILE *out), struct cli_opts *o)
{
        enum { OPT_JSON = 0x100, OPT_SINCE, OPT_UNTIL, OPT_STATE, OPT_BACKEND, OPT_LANGUAGE };
        static const struct option all_opts[] = {
            {"json", no_argument, NULL, OPT_JSON},
            {"agent", required_argument, NULL, 'a'},
            {"all", no_argument, NULL, 'A'},
            {"session", required_argument, NULL, 'S'},
            {"state", required_argument, NULL, OPT_STATE},
            {"backend", required_argument, NULL, OPT_BACKEND},
            {"since", required_argument, NULL, OPT_SINCE},
            {"until", required_argument, NULL, OPT_UNTIL},
            {"limit", required_argument, NULL, 'n'},
            {"runtime", required_argument, NULL, 'r'},
            {"language", required_argument, NULL, OPT_LANGUAGE},
            {"out", required_argument, NULL, 'o'},
            {"timeout", required_argument, NULL, 't'},
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int c;

        memset(o, 0, sizeof(*o));
        while ((c = getopt_long(argc, argv, "a:AS:n:r:o:t:s:h", all_opts, NULL)) != -1) {
                unsigned need = c == OPT_JSON                      ? CLI_O_JSON
                                : c == 'a'                         ? CLI_O_AGENT
                                : c == 'A'                         ? CLI_O_ALL
                                : c == 's' || c == 'h' || c == '?' ? 0
                                : c == 'r' || c == 'o' || c == 't' || c == OPT_LANGUAGE ? CLI_O_CTX
                                : c == 'S' ? CLI_O_FILTERS | CLI_O_CTX
                                           : CLI_O_FILTERS;

                if (need && !(accepted & need)) {
                        const char *opt = "?";

                        for (size_t i = 0; all_opts[i].name; i++)
                                if (all_opts[i].val == c)
                                        opt = all_opts[i].name;
                        cli_errorf("%s: option '--%s' does not apply here", name, opt);
                        return -1;
                }
                switch (c) {
                case OPT_JSON:
                        o->json = true;
                        break;
                case 'a':
                        o->agent = optarg;
                        break;
                case 'A':
                        o->all = true;
                        break;
                case 'S':
                        o->session = optarg;
                        break;
                case OPT_STATE:
                        o->state = optarg;
                        break;
                case OPT_BACKEND:
                        o->backend = optarg;
                        break;
                case OPT_SINCE:
                        o->since = optarg;
                        break;
                case OPT_UNTIL:
                        o->until = optarg;
                        break;
                case 'n':
                        o->limit = optarg;
                        break;
                case 'r':
                        o->runtime = optarg;
                        break;
                case OPT_LANGUAGE:
                        o->language = optarg;
                        break;
                case 'o':
                        o->out = optarg;
                        break;
                case 't':
                        o->timeout = optarg;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        fprintf(stderr, "See '%s --help'.\n", name);
                        return -1;
                }
        }
        /* Names go into paths and query strings as they are: only the safe alphabet. */
        {
                const char *names[] = {o->agent, o->session, o->state,    o->backend,
                                       o->limit, o->runtime, o->language, o->timeout};

                for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                        if (names[i] && !util_name_valid(names[i], CLI_NAME_MAX)) {
                                cli_errorf("%s: '%s' is not a name of [A-Za-z0-9._-]", name,
                                           names[i]);
                                return -1;
                        }
        }
        o->argc = argc - optind;
        o->argv = argv + optind;
        return 1;
}
