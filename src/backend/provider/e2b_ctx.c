/* Contexts of an E2B sandbox, kept by the provider's code interpreter (port 49999): POST
 * /contexts makes one, POST /execute runs a cell and streams its output as lines of JSON. The
 * cell's timeout is airlock's: when it passes, the stream is closed (the remote interrupts
 * the cell when its client goes away) and the result says timed_out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/provider/e2b_http.h"
#include "backend/provider/e2b_proto.h"
#include "backend/provider/provider_private.h"

#define RESULTS_MAX 64 /* results kept per cell; more are dropped */

int e2b_ctx_create(struct backend *b, const char *handle, const char *language, char *ret_id,
                   struct al_error *err)
{
        _cleanup_free_ char *body = e2b_json_text(e2b_context_body(language));
        struct e2b_target t;
        struct e2b_answer a;
        int r;

        if (!body)
                return al_err(err, -ENOMEM, "out of memory");
        r = e2b_backend_target(b, handle, E2B_CODE_PORT, &t, err);
        if (r < 0)
                return r;
        e2b_answer_init(&a);
        r = e2b_rpc_call(e2b_backend_client(b), &t, "contexts", body, &a, err);
        if (r < 0)
                r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(b));
        else if (a.status != 200 && a.status != 201)
                r = al_err(err, -AL_E_PROVIDER,
                           "provider '%s' could not make a %s context (HTTP %ld): %s",
                           e2b_backend_name(b), language, a.status, a.message);
        else if (e2b_context_parse(a.body.data, a.body.len, ret_id, err) < 0)
                r = al_err_wrap(err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(b));
        e2b_answer_free(&a);
        return r;
}

struct cell {
        const struct exec_sink *sink;
        struct exec_result *res;
        struct buf line;
        json_t *results, *done;
        int64_t deadline_ms;
        bool ended;
        struct al_error err;
};

static int on_event(struct cell *c, struct e2b_code_event *ev)
{
        switch (ev->kind) {
        case E2B_CODE_STDOUT:
        case E2B_CODE_STDERR: {
                enum exec_stream s = ev->kind == E2B_CODE_STDOUT ? EXEC_STDOUT : EXEC_STDERR;

                buf_append(s == EXEC_STDOUT ? &c->res->out : &c->res->err, ev->text, ev->text_len);
                if (c->sink && c->sink->output &&
                    c->sink->output(c->sink->ctx, s, ev->text, ev->text_len) < 0)
                        c->res->aborted = true;
                break;
        }
        case E2B_CODE_RESULT:
                if (json_array_size(c->results) >= RESULTS_MAX)
                        break;
                if (c->sink && c->sink->result)
                        c->sink->result(c->sink->ctx, ev->result);
                json_array_append(c->results, ev->result);
                break;
        case E2B_CODE_ERROR:
                json_object_set_new(c->done, "status", json_string("error"));
                json_object_set(c->done, "error", ev->error);
                break;
        case E2B_CODE_COUNT:
                json_object_set_new(c->done, "execution_count",
                                    json_integer((json_int_t)ev->execution_count));
                break;
        case E2B_CODE_END:
                c->ended = true;
                break;
        case E2B_CODE_OTHER:
                break;
        }
        return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
        struct cell *c = arg;
        size_t start = 0;

        if (buf_append(&c->line, p, n) < 0 || buf_truncated(&c->line))
                return al_err(&c->err, -EPROTO, "an /execute line larger than %u bytes",
                              E2B_LINE_MAX);
        for (size_t i = 0; i < c->line.len; i++) {
                struct e2b_code_event ev;

                if (c->line.data[i] != '\n')
                        continue;
                if (i > start) {
                        if (e2b_code_line(c->line.data + start, i - start, &ev, &c->err) < 0)
                                return -EPROTO;
                        on_event(c, &ev);
                        e2b_code_event_clear(&ev);
                }
                start = i + 1;
        }
        memmove(c->line.data, c->line.data + start, c->line.len - start);
        c->line.len -= start;
        return 0;
}

static int on_tick(void *arg, int64_t now, bool fd_ready)
{
        struct cell *c = arg;

        if (c->deadline_ms > 0 && now >= c->deadline_ms) {
                c->res->timed_out = true;
                return -ETIMEDOUT;
        }
        if (fd_ready || c->res->aborted) {
                c->res->aborted = true;
                return -ECANCELED;
        }
        return 0;
}

int e2b_ctx_run(struct backend *b, const char *handle, const char *id, const char *code,
                const struct exec_spec *x, const struct exec_sink *sink, struct exec_result *res,
                json_t **ret_results, json_t **ret_done, struct al_error *err)
{
        _cleanup_free_ char *body = e2b_json_text(e2b_execute_body(code, id));
        struct cell c = {.sink = sink,
                         .res = res,
                         .results = json_array(),
                         .done = json_pack("{s:s}", "status", "ok")};
        struct e2b_stream_hooks h = {.on_data = on_data, .tick = on_tick, .ctx = &c};
        struct e2b_target t;
        struct e2b_answer a;
        int64_t t0 = util_now_ms();
        int r;

        *ret_results = *ret_done = NULL;
        if (!body || !c.results || !c.done) {
                json_decref(c.results);
                json_decref(c.done);
                return al_err(err, -ENOMEM, "out of memory");
        }
        r = e2b_backend_target(b, handle, E2B_CODE_PORT, &t, err);
        if (r < 0) {
                json_decref(c.results);
                json_decref(c.done);
                return r;
        }
        buf_init(&c.line, E2B_LINE_MAX);
        c.deadline_ms = x->timeout_ms > 0 ? t0 + x->timeout_ms : 0;
        h.watch_fds[0] = sink ? sink->watch_fd : -1;
        h.watch_fds[1] = sink ? sink->cancel_fd : -1;
        e2b_answer_init(&a);
        r = e2b_post_stream(e2b_backend_client(b), &t, "execute", "application/json", body,
                            strlen(body), &h, &a, &c.err);
        res->duration_ms = util_now_ms() - t0;
        buf_free(&c.line);
        if (r == -ETIMEDOUT && res->timed_out) {
                r = 0; /* a result: the cell passed its time */
                json_decref(TAKE_PTR(c.done));
        } else if (r == -ECANCELED && res->aborted) {
                r = 0;
                json_decref(TAKE_PTR(c.done));
        } else if (r < 0) {
                r = al_err_wrap(&c.err, -AL_E_PROVIDER, "provider '%s'", e2b_backend_name(b));
                *err = c.err;
        } else if (a.status == 404) {
                r = al_err(err, -ENOENT, "provider '%s': context %s is gone: %s",
                           e2b_backend_name(b), id, a.message);
        } else if (a.status != 200) {
                r = al_err(err, -AL_E_PROVIDER,
                           "provider '%s' could not run the cell (HTTP %ld): %s",
                           e2b_backend_name(b), a.status, a.message);
        }
        e2b_answer_free(&a);
        if (r < 0) {
                json_decref(c.results);
                json_decref(c.done);
                return r;
        }
        res->transport = "e2b";
        *ret_results = c.results;
        *ret_done = c.done;
        return 0;
}
