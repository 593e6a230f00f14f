/* airlock ctx: code contexts (docs/contexts.md), live interpreters that keep their state
 * between runs. A thin view over /v1/contexts and POST /v1/exec with "context": tables and
 * the cell's output for people, the daemon's JSON with --json. Images a cell makes (plots,
 * image results) are saved with --out DIR, else listed with where they are. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/base64.h"
#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "cli.h"

#define CTX_ID_MAX 64

void cli_ctx_usage(FILE *out)
{
        fputs("Usage: airlock ctx create [--language L] [--runtime R] [--session S] [--agent A]\n"
              "       airlock ctx run ID [CODE | -] [--timeout SECS] [--out DIR]\n"
              "       airlock ctx ls [--agent A]\n"
              "       airlock ctx rm ID\n"
              "       airlock ctx interrupt ID\n"
              "       airlock ctx restart ID\n"
              "\n"
              "Code contexts: a live Python, Node or bash interpreter in a kept sandbox whose\n"
              "variables, imports and definitions persist between runs, as in a notebook.\n"
              "'create' prints the new context's id; 'run' runs CODE (or stdin, with '-' or\n"
              "no CODE) in it and prints its output, the value of its last expression and its\n"
              "error; 'ls' lists the contexts of your agents; 'rm' ends one; 'interrupt' stops\n"
              "the code running in it (the state stays); 'restart' clears its state.\n"
              "\n"
              "Options:\n"
              "      --language L   python, node or bash (default python)\n"
              "  -r, --runtime R    The runtime (image) that runs it (default: the language's)\n"
              "  -S, --session S    The session whose sandbox holds it\n"
              "  -a, --agent A      The agent it belongs to (default 'default'); with ls, only\n"
              "                     this agent's\n"
              "  -t, --timeout SECS Time limit of the run: past it the code is interrupted\n"
              "  -o, --out DIR      Save the images the run makes (plots) into DIR\n"
              "      --json         Print the daemon's JSON answer\n"
              "  -s, --socket PATH  airlockd's socket\n"
              "  -h, --help         Show this help\n"
              "\n"
              "Exit status of run: 0, 1 when the code raised an error, 124 when it timed out,\n"
              "125 when airlock or airlockd failed.\n"
              "\n"
              "Examples:\n"
              "  id=$(airlock ctx create --session s1)\n"
              "  airlock ctx run $id 'import pandas as pd; df = pd.DataFrame({\"x\": [1, 2]})'\n"
              "  airlock ctx run $id 'df.x.sum()'\n"
              "  airlock ctx run $id --out plots 'df.plot(); import matplotlib.pyplot as plt; "
              "plt.cli_show()'\n",
              out);
}

static bool id_ok(const char *id)
{
        if (util_name_valid(id, CTX_ID_MAX))
                return true;
        cli_errorf("ctx: '%s' is not a context id", id);
        return false;
}

/* ---- create, ls, rm, interrupt, restart ---- */

static void id_line(json_t *doc)
{
        printf("%s\n", cli_str(doc, "id") ? cli_str(doc, "id") : "?");
}

static int create(struct cli_ctx *ctx, const struct cli_opts *o)
{
        _cleanup_free_ char *body = NULL;
        struct cli_request req = {.method = "POST", .path = "/v1/contexts", .timeout_s = 300};
        json_t *doc = json_pack("{s:s, s:s}", "agent", o->agent ? o->agent : "default", "language",
                                o->language ? o->language : "python");

        if (doc && o->session)
                json_object_set_new(doc, "session", json_string(o->session));
        if (doc && o->runtime)
                json_object_set_new(doc, "runtime", json_string(o->runtime));
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!body) {
                cli_errorf("out of memory");
                return CLI_EXIT_FAIL;
        }
        req.body = body;
        req.body_len = strlen(body);
        return cli_show(cli_call(ctx, &req), o->json, id_line);
}

static void contexts_table(json_t *doc)
{
        static const char *const heads[] = {"CONTEXT", "AGENT",   "SESSION", "LANGUAGE", "STATE",
                                            "CELLS",   "SANDBOX", "CREATED", "IDLE"};
        json_t *rows = json_array(), *row;
        char c[32], n[24], idle[32];
        size_t i;

        json_array_foreach(json_object_get(doc, "contexts"), i, row)
        {
                json_int_t ms = json_integer_value(json_object_get(row, "idle_ms"));

                snprintf(idle, sizeof(idle), "%llds", (long long)(ms / 1000));
                cli_table_add(rows, 9, cli_str(row, "id"), cli_str(row, "agent"),
                              cli_str(row, "session"), cli_str(row, "language"),
                              cli_str(row, "state"), cli_num(row, "cells", n, sizeof(n)),
                              cli_str(row, "sandbox_id"),
                              cli_ago(json_object_get(row, "created_ms"), c, sizeof(c)), idle);
        }
        cli_table_print(heads, ARRAY_SIZE(heads), rows);
        json_decref(rows);
}

static int list(struct cli_ctx *ctx, const struct cli_opts *o)
{
        json_t *doc = cli_get(ctx, "/v1/contexts"), *rows = json_object_get(doc, "contexts");

        /* The route lists every context the caller may see: --agent narrows it here. */
        for (size_t i = json_array_size(rows); o->agent && i-- > 0;) {
                const char *agent = cli_str(json_array_get(rows, i), "agent");

                if (!agent || strcmp(agent, o->agent) != 0)
                        json_array_remove(rows, i);
        }
        return cli_show(doc, o->json, contexts_table);
}

static void done_line(json_t *doc)
{
        const char *id = cli_str(doc, "id") ? cli_str(doc, "id") : "?";

        if (json_object_get(doc, "deleted"))
                printf("context %s removed\n", id);
        else if (json_object_get(doc, "interrupted"))
                printf("context %s: %s\n", id,
                       json_is_true(json_object_get(doc, "interrupted")) ? "interrupted"
                                                                         : "nothing was running");
        else
                printf("context %s restarted\n", id);
}

/* rm, interrupt, restart: one call on one context. */
static int on_context(struct cli_ctx *ctx, const struct cli_opts *o, const char *method,
                      const char *suffix)
{
        struct cli_request req = {.method = method, .timeout_s = 120};
        char path[128];

        if (!id_ok(o->argv[1]))
                return CLI_EXIT_FAIL;
        snprintf(path, sizeof(path), "/v1/contexts/%s%s", o->argv[1], suffix);
        req.path = path;
        return cli_show(cli_call(ctx, &req), o->json, done_line);
}

/* ---- run ---- */

static int write_out(FILE *f, const char *s)
{
        size_t n = strlen(s);

        if (n && (fwrite(s, 1, n, f) != n || (s[n - 1] != '\n' && fputc('\n', f) == EOF)))
                return -EIO;
        return fflush(f) == 0 ? 0 : -EIO;
}

/* An image of the run: saved into dir, or told where it is. */
static int image_out(const char *dir, const char *name, const char *mime, json_t *data,
                     const char *where)
{
        _cleanup_free_ uint8_t *bytes = NULL;
        _cleanup_free_ char *path = NULL;
        ssize_t n = base64_decode(json_string_value(data), json_string_length(data), &bytes);
        int fd;

        if (n < 0) {
                cli_errorf("ctx run: airlockd sent an image that is not base64");
                return -EPROTO;
        }
        if (!dir) {
                cli_errorf("image %s (%s, %zd bytes)%s%s; save it with --out DIR", name, mime, n,
                           where ? " at " : "", where ? where : "");
                return 0;
        }
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 || write(fd, bytes, (size_t)n) != n) {
                cli_errorf("ctx run: writing %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -EIO;
        }
        close(fd);
        cli_errorf("saved %s (%s, %zd bytes)", path, mime, n);
        return 0;
}

/* Whether an artifact already carries these bytes (a context's figure is both a display
 * result and an artifact). */
static bool in_artifacts(json_t *res, json_t *data)
{
        json_t *a;
        size_t i;

        json_array_foreach(json_object_get(res, "artifacts"), i,
                           a) if (json_equal(json_object_get(a, "data"), data)) return true;
        return false;
}

static int images_out(json_t *res, const char *dir)
{
        json_t *a, *v;
        const char *mime;
        size_t i, k = 0;
        int r = 0;

        json_array_foreach(json_object_get(res, "artifacts"), i, a)
        {
                const char *m = cli_str(a, "mime"), *name = cli_str(a, "name");

                if (r >= 0 && m && strncmp(m, "image/", 6) == 0 && name && !strchr(name, '/') &&
                    json_is_string(json_object_get(a, "data")))
                        r = image_out(dir, name, m, json_object_get(a, "data"), cli_str(a, "path"));
        }
        json_array_foreach(json_object_get(res, "results"), i, a)
        {
                json_object_foreach(json_object_get(a, "data"), mime, v)
                {
                        char name[64];

                        if (r < 0 || strncmp(mime, "image/", 6) != 0 ||
                            strncmp(mime, "image/svg", 9) == 0 || !json_is_string(v) ||
                            in_artifacts(res, v))
                                continue;
                        snprintf(name, sizeof(name), "result-%zu.%s", ++k,
                                 strcmp(mime, "image/jpeg") == 0 ? "jpg" : mime + 6);
                        r = image_out(dir, name, mime, v, NULL);
                }
        }
        return r;
}

/* The cell as people read it: output, values, error, images. */
static int run_print(json_t *res, const char *dir)
{
        json_t *e = json_object_get(json_object_get(res, "context"), "error"), *a;
        size_t i;

        if (write_out(stdout, cli_str(res, "stdout") ?: "") < 0 ||
            write_out(stderr, cli_str(res, "stderr") ?: "") < 0)
                return -EIO;
        json_array_foreach(json_object_get(res, "results"), i, a)
        {
                const char *plain =
                    json_string_value(json_object_get(json_object_get(a, "data"), "text/plain"));
                const char *kind = cli_str(a, "kind");

                /* A figure's text ("<Figure ...>") says nothing the saved image does not. */
                if (plain && kind && strcmp(kind, "result") == 0 && write_out(stdout, plain) < 0)
                        return -EIO;
        }
        if (json_is_object(e)) {
                const char *tb = cli_str(e, "traceback");

                if (tb && *tb)
                        write_out(stderr, tb);
                else
                        fprintf(stderr, "%s: %s\n", cli_str(e, "name") ?: "Error",
                                cli_str(e, "value") ?: "");
        }
        return images_out(res, dir);
}

static int run(struct cli_ctx *ctx, const struct cli_opts *o)
{
        _cleanup_free_ char *body = NULL, *path = NULL;
        struct cli_request req = {.method = "POST", .path = "/v1/exec"};
        struct al_error err = {0};
        struct buf in;
        json_t *c, *doc, *res;
        const char *code = o->argc == 3 ? o->argv[2] : NULL;
        int64_t timeout = 0;
        int status;

        if (o->timeout && util_parse_int64(o->timeout, 1, 86400, &timeout) < 0) {
                cli_errorf("ctx run: --timeout takes seconds (1..86400)");
                return CLI_EXIT_FAIL;
        }
        if (o->out && mkdir(o->out, 0755) < 0 && errno != EEXIST) {
                cli_errorf("ctx run: cannot make '%s': %s", o->out, strerror(errno));
                return CLI_EXIT_FAIL;
        }
        if (!id_ok(o->argv[1]) || asprintf(&path, "/v1/contexts/%s", o->argv[1]) < 0)
                return CLI_EXIT_FAIL;
        /* The cell runs as the context's agent. */
        c = cli_get(ctx, path);
        if (!c)
                return CLI_EXIT_FAIL;
        buf_init(&in, CLI_STDIN_MAX);
        if ((!code || strcmp(code, "-") == 0) && cli_read_stdin(&in, &err) < 0) {
                cli_errorf("%s", err.msg);
                json_decref(c);
                buf_free(&in);
                return CLI_EXIT_FAIL;
        }
        doc = json_pack("{s:s?, s:s, s:s?}", "agent", cli_str(c, "agent"), "context", o->argv[1],
                        "code",
                        code && strcmp(code, "-") != 0 ? code
                        : in.data                      ? in.data
                                                       : "");
        json_decref(c);
        buf_free(&in);
        if (doc && timeout)
                json_object_set_new(doc, "timeout_s", json_integer(timeout));
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!body) {
                cli_errorf("ctx run: the code is not UTF-8 text");
                return CLI_EXIT_FAIL;
        }
        req.body = body;
        req.body_len = strlen(body);
        res = cli_call(ctx, &req);
        if (!res)
                return CLI_EXIT_FAIL;
        if (o->json)
                status = cli_print_json(res);
        else
                status = run_print(res, o->out) < 0 ? CLI_EXIT_FAIL : 0;
        if (status == 0)
                status = cli_exec_status(res, timeout, false, o->json);
        json_decref(res);
        return status;
}

int cli_ctx_run(struct cli_ctx *ctx, int argc, char **argv)
{
        static const struct {
                const char *verb;
                int min, max; /* words, the verb included */
        } verbs[] = {{"create", 1, 1}, {"ls", 1, 1},        {"run", 2, 3},
                     {"rm", 2, 2},     {"interrupt", 2, 2}, {"restart", 2, 2}};
        struct cli_opts o;
        size_t i;
        int r = cli_opts_parse(ctx, argc, argv, "airlock ctx", CLI_O_JSON | CLI_O_AGENT | CLI_O_CTX,
                               cli_ctx_usage, &o);

        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAIL : 0;
        for (i = 0; o.argc > 0 && i < ARRAY_SIZE(verbs); i++)
                if (strcmp(o.argv[0], verbs[i].verb) == 0)
                        break;
        if (o.argc == 0 || i == ARRAY_SIZE(verbs)) {
                cli_errorf("ctx: expected create, run, ls, rm, interrupt or restart; see "
                           "'airlock ctx --help'");
                return CLI_EXIT_FAIL;
        }
        if (o.argc < verbs[i].min || o.argc > verbs[i].max) {
                cli_errorf("ctx %s: wrong number of arguments; see 'airlock ctx --help'",
                           verbs[i].verb);
                return CLI_EXIT_FAIL;
        }
        switch (i) {
        case 0:
                return create(ctx, &o);
        case 1:
                return list(ctx, &o);
        case 2:
                return run(ctx, &o);
        case 3:
                return on_context(ctx, &o, "DELETE", "");
        case 4:
                return on_context(ctx, &o, "POST", "/interrupt");
        default:
                return on_context(ctx, &o, "POST", "/restart");
        }
}
