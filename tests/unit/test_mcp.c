/* MCP's JSON-RPC layer (src/api/mcp.c) without a daemon: version negotiation, what is and is
 * not answered, errors in JSON-RPC's shape, the tool list and its schemas; and the [mcp]
 * listen setting (loopback only). Tools that run things are tested against the real daemon
 * (tests/integration/test_mcp.py). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/policy.h"
#include "api/mcp.h"

/* No tool here reaches the core: an unknown tool is refused before. */
static const struct mcp_caller caller = {.agent = "default", .watch_fd = -1};

static json_t *handle(const char *text)
{
        json_error_t e;
        json_t *msg = json_loads(text, 0, &e), *res;

        ck_assert_msg(msg, "bad test input: %s", e.text);
        res = mcp_handle(&caller, msg);
        json_decref(msg);
        return res;
}

static int error_code(json_t *res)
{
        json_t *c = json_object_get(json_object_get(res, "error"), "code");

        return json_is_integer(c) ? (int)json_integer_value(c) : 0;
}

START_TEST(test_initialize_negotiates)
{
        json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                           "{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{}}}");
        json_t *res = json_object_get(r, "result");

        ck_assert_str_eq(json_string_value(json_object_get(res, "protocolVersion")), "2025-03-26");
        ck_assert_ptr_nonnull(json_object_get(json_object_get(res, "capabilities"), "tools"));
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")),
            "airlock");
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
        json_decref(r);
        /* One not spoken here: the newest is offered. */
        r = handle("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"initialize\",\"params\":"
                   "{\"protocolVersion\":\"1999-01-01\"}}");
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
            mcp_protocol_versions[0]);
        ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
        json_decref(r);
        r = handle("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{}}");
        ck_assert_int_eq(error_code(r), MCP_INVALID_PARAMS);
        json_decref(r);
        ck_assert(mcp_protocol_supported("2025-06-18"));
        ck_assert(!mcp_protocol_supported("2025-06-19"));
        ck_assert(!mcp_protocol_supported(NULL));
}
END_TEST

START_TEST(test_notifications_and_responses_get_no_answer)
{
        ck_assert_ptr_null(
            handle("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
        ck_assert_ptr_null(handle("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}"));
        ck_assert_ptr_null(handle("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}"));
        ck_assert_ptr_null(handle("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1}}"));
}
END_TEST

START_TEST(test_malformed_messages)
{
        static const struct {
                const char *msg;
                int code;
        } cases[] = {
            {"{\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":2,\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MCP_INVALID_REQUEST},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}",
             MCP_INVALID_PARAMS},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}", MCP_METHOD_NOT_FOUND},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", MCP_INVALID_PARAMS},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":3}}",
             MCP_INVALID_PARAMS},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"run_code\",\"arguments\":\"x\"}}",
             MCP_INVALID_PARAMS},
            {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"no\\u0001such\"}}",
             MCP_INVALID_PARAMS},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *r = handle(cases[i].msg);

                ck_assert_msg(r, "no answer to %s", cases[i].msg);
                ck_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
                ck_assert_msg(error_code(r) == cases[i].code, "%s: %d", cases[i].msg,
                              error_code(r));
                ck_assert_ptr_nonnull(json_object_get(r, "id"));
                json_decref(r);
        }
}
END_TEST

START_TEST(test_unknown_tool_is_quoted)
{
        json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                           "{\"name\":\"rm\\n-rf\"}}");
        const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

        ck_assert_int_eq(error_code(r), MCP_INVALID_PARAMS);
        ck_assert_ptr_nonnull(strstr(m, "Unknown tool"));
        ck_assert_ptr_null(strchr(m, '\n'));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 9);
        json_decref(r);
}
END_TEST

START_TEST(test_tools_list)
{
        json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        json_t *tools = json_object_get(json_object_get(r, "result"), "tools"), *t;
        size_t i;
        bool run_code = false;

        ck_assert(json_array_size(tools) >= 20);
        json_array_foreach(tools, i, t)
        {
                json_t *schema = json_object_get(t, "inputSchema");

                ck_assert(json_is_string(json_object_get(t, "name")));
                ck_assert(json_is_string(json_object_get(t, "description")));
                ck_assert_str_eq(json_string_value(json_object_get(schema, "type")), "object");
                ck_assert(json_is_object(json_object_get(schema, "properties")));
                ck_assert(json_is_false(json_object_get(schema, "additionalProperties")));
                if (strcmp(json_string_value(json_object_get(t, "name")), "run_code") == 0) {
                        run_code = true;
                        ck_assert_str_eq(json_string_value(json_array_get(
                                             json_object_get(schema, "required"), 0)),
                                         "code");
                }
        }
        ck_assert(run_code);
        json_decref(r);
        r = handle("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
        ck_assert(json_is_object(json_object_get(r, "result")));
        ck_assert_int_eq(json_object_size(json_object_get(r, "result")), 0);
        json_decref(r);
}
END_TEST

/* Arguments are checked before anything reaches the core: a tool error naming the problem. */
static void expect_tool_error(const char *name, const char *args, const char *want)
{
        char text[512];
        json_t *r, *res;
        const char *msg;

        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"%s\",\"arguments\":%s}}",
                 name, args);
        r = handle(text);
        res = json_object_get(r, "result");
        msg = json_string_value(
            json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
        ck_assert_msg(json_is_true(json_object_get(res, "isError")), "%s: not an error", name);
        ck_assert_msg(msg && strstr(msg, want), "%s: '%s' lacks '%s'", name, msg ? msg : "", want);
        json_decref(r);
}

START_TEST(test_file_and_context_arguments)
{
        expect_tool_error("read_file", "{\"path\":1}", "'path' must be a string");
        expect_tool_error("read_file", "{}", "'path' is required");
        expect_tool_error("write_file", "{\"path\":\"/tmp/x\",\"content\":\"a\",\"x\":1}",
                          "unknown argument 'x'");
        expect_tool_error("upload_file", "{\"path\":\"/tmp/x\",\"data\":\"!!!!\"}", "not base64");
        expect_tool_error("upload_file", "{\"path\":\"/tmp/x\",\"data\":\"\",\"mode\":\"999\"}",
                          "'mode'");
        expect_tool_error("list_files", "{\"sandbox_id\":\"0123456789ab\",\"session\":\"s\"}",
                          "either 'sandbox_id'");
        expect_tool_error("list_files", "{\"session\":\"no good\"}", "names of");
        expect_tool_error("create_context", "{\"language\":\"cobol\"}", "'language'");
        expect_tool_error("run_in_context", "{\"context_id\":\"x\"}", "'code' is required");
        expect_tool_error("run_in_context", "{\"context_id\":\"x\",\"code\":\"1\",\"timeout_s\":0}",
                          "'timeout_s'");
        expect_tool_error("delete_context", "{}", "'context_id' is required");
}
END_TEST

START_TEST(test_listen_setting)
{
        struct policy *p = NULL;
        struct policy_problems pp = {0};
        struct al_error err = {0};

        ck_assert_int_eq(policy_parse("[mcp]\nlisten = 127.0.0.1:8765\n", "t.conf", &p, &pp, &err),
                         0);
        ck_assert_str_eq(p->mcp_listen, "127.0.0.1:8765");
        policy_unref(p);
        p = policy_new_default();
        ck_assert_str_eq(p->mcp_listen, "");
        policy_unref(p);
        p = NULL;
        ck_assert_int_eq(policy_parse("[mcp]\nlisten = 10.0.0.1:8765\n", "t.conf", &p, &pp, &err),
                         -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_msg(strstr(err.msg, "t.conf:2:") && strstr(err.msg, "MCP"), "%s", err.msg);
        policy_problems_free(&pp);
}
END_TEST

static Suite *mcp_suite(void)
{
        Suite *s = suite_create("mcp");
        TCase *tc = tcase_create("jsonrpc");

        tcase_add_test(tc, test_initialize_negotiates);
        tcase_add_test(tc, test_notifications_and_responses_get_no_answer);
        tcase_add_test(tc, test_malformed_messages);
        tcase_add_test(tc, test_unknown_tool_is_quoted);
        tcase_add_test(tc, test_tools_list);
        tcase_add_test(tc, test_file_and_context_arguments);
        tcase_add_test(tc, test_listen_setting);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(mcp_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
