/* airlock exec: build a POST /v1/exec request from the command line and stdin, then either
 * stream the NDJSON events to our stdout/stderr as they come or print the buffered result, and
 * exit with the execution's status. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

struct exec_opts {
        const char *runtime;
        const char *agent;
        const char *session;
        const char *code;    /* -c */
        const char *command; /* --command */
        char **argv;         /* after the options; NULL-terminated, borrowed from main */
        int64_t timeout_s;   /* 0: not given */
        bool network;
        bool untrusted;
        bool json;
        bool no_stream;
        bool no_stdin;
        bool verbose;
};

/* json_decrefp comes with jansson. */
#define _cleanup_json_ _cleanup_(json_decrefp)

void cli_exec_usage(FILE *out)
{
        fputs(
            "Usage: airlock exec [OPTIONS] -c CODE\n"
            "       airlock exec [OPTIONS] --command 'SHELL COMMAND'\n"
            "       airlock exec [OPTIONS] [--] PROGRAM [ARGS...]\n"
            "\n"
            "Run code, a shell command or a program through airlockd, in a sandbox unless the\n"
            "policy says otherwise. Output streams back as it is produced; stdin, when it is not\n"
            "a terminal, is read whole (up to 16 MiB of UTF-8 text) and passed on.\n"
            "\n"
            "What to run (exactly one):\n"
            "  -c, --code CODE        Source code for the runtime's interpreter\n"
            "      --command CMD      A shell command line (pipes, redirections)\n"
            "  -- PROGRAM [ARGS...]   A program and its arguments, run without a shell\n"
            "\n"
            "Options:\n"
            "  -r, --runtime NAME     Runtime (image) to use, e.g. python, node, shell\n"
            "  -a, --agent NAME       Agent identity (default: $AIRLOCK_AGENT)\n"
            "      --session ID       Session whose sandbox to use (default: $AIRLOCK_SESSION)\n"
            "  -t, --timeout SECS     Time limit; the policy may lower it\n"
            "  -e, --env K=V          Set an environment variable (repeatable); a bare K\n"
            "                         takes its value from airlock's environment\n"
            "      --network          Ask for network access (the policy decides)\n"
            "      --untrusted        Mark the code as untrusted (always sandboxed)\n"
            "      --no-stdin         Do not read or forward stdin\n"
            "      --no-stream        Wait for the whole result instead of streaming\n"
            "      --json             Print the result as JSON (implies --no-stream)\n"
            "  -v, --verbose          Report the execution id, backend and decision on stderr\n"
            "  -s, --socket PATH      airlockd's socket\n"
            "  -h, --help             Show this help\n"
            "\n"
            "Exit status: the program's own; 128+N when killed by signal N; 124 when it timed\n"
            "out; 137 when killed for exceeding its memory limit; 125 when airlock or airlockd\n"
            "failed.\n"
            "\n"
            "Examples:\n"
            "  airlock exec --runtime python -c 'print(6*7)'\n"
            "  airlock exec -- ls -la\n"
            "  echo hi | airlock exec -- cat\n"
            "  airlock exec --command 'ls | wc -l'\n",
            out);
}

/* Set obj[key] to the string s; fails (naming what) when s is not valid UTF-8. */
static int set_string(json_t *obj, const char *key, const char *s, const char *what,
                      struct al_error *err)
{
        json_t *v = json_string(s);

        if (!v)
                return al_err(err, -EINVAL, "%s is not valid UTF-8", what);
        if (json_object_set_new(obj, key, v) < 0)
                return al_err(err, -ENOMEM, "cannot build the request");
        return 0;
}

static bool utf8_valid(const char *s)
{
        json_t *v = json_string(s);

        json_decref(v);
        return v != NULL;
}

static int add_env(json_t *env, const char *arg, struct al_error *err)
{
        _cleanup_free_ char *key = NULL;
        const char *eq = strchr(arg, '='), *val;

        key = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
        if (!key)
                return al_err(err, -ENOMEM, "out of memory");
        if (!*key)
                return al_err(err, -EINVAL, "--env '%s': the variable name is empty", arg);
        if (eq) {
                val = eq + 1;
        } else {
                /* docker's convention: a bare name passes the caller's value on. */
                val = getenv(key);
                if (!val)
                        return al_err(err, -EINVAL, "--env %s: %s is not set here", arg, key);
        }
        if (!utf8_valid(key))
                return al_err(err, -EINVAL, "--env: a variable name is not valid UTF-8");
        return set_string(env, key, val, "an --env value", err);
}

int cli_read_stdin(struct buf *ret, struct al_error *err)
{
        char chunk[65536];
        ssize_t n;

        buf_init(ret, CLI_STDIN_MAX);
        if (fcntl(STDIN_FILENO, F_GETFD) < 0 || isatty(STDIN_FILENO))
                return 0;
        for (;;) {
                n = read(STDIN_FILENO, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return al_err_errno(err, -errno, "reading stdin");
                if (n == 0)
                        return 0;
                if (buf_append(ret, chunk, (size_t)n) < 0)
                        return al_err(err, -ENOMEM, "out of memory reading stdin");
                if (buf_truncated(ret))
                        return al_err(err, -AL_E_TOO_LARGE,
                                      "stdin exceeds %u MiB; pass large data through the "
                                      "session's workspace instead",
                                      (unsigned)(CLI_STDIN_MAX >> 20));
        }
}

static int build_request(const struct exec_opts *o, char **env_args, size_t n_env,
                         const struct buf *in, char **ret_body, struct al_error *err)
{
        _cleanup_json_ json_t *req = json_object();
        json_t *v;
        int r;

        if (!req)
                return al_err(err, -ENOMEM, "out of memory");
        if (o->agent && (r = set_string(req, "agent", o->agent, "--agent", err)) < 0)
                return r;
        if (o->session && (r = set_string(req, "session", o->session, "--session", err)) < 0)
                return r;
        if (o->runtime && (r = set_string(req, "runtime", o->runtime, "--runtime", err)) < 0)
                return r;
        if (o->code && (r = set_string(req, "code", o->code, "the code", err)) < 0)
                return r;
        if (o->command && (r = set_string(req, "command", o->command, "the command", err)) < 0)
                return r;
        if (o->argv) {
                json_t *argv = json_array();

                if (!argv || json_object_set_new(req, "argv", argv) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                for (char **a = o->argv; *a; a++) {
                        v = json_string(*a);
                        if (!v)
                                return al_err(err, -EINVAL, "argument '%s' is not valid UTF-8", *a);
                        if (json_array_append_new(argv, v) < 0)
                                return al_err(err, -ENOMEM, "out of memory");
                }
        }
        if (in->len > 0) {
                /* JSON carries text only; jansson refuses bytes that are not UTF-8. */
                v = json_stringn(in->data, in->len);
                if (!v)
                        return al_err(err, -EINVAL,
                                      "stdin is not valid UTF-8; airlock forwards text only "
                                      "(encode binary data, e.g. with base64, or use --no-stdin)");
                if (json_object_set_new(req, "stdin", v) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
        }
        if (n_env > 0) {
                json_t *env = json_object();

                if (!env || json_object_set_new(req, "env", env) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                for (size_t i = 0; i < n_env; i++)
                        if ((r = add_env(env, env_args[i], err)) < 0)
                                return r;
        }
        if (o->timeout_s > 0 &&
            json_object_set_new(req, "timeout_s", json_integer(o->timeout_s)) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        if (o->network && json_object_set_new(req, "network", json_true()) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        if (o->untrusted && json_object_set_new(req, "untrusted", json_true()) < 0)
                return al_err(err, -ENOMEM, "out of memory");

        *ret_body = json_dumps(req, JSON_COMPACT);
        if (!*ret_body)
                return al_err(err, -ENOMEM, "out of memory");
        return 0;
}

static int write_all(FILE *f, const char *p, size_t n, const char *name, struct al_error *err)
{
        if (n > 0 && fwrite(p, 1, n, f) != n)
                return al_err_errno(err, -errno, "writing to %s", name);
        /* Keep stdout and stderr interleaved as the program wrote them. */
        if (fflush(f) != 0)
                return al_err_errno(err, -errno, "writing to %s", name);
        return 0;
}

/* Write the string value of a JSON field (NUL bytes included) to f. */
static int write_field(json_t *obj, const char *key, FILE *f, const char *name,
                       struct al_error *err)
{
        json_t *v = json_object_get(obj, key);

        if (!json_is_string(v))
                return 0;
        return write_all(f, json_string_value(v), json_string_length(v), name, err);
}

/* A signal as the daemon reports it: a number, "SIGKILL", "KILL" or "9". 0 when none. */
static int signal_number(json_t *v)
{
        const char *s;
        int64_t n;

        if (json_is_integer(v)) {
                n = json_integer_value(v);
                return n > 0 && n < NSIG ? (int)n : 0;
        }
        if (!json_is_string(v))
                return 0;
        s = json_string_value(v);
        if (util_parse_int64(s, 1, NSIG - 1, &n) >= 0)
                return (int)n;
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (int i = 1; i < NSIG; i++) {
                const char *abbrev = sigabbrev_np(i);

                if (abbrev && strcmp(abbrev, s) == 0)
                        return i;
        }
        return 0;
}

static void print_verbose(json_t *res, int sig)
{
        json_t *decision = json_object_get(res, "decision");
        const char *id = json_string_value(json_object_get(res, "execution_id"));
        const char *backend = json_string_value(json_object_get(res, "backend"));
        const char *sandbox = json_string_value(json_object_get(res, "sandbox_id"));
        const char *reason = json_string_value(json_object_get(decision, "reason"));
        json_t *exit_code = json_object_get(res, "exit_code");
        json_t *dur = json_object_get(res, "duration_ms");

        cli_errorf("execution %s: backend %s, %s%s%s%s, sandbox %s, %lld ms", id ? id : "?",
                   backend ? backend : "?",
                   json_is_true(json_object_get(res, "sandboxed")) ? "sandboxed" : "on the host",
                   reason ? " (" : "", reason ? reason : "", reason ? ")" : "",
                   sandbox ? sandbox : "-", (long long)json_integer_value(dur));
        if (sig > 0)
                cli_errorf("killed by signal %d (SIG%s)", sig,
                           sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
        else if (json_is_integer(exit_code))
                cli_errorf("exit code %lld", (long long)json_integer_value(exit_code));
}

int cli_exec_status(json_t *res, int64_t timeout_s, bool verbose, bool quiet)
{
        json_t *exit_code = json_object_get(res, "exit_code");
        int sig = signal_number(json_object_get(res, "signal"));
        int64_t code;

        if (!quiet) {
                if (json_is_true(json_object_get(res, "stdout_truncated")))
                        cli_errorf("stdout was cut short by airlockd's output limit");
                if (json_is_true(json_object_get(res, "stderr_truncated")))
                        cli_errorf("stderr was cut short by airlockd's output limit");
                if (verbose)
                        print_verbose(res, sig);
        }
        if (json_is_true(json_object_get(res, "timed_out"))) {
                json_t *limit = json_object_get(res, "timeout_s");

                if (quiet)
                        ;
                else if (timeout_s > 0)
                        cli_errorf("timed out after %llds", (long long)timeout_s);
                else if (json_is_integer(limit))
                        cli_errorf("timed out after %llds", (long long)json_integer_value(limit));
                else
                        cli_errorf("timed out after %.1fs",
                                   (double)json_integer_value(json_object_get(res, "duration_ms")) /
                                       1000.0);
                return CLI_EXIT_TIMEOUT;
        }
        if (json_is_true(json_object_get(res, "oom_killed"))) {
                if (!quiet)
                        cli_errorf(
                            "killed: out of memory (the sandbox's memory limit was reached)");
                return CLI_EXIT_OOM;
        }
        if (sig > 0)
                return 128 + sig > 255 ? 255 : 128 + sig;
        if (!json_is_integer(exit_code)) {
                if (!quiet)
                        cli_errorf("airlockd reported no exit status");
                return CLI_EXIT_FAIL;
        }
        code = json_integer_value(exit_code);
        if (code < 0 || code > 255) {
                if (!quiet)
                        cli_errorf("airlockd reported exit code %lld, outside 0..255",
                                   (long long)code);
                return CLI_EXIT_FAIL;
        }
        return (int)code;
}

/* --- streaming --- */

struct stream {
        struct buf line; /* the event being assembled, capped at CLI_LINE_MAX */
        json_t *exit;    /* the exit event, once seen */
};

static int stream_event(struct stream *s, const char *p, size_t n, struct al_error *err)
{
        _cleanup_json_ json_t *ev = NULL;
        json_error_t jerr;
        const char *type;

        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        if (n == 0)
                return 0;
        ev = json_loadb(p, n, JSON_ALLOW_NUL, &jerr);
        if (!json_is_object(ev))
                return al_err(err, -EPROTO, "airlockd sent a malformed event: %s",
                              ev ? "not an object" : jerr.text);
        type = json_string_value(json_object_get(ev, "type"));
        if (!type)
                return al_err(err, -EPROTO, "airlockd sent an event without a type");
        if (strcmp(type, "stdout") == 0)
                return write_field(ev, "data", stdout, "stdout", err);
        if (strcmp(type, "stderr") == 0)
                return write_field(ev, "data", stderr, "stderr", err);
        if (strcmp(type, "exit") == 0) {
                json_decref(s->exit);
                s->exit = TAKE_PTR(ev);
                return 0;
        }
        if (strcmp(type, "error") == 0) {
                json_t *e = json_object_get(ev, "error");
                const char *msg = json_string_value(json_object_get(e, "message"));
                const char *code = json_string_value(json_object_get(e, "code"));

                return al_err(err, -EIO, "%s (%s)", msg ? msg : "execution failed",
                              code ? code : "error");
        }
        /* Unknown event types are for newer clients; skip them. */
        return 0;
}

static int stream_feed(void *userdata, const char *p, size_t n, struct al_error *err)
{
        struct stream *s = userdata;

        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t take = nl ? (size_t)(nl - p) : n;
                int r;

                if (buf_append(&s->line, p, take) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                if (buf_truncated(&s->line))
                        return al_err(err, -AL_E_TOO_LARGE, "an event from airlockd exceeds %u MiB",
                                      (unsigned)(CLI_LINE_MAX >> 20));
                if (!nl)
                        break;
                r = stream_event(s, s->line.data ? s->line.data : "", s->line.len, err);
                if (r < 0)
                        return r;
                buf_reset(&s->line);
                p += take + 1;
                n -= take + 1;
        }
        return 0;
}

static int parse_options(int argc, char **argv, struct exec_opts *o, struct cli_ctx *ctx,
                         char ***ret_env, size_t *ret_n_env)
{
        enum {
                OPT_COMMAND = 0x100,
                OPT_SESSION,
                OPT_NETWORK,
                OPT_UNTRUSTED,
                OPT_JSON,
                OPT_NO_STREAM,
                OPT_NO_STDIN,
        };
        static const struct option opts[] = {
            {"code", required_argument, NULL, 'c'},
            {"command", required_argument, NULL, OPT_COMMAND},
            {"runtime", required_argument, NULL, 'r'},
            {"agent", required_argument, NULL, 'a'},
            {"session", required_argument, NULL, OPT_SESSION},
            {"timeout", required_argument, NULL, 't'},
            {"env", required_argument, NULL, 'e'},
            {"network", no_argument, NULL, OPT_NETWORK},
            {"untrusted", no_argument, NULL, OPT_UNTRUSTED},
            {"json", no_argument, NULL, OPT_JSON},
            {"no-stream", no_argument, NULL, OPT_NO_STREAM},
            {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
            {"verbose", no_argument, NULL, 'v'},
            {"socket", required_argument, NULL, 's'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        char **env;
        size_t n_env = 0;
        int c, what;

        /* At most one --env per argument, so argc bounds the list. */
        env = calloc((size_t)argc + 1, sizeof(*env));
        if (!env) {
                cli_errorf("out of memory");
                return -ENOMEM;
        }
        *ret_env = env;
        /* '+': the first non-option starts the program's argv, so its own options stay its. */
        while ((c = getopt_long(argc, argv, "+c:r:a:t:e:vs:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        o->code = optarg;
                        break;
                case OPT_COMMAND:
                        o->command = optarg;
                        break;
                case 'r':
                        o->runtime = optarg;
                        break;
                case 'a':
                        o->agent = optarg;
                        break;
                case OPT_SESSION:
                        o->session = optarg;
                        break;
                case 't':
                        if (util_parse_int64(optarg, 1, INT32_MAX, &o->timeout_s) < 0) {
                                cli_errorf("--timeout: '%s' is not a whole number of seconds "
                                           "(1 or more)",
                                           optarg);
                                return -EINVAL;
                        }
                        break;
                case 'e':
                        env[n_env++] = optarg;
                        break;
                case OPT_NETWORK:
                        o->network = true;
                        break;
                case OPT_UNTRUSTED:
                        o->untrusted = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case OPT_NO_STREAM:
                        o->no_stream = true;
                        break;
                case OPT_NO_STDIN:
                        o->no_stdin = true;
                        break;
                case 'v':
                        o->verbose = true;
                        break;
                case 's':
                        ctx->socket_path = optarg;
                        break;
                case 'h':
                        cli_exec_usage(stdout);
                        return 1;
                default:
                        fputs("See 'airlock exec --help'.\n", stderr);
                        return -EINVAL;
                }
        }
        *ret_n_env = n_env;
        if (optind < argc)
                o->argv = argv + optind;
        what = !!o->code + !!o->command + !!o->argv;
        if (what == 0) {
                cli_errorf("exec: nothing to run; give -c CODE, --command CMD or -- PROGRAM "
                           "[ARGS...]");
                return -EINVAL;
        }
        if (what > 1) {
                cli_errorf("exec: give only one of -c CODE, --command CMD and -- PROGRAM "
                           "[ARGS...]");
                return -EINVAL;
        }
        if (!*ctx->socket_path) {
                cli_errorf("the socket path is empty");
                return -EINVAL;
        }
        if (!o->agent && getenv("AIRLOCK_AGENT") && *getenv("AIRLOCK_AGENT"))
                o->agent = getenv("AIRLOCK_AGENT");
        if (!o->session && getenv("AIRLOCK_SESSION") && *getenv("AIRLOCK_SESSION"))
                o->session = getenv("AIRLOCK_SESSION");
        if (o->json)
                o->no_stream = true;
        return 0;
}

int cli_exec_run(struct cli_ctx *ctx, int argc, char **argv)
{
        _cleanup_free_ char **env = NULL;
        _cleanup_free_ char *body = NULL;
        _cleanup_json_ json_t *result = NULL;
        struct stream s = {0};
        struct cli_request req = {0};
        struct cli_reply reply = {0};
        struct exec_opts o = {0};
        struct al_error err = {0};
        struct buf in;
        size_t n_env = 0;
        int r, status = CLI_EXIT_FAIL;

        buf_init(&in, CLI_STDIN_MAX);
        buf_init(&s.line, CLI_LINE_MAX);
        r = parse_options(argc, argv, &o, ctx, &env, &n_env);
        if (r != 0)
                return r > 0 ? 0 : CLI_EXIT_FAIL;
        if (!o.no_stdin && (r = cli_read_stdin(&in, &err)) < 0)
                goto fail;
        r = build_request(&o, env, n_env, &in, &body, &err);
        buf_free(&in);
        if (r < 0)
                goto fail;

        req.method = "POST";
        req.path = "/v1/exec";
        req.body = body;
        req.body_len = strlen(body);
        req.accept = o.no_stream ? "application/json" : "application/x-ndjson";
        req.on_body = o.no_stream ? NULL : stream_feed;
        req.userdata = &s;
        r = cli_http(ctx, &req, &reply, &err);
        if (r < 0)
                goto fail;
        if (reply.status < 200 || reply.status >= 300) {
                status = cli_report_api_error(&reply);
                goto out;
        }
        if (reply.streamed) {
                /* A last event may lack its newline. */
                if (s.line.len > 0 && (r = stream_event(&s, s.line.data, s.line.len, &err)) < 0)
                        goto fail;
                if (!s.exit) {
                        r = al_err(&err, -EPROTO, "the stream ended without an exit status");
                        goto fail;
                }
                status = cli_exec_status(s.exit, o.timeout_s, o.verbose, false);
                goto out;
        }
        /* The buffered result: asked for with --no-stream, or a daemon that does not stream. */
        result = cli_reply_json(&reply, &err);
        if (!result)
                goto fail;
        if (!json_is_object(result)) {
                r = al_err(&err, -EPROTO, "airlockd sent a result that is not a JSON object");
                goto fail;
        }
        if (o.json) {
                if ((r = write_all(stdout, reply.body.data, reply.body.len, "stdout", &err)) < 0)
                        goto fail;
                if (reply.body.data[reply.body.len - 1] != '\n' &&
                    (r = write_all(stdout, "\n", 1, "stdout", &err)) < 0)
                        goto fail;
                status = cli_exec_status(result, o.timeout_s, o.verbose, true);
                goto out;
        }
        if ((r = write_field(result, "stdout", stdout, "stdout", &err)) < 0 ||
            (r = write_field(result, "stderr", stderr, "stderr", &err)) < 0)
                goto fail;
        status = cli_exec_status(result, o.timeout_s, o.verbose, false);
        goto out;
fail:
        cli_errorf("%s", err.msg);
        status = CLI_EXIT_FAIL;
out:
        buf_free(&in);
        buf_free(&s.line);
        json_decref(s.exit);
        cli_reply_free(&reply);
        return status;
}
