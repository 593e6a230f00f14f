/* The E2B protocol as data (e2b_proto.h). Protobuf's JSON mapping: fields in lowerCamelCase,
 * bytes in base64, enums by name, zero values omitted. */
#include "backend/provider/e2b_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/base64.h"
#include "airlock/util.h"

/* A provider's text for a message or a log line: control characters become '?'. */
static void printable(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = '?';
}

char *e2b_json_text(json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        return s;
}

json_t *e2b_new_sandbox_body(const struct e2b_new_sandbox *ns)
{
        json_t *meta = json_pack("{s:s, s:s}", E2B_META_INSTANCE, ns->instance_id, "airlock_agent",
                                 ns->agent ? ns->agent : "");

        if (meta && ns->session &&
            json_object_set_new(meta, "airlock_session", json_string(ns->session)) < 0) {
                json_decref(meta);
                return NULL;
        }
        return json_pack("{s:s, s:I, s:b, s:o}", "templateID", ns->template, "timeout",
                         (json_int_t)ns->timeout_s, "allow_internet_access", ns->internet,
                         "metadata", meta);
}

json_t *e2b_pause_body(void)
{
        return json_pack("{s:b}", "memory", 1);
}

json_t *e2b_connect_body(int64_t timeout_s)
{
        return json_pack("{s:I}", "timeout", (json_int_t)timeout_s);
}

json_t *e2b_timeout_body(int64_t timeout_s)
{
        return json_pack("{s:I}", "timeout", (json_int_t)timeout_s);
}

bool e2b_id_valid(const char *id)
{
        size_t n = id ? strlen(id) : 0;

        if (n == 0 || n > E2B_ID_MAX)
                return false;
        for (const char *s = id; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
                        return false;
        return true;
}

static bool copy_str(json_t *o, const char *key, char *dst, size_t size, bool required)
{
        json_t *v = json_object_get(o, key);

        dst[0] = '\0';
        if (!v || json_is_null(v))
                return !required;
        if (!json_is_string(v) || json_string_length(v) >= size)
                return false;
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
        return true;
}

int e2b_sandbox_parse(const char *body, size_t len, struct e2b_sandbox *ret, struct al_error *err)
{
        json_t *o = json_loadb(body ? body : "", len, 0, NULL);
        int r = 0;

        if (!json_is_object(o) || !copy_str(o, "sandboxID", ret->id, sizeof(ret->id), true) ||
            !e2b_id_valid(ret->id) ||
            !copy_str(o, "envdAccessToken", ret->envd_token, sizeof(ret->envd_token), false) ||
            !copy_str(o, "domain", ret->domain, sizeof(ret->domain), false))
                r = al_err(err, -EPROTO, "the provider's sandbox document is malformed");
        json_decref(o);
        return r;
}

int e2b_list_parse(const char *body, size_t len, const char *instance_id, char ***ret,
                   struct al_error *err)
{
        json_t *a = json_loadb(body ? body : "", len, 0, NULL), *it;
        size_t i, n = 0;
        char **ids;

        if (!json_is_array(a)) {
                json_decref(a);
                return al_err(err, -EPROTO, "the provider's sandbox list is not a JSON array");
        }
        ids = calloc(json_array_size(a) + 1, sizeof(*ids));
        if (!ids) {
                json_decref(a);
                return al_err(err, -ENOMEM, "out of memory");
        }
        json_array_foreach(a, i, it)
        {
                const char *id = json_string_value(json_object_get(it, "sandboxID"));
                const char *owner = json_string_value(
                    json_object_get(json_object_get(it, "metadata"), E2B_META_INSTANCE));

                /* The filter is asked of the provider and checked again here. */
                if (!e2b_id_valid(id) || !owner || strcmp(owner, instance_id) != 0)
                        continue;
                if (!(ids[n++] = strdup(id))) {
                        util_strv_free(ids);
                        json_decref(a);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        }
        json_decref(a);
        *ret = ids;
        return 0;
}

/* Percent-encoding of everything but RFC 3986's unreserved characters. */
void e2b_url_encode(struct buf *b, const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~')
                        buf_append(b, s, 1);
                else
                        buf_appendf(b, "%%%02X", c);
        }
}

char *e2b_list_query(const char *instance_id)
{
        struct buf inner, q;
        char *s;

        buf_init(&inner, 1024);
        buf_init(&q, 4096);
        buf_appendf(&inner, E2B_META_INSTANCE "=");
        e2b_url_encode(&inner, instance_id);
        buf_appendf(&q, "metadata=");
        e2b_url_encode(&q, inner.data ? inner.data : "");
        buf_free(&inner);
        s = buf_steal(&q, NULL);
        return s;
}

static json_t *selector(uint32_t pid)
{
        return json_pack("{s:I}", "pid", (json_int_t)pid);
}

json_t *e2b_start_body(char *const *argv, char *const *env, const char *cwd, bool stdin)
{
        json_t *args = json_array(), *envs = json_object(), *proc;

        for (size_t i = 1; argv && argv[0] && argv[i]; i++)
                json_array_append_new(args, json_string(argv[i]));
        for (size_t i = 0; env && env[i]; i++) {
                const char *eq = strchr(env[i], '=');
                char key[256];

                if (!eq || (size_t)(eq - env[i]) >= sizeof(key) || eq == env[i])
                        continue;
                memcpy(key, env[i], (size_t)(eq - env[i]));
                key[eq - env[i]] = '\0';
                json_object_set_new(envs, key, json_string(eq + 1));
        }
        proc = json_pack("{s:s, s:o, s:o}", "cmd", argv && argv[0] ? argv[0] : "", "args", args,
                         "envs", envs);
        if (proc && cwd)
                json_object_set_new(proc, "cwd", json_string(cwd));
        return json_pack("{s:o, s:b}", "process", proc, "stdin", stdin);
}

json_t *e2b_input_body(uint32_t pid, const void *data, size_t len)
{
        char *b64 = base64_encode(data, len);
        json_t *o;

        if (!b64)
                return NULL;
        o = json_pack("{s:o, s:{s:s}}", "process", selector(pid), "input", "stdin", b64);
        free(b64);
        return o;
}

json_t *e2b_close_stdin_body(uint32_t pid)
{
        return json_pack("{s:o}", "process", selector(pid));
}

json_t *e2b_signal_body(uint32_t pid, bool kill)
{
        return json_pack("{s:o, s:s}", "process", selector(pid), "signal",
                         kill ? "SIGNAL_SIGKILL" : "SIGNAL_SIGTERM");
}

int e2b_envelope_put(struct buf *out, uint8_t flags, const char *msg, size_t len)
{
        uint8_t head[E2B_ENVELOPE_HEAD] = {flags, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                                           (uint8_t)(len >> 8), (uint8_t)len};
        int r = buf_append(out, head, sizeof(head));

        return r < 0 ? r : buf_append(out, msg, len);
}

void e2b_event_clear(struct e2b_event *ev)
{
        free(ev->data);
        memset(ev, 0, sizeof(*ev));
}

/* A Connect error {code, message}, as "code: message". */
static void connect_error(json_t *e, char *out, size_t size)
{
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));

        snprintf(out, size, "%s%s%s", code ? code : "unknown", msg ? ": " : "", msg ? msg : "");
        printable(out);
}

static int data_event(json_t *d, struct e2b_event *ev, struct al_error *err)
{
        json_t *v = json_object_get(d, "stdout");
        ssize_t n;

        ev->kind = E2B_EV_STDOUT;
        if (!v) {
                v = json_object_get(d, "stderr");
                ev->kind = E2B_EV_STDERR;
        }
        if (!v)
                v = json_object_get(d, "pty"); /* not asked for; read as stdout */
        if (!json_is_string(v))
                return al_err(err, -EPROTO, "a data event without stdout or stderr");
        n = base64_decode(json_string_value(v), json_string_length(v), &ev->data);
        if (n < 0)
                return al_err(err, -EPROTO, "a data event whose bytes are not base64");
        ev->len = (size_t)n;
        return 0;
}

static int end_event(json_t *e, struct e2b_event *ev, struct al_error *err)
{
        json_t *code = json_object_get(e, "exitCode"), *exited = json_object_get(e, "exited");

        ev->kind = E2B_EV_END;
        if (!code)
                code = json_object_get(e, "exit_code");
        if ((code && !json_is_integer(code)) || (exited && !json_is_boolean(exited)))
                return al_err(err, -EPROTO, "an end event with mistyped fields");
        ev->exit_code = code ? (int)json_integer_value(code) : 0;
        ev->exited = exited ? json_is_true(exited) : false;
        if (!copy_str(e, "status", ev->status, sizeof(ev->status), false))
                snprintf(ev->status, sizeof(ev->status), "?");
        if (!copy_str(e, "error", ev->error, sizeof(ev->error), false))
                snprintf(ev->error, sizeof(ev->error), "(unreadable error)");
        printable(ev->status);
        printable(ev->error);
        return 0;
}

int e2b_event_parse(uint8_t flags, const char *msg, size_t len, struct e2b_event *ev,
                    struct al_error *err)
{
        json_t *o = json_loadb(msg, len, 0, NULL), *e, *v;
        int r = 0;

        memset(ev, 0, sizeof(*ev));
        if (!json_is_object(o)) {
                json_decref(o);
                return al_err(err, -EPROTO, "a stream message that is not a JSON object");
        }
        if (flags & E2B_ENVELOPE_END) {
                ev->kind = E2B_EV_STREAM_END;
                if ((e = json_object_get(o, "error")))
                        connect_error(e, ev->error, sizeof(ev->error));
                json_decref(o);
                return 0;
        }
        e = json_object_get(o, "event");
        if (!json_is_object(e)) {
                r = al_err(err, -EPROTO, "a stream message without an event");
        } else if ((v = json_object_get(e, "start"))) {
                json_t *pid = json_object_get(v, "pid");

                ev->kind = E2B_EV_START;
                if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
                    json_integer_value(pid) > UINT32_MAX)
                        r = al_err(err, -EPROTO, "a start event without a valid pid");
                else
                        ev->pid = (uint32_t)json_integer_value(pid);
        } else if ((v = json_object_get(e, "data"))) {
                r = data_event(v, ev, err);
        } else if ((v = json_object_get(e, "end"))) {
                r = end_event(v, ev, err);
        } else if (json_object_get(e, "keepalive")) {
                ev->kind = E2B_EV_KEEPALIVE;
        } else {
                r = al_err(err, -EPROTO, "an event of an unknown kind");
        }
        json_decref(o);
        if (r < 0)
                e2b_event_clear(ev);
        return r;
}

void e2b_stream_init(struct e2b_stream *s)
{
        buf_init(&s->pending, E2B_MESSAGE_MAX + E2B_ENVELOPE_HEAD);
        s->ended = false;
}

void e2b_stream_free(struct e2b_stream *s)
{
        buf_free(&s->pending);
}

int e2b_stream_feed(struct e2b_stream *s, const void *p, size_t n,
                    int (*cb)(void *ctx, const struct e2b_event *ev), void *ctx,
                    struct al_error *err)
{
        size_t off = 0;
        int r = 0;

        if (buf_append(&s->pending, p, n) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        if (buf_truncated(&s->pending))
                return al_err(err, -EPROTO, "a stream message larger than %u bytes",
                              E2B_MESSAGE_MAX);
        while (s->pending.len - off >= E2B_ENVELOPE_HEAD) {
                const uint8_t *h = (const uint8_t *)s->pending.data + off;
                uint32_t len =
                    (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
                struct e2b_event ev;

                if (len > E2B_MESSAGE_MAX || (h[0] & ~E2B_ENVELOPE_END) != 0) {
                        r = al_err(err, -EPROTO, "a malformed stream envelope (flags %u, %u bytes)",
                                   h[0], len);
                        break;
                }
                if (s->pending.len - off - E2B_ENVELOPE_HEAD < len)
                        break;
                if (s->ended) {
                        r = al_err(err, -EPROTO, "a stream message after the end of the stream");
                        break;
                }
                r = e2b_event_parse(h[0], (const char *)h + E2B_ENVELOPE_HEAD, len, &ev, err);
                off += E2B_ENVELOPE_HEAD + len;
                if (r < 0)
                        break;
                if (ev.kind == E2B_EV_STREAM_END)
                        s->ended = true;
                r = cb(ctx, &ev);
                e2b_event_clear(&ev);
                if (r < 0)
                        break;
        }
        if (off > 0) {
                memmove(s->pending.data, s->pending.data + off, s->pending.len - off);
                s->pending.len -= off;
                s->pending.data[s->pending.len] = '\0';
        }
        return r;
}

json_t *e2b_context_body(const char *language)
{
        /* E2B names Node "js". */
        return json_pack("{s:s}", "language", strcmp(language, "node") == 0 ? "js" : language);
}

json_t *e2b_execute_body(const char *code, const char *context_id)
{
        return json_pack("{s:s, s:s}", "code", code, "context_id", context_id);
}

int e2b_context_parse(const char *body, size_t len, char *id, struct al_error *err)
{
        json_t *o = json_loadb(body ? body : "", len, 0, NULL);
        const char *v = json_string_value(json_object_get(o, "id"));
        int r = 0;

        if (!v || strlen(v) > 63 || !e2b_id_valid(v))
                r = al_err(err, -EPROTO, "the provider's context document is malformed");
        else
                memcpy(id, v, strlen(v) + 1);
        json_decref(o);
        return r;
}

void e2b_code_event_clear(struct e2b_code_event *ev)
{
        json_decref(ev->result);
        json_decref(ev->error);
        json_decref(ev->doc);
        memset(ev, 0, sizeof(*ev));
}

/* The code interpreter's result keys as MIME types (the inverse of its own mapping). */
static const struct {
        const char *key, *mime;
} result_keys[] = {{"text", "text/plain"},        {"html", "text/html"},
                   {"markdown", "text/markdown"}, {"svg", "image/svg+xml"},
                   {"png", "image/png"},          {"jpeg", "image/jpeg"},
                   {"pdf", "application/pdf"},    {"latex", "text/latex"},
                   {"json", "application/json"},  {"javascript", "application/javascript"}};

static json_t *result_of(json_t *doc)
{
        json_t *data = json_object(), *v;
        bool main_result = json_is_true(json_object_get(doc, "is_main_result"));

        for (size_t i = 0; data && i < sizeof(result_keys) / sizeof(result_keys[0]); i++) {
                v = json_object_get(doc, result_keys[i].key);
                /* json is an object in E2B's shape; airlock's results carry strings. */
                if (json_is_string(v))
                        json_object_set(data, result_keys[i].mime, v);
        }
        if (json_object_size(data) == 0) {
                json_decref(data);
                return NULL;
        }
        return json_pack("{s:s, s:o}", "kind", main_result ? "result" : "display", "data", data);
}

static json_t *bounded(json_t *o, const char *key, size_t max)
{
        json_t *v = json_object_get(o, key);
        size_t n = json_is_string(v) ? json_string_length(v) : 0;

        return json_stringn(json_is_string(v) ? json_string_value(v) : "", n < max ? n : max);
}

int e2b_code_line(const char *line, size_t len, struct e2b_code_event *ev, struct al_error *err)
{
        const char *type;
        json_t *v;

        memset(ev, 0, sizeof(*ev));
        ev->doc = json_loadb(line, len, 0, NULL);
        type = json_string_value(json_object_get(ev->doc, "type"));
        if (!json_is_object(ev->doc) || !type) {
                e2b_code_event_clear(ev);
                return al_err(err, -EPROTO, "an /execute line that is not a typed JSON object");
        }
        if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0) {
                v = json_object_get(ev->doc, "text");
                if (!json_is_string(v))
                        goto bad;
                ev->kind = type[3] == 'o' ? E2B_CODE_STDOUT : E2B_CODE_STDERR;
                ev->text = json_string_value(v);
                ev->text_len = json_string_length(v);
        } else if (strcmp(type, "result") == 0) {
                ev->kind = E2B_CODE_RESULT;
                ev->result = result_of(ev->doc);
                if (!ev->result)
                        ev->kind = E2B_CODE_OTHER; /* nothing airlock can carry */
        } else if (strcmp(type, "error") == 0) {
                ev->kind = E2B_CODE_ERROR;
                ev->error = json_pack("{s:o, s:o, s:o}", "name", bounded(ev->doc, "name", 200),
                                      "value", bounded(ev->doc, "value", 4096), "traceback",
                                      bounded(ev->doc, "traceback", 65536));
        } else if (strcmp(type, "number_of_executions") == 0) {
                v = json_object_get(ev->doc, "execution_count");
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                        goto bad;
                ev->kind = E2B_CODE_COUNT;
                ev->execution_count = json_integer_value(v);
        } else if (strcmp(type, "end_of_execution") == 0) {
                ev->kind = E2B_CODE_END;
        } else {
                ev->kind = E2B_CODE_OTHER;
        }
        return 0;
bad:
        /* type is the line's own: the message is made before the line is freed. */
        al_err(err, -EPROTO, "an /execute '%s' line with mistyped fields", type);
        e2b_code_event_clear(ev);
        return -EPROTO;
}

int e2b_status_signal(const char *status)
{
        static const struct {
                const char *name;
                int sig;
        } names[] = {{"killed", 9}, {"terminated", 15}, {"interrupt", 2},
                     {"hangup", 1}, {"aborted", 6},     {"segmentation fault", 11}};

        if (!status || strncmp(status, "signal: ", 8) != 0)
                return 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strncmp(status + 8, names[i].name, strlen(names[i].name)) == 0)
                        return names[i].sig;
        return 0;
}

void e2b_error_message(long status, const char *body, size_t len, char *out, size_t size)
{
        json_t *o = body && len ? json_loadb(body, len, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(o, "message"));
        size_t n;

        if (msg) {
                snprintf(out, size, "%s", msg);
        } else if (body && len) {
                n = strcspn(body, "\r\n");
                n = n < len ? n : len;
                snprintf(out, size, "%.*s", (int)(n < 200 ? n : 200), body);
        } else {
                snprintf(out, size, "HTTP %ld with no message", status);
        }
        json_decref(o);
        printable(out);
}

bool e2b_status_retryable(long status)
{
        return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

int64_t e2b_backoff_ms(int attempt, int64_t retry_after_s)
{
        int64_t ms = 200;

        for (int i = 1; i < attempt && ms < 5000; i++)
                ms *= 2;
        if (ms > 5000)
                ms = 5000;
        /* The provider's Retry-After is honoured up to the same bound. */
        if (retry_after_s > 0)
                ms = retry_after_s * 1000 < 5000 ? retry_after_s * 1000 : 5000;
        return ms;
}
