/* The stream demultiplexer must reassemble stdout and stderr exactly however the engine's
 * frames are cut across reads, headers included. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/engine.h"

struct frame {
        int stream;
        size_t len;
        char fill;
};

/* Several frames of both streams, with empty, tiny and 100 KiB payloads and a stdin echo. */
static const struct frame frames[] = {
    {1, 5, 'a'},          {2, 0, 0},   {2, 4, 'e'}, {1, 100 * 1024, 'o'}, {0, 3, 'i'}, {1, 0, 0},
    {2, 100 * 1024, 'E'}, {2, 1, 'z'}, {1, 7, 'b'}, {1, 1, 'c'},
};

struct expect {
        char *stream;
        size_t stream_len;
        char *out[3]; /* expected stdout [1] and stderr [2] */
        size_t out_len[3];
};

static struct expect ex;

/* Payload bytes vary with position so a misplaced byte cannot go unnoticed. */
static char payload_byte(const struct frame *f, size_t i)
{
        return (char)(f->fill + (char)(i % 7));
}

static void put_frame(char *p, int stream, uint32_t len)
{
        p[0] = (char)stream;
        p[1] = p[2] = p[3] = 0;
        p[4] = (char)(len >> 24);
        p[5] = (char)(len >> 16);
        p[6] = (char)(len >> 8);
        p[7] = (char)len;
}

static void build(void)
{
        size_t total = 0;

        memset(&ex, 0, sizeof(ex));
        for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++)
                total += 8 + frames[i].len;
        ex.stream = malloc(total);
        ex.out[1] = malloc(total);
        ex.out[2] = malloc(total);
        ck_assert_ptr_nonnull(ex.stream);
        for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
                const struct frame *f = &frames[i];
                int s = f->stream == 0 ? 1 : f->stream;

                put_frame(ex.stream + ex.stream_len, f->stream, (uint32_t)f->len);
                ex.stream_len += 8;
                for (size_t j = 0; j < f->len; j++) {
                        char c = payload_byte(f, j);

                        ex.stream[ex.stream_len++] = c;
                        ex.out[s][ex.out_len[s]++] = c;
                }
        }
}

static void teardown(void)
{
        free(ex.stream);
        free(ex.out[1]);
        free(ex.out[2]);
}

/* Compares output against the expectation as it arrives, so no copy is needed. When the
 * demuxer hands out slices of the input (it does not copy), checking that a slice starts at
 * the input offset where that output byte was put proves its content in O(1); that keeps the
 * every-split-point test fast. */
struct collect {
        size_t got[3];
        size_t calls;
        bool mismatch;
};

/* Input offset of output byte pos of stream s, and bytes left in its frame. */
static bool locate(int s, size_t pos, size_t *ret_in, size_t *ret_left)
{
        size_t in = 0, out = 0;

        for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
                const struct frame *f = &frames[i];
                int fs = f->stream == 0 ? 1 : f->stream;

                in += 8;
                if (fs == s && pos < out + f->len) {
                        *ret_in = in + (pos - out);
                        *ret_left = out + f->len - pos;
                        return true;
                }
                if (fs == s)
                        out += f->len;
                in += f->len;
        }
        return false;
}

static int collect_out(void *ctx, int stream, const char *data, size_t len)
{
        struct collect *c = ctx;
        size_t in, left;

        c->calls++;
        if (stream != 1 && stream != 2) {
                c->mismatch = true;
                return 0;
        }
        if (len == 0 || c->got[stream] + len > ex.out_len[stream]) {
                c->mismatch = true;
        } else if (data >= ex.stream && data < ex.stream + ex.stream_len) {
                if (!locate(stream, c->got[stream], &in, &left) ||
                    (size_t)(data - ex.stream) != in || len > left)
                        c->mismatch = true;
        } else if (memcmp(ex.out[stream] + c->got[stream], data, len) != 0) {
                c->mismatch = true;
        }
        c->got[stream] += len;
        return 0;
}

/* Check marks every assertion it passes (a write per ck_assert); the loops below run millions
 * of feeds, so they test with a plain if and abort only on failure. */
static void feed_ok(struct demux *d, const char *data, size_t len, struct collect *c, size_t at)
{
        int r = demux_feed(d, data, len, collect_out, c);

        if (r != 0)
                ck_abort_msg("demux_feed failed with %d at offset %zu", r, at);
}

static void assert_complete(const struct collect *c, const struct demux *d)
{
        ck_assert(!c->mismatch);
        ck_assert_uint_eq(c->got[1], ex.out_len[1]);
        ck_assert_uint_eq(c->got[2], ex.out_len[2]);
        ck_assert(!demux_partial(d));
}

START_TEST(test_whole)
{
        struct collect c = {0};
        struct demux d;

        demux_init(&d);
        ck_assert_int_eq(demux_feed(&d, ex.stream, ex.stream_len, collect_out, &c), 0);
        assert_complete(&c, &d);
        /* stdout: 5 + 100 KiB + 3 (stdin echo) + 7 + 1; stderr: 4 + 100 KiB + 1 */
        ck_assert_uint_eq(ex.out_len[1], 5 + 100 * 1024 + 3 + 7 + 1);
        ck_assert_uint_eq(ex.out_len[2], 4 + 100 * 1024 + 1);
}
END_TEST

START_TEST(test_every_split_point)
{
        for (size_t cut = 0; cut <= ex.stream_len; cut++) {
                struct collect c = {0};
                struct demux d;

                demux_init(&d);
                feed_ok(&d, ex.stream, cut, &c, 0);
                feed_ok(&d, ex.stream + cut, ex.stream_len - cut, &c, cut);
                if (c.mismatch || c.got[1] != ex.out_len[1] || c.got[2] != ex.out_len[2])
                        ck_abort_msg("wrong output when split at byte %zu", cut);
                if (demux_partial(&d))
                        ck_abort_msg("partial after a whole stream split at %zu", cut);
        }
}
END_TEST

START_TEST(test_one_byte_pieces)
{
        struct collect c = {0};
        struct demux d;

        demux_init(&d);
        for (size_t i = 0; i < ex.stream_len; i++)
                feed_ok(&d, ex.stream + i, 1, &c, i);
        assert_complete(&c, &d);
}
END_TEST

START_TEST(test_random_pieces)
{
        unsigned seed = 12345;

        for (int round = 0; round < 300; round++) {
                struct collect c = {0};
                struct demux d;
                size_t off = 0;
                /* Alternate small and large pieces so both header and payload cuts are hit. */
                size_t maxpiece = round % 3 == 0 ? 16 : round % 3 == 1 ? 300 : 70000;

                demux_init(&d);
                while (off < ex.stream_len) {
                        size_t n = (size_t)rand_r(&seed) % (maxpiece + 1);

                        if (n > ex.stream_len - off)
                                n = ex.stream_len - off;
                        feed_ok(&d, ex.stream + off, n, &c, off);
                        off += n;
                }
                assert_complete(&c, &d);
        }
}
END_TEST

struct small_out {
        char data[3][16];
        size_t len[3];
};

static int small_collect(void *ctx, int stream, const char *data, size_t len)
{
        struct small_out *o = ctx;

        ck_assert(stream == 1 || stream == 2);
        ck_assert_uint_le(o->len[stream] + len, sizeof(o->data[stream]));
        memcpy(o->data[stream] + o->len[stream], data, len);
        o->len[stream] += len;
        return 0;
}

/* Two cuts anywhere in a small stream: every pair of split points, so three pieces. */
START_TEST(test_every_split_pair_small)
{
        char s[64];
        size_t len = 0;

        put_frame(s + len, 1, 3);
        memcpy(s + len + 8, "abc", 3);
        len += 11;
        put_frame(s + len, 2, 0);
        len += 8;
        put_frame(s + len, 2, 2);
        memcpy(s + len + 8, "xy", 2);
        len += 10;
        put_frame(s + len, 0, 1);
        memcpy(s + len + 8, "d", 1);
        len += 9;
        for (size_t i = 0; i <= len; i++) {
                for (size_t j = i; j <= len; j++) {
                        const size_t cuts[4] = {0, i, j, len};
                        struct small_out o;
                        struct demux d;

                        memset(&o, 0, sizeof(o));
                        demux_init(&d);
                        for (int k = 0; k < 3; k++)
                                ck_assert_int_eq(demux_feed(&d, s + cuts[k], cuts[k + 1] - cuts[k],
                                                            small_collect, &o),
                                                 0);
                        ck_assert_uint_eq(o.len[1], 4);
                        ck_assert_uint_eq(o.len[2], 2);
                        ck_assert(memcmp(o.data[1], "abcd", 4) == 0);
                        ck_assert(memcmp(o.data[2], "xy", 2) == 0);
                        ck_assert(!demux_partial(&d));
                }
        }
}
END_TEST

START_TEST(test_bad_stream_type)
{
        char s[8 + 2 + 8];
        struct collect c = {0};
        struct demux d;

        put_frame(s, 3, 1);
        demux_init(&d);
        ck_assert_int_eq(demux_feed(&d, s, 8, collect_out, &c), -EPROTO);

        /* A valid frame first, then a bad header split across two feeds. */
        put_frame(s, 1, 2);
        s[8] = 'h';
        s[9] = 'i';
        put_frame(s + 10, 7, 0);
        demux_init(&d);
        ck_assert_int_eq(demux_feed(&d, s, 13, NULL, NULL), 0);
        ck_assert_int_eq(demux_feed(&d, s + 13, 5, NULL, NULL), -EPROTO);
}
END_TEST

START_TEST(test_partial)
{
        struct collect c = {0};
        struct demux d;

        demux_init(&d);
        ck_assert(!demux_partial(&d));
        /* Mid-header of the first frame. */
        ck_assert_int_eq(demux_feed(&d, ex.stream, 3, collect_out, &c), 0);
        ck_assert(demux_partial(&d));
        /* Header complete, payload not begun. */
        ck_assert_int_eq(demux_feed(&d, ex.stream + 3, 5, collect_out, &c), 0);
        ck_assert(demux_partial(&d));
        /* Mid-payload. */
        ck_assert_int_eq(demux_feed(&d, ex.stream + 8, 2, collect_out, &c), 0);
        ck_assert(demux_partial(&d));
        /* End of the first frame: a frame boundary is not partial. */
        ck_assert_int_eq(demux_feed(&d, ex.stream + 10, 3, collect_out, &c), 0);
        ck_assert(!demux_partial(&d));
        ck_assert_uint_eq(c.got[1], 5);
        /* A zero-length frame's header alone completes it. */
        ck_assert_int_eq(demux_feed(&d, ex.stream + 13, 8, collect_out, &c), 0);
        ck_assert(!demux_partial(&d));
}
END_TEST

static int abort_out(void *ctx, int stream, const char *data, size_t len)
{
        int *calls = ctx;

        (*calls)++;
        return -42;
}

START_TEST(test_callback_abort)
{
        struct demux d;
        int calls = 0;

        demux_init(&d);
        ck_assert_int_eq(demux_feed(&d, ex.stream, ex.stream_len, abort_out, &calls), -42);
        ck_assert_int_eq(calls, 1);
}
END_TEST

static Suite *demux_suite(void)
{
        Suite *s = suite_create("engine_demux");
        TCase *tc = tcase_create("demux");

        tcase_add_checked_fixture(tc, build, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_whole);
        tcase_add_test(tc, test_every_split_point);
        tcase_add_test(tc, test_one_byte_pieces);
        tcase_add_test(tc, test_random_pieces);
        tcase_add_test(tc, test_every_split_pair_small);
        tcase_add_test(tc, test_bad_stream_type);
        tcase_add_test(tc, test_partial);
        tcase_add_test(tc, test_callback_abort);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(demux_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
