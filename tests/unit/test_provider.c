/* Providers: the [provider] settings (kinds, required keys, file:line errors), and the E2B
 * client's protocol module checked against E2B's published specification (contract tests).
 *
 * The schemas below are transcribed from e2b-dev/E2B (Apache-2.0, Copyright E2B; see
 * https://github.com/e2b-dev/E2B/blob/main/LICENSE), commit b8029973a:
 *   spec/openapi.yml             NewSandbox (line 763), SandboxTimeoutRequest (869),
 *                                Sandbox (604), paths /sandboxes, /sandboxes/{sandboxID},
 *                                /sandboxes/{sandboxID}/timeout
 *   spec/envd/process/process.proto  StartRequest, ProcessConfig, SendInputRequest,
 *                                SendSignalRequest, Signal, CloseStdinRequest, ProcessSelector,
 *                                ProcessEvent (in protobuf's JSON mapping: lowerCamelCase,
 *                                bytes as base64, enums by name)
 *   spec/envd/filesystem/filesystem.proto  StatRequest, ListDirRequest, MakeDirRequest,
 *                                RemoveRequest, MoveRequest, EntryInfo, FileType
 *   spec/envd/envd.yaml          /files: FilePath query parameter, requestBodies File
 *                                (multipart/form-data, part "file")
 * Only the fragments the client sends are copied, as JSON Schema subsets; every request the
 * client builds is validated against them. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/base64.h"
#include "airlock/classify.h"
#include "airlock/policy.h"
#include "airlock/util.h"
#include "backend/provider/e2b_proto.h"

/* ---- a JSON Schema subset: type, required, properties, additionalProperties, items, enum,
 * minimum, oneOf-by-key (x-oneof: at most one of these keys) ---- */
static bool validate(json_t *schema, json_t *v, char *why, size_t n);

static bool type_ok(const char *type, json_t *v)
{
        if (strcmp(type, "object") == 0)
                return json_is_object(v);
        if (strcmp(type, "array") == 0)
                return json_is_array(v);
        if (strcmp(type, "string") == 0)
                return json_is_string(v);
        if (strcmp(type, "integer") == 0)
                return json_is_integer(v);
        if (strcmp(type, "boolean") == 0)
                return json_is_boolean(v);
        return false;
}

static bool validate(json_t *schema, json_t *v, char *why, size_t n)
{
        const char *type = json_string_value(json_object_get(schema, "type"));
        json_t *props = json_object_get(schema, "properties");
        json_t *addl = json_object_get(schema, "additionalProperties");
        json_t *req = json_object_get(schema, "required");
        json_t *en = json_object_get(schema, "enum");
        json_t *min = json_object_get(schema, "minimum");
        json_t *oneof = json_object_get(schema, "x-oneof");
        const char *key;
        json_t *x;
        size_t i;

        if (type && !type_ok(type, v)) {
                snprintf(why, n, "not of type %s", type);
                return false;
        }
        if (en) {
                bool hit = false;

                json_array_foreach(en, i, x) hit |= json_equal(x, v);
                if (!hit) {
                        snprintf(why, n, "not one of the enum");
                        return false;
                }
        }
        if (min && json_integer_value(v) < json_integer_value(min)) {
                snprintf(why, n, "below the minimum");
                return false;
        }
        json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x)))
        {
                snprintf(why, n, "required '%s' missing", json_string_value(x));
                return false;
        }
        if (oneof) {
                int count = 0;

                json_array_foreach(oneof, i, x) count +=
                    json_object_get(v, json_string_value(x)) != NULL;
                if (count > 1) {
                        snprintf(why, n, "more than one member of a oneof");
                        return false;
                }
        }
        if (json_is_object(v) && (props || addl)) {
                json_object_foreach(v, key, x)
                {
                        json_t *s = json_object_get(props, key);
                        char sub[200];

                        if (!s && json_is_object(addl))
                                s = addl;
                        if (!s) {
                                snprintf(why, n, "'%s' is not in the schema", key);
                                return false;
                        }
                        if (!validate(s, x, sub, sizeof(sub))) {
                                snprintf(why, n, "%s: %s", key, sub);
                                return false;
                        }
                }
        }
        if (json_is_array(v) && json_object_get(schema, "items")) {
                json_array_foreach(v, i, x) if (!validate(json_object_get(schema, "items"), x, why,
                                                          n)) return false;
        }
        return true;
}

static json_t *schema(const char *text)
{
        json_error_t e;
        json_t *s = json_loads(text, 0, &e);

        ck_assert_msg(s != NULL, "schema: %s", e.text);
        return s;
}

static void assert_valid(const char *schema_text, json_t *body)
{
        json_t *s = schema(schema_text);
        char why[256] = "";
        char *dump = json_dumps(body, JSON_COMPACT);

        ck_assert_ptr_nonnull(body);
        ck_assert_msg(validate(s, body, why, sizeof(why)), "%s: %s", dump, why);
        free(dump);
        json_decref(s);
        json_decref(body);
}

/* spec/openapi.yml NewSandbox (SandboxMetadata: additionalProperties string). */
static const char NEW_SANDBOX[] =
    "{\"type\":\"object\",\"required\":[\"templateID\"],\"properties\":{"
    "\"templateID\":{\"type\":\"string\"},"
    "\"timeout\":{\"type\":\"integer\",\"minimum\":0},"
    "\"autoPause\":{\"type\":\"boolean\"},\"autoPauseMemory\":{\"type\":\"boolean\"},"
    "\"autoResume\":{\"type\":\"object\"},\"secure\":{\"type\":\"boolean\"},"
    "\"allow_internet_access\":{\"type\":\"boolean\"},\"network\":{\"type\":\"object\"},"
    "\"metadata\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"envVars\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"mcp\":{\"type\":\"object\"},\"iam\":{\"type\":\"object\"},"
    "\"volumeMounts\":{\"type\":\"array\"}}}";
/* spec/openapi.yml SandboxTimeoutRequest. */
static const char TIMEOUT[] = "{\"type\":\"object\",\"required\":[\"timeout\"],\"properties\":{"
                              "\"timeout\":{\"type\":\"integer\",\"minimum\":0}}}";
/* spec/openapi.yml SandboxPauseRequest and ConnectSandbox. */
static const char PAUSE[] =
    "{\"type\":\"object\",\"properties\":{\"memory\":{\"type\":\"boolean\"}}}";
static const char CONNECT[] = "{\"type\":\"object\",\"required\":[\"timeout\"],\"properties\":{"
                              "\"timeout\":{\"type\":\"integer\",\"minimum\":0}}}";
/* process.proto ProcessSelector: oneof {pid uint32, tag string}. */
#define SELECTOR                                                                                   \
        "{\"type\":\"object\",\"x-oneof\":[\"pid\",\"tag\"],\"properties\":{"                      \
        "\"pid\":{\"type\":\"integer\",\"minimum\":0},\"tag\":{\"type\":\"string\"}}}"
/* process.proto StartRequest {ProcessConfig process; optional PTY pty; optional string tag;
 * optional bool stdin}, ProcessConfig {cmd, repeated args, map envs, optional cwd}. */
static const char START[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"process\":{\"type\":\"object\",\"required\":[\"cmd\"],\"properties\":{"
    "\"cmd\":{\"type\":\"string\"},\"args\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"envs\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"cwd\":{\"type\":\"string\"}}},"
    "\"pty\":{\"type\":\"object\"},\"tag\":{\"type\":\"string\"},\"stdin\":{\"type\":\"boolean\"}}"
    "}";
/* process.proto SendInputRequest {ProcessSelector process; ProcessInput input}, ProcessInput
 * oneof {bytes stdin, bytes pty}. */
static const char SEND_INPUT[] =
    "{\"type\":\"object\",\"properties\":{\"process\":" SELECTOR ","
    "\"input\":{\"type\":\"object\",\"x-oneof\":[\"stdin\",\"pty\"],\"properties\":{"
    "\"stdin\":{\"type\":\"string\"},\"pty\":{\"type\":\"string\"}}}}}";
/* process.proto SendSignalRequest {ProcessSelector process; Signal signal}. */
static const char SEND_SIGNAL[] =
    "{\"type\":\"object\",\"properties\":{\"process\":" SELECTOR ","
    "\"signal\":{\"type\":\"string\",\"enum\":[\"SIGNAL_UNSPECIFIED\",\"SIGNAL_SIGTERM\","
    "\"SIGNAL_SIGKILL\"]}}}";
/* process.proto CloseStdinRequest {ProcessSelector process}. */
static const char CLOSE_STDIN[] = "{\"type\":\"object\",\"properties\":{\"process\":" SELECTOR "}}";

START_TEST(test_contract_control_plane)
{
        struct e2b_new_sandbox ns = {.template = "base",
                                     .timeout_s = 300,
                                     .instance_id = "0123abcd",
                                     .agent = "analyst",
                                     .session = "s1"};
        json_t *b = e2b_new_sandbox_body(&ns);
        char *q;

        ck_assert_str_eq(json_string_value(json_object_get(b, "templateID")), "base");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(b, "metadata"), E2B_META_INSTANCE)),
            "0123abcd");
        ck_assert(json_is_false(json_object_get(b, "allow_internet_access")));
        assert_valid(NEW_SANDBOX, b);
        ns.session = NULL;
        assert_valid(NEW_SANDBOX, e2b_new_sandbox_body(&ns));
        assert_valid(TIMEOUT, e2b_timeout_body(60));
        assert_valid(PAUSE, e2b_pause_body());
        assert_valid(CONNECT, e2b_connect_body(60));
        /* GET /sandboxes?metadata=<URL-encoded "key=value">, itself URL-encoded. */
        q = e2b_list_query("ab12");
        ck_assert_str_eq(q, "metadata=airlock_instance%3Dab12");
        free(q);
}
END_TEST

START_TEST(test_contract_envd)
{
        char *argv[] = {"python3", "-c", "print(1)", NULL};
        char *env[] = {"A=1", "B=x=y", "bad", NULL};
        json_t *b = e2b_start_body(argv, env, "/home/user", true);
        json_t *proc = json_object_get(b, "process");
        uint8_t *bytes = NULL;
        json_t *in;

        ck_assert_str_eq(json_string_value(json_object_get(proc, "cmd")), "python3");
        ck_assert_uint_eq(json_array_size(json_object_get(proc, "args")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(proc, "envs"), "B")),
                         "x=y");
        ck_assert_ptr_null(json_object_get(json_object_get(proc, "envs"), "bad"));
        assert_valid(START, b);
        assert_valid(START, e2b_start_body(argv, NULL, NULL, false));
        in = e2b_input_body(42, "hi\0x", 4);
        ck_assert_int_eq(
            base64_decode(json_string_value(json_object_get(json_object_get(in, "input"), "stdin")),
                          8, &bytes),
            4);
        ck_assert_mem_eq(bytes, "hi\0x", 4);
        free(bytes);
        assert_valid(SEND_INPUT, in);
        assert_valid(SEND_SIGNAL, e2b_signal_body(42, true));
        assert_valid(SEND_SIGNAL, e2b_signal_body(42, false));
        assert_valid(CLOSE_STDIN, e2b_close_stdin_body(42));
}
END_TEST

/* filesystem.proto StatRequest, MakeDirRequest, RemoveRequest {string path}. */
static const char FS_PATH[] = "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{"
                              "\"path\":{\"type\":\"string\"}}}";
/* filesystem.proto ListDirRequest {string path; uint32 depth}. */
static const char FS_LIST[] = "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{"
                              "\"path\":{\"type\":\"string\"},"
                              "\"depth\":{\"type\":\"integer\",\"minimum\":0}}}";
/* filesystem.proto MoveRequest {string source; string destination}. */
static const char FS_MOVE[] =
    "{\"type\":\"object\",\"required\":[\"source\",\"destination\"],\"properties\":{"
    "\"source\":{\"type\":\"string\"},\"destination\":{\"type\":\"string\"}}}";

START_TEST(test_contract_filesystem)
{
        char path[64], *q;
        struct buf body;
        json_t *o = NULL;
        struct al_error err = {0};
        const char *ans;

        /* The helper's ROOT and REL become envd's absolute path. */
        ck_assert_int_eq(e2b_fs_path("/workspace", "a/b.txt", path, sizeof(path)), 0);
        ck_assert_str_eq(path, "/workspace/a/b.txt");
        ck_assert_int_eq(e2b_fs_path("/tmp", ".", path, sizeof(path)), 0);
        ck_assert_str_eq(path, "/tmp");
        ck_assert_int_eq(e2b_fs_path("/tmp", "x", path, 6), -ENAMETOOLONG);
        assert_valid(FS_PATH, e2b_fs_path_body("/tmp/x"));
        assert_valid(FS_LIST, e2b_fs_list_body("/tmp"));
        assert_valid(FS_MOVE, e2b_fs_move_body("/tmp/a", "/tmp/b"));
        /* envd.yaml FilePath: a query parameter "path", URL-encoded. */
        q = e2b_files_query("/tmp/a b&c=d/ü");
        ck_assert_str_eq(q, "path=%2Ftmp%2Fa%20b%26c%3Dd%2F%C3%BC");
        free(q);
        /* requestBodies File, multipart/form-data: one part named "file", its bytes as they are;
         * a quote in the name cannot end the header. */
        buf_init(&body, 4096);
        ck_assert_int_eq(e2b_multipart_file(&body, "BND", "/tmp/q\"x", "a\0b", 3), 0);
        ck_assert_uint_eq(body.len,
                          strlen("--BND\r\nContent-Disposition: form-data; name=\"file\"; "
                                 "filename=\"q%22x\"\r\nContent-Type: "
                                 "application/octet-stream\r\n\r\n") +
                              3 + strlen("\r\n--BND--\r\n"));
        ck_assert(memmem(body.data, body.len, "name=\"file\"; filename=\"q%22x\"", 28) != NULL);
        ck_assert(memmem(body.data, body.len, "\r\n\r\na\0b\r\n--BND--\r\n", 18) != NULL);
        buf_free(&body);

        /* StatResponse {entry: EntryInfo} as the helper's stat: int64 size as a string,
         * FileType by name, Timestamp as RFC 3339. */
        ans = "{\"entry\":{\"name\":\"b.txt\",\"type\":\"FILE_TYPE_FILE\",\"path\":\"/tmp/b.txt\","
              "\"size\":\"13\",\"mode\":420,\"permissions\":\"-rw-r--r--\",\"owner\":\"user\","
              "\"group\":\"user\",\"modifiedTime\":\"2024-01-02T03:04:05.123456Z\"}}";
        ck_assert_int_eq(e2b_fs_stat_answer(ans, strlen(ans), "b.txt", &o, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "file");
        ck_assert_int_eq(json_integer_value(json_object_get(o, "size")), 13);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "mode")), 0644);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "mtime")), 1704164645);
        json_decref(o);
        ans = "{\"entry\":{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":7,"
              "\"modifiedTime\":\"2024-01-02T05:04:05+02:00\",\"symlinkTarget\":\"/etc\"}}";
        ck_assert_int_eq(e2b_fs_stat_answer(ans, strlen(ans), "l", &o, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "symlink");
        ck_assert_str_eq(json_string_value(json_object_get(o, "target")), "/etc");
        ck_assert_int_eq(json_integer_value(json_object_get(o, "mtime")), 1704164645);
        json_decref(o);
        ck_assert_int_eq(e2b_fs_stat_answer("[1]", 3, "x", &o, &err), -EPROTO);
        ck_assert_int_eq(e2b_fs_stat_answer("", 0, "x", &o, &err), -EPROTO);

        /* ListDirResponse: sorted by name, capped, names that are not one component dropped; an
         * empty directory is an empty message. */
        ans = "{\"entries\":[{\"name\":\"z\",\"type\":\"FILE_TYPE_DIRECTORY\"},"
              "{\"name\":\"a\",\"type\":\"FILE_TYPE_FILE\",\"size\":\"1\"},"
              "{\"name\":\"../up\",\"type\":\"FILE_TYPE_FILE\"},{\"name\":\"..\"},"
              "{\"name\":\"m\",\"type\":\"FILE_TYPE_FILE\"}]}";
        ck_assert_int_eq(e2b_fs_list_answer(ans, strlen(ans), 2, &o, &err), 0);
        ck_assert_uint_eq(json_array_size(json_object_get(o, "entries")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(o, "entries"), 0), "name")),
                         "a");
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(o, "entries"), 1), "name")),
                         "m");
        ck_assert(json_is_true(json_object_get(o, "truncated")));
        json_decref(o);
        ck_assert_int_eq(e2b_fs_list_answer("{}", 2, 10, &o, &err), 0);
        ck_assert_uint_eq(json_array_size(json_object_get(o, "entries")), 0);
        ck_assert(json_is_false(json_object_get(o, "truncated")));
        json_decref(o);
        ck_assert_int_eq(e2b_fs_list_answer("{\"entries\":3}", 13, 10, &o, &err), -EPROTO);

        /* Errors: Connect's codes first, REST's statuses, the provider's own failures (0). */
        ans = "{\"code\":\"not_found\",\"message\":\"no such file\"}";
        ck_assert_int_eq(e2b_fs_errno(404, ans, strlen(ans)), ENOENT);
        ans = "{\"code\":\"already_exists\",\"message\":\"x\"}";
        ck_assert_int_eq(e2b_fs_errno(409, ans, strlen(ans)), EEXIST);
        ans = "{\"code\":\"internal\",\"message\":\"x\"}";
        ck_assert_int_eq(e2b_fs_errno(500, ans, strlen(ans)), 0);
        ans = "{\"code\":404,\"message\":\"file not found\"}";
        ck_assert_int_eq(e2b_fs_errno(404, ans, strlen(ans)), ENOENT);
        ck_assert_int_eq(e2b_fs_errno(507, NULL, 0), ENOSPC);
        ck_assert_int_eq(e2b_fs_errno(502, "<html>", 6), 0);
        q = e2b_fs_error_doc(ENOTEMPTY, "Directory \"not\" empty");
        o = json_loads(q, 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "errno")), ENOTEMPTY);
        ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
                         "Directory \"not\" empty");
        json_decref(o);
        free(q);
}
END_TEST

struct seen {
        char out[64], err[64];
        uint32_t pid;
        int exit_code, signal, ends, stream_ends;
        char stream_error[256];
};

static int collect(void *arg, const struct e2b_event *ev)
{
        struct seen *s = arg;

        if (ev->kind == E2B_EV_START)
                s->pid = ev->pid;
        if (ev->kind == E2B_EV_STDOUT)
                strncat(s->out, (const char *)ev->data, ev->len);
        if (ev->kind == E2B_EV_STDERR)
                strncat(s->err, (const char *)ev->data, ev->len);
        if (ev->kind == E2B_EV_END) {
                s->ends++;
                s->exit_code = ev->exit_code;
                s->signal = e2b_status_signal(ev->status);
        }
        if (ev->kind == E2B_EV_STREAM_END) {
                s->stream_ends++;
                snprintf(s->stream_error, sizeof(s->stream_error), "%s", ev->error);
        }
        return 0;
}

static void put(struct buf *b, uint8_t flags, const char *json)
{
        ck_assert_int_eq(e2b_envelope_put(b, flags, json, strlen(json)), 0);
}

/* A server stream as envd sends it (StartResponse messages, then the end of the stream), fed
 * in every possible split. */
START_TEST(test_stream)
{
        struct buf b;

        buf_init(&b, 1 << 20);
        put(&b, 0, "{\"event\":{\"start\":{\"pid\":7}}}");
        put(&b, 0, "{\"event\":{\"keepalive\":{}}}");
        put(&b, 0, "{\"event\":{\"data\":{\"stdout\":\"aGVsbG8K\"}}}");
        put(&b, 0, "{\"event\":{\"data\":{\"stderr\":\"b29wcw==\"}}}");
        put(&b, 0,
            "{\"event\":{\"end\":{\"exitCode\":3,\"exited\":true,\"status\":\"exit "
            "status 3\"}}}");
        put(&b, E2B_ENVELOPE_END, "{}");
        for (size_t cut = 0; cut <= b.len; cut += 3) {
                struct e2b_stream st;
                struct seen s = {0};
                struct al_error err = {0};

                e2b_stream_init(&st);
                ck_assert_int_eq(e2b_stream_feed(&st, b.data, cut, collect, &s, &err), 0);
                ck_assert_int_eq(e2b_stream_feed(&st, b.data + cut, b.len - cut, collect, &s, &err),
                                 0);
                ck_assert_uint_eq(s.pid, 7);
                ck_assert_str_eq(s.out, "hello\n");
                ck_assert_str_eq(s.err, "oops");
                ck_assert_int_eq(s.ends, 1);
                ck_assert_int_eq(s.exit_code, 3);
                ck_assert_int_eq(s.stream_ends, 1);
                ck_assert_str_eq(s.stream_error, "");
                e2b_stream_free(&st);
        }
        buf_free(&b);
}
END_TEST

/* Garbage from the remote: refused with -EPROTO, never a crash or a silent success. */
START_TEST(test_stream_garbage)
{
        static const char *bad[] = {
            "not json",
            "{\"event\":{\"start\":{\"pid\":-1}}}",
            "{\"event\":{\"data\":{\"stdout\":\"!!!\"}}}",
            "{\"event\":{\"end\":{\"exitCode\":\"x\"}}}",
            "{\"event\":{\"what\":{}}}",
            "[]",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct buf b;
                struct e2b_stream st;
                struct seen s = {0};
                struct al_error err = {0};

                buf_init(&b, 4096);
                put(&b, 0, bad[i]);
                e2b_stream_init(&st);
                ck_assert_int_eq(e2b_stream_feed(&st, b.data, b.len, collect, &s, &err), -EPROTO);
                e2b_stream_free(&st);
                buf_free(&b);
        }
        {
                /* An envelope claiming more than the cap, and unknown flags. */
                struct e2b_stream st;
                struct seen s = {0};
                struct al_error err = {0};
                const uint8_t huge[] = {0, 0x7f, 0xff, 0xff, 0xff};
                const uint8_t flags[] = {0x80, 0, 0, 0, 0};

                e2b_stream_init(&st);
                ck_assert_int_eq(e2b_stream_feed(&st, huge, 5, collect, &s, &err), -EPROTO);
                e2b_stream_free(&st);
                e2b_stream_init(&st);
                ck_assert_int_eq(e2b_stream_feed(&st, flags, 5, collect, &s, &err), -EPROTO);
                e2b_stream_free(&st);
        }
}
END_TEST

START_TEST(test_stream_error_end)
{
        struct buf b;
        struct e2b_stream st;
        struct seen s = {0};
        struct al_error err = {0};

        buf_init(&b, 4096);
        put(&b, 0, "{\"event\":{\"end\":{\"exited\":false,\"status\":\"signal: killed\"}}}");
        put(&b, E2B_ENVELOPE_END,
            "{\"error\":{\"code\":\"not_found\",\"message\":\"process \\u0007gone\"}}");
        e2b_stream_init(&st);
        ck_assert_int_eq(e2b_stream_feed(&st, b.data, b.len, collect, &s, &err), 0);
        ck_assert_int_eq(s.signal, 9);
        ck_assert_str_eq(s.stream_error, "not_found: process ?gone");
        e2b_stream_free(&st);
        buf_free(&b);
}
END_TEST

START_TEST(test_documents)
{
        struct e2b_sandbox sb;
        struct al_error err = {0};
        char msg[128], **ids = NULL;
        const char *doc = "{\"templateID\":\"base\",\"sandboxID\":\"abc123\",\"clientID\":\"x\","
                          "\"envdVersion\":\"0.1\",\"envdAccessToken\":\"tok\",\"domain\":null}";
        const char *list = "[{\"sandboxID\":\"a1\",\"metadata\":{\"airlock_instance\":\"me\"}},"
                           "{\"sandboxID\":\"b2\",\"metadata\":{\"airlock_instance\":\"other\"}},"
                           "{\"sandboxID\":\"../x\",\"metadata\":{\"airlock_instance\":\"me\"}},"
                           "{\"sandboxID\":\"c3\"}]";

        ck_assert_int_eq(e2b_sandbox_parse(doc, strlen(doc), &sb, &err), 0);
        ck_assert_str_eq(sb.id, "abc123");
        ck_assert_str_eq(sb.envd_token, "tok");
        ck_assert_str_eq(sb.domain, "");
        ck_assert_int_eq(e2b_sandbox_parse("{\"sandboxID\":\"a/b\"}", 19, &sb, &err), -EPROTO);
        ck_assert_int_eq(e2b_sandbox_parse("<html>", 6, &sb, &err), -EPROTO);
        ck_assert_int_eq(e2b_list_parse(list, strlen(list), "me", &ids, &err), 0);
        ck_assert_uint_eq(util_strv_len(ids), 1);
        ck_assert_str_eq(ids[0], "a1");
        util_strv_free(ids);
        ck_assert_int_eq(e2b_list_parse("{}", 2, "me", &ids, &err), -EPROTO);
        e2b_error_message(401, "{\"code\":401,\"message\":\"Invalid API key\"}", 40, msg,
                          sizeof(msg));
        ck_assert_str_eq(msg, "Invalid API key");
        e2b_error_message(502, "<html>bad gateway\nmore", 22, msg, sizeof(msg));
        ck_assert_str_eq(msg, "<html>bad gateway");
        e2b_error_message(500, NULL, 0, msg, sizeof(msg));
        ck_assert_str_eq(msg, "HTTP 500 with no message");
        ck_assert(e2b_status_retryable(429) && e2b_status_retryable(503) &&
                  e2b_status_retryable(0));
        ck_assert(!e2b_status_retryable(400) && !e2b_status_retryable(401) &&
                  !e2b_status_retryable(500));
        ck_assert_int_eq(e2b_backoff_ms(1, 0), 200);
        ck_assert_int_eq(e2b_backoff_ms(3, 0), 800);
        ck_assert_int_eq(e2b_backoff_ms(20, 0), 5000);
        ck_assert_int_eq(e2b_backoff_ms(1, 2), 2000);
        ck_assert_int_eq(e2b_backoff_ms(1, 3600), 5000);
        ck_assert(e2b_id_valid("i1a2-b_3") && !e2b_id_valid("") && !e2b_id_valid("a.b") &&
                  !e2b_id_valid("a@b"));
}
END_TEST

/* The code interpreter's /execute lines (e2b-dev/code-interpreter's server; airlock's [e2b]
 * listen answers the same). */
START_TEST(test_code_lines)
{
        struct e2b_code_event ev;
        struct al_error err = {0};
        char *body;
        const char *res = "{\"type\":\"result\",\"text\":\"42\",\"png\":\"iVBO\","
                          "\"json\":{\"a\":1},\"is_main_result\":true}";

        ck_assert_int_eq(e2b_code_line("{\"type\":\"stdout\",\"text\":\"hi\\n\"}",
                                       strlen("{\"type\":\"stdout\",\"text\":\"hi\\n\"}"), &ev,
                                       &err),
                         0);
        ck_assert_int_eq(ev.kind, E2B_CODE_STDOUT);
        ck_assert_uint_eq(ev.text_len, 3);
        e2b_code_event_clear(&ev);
        ck_assert_int_eq(e2b_code_line(res, strlen(res), &ev, &err), 0);
        ck_assert_int_eq(ev.kind, E2B_CODE_RESULT);
        ck_assert_str_eq(json_string_value(json_object_get(ev.result, "kind")), "result");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(ev.result, "data"), "text/plain")),
            "42");
        ck_assert_ptr_nonnull(json_object_get(json_object_get(ev.result, "data"), "image/png"));
        e2b_code_event_clear(&ev);
        body = "{\"type\":\"error\",\"name\":\"ZeroDivisionError\",\"value\":\"x\","
               "\"traceback\":\"t\"}";
        ck_assert_int_eq(e2b_code_line(body, strlen(body), &ev, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(ev.error, "name")), "ZeroDivisionError");
        e2b_code_event_clear(&ev);
        body = "{\"type\":\"number_of_executions\",\"execution_count\":3}";
        ck_assert_int_eq(e2b_code_line(body, strlen(body), &ev, &err), 0);
        ck_assert_int_eq(ev.execution_count, 3);
        e2b_code_event_clear(&ev);
        ck_assert_int_eq(e2b_code_line("{\"type\":\"stdout\",\"text\":5}",
                                       strlen("{\"type\":\"stdout\",\"text\":5}"), &ev, &err),
                         -EPROTO);
        ck_assert_int_eq(e2b_code_line("[1]", strlen("[1]"), &ev, &err), -EPROTO);
        ck_assert_int_eq(
            e2b_code_line("{\"type\":\"new_kind\"}", strlen("{\"type\":\"new_kind\"}"), &ev, &err),
            0);
        ck_assert_int_eq(ev.kind, E2B_CODE_OTHER);
        e2b_code_event_clear(&ev);
        {
                char id[64];
                json_t *b = e2b_context_body("node");

                ck_assert_str_eq(json_string_value(json_object_get(b, "language")), "js");
                json_decref(b);
                ck_assert_int_eq(
                    e2b_context_parse("{\"id\":\"abc-1\"}", strlen("{\"id\":\"abc-1\"}"), id, &err),
                    0);
                ck_assert_str_eq(id, "abc-1");
                ck_assert_int_eq(
                    e2b_context_parse("{\"id\":\"../x\"}", strlen("{\"id\":\"../x\"}"), id, &err),
                    -EPROTO);
        }
}
END_TEST

/* A SELECTIVE "provider:NAME" rule: a sandbox rule that names where the sandbox is. */
START_TEST(test_selective_provider_rule)
{
        struct classify_rules *r = NULL;
        struct al_error err = {0};
        struct exec_request req = {.agent = "a", .command = "make all", .network = -1};
        char provider[POLICY_NAME_LEN_MAX + 1], reason[CLASSIFY_REASON_MAX];
        bool sandbox = false;

        ck_assert_int_eq(classify_rules_parse("provider:remote build word make\n"
                                              "host ro word ls\n",
                                              "t.rules", &r, NULL, &err),
                         0);
        ck_assert_int_eq(
            classify_exec_route(r, &req, "bash", &sandbox, provider, reason, sizeof(reason)), 0);
        ck_assert(sandbox);
        ck_assert_str_eq(provider, "remote");
        ck_assert_ptr_nonnull(strstr(reason, "rule build (t.rules:1)"));
        req.command = "ls";
        classify_exec_route(r, &req, "bash", &sandbox, provider, reason, sizeof(reason));
        ck_assert(!sandbox);
        ck_assert_str_eq(provider, "");
        /* The fixed checks come first: code in python is sandboxed locally. */
        req.command = "make";
        classify_exec_route(r, &req, "python", &sandbox, provider, reason, sizeof(reason));
        ck_assert(sandbox);
        ck_assert_str_eq(provider, "");
        classify_rules_free(r);
        ck_assert_int_eq(classify_rules_parse("provider: x word make\n", "t.rules", &r, NULL, &err),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "t.rules:1: unknown action 'provider:'"));
}
END_TEST

/* ---- settings ---- */

static int parse(const char *text, struct policy **ret, struct al_error *err)
{
        return policy_parse(text, "test.conf", ret, NULL, err);
}

START_TEST(test_settings)
{
        const char *good = "[provider \"remote\"]\n"
                           "kind = e2b\n"
                           "api_url = http://127.0.0.1:9000/\n"
                           "sandbox_url = http://127.0.0.1:9000\n"
                           "api_key_file = /etc/airlock/e2b.key\n"
                           "template = base\n"
                           "template.python = code-interpreter-v1\n"
                           "retries = 2\n"
                           "[agent \"far\"]\n"
                           "backend = provider:remote\n"
                           "[agent \"near\"]\n"
                           "backend = local\n";
        struct policy *p = NULL;
        struct al_error err = {0};
        const struct policy_provider *pr;
        json_t *j;
        char *dump;

        ck_assert_msg(parse(good, &p, &err) == 0, "%s", err.msg);
        pr = policy_provider(p, "remote");
        ck_assert_ptr_nonnull(pr);
        ck_assert_int_eq(pr->retries, 2);
        ck_assert_str_eq(policy_provider_template(pr, "python"), "code-interpreter-v1");
        ck_assert_str_eq(policy_provider_template(pr, "node"), "base");
        ck_assert_ptr_eq(policy_agent_provider(p, "far"), pr);
        ck_assert_ptr_null(policy_agent_provider(p, "near"));
        ck_assert_ptr_null(policy_agent_provider(p, "nobody"));
        j = policy_to_json(p);
        dump = json_dumps(j, JSON_COMPACT);
        ck_assert_ptr_nonnull(strstr(dump, "\"api_key_file\":\"/etc/airlock/e2b.key\""));
        ck_assert_ptr_nonnull(strstr(dump, "\"backend\":\"provider:remote\""));
        free(dump);
        json_decref(j);
        policy_unref(p);
}
END_TEST

/* text fails, and one of its problems reads "test.conf:LINE: ..." containing frag. */
static void expect(const char *text, const char *frag)
{
        struct policy_problems probs = {0};
        struct policy *p = NULL;
        struct al_error err = {0};
        bool found = false;

        ck_assert_int_eq(policy_parse(text, "test.conf", &p, &probs, &err), -EINVAL);
        for (size_t i = 0; i < probs.n; i++) {
                char line[400];

                snprintf(line, sizeof(line), "test.conf:%d: %s", probs.items[i].line,
                         probs.items[i].msg);
                found |= strstr(line, frag) != NULL;
        }
        ck_assert_msg(found, "expected '%s' in: %s", frag, err.msg);
        policy_problems_free(&probs);
}

START_TEST(test_settings_errors)
{
        expect("[sandbox]\nmode = all\n[provider \"aws\"]\nkind = aws-lambda\n",
               "test.conf:4: provider kind 'aws-lambda' is designed (docs/providers.md) but not "
               "implemented");
        expect("[provider \"az\"]\nkind = azure-aca\n", "test.conf:2: provider kind 'azure-aca'");
        expect("[provider \"x\"]\nkind = modal\n", "test.conf:2: unknown provider kind 'modal'");
        expect("[provider \"x\"]\nkind = e2b\napi_key_file = /k\n", "test.conf:1: [provider "
                                                                    "\"x\"] needs api_url");
        expect("[provider \"x\"]\nkind = e2b\napi_url = ftp://x\napi_key_file = /k\n",
               "test.conf:3: api_url 'ftp://x' is not an http");
        expect("[provider \"x\"]\nkind = e2b\napi_url = http://x\napi_key_file = rel\n",
               "test.conf:4: api_key_file 'rel' is not an absolute path");
        expect("[provider \"x\"]\nkind = e2b\napi_url = http://x\napi_key_file = /k\nfoo = 1\n",
               "test.conf:5: unknown key 'foo'");
        expect("[provider \"x\"]\nkind = e2b\napi_url = http://x\napi_key_file = /k\n"
               "template.cobol = t\n",
               "test.conf:5: template.cobol: unknown runtime");
        expect("[agent \"a\"]\nbackend = provider:nowhere\n",
               "test.conf:2: backend 'provider:nowhere': no [provider \"nowhere\"] section");
        expect("[agent \"a\"]\nbackend = docker\n", "test.conf:2: backend 'docker' must be");
        expect("[provider \"x\"]\nkind = e2b\nkind = e2b\n", "test.conf:3: duplicate key 'kind'");
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("provider");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_contract_control_plane);
        tcase_add_test(tc, test_contract_envd);
        tcase_add_test(tc, test_contract_filesystem);
        tcase_add_test(tc, test_stream);
        tcase_add_test(tc, test_stream_garbage);
        tcase_add_test(tc, test_stream_error_end);
        tcase_add_test(tc, test_documents);
        tcase_add_test(tc, test_code_lines);
        tcase_add_test(tc, test_selective_provider_rule);
        tcase_add_test(tc, test_settings);
        tcase_add_test(tc, test_settings_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
