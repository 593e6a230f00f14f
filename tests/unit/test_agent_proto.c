/* The agent protocol's frame codec: frames come out whole however the bytes are cut, and every
 * malformed header (length 0, too long, unknown type) stops the decoder for good. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/agent_proto.h"

#define MAX_FRAMES 16

struct got {
        int n;
        unsigned type[MAX_FRAMES];
        size_t len[MAX_FRAMES];
        uint8_t *payload[MAX_FRAMES];
        int stop_at; /* return -ECANCELED at this frame (1-based); 0: never */
};

static int collect(void *ctx, unsigned type, const uint8_t *payload, size_t len)
{
        struct got *g = ctx;

        ck_assert_int_lt(g->n, MAX_FRAMES);
        ck_assert(len == 0 ? payload == NULL : payload != NULL);
        g->type[g->n] = type;
        g->len[g->n] = len;
        g->payload[g->n] = malloc(len + 1);
        if (len)
                memcpy(g->payload[g->n], payload, len);
        g->n++;
        return g->stop_at == g->n ? -ECANCELED : 0;
}

static void got_free(struct got *g)
{
        for (int i = 0; i < g->n; i++)
                free(g->payload[i]);
        memset(g, 0, sizeof(*g));
}

static size_t put_frame(uint8_t *out, unsigned type, const void *payload, size_t len)
{
        agent_frame_header(out, type, len);
        if (len)
                memcpy(out + AGENT_HEADER_LEN, payload, len);
        return AGENT_HEADER_LEN + len;
}

/* A stream of five frames: empty, JSON, a large byte payload, empty, bytes. */
static uint8_t *sample(size_t *ret_len, size_t big)
{
        uint8_t *s = malloc(5 * AGENT_HEADER_LEN + 64 + big);
        uint8_t *b = malloc(big);
        size_t n = 0;

        for (size_t i = 0; i < big; i++)
                b[i] = (uint8_t)(i * 7 + 1);
        n += put_frame(s + n, AGENT_PING, NULL, 0);
        n += put_frame(s + n, AGENT_EXEC, "{\"argv\":[\"true\"]}", 17);
        n += put_frame(s + n, AGENT_STDOUT, b, big);
        n += put_frame(s + n, AGENT_STDIN_EOF, NULL, 0);
        n += put_frame(s + n, AGENT_STDERR, "err", 3);
        free(b);
        *ret_len = n;
        return s;
}

static void check_sample(const struct got *g, size_t big)
{
        ck_assert_int_eq(g->n, 5);
        ck_assert_uint_eq(g->type[0], AGENT_PING);
        ck_assert_uint_eq(g->len[0], 0);
        ck_assert_uint_eq(g->type[1], AGENT_EXEC);
        ck_assert_uint_eq(g->len[1], 17);
        ck_assert_mem_eq(g->payload[1], "{\"argv\":[\"true\"]}", 17);
        ck_assert_uint_eq(g->type[2], AGENT_STDOUT);
        ck_assert_uint_eq(g->len[2], big);
        for (size_t i = 0; i < big; i++)
                if (g->payload[2][i] != (uint8_t)(i * 7 + 1))
                        ck_abort_msg("payload byte %zu differs", i);
        ck_assert_uint_eq(g->type[3], AGENT_STDIN_EOF);
        ck_assert_uint_eq(g->type[4], AGENT_STDERR);
        ck_assert_mem_eq(g->payload[4], "err", 3);
}

START_TEST(test_header)
{
        uint8_t h[AGENT_HEADER_LEN];

        agent_frame_header(h, AGENT_EXIT, 0x010203);
        ck_assert_uint_eq(h[0], 0);
        ck_assert_uint_eq(h[1], 1);
        ck_assert_uint_eq(h[2], 2);
        ck_assert_uint_eq(h[3], 4); /* length counts the type byte */
        ck_assert_uint_eq(h[4], 0x85);
        ck_assert_str_eq(agent_frame_type_name(AGENT_STDIN_EOF), "STDIN_EOF");
        ck_assert_str_eq(agent_frame_type_name(AGENT_ERROR), "ERROR");
        ck_assert_ptr_null(agent_frame_type_name(0));
        ck_assert_ptr_null(agent_frame_type_name(0x07));
        ck_assert_ptr_null(agent_frame_type_name(0x80));
        ck_assert_ptr_null(agent_frame_type_name(0x87));
}
END_TEST

START_TEST(test_round_trip_whole)
{
        struct agent_decoder d;
        struct got g = {0};
        size_t len;
        uint8_t *s = sample(&len, 100000);

        agent_decoder_init(&d, AGENT_PAYLOAD_MAX);
        ck_assert_int_eq(agent_decoder_feed(&d, s, len, collect, &g), 0);
        ck_assert(!agent_decoder_pending(&d));
        check_sample(&g, 100000);
        got_free(&g);
        agent_decoder_free(&d);
        free(s);
}
END_TEST

/* Cut in two at every byte, and fed one byte at a time. */
START_TEST(test_every_split)
{
        size_t len;
        uint8_t *s = sample(&len, 300);

        for (size_t cut = 0; cut <= len; cut++) {
                struct agent_decoder d;
                struct got g = {0};

                agent_decoder_init(&d, 1000);
                ck_assert_int_eq(agent_decoder_feed(&d, s, cut, collect, &g), 0);
                ck_assert_int_eq(agent_decoder_feed(&d, s + cut, len - cut, collect, &g), 0);
                ck_assert(!agent_decoder_pending(&d));
                check_sample(&g, 300);
                got_free(&g);
                agent_decoder_free(&d);
        }
        {
                struct agent_decoder d;
                struct got g = {0};

                agent_decoder_init(&d, 1000);
                for (size_t i = 0; i < len; i++) {
                        ck_assert_int_eq(agent_decoder_feed(&d, s + i, 1, collect, &g), 0);
                        /* Mid-header (the first frame's) something is held. */
                        if (i < AGENT_HEADER_LEN - 1)
                                ck_assert(agent_decoder_pending(&d));
                }
                ck_assert(!agent_decoder_pending(&d));
                check_sample(&g, 300);
                got_free(&g);
                agent_decoder_free(&d);
        }
        free(s);
}
END_TEST

/* A large frame split: the decoder's buffer holds exactly the payload, then is let go. */
START_TEST(test_large_split)
{
        struct agent_decoder d;
        struct got g = {0};
        size_t len;
        uint8_t *s = sample(&len, AGENT_PAYLOAD_MAX);

        agent_decoder_init(&d, AGENT_PAYLOAD_MAX);
        for (size_t off = 0; off < len; off += 65536) {
                size_t n = len - off < 65536 ? len - off : 65536;

                ck_assert_int_eq(agent_decoder_feed(&d, s + off, n, collect, &g), 0);
                ck_assert_uint_le(d.buf_cap, AGENT_PAYLOAD_MAX);
        }
        check_sample(&g, AGENT_PAYLOAD_MAX);
        ck_assert_uint_le(d.buf_cap, 65536);
        got_free(&g);
        agent_decoder_free(&d);
        free(s);
}
END_TEST

static int feed_bytes(const uint8_t *b, size_t n, size_t max, struct got *g)
{
        struct agent_decoder d;
        int r, again;

        agent_decoder_init(&d, max);
        r = agent_decoder_feed(&d, b, n, collect, g);
        /* Sticky: the next feed fails the same way, even with a good frame. */
        again = agent_decoder_feed(&d, "\0\0\0\1\1", 5, collect, g);
        ck_assert_int_eq(again, r == 0 ? 0 : r);
        agent_decoder_free(&d);
        return r;
}

START_TEST(test_length_zero)
{
        static const uint8_t b[] = {0, 0, 0, 0, AGENT_PING};
        struct got g = {0};

        ck_assert_int_eq(feed_bytes(b, sizeof(b), 100, &g), -EPROTO);
        ck_assert_int_eq(g.n, 0);
}
END_TEST

START_TEST(test_too_long)
{
        uint8_t b[AGENT_HEADER_LEN + 101];
        struct got g = {0};

        memset(b, 'x', sizeof(b));
        agent_frame_header(b, AGENT_STDIN, 101);
        ck_assert_int_eq(feed_bytes(b, sizeof(b), 100, &g), -EPROTO);
        ck_assert_int_eq(g.n, 0);
        agent_frame_header(b, AGENT_STDIN, 100);
        ck_assert_int_eq(feed_bytes(b, AGENT_HEADER_LEN + 100, 100, &g), 0);
        ck_assert_int_eq(g.n, 2);
        got_free(&g);
        /* A header announcing 4 GiB, alone: refused before any allocation. */
        {
                static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, AGENT_STDOUT};
                struct agent_decoder d;

                agent_decoder_init(&d, SIZE_MAX);
                ck_assert_uint_eq(d.max_payload, AGENT_PAYLOAD_MAX);
                ck_assert_int_eq(agent_decoder_feed(&d, huge, sizeof(huge), collect, &g), -EPROTO);
                ck_assert_ptr_null(d.buf);
                agent_decoder_free(&d);
        }
        /* One over the protocol's maximum. */
        {
                uint8_t h[AGENT_HEADER_LEN];

                agent_frame_header(h, AGENT_STDOUT, AGENT_PAYLOAD_MAX + 1);
                ck_assert_int_eq(feed_bytes(h, sizeof(h), AGENT_PAYLOAD_MAX, &g), -EPROTO);
        }
}
END_TEST

START_TEST(test_unknown_type)
{
        static const unsigned bad[] = {0x00, 0x07, 0x42, 0x80, 0x87, 0xff};
        struct got g = {0};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint8_t b[AGENT_HEADER_LEN + 2] = {0, 0, 0, 3, (uint8_t)bad[i], 'a', 'b'};

                ck_assert_int_eq(feed_bytes(b, sizeof(b), 100, &g), -EPROTO);
                ck_assert_int_eq(g.n, 0);
        }
}
END_TEST

START_TEST(test_callback_abort)
{
        struct agent_decoder d;
        struct got g = {.stop_at = 2};
        size_t len;
        uint8_t *s = sample(&len, 10);

        agent_decoder_init(&d, 100);
        ck_assert_int_eq(agent_decoder_feed(&d, s, len, collect, &g), -ECANCELED);
        ck_assert_int_eq(g.n, 2); /* nothing after the frame that stopped it */
        ck_assert_int_eq(agent_decoder_feed(&d, s, len, collect, &g), -ECANCELED);
        ck_assert_int_eq(g.n, 2);
        got_free(&g);
        agent_decoder_free(&d);
        /* Re-initialized after free, it decodes again. */
        agent_decoder_init(&d, 100);
        ck_assert_int_eq(agent_decoder_feed(&d, s, len, collect, &g), 0);
        check_sample(&g, 10);
        got_free(&g);
        agent_decoder_free(&d);
        free(s);
}
END_TEST

START_TEST(test_write)
{
        static uint8_t big[200000];
        struct agent_decoder d;
        struct got g = {0};
        uint8_t buf[65536];
        int sv[2], pp[2];
        ssize_t n;

        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t)(i * 7 + 1);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(agent_frame_write(sv[0], AGENT_PING, NULL, 0), 0);
        ck_assert_int_eq(agent_frame_write(sv[0], AGENT_STDERR, "err", 3), 0);
        ck_assert_int_eq(agent_frame_write(sv[0], 0x07, "x", 1), -EINVAL);
        ck_assert_int_eq(agent_frame_write(sv[0], AGENT_STDIN, big, AGENT_PAYLOAD_MAX + 1),
                         -EMSGSIZE);
        agent_decoder_init(&d, AGENT_PAYLOAD_MAX);
        n = read(sv[1], buf, sizeof(buf));
        ck_assert_int_eq(n, 2 * AGENT_HEADER_LEN + 3);
        ck_assert_int_eq(agent_decoder_feed(&d, buf, (size_t)n, collect, &g), 0);
        ck_assert_int_eq(g.n, 2);
        ck_assert_uint_eq(g.type[1], AGENT_STDERR);
        /* A frame larger than the socket buffer, written while the other end reads: a pipe
         * this time (not a socket). */
        ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
        if (fork() == 0)
                _exit(agent_frame_write(pp[1], AGENT_STDOUT, big, sizeof(big)) == 0 ? 0 : 1);
        close(pp[1]);
        while ((n = read(pp[0], buf, sizeof(buf))) > 0)
                ck_assert_int_eq(agent_decoder_feed(&d, buf, (size_t)n, collect, &g), 0);
        ck_assert_int_eq(g.n, 3);
        ck_assert_uint_eq(g.len[2], sizeof(big));
        ck_assert_mem_eq(g.payload[2], big, sizeof(big));
        /* A peer gone: EPIPE, and no SIGPIPE kills the test. */
        close(sv[1]);
        ck_assert_int_eq(agent_frame_write(sv[0], AGENT_PING, NULL, 0), -EPIPE);
        close(sv[0]);
        close(pp[0]);
        got_free(&g);
        agent_decoder_free(&d);
}
END_TEST

static Suite *proto_suite(void)
{
        Suite *s = suite_create("agent_proto");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_header);
        tcase_add_test(tc, test_round_trip_whole);
        tcase_add_test(tc, test_every_split);
        tcase_add_test(tc, test_large_split);
        tcase_add_test(tc, test_length_zero);
        tcase_add_test(tc, test_too_long);
        tcase_add_test(tc, test_unknown_type);
        tcase_add_test(tc, test_callback_abort);
        tcase_add_test(tc, test_write);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(proto_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
