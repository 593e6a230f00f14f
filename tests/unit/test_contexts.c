/* Contexts' pure logic: the checks on what a context driver says (CTX_RESULT, CTX_DONE), the
 * language names, and the frame types' names. The driver runs the code: everything it says is
 * bounded and shaped here before it reaches a client. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/agent_proto.h"
#include "airlock/contexts.h"

static json_t *result(const char *text)
{
        return context_result_parse((const uint8_t *)text, strlen(text));
}

static json_t *done(const char *text)
{
        return context_done_parse((const uint8_t *)text, strlen(text));
}

START_TEST(test_result_ok)
{
        json_t *o = result("{\"kind\":\"display\",\"data\":{\"text/plain\":\"df\","
                           "\"text/html\":\"<table/>\",\"image/png\":\"iVBO\"},\"extra\":1}");

        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), "display");
        ck_assert_int_eq(json_object_size(json_object_get(o, "data")), 3);
        ck_assert_ptr_null(json_object_get(o, "extra"));
        json_decref(o);
}
END_TEST

START_TEST(test_result_refused)
{
        static const char *const bad[] = {
            "",
            "[]",
            "{\"kind\":\"result\"}",
            "{\"kind\":\"other\",\"data\":{\"text/plain\":\"1\"}}",
            "{\"kind\":\"result\",\"data\":{}}",
            "{\"kind\":\"result\",\"data\":{\"text/plain\":1}}",
            "{\"kind\":\"result\",\"data\":{\"plain\":\"no slash\"}}",
            "{\"kind\":1,\"data\":{\"text/plain\":\"1\"}}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(result(bad[i]) == NULL, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_result_mime_entries_filtered)
{
        json_t *o = result("{\"kind\":\"result\",\"data\":{\"text/plain\":\"1\",\"x\":\"y\","
                           "\"a/b\":[1]}}");

        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(json_object_size(json_object_get(o, "data")), 1);
        json_decref(o);
}
END_TEST

START_TEST(test_done_shapes)
{
        json_t *o = done("{\"execution_count\":3,\"status\":\"ok\"}");

        ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "ok");
        ck_assert_int_eq(json_integer_value(json_object_get(o, "execution_count")), 3);
        ck_assert_ptr_null(json_object_get(o, "error"));
        json_decref(o);
        /* Anything but "ok" is an error; a count that is not positive is dropped. */
        o = done("{\"execution_count\":-5,\"status\":\"fine\",\"error\":{\"name\":7}}");
        ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "error");
        ck_assert_ptr_null(json_object_get(o, "execution_count"));
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "name")),
                         "");
        json_decref(o);
        ck_assert_ptr_null(done("[1]"));
        ck_assert_ptr_null(done("not json"));
}
END_TEST

START_TEST(test_done_bounds_the_traceback)
{
        size_t n = 200000;
        char *big = malloc(n + 100);
        json_t *o, *e;

        strcpy(big, "{\"status\":\"error\",\"error\":{\"name\":\"E\",\"traceback\":\"");
        memset(big + strlen(big), 'x', n);
        strcpy(big + strlen("{\"status\":\"error\",\"error\":{\"name\":\"E\",\"traceback\":\"") + n,
               "\"}}");
        o = done(big);
        e = json_object_get(o, "error");
        ck_assert_uint_eq(json_string_length(json_object_get(e, "traceback")), 65536);
        ck_assert_str_eq(json_string_value(json_object_get(e, "value")), "");
        json_decref(o);
        free(big);
}
END_TEST

START_TEST(test_languages_and_frame_names)
{
        ck_assert_int_eq(context_language_parse("python"), CONTEXT_PYTHON);
        ck_assert_int_eq(context_language_parse("node"), CONTEXT_NODE);
        ck_assert_int_eq(context_language_parse("bash"), CONTEXT_BASH);
        ck_assert_int_eq(context_language_parse("Python"), -1);
        ck_assert_int_eq(context_language_parse(NULL), -1);
        ck_assert_str_eq(context_language_name(CONTEXT_NODE), "node");
        ck_assert_str_eq(agent_frame_type_name(AGENT_CTX_RUN), "CTX_RUN");
        ck_assert_str_eq(agent_frame_type_name(AGENT_CTX_RESULT), "CTX_RESULT");
        ck_assert_str_eq(agent_frame_type_name(AGENT_CTX_DONE), "CTX_DONE");
        ck_assert_ptr_null(agent_frame_type_name(0x41));
        ck_assert_ptr_null(agent_frame_type_name(0xC2));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("contexts");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_result_ok);
        tcase_add_test(tc, test_result_refused);
        tcase_add_test(tc, test_result_mime_entries_filtered);
        tcase_add_test(tc, test_done_shapes);
        tcase_add_test(tc, test_done_bounds_the_traceback);
        tcase_add_test(tc, test_languages_and_frame_names);
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
        return failed ? 1 : 0;
}
