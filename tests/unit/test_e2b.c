/* The pure part of the E2B front end (src/api/e2b_proto.c): Connect's envelopes and errors,
 * E2B's error documents, multipart uploads, templates, and the mapping of commands, process
 * events, file entries and cell results. What runs things is tested against the real daemon
 * with the real SDKs (tests/integration/test_e2b.py). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/util.h"
#include "api/e2b.h"

START_TEST(test_envelopes)
{
        struct buf b;
        const char *msg;
        size_t len;
        struct al_error err = {0};

        buf_init(&b, 1024);
        ck_assert_int_eq(e2b_envelope_append(&b, 0, "{\"a\":1}", 7), 0);
        ck_assert_int_eq(b.len, 12);
        ck_assert_int_eq((unsigned char)b.data[0], 0);
        ck_assert_int_eq((unsigned char)b.data[4], 7);
        ck_assert_int_eq(e2b_envelope_single(b.data, b.len, &msg, &len, &err), 0);
        ck_assert_int_eq(len, 7);
        ck_assert(memcmp(msg, "{\"a\":1}", 7) == 0);
        /* Two messages, a short one, a compressed one, an end-of-stream: refused. */
        ck_assert_int_eq(e2b_envelope_append(&b, 0, "{}", 2), 0);
        ck_assert_int_eq(e2b_envelope_single(b.data, b.len, &msg, &len, &err), -EINVAL);
        ck_assert_int_eq(e2b_envelope_single(b.data, 3, &msg, &len, &err), -EINVAL);
        b.data[0] = 1;
        ck_assert_int_eq(e2b_envelope_single(b.data, 12, &msg, &len, &err), -EINVAL);
        b.data[0] = E2B_ENVELOPE_END;
        ck_assert_int_eq(e2b_envelope_single(b.data, 12, &msg, &len, &err), -EINVAL);
        /* Past the buffer's cap: refused whole. */
        buf_free(&b);
        buf_init(&b, 8);
        ck_assert_int_eq(e2b_envelope_append(&b, 0, "0123", 4), -E2BIG);
        ck_assert_int_eq(b.len, 0);
        buf_free(&b);
}
END_TEST

START_TEST(test_errors)
{
        json_t *o;

        ck_assert_str_eq(e2b_connect_code(-EINVAL), "invalid_argument");
        ck_assert_str_eq(e2b_connect_code(-ENOENT), "not_found");
        ck_assert_str_eq(e2b_connect_code(-EKEYREJECTED), "unauthenticated");
        ck_assert_str_eq(e2b_connect_code(-AL_E_FORBIDDEN), "permission_denied");
        ck_assert_str_eq(e2b_connect_code(-EEXIST), "already_exists");
        ck_assert_str_eq(e2b_connect_code(-AL_E_LIMITED), "resource_exhausted");
        ck_assert_str_eq(e2b_connect_code(-EOPNOTSUPP), "unimplemented");
        ck_assert_str_eq(e2b_connect_code(-EIO), "internal");
        ck_assert_int_eq(e2b_connect_status("invalid_argument"), 400);
        ck_assert_int_eq(e2b_connect_status("not_found"), 404);
        ck_assert_int_eq(e2b_connect_status("unauthenticated"), 401);
        ck_assert_int_eq(e2b_connect_status("unavailable"), 503);
        ck_assert_int_eq(e2b_connect_status("no such code"), 500);
        ck_assert_int_eq(e2b_http_status(-EKEYREJECTED), 401);
        ck_assert_int_eq(e2b_http_status(-ENOENT), 404);
        ck_assert_int_eq(e2b_http_status(-ENOSPC), 507);
        ck_assert_int_eq(e2b_http_status(-AL_E_TOO_LARGE), 413);
        o = e2b_error_doc(404, "sandbox not found");
        ck_assert_int_eq(json_integer_value(json_object_get(o, "code")), 404);
        ck_assert_str_eq(json_string_value(json_object_get(o, "message")), "sandbox not found");
        json_decref(o);
        o = e2b_end_stream("not_found", "gone");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
                         "not_found");
        json_decref(o);
        o = e2b_end_stream(NULL, NULL);
        ck_assert_int_eq(json_object_size(o), 0);
        json_decref(o);
}
END_TEST

START_TEST(test_templates)
{
        ck_assert_str_eq(e2b_template_runtime("base", "bash"), "bash");
        ck_assert_str_eq(e2b_template_runtime("code-interpreter-v1", "bash"), "python");
        ck_assert_str_eq(e2b_template_runtime("node", "bash"), "node");
        ck_assert_ptr_null(e2b_template_runtime("../etc", "bash"));
        ck_assert_ptr_null(e2b_template_runtime("", "bash"));
}
END_TEST

START_TEST(test_time)
{
        char t[32];

        e2b_time_format(1795949408709LL, t);
        ck_assert_str_eq(t, "2026-11-29T10:50:08.709Z");
}
END_TEST

START_TEST(test_multipart)
{
        static const char body[] =
            "--XyZ\r\n"
            "Content-Disposition: form-data; name=\"file\"; "
            "filename=\"/tmp/a.txt\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
            "alpha\r\n--XyZ-not-yet\r\n"
            "--XyZ\r\n"
            "Content-Disposition: form-data; name=\"file\"; filename=\"b\"\r\n"
            "\r\n"
            "\r\n--XyZ--\r\n";
        struct e2b_part parts[4];
        struct al_error err = {0};
        char boundary[71];
        size_t n;

        ck_assert_int_eq(e2b_multipart_boundary("multipart/form-data; boundary=XyZ", boundary), 0);
        ck_assert_str_eq(boundary, "XyZ");
        ck_assert_int_eq(
            e2b_multipart_boundary("multipart/form-data; boundary=\"q z\"; x=1", boundary), 0);
        ck_assert_str_eq(boundary, "q z");
        ck_assert_int_eq(e2b_multipart_boundary("application/json", boundary), -EINVAL);
        ck_assert_int_eq(e2b_multipart_boundary("multipart/form-data", boundary), -EINVAL);
        ck_assert_int_eq(e2b_multipart_parse(body, sizeof(body) - 1, "XyZ", parts, 4, &n, &err), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(parts[0].filename_len, 10);
        ck_assert(memcmp(parts[0].filename, "/tmp/a.txt", 10) == 0);
        /* The data runs to CRLF and a whole boundary: a look-alike line stays data. */
        ck_assert_int_eq(parts[0].len, strlen("alpha\r\n--XyZ-not-yet"));
        ck_assert_int_eq(parts[1].len, 0);
        ck_assert(memcmp(parts[1].filename, "b", 1) == 0);
        /* Too many parts, a cut body, no boundary at all: refused. */
        ck_assert_int_eq(e2b_multipart_parse(body, sizeof(body) - 1, "XyZ", parts, 1, &n, &err),
                         -EINVAL);
        ck_assert_int_eq(e2b_multipart_parse(body, 60, "XyZ", parts, 4, &n, &err), -EINVAL);
        ck_assert_int_eq(e2b_multipart_parse("junk", 4, "XyZ", parts, 4, &n, &err), -EINVAL);
        ck_assert_int_eq(e2b_multipart_parse(body, sizeof(body) - 1, "", parts, 4, &n, &err),
                         -EINVAL);
}
END_TEST

static json_t *parse(const char *text)
{
        json_error_t e;
        json_t *o = json_loads(text, 0, &e);

        ck_assert_msg(o, "bad test input: %s", e.text);
        return o;
}

START_TEST(test_process_command)
{
        struct al_error err = {0};
        char *command, **argv;
        json_t *p;

        /* What the SDK sends: the runtime's shell runs the script. */
        p = parse("{\"cmd\":\"/bin/bash\",\"args\":[\"-l\",\"-c\",\"echo hi\"]}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), 0);
        ck_assert_str_eq(command, "echo hi");
        ck_assert_ptr_null(argv);
        free(command);
        json_decref(p);
        /* With a cwd, quoted. */
        p = parse("{\"cmd\":\"/bin/bash\",\"args\":[\"-c\",\"ls\"],\"cwd\":\"/tmp/it's\"}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), 0);
        ck_assert_str_eq(command, "cd '/tmp/it'\\''s' && ls");
        free(command);
        json_decref(p);
        /* Anything else: the argv as given. */
        p = parse("{\"cmd\":\"python3\",\"args\":[\"-c\",\"print(1)\"]}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), 0);
        ck_assert_ptr_null(command);
        ck_assert_str_eq(argv[0], "python3");
        ck_assert_str_eq(argv[2], "print(1)");
        ck_assert_ptr_null(argv[3]);
        util_strv_free(argv);
        json_decref(p);
        p = parse("{\"cmd\":\"ls\",\"args\":[\"-l\"],\"cwd\":\"/tmp\"}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), 0);
        ck_assert_str_eq(command, "cd '/tmp' && exec 'ls' '-l'");
        free(command);
        json_decref(p);
        /* Bad shapes. */
        p = parse("{\"cmd\":\"\"}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), -EINVAL);
        json_decref(p);
        p = parse("{\"cmd\":\"ls\",\"args\":[1]}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), -EINVAL);
        json_decref(p);
        p = parse("{\"cmd\":\"ls\",\"cwd\":7}");
        ck_assert_int_eq(e2b_process_command(p, &command, &argv, &err), -EINVAL);
        json_decref(p);
}
END_TEST

START_TEST(test_events)
{
        json_t *o = e2b_event_start(1001), *end;
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

        ck_assert_str_eq(s, "{\"event\":{\"start\":{\"pid\":1001}}}");
        free(s);
        json_decref(o);
        o = e2b_event_data(true, "hi\n", 3);
        s = json_dumps(o, JSON_COMPACT);
        ck_assert_str_eq(s, "{\"event\":{\"data\":{\"stderr\":\"aGkK\"}}}");
        free(s);
        json_decref(o);
        o = e2b_event_end(3, 0, false, false, NULL);
        end = json_object_get(json_object_get(o, "event"), "end");
        ck_assert_int_eq(json_integer_value(json_object_get(end, "exitCode")), 3);
        ck_assert(json_is_true(json_object_get(end, "exited")));
        ck_assert_str_eq(json_string_value(json_object_get(end, "status")), "exit status 3");
        json_decref(o);
        o = e2b_event_end(137, 9, false, false, NULL);
        end = json_object_get(json_object_get(o, "event"), "end");
        ck_assert_int_eq(json_integer_value(json_object_get(end, "exitCode")), -1);
        ck_assert(json_is_false(json_object_get(end, "exited")));
        json_decref(o);
        o = e2b_event_end(0, 0, false, true, NULL);
        end = json_object_get(json_object_get(o, "event"), "end");
        ck_assert(json_is_string(json_object_get(end, "error")));
        json_decref(o);
}
END_TEST

START_TEST(test_entries_and_results)
{
        json_t *in = parse("{\"name\":\"a.txt\",\"type\":\"file\",\"size\":6,\"mode\":420,"
                           "\"mtime\":1795949408}");
        json_t *e = e2b_entry_info(in, "/tmp/a.txt"), *r;

        ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "FILE_TYPE_FILE");
        ck_assert_str_eq(json_string_value(json_object_get(e, "permissions")), "-rw-r--r--");
        ck_assert_str_eq(json_string_value(json_object_get(e, "size")), "6");
        ck_assert_str_eq(json_string_value(json_object_get(e, "path")), "/tmp/a.txt");
        ck_assert_str_eq(json_string_value(json_object_get(e, "modifiedTime")),
                         "2026-11-29T10:50:08.000Z");
        json_decref(e);
        json_decref(in);
        in = parse("{\"name\":\"d\",\"type\":\"directory\",\"mode\":493,\"mtime\":0}");
        e = e2b_entry_info(in, "/tmp/d");
        ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "FILE_TYPE_DIRECTORY");
        ck_assert_str_eq(json_string_value(json_object_get(e, "permissions")), "drwxr-xr-x");
        json_decref(e);
        json_decref(in);
        in = parse("{\"kind\":\"display\",\"data\":{\"image/png\":\"iVBOR\",\"text/plain\":"
                   "\"<Figure>\",\"application/x-odd\":\"z\"}}");
        r = e2b_cell_result(in);
        ck_assert_str_eq(json_string_value(json_object_get(r, "type")), "result");
        ck_assert_str_eq(json_string_value(json_object_get(r, "png")), "iVBOR");
        ck_assert_str_eq(json_string_value(json_object_get(r, "text")), "<Figure>");
        ck_assert_str_eq(json_string_value(json_object_get(r, "application/x-odd")), "z");
        ck_assert(json_is_false(json_object_get(r, "is_main_result")));
        json_decref(r);
        json_decref(in);
        in = parse("{\"kind\":\"result\",\"data\":{\"text/plain\":\"21\"}}");
        r = e2b_cell_result(in);
        ck_assert(json_is_true(json_object_get(r, "is_main_result")));
        json_decref(r);
        json_decref(in);
}
END_TEST

static Suite *e2b_suite(void)
{
        Suite *s = suite_create("e2b");
        TCase *tc = tcase_create("proto");

        tcase_add_test(tc, test_envelopes);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_templates);
        tcase_add_test(tc, test_time);
        tcase_add_test(tc, test_multipart);
        tcase_add_test(tc, test_process_command);
        tcase_add_test(tc, test_events);
        tcase_add_test(tc, test_entries_and_results);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(e2b_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
