/* The hand-parsed bits of HTTP used by hijacked streams: header end, status line, header
 * values, chunked bodies and percent-encoding. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http.h"

static const char upgraded[] = "HTTP/1.1 101 UPGRADED\r\n"
                               "Content-Type: application/vnd.docker.raw-stream\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: tcp\r\n"
                               "\r\n"
                               "\x01\x00\x00\x00\x00\x00\x00\x05hello";

START_TEST(test_header_end)
{
        size_t full = strlen("HTTP/1.1 101 UPGRADED\r\n"
                             "Content-Type: application/vnd.docker.raw-stream\r\n"
                             "Connection: Upgrade\r\n"
                             "Upgrade: tcp\r\n"
                             "\r\n");
        size_t total = full + 13;

        ck_assert_uint_eq(engine_http_header_end(upgraded, total), full);
        /* Every prefix short of the blank line is "not yet". */
        for (size_t n = 0; n < full; n++)
                ck_assert_uint_eq(engine_http_header_end(upgraded, n), 0);
        for (size_t n = full; n <= total; n++)
                ck_assert_uint_eq(engine_http_header_end(upgraded, n), full);
        ck_assert_uint_eq(engine_http_header_end("\r\n\r", 3), 0);
        ck_assert_uint_eq(engine_http_header_end("\r\n\r\n", 4), 4);
}
END_TEST

START_TEST(test_status)
{
        int code = 0;

        ck_assert_int_eq(engine_http_status(upgraded, strlen(upgraded), &code), 0);
        ck_assert_int_eq(code, 101);
        ck_assert_int_eq(engine_http_status("HTTP/1.0 200 OK\r\n", 17, &code), 0);
        ck_assert_int_eq(code, 200);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 404\r\n", 14, &code), 0);
        ck_assert_int_eq(code, 404);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 409", 12, &code), 0);
        ck_assert_int_eq(code, 409);
        code = -1;
        ck_assert_int_eq(engine_http_status("HTTP/2.0 200 OK\r\n", 17, &code), -EPROTO);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 2x0 OK\r\n", 17, &code), -EPROTO);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 2000 OK\r\n", 18, &code), -EPROTO);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 099 X\r\n", 16, &code), -EPROTO);
        ck_assert_int_eq(engine_http_status("HTTP/1.1 20", 11, &code), -EPROTO);
        ck_assert_int_eq(engine_http_status("garbage here\r\n", 14, &code), -EPROTO);
        ck_assert_int_eq(code, -1);
}
END_TEST

START_TEST(test_header_get)
{
        static const char h[] = "HTTP/1.1 404 Not Found\r\n"
                                "content-type: application/json\r\n"
                                "Content-Length-Extra: 7\r\n"
                                "Content-Length:   46  \r\n"
                                "X-Empty:\r\n"
                                "\r\n";
        char v[32];

        ck_assert_int_eq(engine_http_header_get(h, strlen(h), "Content-Length", v, sizeof(v)), 2);
        ck_assert_str_eq(v, "46");
        ck_assert_int_eq(engine_http_header_get(h, strlen(h), "CONTENT-TYPE", v, sizeof(v)), 16);
        ck_assert_str_eq(v, "application/json");
        ck_assert_int_eq(engine_http_header_get(h, strlen(h), "X-Empty", v, sizeof(v)), 0);
        ck_assert_str_eq(v, "");
        ck_assert_int_eq(engine_http_header_get(h, strlen(h), "Transfer-Encoding", v, sizeof(v)),
                         -ENOENT);
        ck_assert_int_eq(engine_http_header_get(h, strlen(h), "content-type", v, 8), -E2BIG);
        /* The status line is not a header even if it looks like "name:". */
        ck_assert_int_eq(engine_http_header_get("HTTP:1\r\n\r\n", 10, "HTTP", v, sizeof(v)),
                         -ENOENT);
}
END_TEST

START_TEST(test_dechunk)
{
        static const char body[] = "5\r\nhello\r\n"
                                   "1;ext=1\r\n \r\n"
                                   "a\r\n0123456789\r\n"
                                   "0\r\n\r\n";
        const char *want = "hello 0123456789";
        size_t len = strlen(body), out_len = 0;
        char out[sizeof(body)];
        int r;

        ck_assert_int_eq(engine_http_dechunk(body, len, out, &out_len), 1);
        ck_assert_uint_eq(out_len, strlen(want));
        ck_assert(memcmp(out, want, out_len) == 0);
        /* Every prefix before the last chunk's size line is incomplete, never an error, and
         * what it decodes is a prefix of the whole. */
        for (size_t n = 0; n < len; n++) {
                r = engine_http_dechunk(body, n, out, &out_len);
                ck_assert_msg(r == 0 || (r == 1 && n >= len - 2), "prefix %zu gave %d", n, r);
                ck_assert_uint_le(out_len, strlen(want));
                ck_assert(memcmp(out, want, out_len) == 0);
        }
        ck_assert_int_eq(engine_http_dechunk("zz\r\n", 4, out, &out_len), -EPROTO);
        ck_assert_int_eq(engine_http_dechunk("2\r\nabXY", 7, out, &out_len), -EPROTO);
        ck_assert_int_eq(engine_http_dechunk("2x\r\nab\r\n", 8, out, &out_len), -EPROTO);
        ck_assert_int_eq(engine_http_dechunk("ffffffffffffffffff\r\n", 20, out, &out_len), -EPROTO);
}
END_TEST

START_TEST(test_escape)
{
        char *s = engine_http_escape("{\"label\":[\"airlock.test=a b/c\"]}~_-.");

        ck_assert_str_eq(s, "%7B%22label%22%3A%5B%22airlock.test%3Da%20b%2Fc%22%5D%7D~_-.");
        free(s);
        s = engine_http_escape("");
        ck_assert_str_eq(s, "");
        free(s);
        s = engine_http_escape("\xff");
        ck_assert_str_eq(s, "%FF");
        free(s);
}
END_TEST

static Suite *http_suite(void)
{
        Suite *s = suite_create("engine_http");
        TCase *tc = tcase_create("http");

        tcase_add_test(tc, test_header_end);
        tcase_add_test(tc, test_status);
        tcase_add_test(tc, test_header_get);
        tcase_add_test(tc, test_dechunk);
        tcase_add_test(tc, test_escape);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(http_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
