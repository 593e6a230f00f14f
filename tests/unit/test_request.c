/* POST /v1/exec bodies: a table of good and bad bodies, the policy check and the argv built. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/exec.h"
#include "airlock/util.h"

static int parse(const char *body, struct exec_request *req, struct al_error *err)
{
        return exec_request_parse(body, strlen(body), req, err);
}

struct bad_body {
        const char *body;
        const char *frag;
};

static const struct bad_body bad_bodies[] = {
    /* not JSON, not an object */
    {"", "malformed JSON"},
    {"{", "malformed JSON"},
    {"{\"code\":\"x\",}", "malformed JSON"},
    {"{\"code\":\"x\"} trailing", "malformed JSON"},
    {"[\"code\"]", "the request body must be a JSON object"},
    {"\"code\"", "must be a JSON object"},
    {"42", "must be a JSON object"},
    {"null", "must be a JSON object"},
    {"{\"code\":\"a\",\"code\":\"b\"}", "malformed JSON"}, /* duplicate key */
    /* unknown fields */
    {"{\"code\":\"x\",\"cmd\":\"ls\"}", "unknown field 'cmd'"},
    {"{\"code\":\"x\",\"Code\":\"y\"}", "unknown field 'Code'"},
    {"{\"code\":\"x\",\"\\u0001\":1}", "unknown field '\\x01'"},
    /* code / argv / command */
    {"{}", "one of the fields 'code', 'argv' or 'command' is required"},
    {"{\"agent\":\"a\"}", "one of the fields 'code', 'argv' or 'command' is required"},
    {"{\"code\":null}", "one of the fields"},
    {"{\"code\":\"x\",\"argv\":[\"ls\"]}", "only one of the fields 'code', 'argv' and 'command'"},
    {"{\"code\":\"x\",\"command\":\"ls\"}", "only one of"},
    {"{\"argv\":[\"ls\"],\"command\":\"ls\"}", "only one of"},
    {"{\"code\":\"x\",\"argv\":[\"ls\"],\"command\":\"ls\"}", "only one of"},
    {"{\"code\":\"\"}", "field 'code' must be a non-empty string"},
    {"{\"code\":42}", "field 'code' must be a non-empty string"},
    {"{\"code\":[\"x\"]}", "field 'code' must be a non-empty string"},
    {"{\"code\":\"print(1)\\u0000rm -rf /\"}", "field 'code' must not contain NUL bytes"},
    {"{\"command\":\"\"}", "field 'command' must be a non-empty string"},
    {"{\"command\":true}", "field 'command' must be a non-empty string"},
    {"{\"command\":\"ls\\u0000\"}", "field 'command' must not contain NUL bytes"},
    {"{\"argv\":[]}", "field 'argv' must be a non-empty array of strings"},
    {"{\"argv\":\"ls -la\"}", "field 'argv' must be a non-empty array of strings"},
    {"{\"argv\":[\"ls\",1]}", "field 'argv' must be an array of strings (entry 1"},
    {"{\"argv\":[null]}", "entry 0 is not a string"},
    {"{\"argv\":[\"ls\",\"a\\u0000b\"]}", "field 'argv' entry 1 must not contain NUL bytes"},
    {"{\"argv\":[\"\",\"x\"]}", "field 'argv' must start with a non-empty program"},
    /* names */
    {"{\"code\":\"x\",\"agent\":\"\"}", "field 'agent' must be a name of 1 to 64"},
    {"{\"code\":\"x\",\"agent\":\"../etc\"}", "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"agent\":\".\"}", "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"agent\":\"a b\"}", "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"agent\":7}", "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"agent\":\"a\\u0000b\"}", "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"agent\":"
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     "field 'agent' must be a name"},
    {"{\"code\":\"x\",\"session\":\"conv/42\"}", "field 'session' must be a name"},
    {"{\"code\":\"x\",\"session\":{}}", "field 'session' must be a name"},
    {"{\"code\":\"x\",\"runtime\":\"py thon\"}", "field 'runtime' must be a name"},
    /* stdin */
    {"{\"code\":\"x\",\"stdin\":5}", "field 'stdin' must be a string"},
    {"{\"code\":\"x\",\"stdin\":[\"a\"]}", "field 'stdin' must be a string"},
    /* env */
    {"{\"code\":\"x\",\"env\":[\"A=1\"]}", "field 'env' must be an object of string values"},
    {"{\"code\":\"x\",\"env\":\"A=1\"}", "field 'env' must be an object"},
    {"{\"code\":\"x\",\"env\":{\"1A\":\"v\"}}", "field 'env' has an invalid name '1A'"},
    {"{\"code\":\"x\",\"env\":{\"A-B\":\"v\"}}", "invalid name 'A-B'"},
    {"{\"code\":\"x\",\"env\":{\"A=B\":\"v\"}}", "invalid name 'A=B'"},
    {"{\"code\":\"x\",\"env\":{\"\":\"v\"}}", "invalid name ''"},
    {"{\"code\":\"x\",\"env\":{\"A\":1}}", "field 'env' value of 'A' must be a string"},
    {"{\"code\":\"x\",\"env\":{\"A\":null}}", "field 'env' value of 'A' must be a string"},
    {"{\"code\":\"x\",\"env\":{\"A\":\"a\\u0000b\"}}",
     "field 'env' value of 'A' must not contain NUL bytes"},
    /* timeout_s */
    {"{\"code\":\"x\",\"timeout_s\":0}", "field 'timeout_s' must be an integer between 1 and "
                                         "86400"},
    {"{\"code\":\"x\",\"timeout_s\":-5}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":86401}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":9223372036854775807}", "field 'timeout_s' must be"},
    {"{\"code\":\"x\",\"timeout_s\":1e300}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":1.5}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":10.0}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":\"10\"}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":true}", "field 'timeout_s' must be an integer"},
    {"{\"code\":\"x\",\"timeout_s\":99999999999999999999999}", "malformed JSON"},
    /* booleans */
    {"{\"code\":\"x\",\"network\":\"yes\"}", "field 'network' must be true or false"},
    {"{\"code\":\"x\",\"network\":1}", "field 'network' must be true or false"},
    {"{\"code\":\"x\",\"untrusted\":0}", "field 'untrusted' must be true or false"},
    {"{\"code\":\"x\",\"stream\":\"true\"}", "field 'stream' must be true or false"},
};

/* The body parser every route shares (issue 9, item 7: /v1/sessions/{id}/end as /v1/exec). */
START_TEST(test_json_object)
{
        static const char nul[] = "{\"agent\":\"a\\u0000b\"}";
        struct al_error err = {0};
        json_t *doc = NULL;

        ck_assert_int_eq(
            request_json_object("{\"agent\":\"a\",\"agent\":\"b\"}", 27, false, &doc, &err),
            -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "duplicate object key"));
        ck_assert_ptr_null(doc);
        ck_assert_int_eq(request_json_object("[1]", 3, false, &doc, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "the request body must be a JSON object");
        ck_assert_int_eq(request_json_object(nul, sizeof(nul) - 1, false, &doc, &err), -EINVAL);
        ck_assert_int_eq(request_json_object(nul, sizeof(nul) - 1, true, &doc, &err), 0);
        ck_assert_int_eq(json_string_length(json_object_get(doc, "agent")), 3);
        json_decref(doc);
}
END_TEST

START_TEST(test_bad_bodies)
{
        const struct bad_body *c = &bad_bodies[_i];
        struct exec_request req;
        struct al_error err = {0};
        int r;

        memset(&req, 0xaa, sizeof(req));
        r = parse(c->body, &req, &err);
        ck_assert_msg(r == -EINVAL, "body %s: expected -EINVAL, got %d", c->body, r);
        ck_assert_int_eq(err.code, -EINVAL);
        ck_assert_msg(strstr(err.msg, c->frag) != NULL, "body %s: message '%s' lacks '%s'", c->body,
                      err.msg, c->frag);
        /* nothing is handed out on failure */
        ck_assert_ptr_null(req.agent);
        ck_assert_ptr_null(req.code);
        ck_assert_ptr_null(req.argv);
        ck_assert_ptr_null(req.env);
        exec_request_clear(&req);
}
END_TEST

START_TEST(test_minimal)
{
        struct exec_request req;
        struct al_error err = {0};

        ck_assert_int_eq(parse("{\"code\":\"print(6*7)\"}", &req, &err), 0);
        ck_assert_str_eq(req.agent, "default");
        ck_assert_ptr_null(req.session);
        ck_assert_ptr_null(req.runtime);
        ck_assert_str_eq(req.code, "print(6*7)");
        ck_assert_ptr_null(req.argv);
        ck_assert_ptr_null(req.command);
        ck_assert_ptr_null(req.stdin_data);
        ck_assert_uint_eq(req.stdin_len, 0);
        ck_assert_ptr_null(req.env);
        ck_assert_int_eq(req.timeout_s, 0);
        ck_assert_int_eq(req.network, -1);
        ck_assert(!req.untrusted);
        ck_assert(!req.stream);
        exec_request_clear(&req);
        ck_assert_ptr_null(req.agent);
        exec_request_clear(&req); /* twice is harmless */
        exec_request_clear(NULL);
}
END_TEST

START_TEST(test_full)
{
        const char *body =
            "{\"agent\":\"analyst\", \"session\":\"conv-42\", \"runtime\":\"python\","
            " \"code\":\"print(6*7)\", \"stdin\":\"a\\u0000b\\n\","
            " \"env\":{\"K\":\"V\",\"_x1\":\"\",\"PATH\":\"/bin:/usr/bin\"},"
            " \"timeout_s\":10, \"network\":false, \"untrusted\":true,"
            " \"stream\":true}";
        struct exec_request req;
        struct al_error err = {0};

        ck_assert_msg(parse(body, &req, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(req.agent, "analyst");
        ck_assert_str_eq(req.session, "conv-42");
        ck_assert_str_eq(req.runtime, "python");
        ck_assert_str_eq(req.code, "print(6*7)");
        /* NUL is kept in stdin, with its length */
        ck_assert_uint_eq(req.stdin_len, 4);
        ck_assert_int_eq(memcmp(req.stdin_data, "a\0b\n", 4), 0);
        ck_assert_uint_eq(util_strv_len(req.env), 3);
        ck_assert_str_eq(req.env[0], "K=V");
        ck_assert_str_eq(req.env[1], "_x1=");
        ck_assert_str_eq(req.env[2], "PATH=/bin:/usr/bin");
        ck_assert_int_eq(req.timeout_s, 10);
        ck_assert_int_eq(req.network, 0);
        ck_assert(req.untrusted);
        ck_assert(req.stream);
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"argv\":[\"ls\",\"-la\",\"\"],\"network\":true,"
                               "\"timeout_s\":86400,\"env\":{},\"session\":null}",
                               &req, &err),
                         0);
        ck_assert_uint_eq(util_strv_len(req.argv), 3);
        ck_assert_str_eq(req.argv[0], "ls");
        ck_assert_str_eq(req.argv[2], "");
        ck_assert_int_eq(req.network, 1);
        ck_assert_int_eq(req.timeout_s, 86400);
        ck_assert_ptr_null(req.env);
        ck_assert_ptr_null(req.session);
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"command\":\"ls | wc -l\",\"stdin\":\"\"}", &req, &err), 0);
        ck_assert_str_eq(req.command, "ls | wc -l");
        ck_assert_ptr_nonnull(req.stdin_data);
        ck_assert_uint_eq(req.stdin_len, 0);
        exec_request_clear(&req);
}
END_TEST

/* Bodies built at run time: too many argv or env entries, a body with a raw NUL byte. */
START_TEST(test_counts)
{
        struct exec_request req;
        struct al_error err = {0};
        struct buf b;

        buf_init(&b, 1 << 20);
        buf_appendf(&b, "{\"argv\":[\"echo\"");
        for (int i = 1; i < EXEC_ARGV_MAX; i++)
                buf_appendf(&b, ",\"%d\"", i);
        buf_appendf(&b, "]}");
        ck_assert_int_eq(exec_request_parse(b.data, b.len, &req, &err), 0);
        ck_assert_uint_eq(util_strv_len(req.argv), EXEC_ARGV_MAX);
        exec_request_clear(&req);
        b.len -= 2;
        buf_appendf(&b, ",\"one too many\"]}");
        ck_assert_int_eq(exec_request_parse(b.data, b.len, &req, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "field 'argv' has 4097 entries; at most 4096"));
        buf_free(&b);

        buf_init(&b, 1 << 20);
        buf_appendf(&b, "{\"code\":\"x\",\"env\":{\"E0\":\"v\"");
        for (int i = 1; i < EXEC_ENV_MAX; i++)
                buf_appendf(&b, ",\"E%d\":\"v\"", i);
        buf_appendf(&b, "}}");
        ck_assert_int_eq(exec_request_parse(b.data, b.len, &req, &err), 0);
        ck_assert_uint_eq(util_strv_len(req.env), EXEC_ENV_MAX);
        exec_request_clear(&req);
        b.len -= 2;
        buf_appendf(&b, ",\"EXTRA\":\"v\"}}");
        ck_assert_int_eq(exec_request_parse(b.data, b.len, &req, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "field 'env' has 129 entries; at most 128"));
        buf_free(&b);

        /* a raw NUL byte inside the body is not JSON */
        ck_assert_int_eq(exec_request_parse("{\"code\":\"a\0b\"}", 14, &req, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "malformed JSON"));
        /* the length given is honoured: the tail past it is not read */
        ck_assert_int_eq(exec_request_parse("{\"code\":\"x\"}garbage", 12, &req, &err), 0);
        exec_request_clear(&req);
        ck_assert_int_eq(exec_request_parse(NULL, 0, &req, &err), -EINVAL);
}
END_TEST

START_TEST(test_check)
{
        struct policy *pol = policy_new_default();
        struct exec_request req;
        struct al_error err = {0};

        ck_assert_int_eq(parse("{\"code\":\"x\"}", &req, &err), 0);
        ck_assert_int_eq(exec_request_check(&req, pol, &err), 0); /* default runtime bash */
        exec_request_clear(&req);

        ck_assert_int_eq(
            parse("{\"code\":\"x\",\"runtime\":\"python\",\"timeout_s\":60}", &req, &err), 0);
        ck_assert_int_eq(exec_request_check(&req, pol, &err), 0);
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"code\":\"x\",\"runtime\":\"cobol\"}", &req, &err), 0);
        ck_assert_int_eq(exec_request_check(&req, pol, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "unknown runtime 'cobol' (available: python, python3.11, "
                                  "python3.13, node, node18, node20, node22, bash, sh)");
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"code\":\"x\",\"timeout_s\":999}", &req, &err), 0);
        ck_assert_int_eq(exec_request_check(&req, pol, &err), -EINVAL);
        ck_assert_str_eq(err.msg, "timeout_s 999 exceeds the policy maximum of 60");
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"code\":\"x\",\"timeout_s\":61}", &req, &err), 0);
        ck_assert_int_eq(exec_request_check(&req, pol, &err), -EINVAL);
        exec_request_clear(&req);
        policy_unref(pol);
}
END_TEST

static void assert_argv(char **v, const char *const *want)
{
        size_t n = 0;

        while (want[n])
                n++;
        ck_assert_uint_eq(util_strv_len(v), n);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(v[i], want[i]);
}

START_TEST(test_argv)
{
        struct policy *pol = policy_new_default();
        struct exec_request req;
        struct al_error err = {0};
        char **argv = NULL;

        ck_assert_int_eq(
            parse("{\"code\":\"print(1)\\nprint(2)\",\"runtime\":\"python\"}", &req, &err), 0);
        ck_assert_int_eq(exec_request_argv(&req, policy_runtime(pol, "python"), &argv, &err), 0);
        assert_argv(argv, (const char *const[]){"python3", "-c", "print(1)\nprint(2)", NULL});
        util_strv_free(argv);
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"command\":\"ls | wc -l\"}", &req, &err), 0);
        ck_assert_int_eq(exec_request_argv(&req, policy_runtime(pol, "python"), &argv, &err), 0);
        assert_argv(argv, (const char *const[]){"sh", "-c", "ls | wc -l", NULL});
        util_strv_free(argv);
        ck_assert_int_eq(exec_request_argv(&req, policy_runtime(pol, "bash"), &argv, &err), 0);
        assert_argv(argv, (const char *const[]){"bash", "-c", "ls | wc -l", NULL});
        util_strv_free(argv);
        ck_assert_int_eq(exec_request_argv(&req, NULL, &argv, &err), -EINVAL);
        exec_request_clear(&req);

        ck_assert_int_eq(parse("{\"argv\":[\"ls\",\"-la\",\"a b\"]}", &req, &err), 0);
        ck_assert_int_eq(exec_request_argv(&req, policy_runtime(pol, "node"), &argv, &err), 0);
        assert_argv(argv, (const char *const[]){"ls", "-la", "a b", NULL});
        ck_assert_ptr_ne(argv, req.argv);
        util_strv_free(argv);
        /* argv needs no runtime prefix */
        ck_assert_int_eq(exec_request_argv(&req, NULL, &argv, &err), 0);
        util_strv_free(argv);
        exec_request_clear(&req);
        policy_unref(pol);
}
END_TEST

START_TEST(test_result)
{
        struct exec_result r;

        memset(&r, 0x55, sizeof(r));
        exec_result_init(&r, 16);
        ck_assert_int_eq(r.exit_code, -1);
        ck_assert_int_eq(r.signal, 0);
        ck_assert(!r.timed_out && !r.oom_killed && !r.aborted && !r.sandboxed);
        ck_assert_ptr_null(r.backend);
        ck_assert_uint_eq(r.n_isolation, 0);
        ck_assert_str_eq(r.execution_id, "");
        ck_assert_uint_eq(r.out.max, 16);
        ck_assert_uint_eq(r.err.max, 16);
        ck_assert_int_eq(buf_append(&r.out, "0123456789abcdefXYZ", 19), 0);
        ck_assert_uint_eq(r.out.len, 16);
        ck_assert(buf_truncated(&r.out));
        ck_assert_int_eq(buf_append(&r.err, "e", 1), 0);
        exec_result_clear(&r);
        ck_assert_ptr_null(r.out.data);
        ck_assert_ptr_null(r.err.data);
        exec_result_clear(NULL);
}
END_TEST

static Suite *request_suite(void)
{
        Suite *s = suite_create("request");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_json_object);
        tcase_add_loop_test(tc, test_bad_bodies, 0, (int)ARRAY_SIZE(bad_bodies));
        tcase_add_test(tc, test_minimal);
        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_counts);
        tcase_add_test(tc, test_check);
        tcase_add_test(tc, test_argv);
        tcase_add_test(tc, test_result);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(request_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
