/* The limiter: token buckets on an injected clock, counters per key, the bounded key table,
 * and the exec slots with their queue. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/util.h"
#include "api/limits.h"

static int64_t fake_now;

static int64_t fake_clock(void)
{
        return fake_now;
}

static struct limiter *new_limiter(void)
{
        struct limiter *l;

        fake_now = 1000000;
        l = limiter_new(fake_clock);
        ck_assert_ptr_nonnull(l);
        return l;
}

START_TEST(test_bucket_burst_then_refill)
{
        struct limiter *l = new_limiter();
        int64_t retry = -1;

        /* A full minute's worth at once... */
        for (int i = 0; i < 6; i++)
                ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), 0);
        /* ...then nothing until a request's worth (10 s at 6 a minute) has come back. */
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), -AL_E_LIMITED);
        ck_assert_int_eq(retry, 10);
        fake_now += 4000;
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), -AL_E_LIMITED);
        ck_assert_int_eq(retry, 6);
        fake_now += 5999;
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), -AL_E_LIMITED);
        ck_assert_int_eq(retry, 1); /* 1 ms, rounded up to a whole second */
        fake_now += 1;
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), 0);
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, &retry), -AL_E_LIMITED);
        /* A long pause refills to the brim, never past it. */
        fake_now += 3600 * 1000;
        for (int i = 0; i < 6; i++)
                ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, NULL), 0);
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 6, NULL), -AL_E_LIMITED);
        limiter_free(l);
}
END_TEST

START_TEST(test_bucket_keys_apart_and_unlimited)
{
        struct limiter *l = new_limiter();

        ck_assert_int_eq(limiter_rate_take(l, "u:1", 1, NULL), 0);
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 1, NULL), -AL_E_LIMITED);
        /* Another client has its own bucket; a token has its own too. */
        ck_assert_int_eq(limiter_rate_take(l, "u:2", 1, NULL), 0);
        ck_assert_int_eq(limiter_rate_take(l, "t:abcdef", 1, NULL), 0);
        /* Rate 0 is unlimited and tracks nothing. */
        for (int i = 0; i < 1000; i++)
                ck_assert_int_eq(limiter_rate_take(l, "u:3", 0, NULL), 0);
        ck_assert_int_eq(limiter_keys(l), 3);
        limiter_free(l);
}
END_TEST

START_TEST(test_bucket_rate_lowered)
{
        struct limiter *l = new_limiter();

        ck_assert_int_eq(limiter_rate_take(l, "u:1", 1000, NULL), 0);
        /* A reload lowers the rate: the bucket holds no more than the new cap. */
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 2, NULL), 0);
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 2, NULL), 0);
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 2, NULL), -AL_E_LIMITED);
        /* Huge rates do not overflow. */
        fake_now += 24LL * 3600 * 1000;
        ck_assert_int_eq(limiter_rate_take(l, "u:1", 1000000, NULL), 0);
        limiter_free(l);
}
END_TEST

START_TEST(test_counters)
{
        struct limiter *l = new_limiter();

        ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:1", 2), 0);
        ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:1", 2), 0);
        ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:1", 2), -AL_E_LIMITED);
        /* Connections are counted apart from requests. */
        ck_assert_int_eq(limiter_enter(l, LIMITER_CONNECTIONS, "u:1", 1), 0);
        ck_assert_int_eq(limiter_enter(l, LIMITER_CONNECTIONS, "u:1", 1), -AL_E_LIMITED);
        ck_assert_int_eq(limiter_count(l, LIMITER_REQUESTS, "u:1"), 2);
        limiter_leave(l, LIMITER_REQUESTS, "u:1");
        ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:1", 2), 0);
        /* Max 0 is unlimited; a leave too many does not go negative. */
        for (int i = 0; i < 100; i++)
                ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:2", 0), 0);
        for (int i = 0; i < 101; i++)
                limiter_leave(l, LIMITER_REQUESTS, "u:2");
        ck_assert_int_eq(limiter_count(l, LIMITER_REQUESTS, "u:2"), 0);
        limiter_leave(l, LIMITER_REQUESTS, "u:unknown");
        limiter_free(l);
}
END_TEST

START_TEST(test_key_table_bounded)
{
        struct limiter *l = new_limiter();
        char key[32];

        /* Keys that hold something are kept: past the cap new ones are refused. */
        for (int i = 0; i < LIMITER_KEYS_MAX; i++) {
                snprintf(key, sizeof(key), "u:%d", i);
                ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, key, 0), 0);
        }
        ck_assert_int_eq(limiter_enter(l, LIMITER_REQUESTS, "u:new", 0), -AL_E_LIMITED);
        ck_assert_int_eq(limiter_rate_take(l, "u:new", 10, NULL), -AL_E_LIMITED);
        /* A key with nothing in progress and a full bucket is forgotten for a new one. */
        limiter_leave(l, LIMITER_REQUESTS, "u:7");
        fake_now += 60000;
        ck_assert_int_eq(limiter_rate_take(l, "u:new", 10, NULL), 0);
        ck_assert_int_eq(limiter_keys(l), LIMITER_KEYS_MAX);
        ck_assert_int_eq(limiter_count(l, LIMITER_REQUESTS, "u:7"), 0);
        ck_assert_int_eq(limiter_count(l, LIMITER_REQUESTS, "u:8"), 1);
        /* A key longer than the cap is cut, not overrun. */
        {
                char long_key[3 * LIMITER_KEY_MAX];

                memset(long_key, 'x', sizeof(long_key) - 1);
                long_key[sizeof(long_key) - 1] = '\0';
                limiter_leave(l, LIMITER_REQUESTS, "u:9");
                fake_now += 60000;
                ck_assert_int_eq(limiter_rate_take(l, long_key, 1, NULL), 0);
                ck_assert_int_eq(limiter_rate_take(l, long_key, 1, NULL), -AL_E_LIMITED);
        }
        limiter_free(l);
}
END_TEST

struct slot_waiter {
        struct limiter *l;
        int r;
};

static void *wait_for_slot(void *arg)
{
        struct slot_waiter *w = arg;
        struct al_error err = {0};

        w->r = limiter_slot_enter(w->l, 1, 1, 5000, &err);
        if (w->r == 0)
                limiter_slot_leave(w->l);
        return NULL;
}

START_TEST(test_slots_queue)
{
        struct limiter *l = limiter_new(NULL);
        struct al_error err = {0};
        struct slot_waiter w = {l, -1};
        int64_t running = -1, waiting = -1;
        pthread_t t;

        ck_assert_int_eq(limiter_slot_enter(l, 1, 1, 5000, &err), 0);
        /* One may wait for the slot... */
        ck_assert_int_eq(pthread_create(&t, NULL, wait_for_slot, &w), 0);
        for (int i = 0; i < 500 && waiting != 1; i++) {
                usleep(2000);
                limiter_slot_stats(l, &running, &waiting);
        }
        ck_assert_int_eq(running, 1);
        ck_assert_int_eq(waiting, 1);
        /* ...a second is shed at once: the queue is full. */
        ck_assert_int_eq(limiter_slot_enter(l, 1, 1, 5000, &err), -AL_E_LIMITED);
        ck_assert_ptr_nonnull(strstr(err.msg, "busy"));
        /* The waiter gets the slot when it comes free. */
        limiter_slot_leave(l);
        pthread_join(t, NULL);
        ck_assert_int_eq(w.r, 0);
        limiter_slot_stats(l, &running, &waiting);
        ck_assert_int_eq(running, 0);
        ck_assert_int_eq(waiting, 0);
        /* No queue: shed at once when all slots are taken. */
        ck_assert_int_eq(limiter_slot_enter(l, 2, 0, 5000, &err), 0);
        ck_assert_int_eq(limiter_slot_enter(l, 2, 0, 5000, &err), 0);
        ck_assert_int_eq(limiter_slot_enter(l, 2, 0, 5000, &err), -AL_E_LIMITED);
        /* A waiter gives up after its timeout. */
        {
                int64_t t0 = util_now_ms();

                ck_assert_int_eq(limiter_slot_enter(l, 2, 4, 150, &err), -AL_E_LIMITED);
                ck_assert_int_ge(util_now_ms() - t0, 140);
                ck_assert_ptr_nonnull(strstr(err.msg, "queue_timeout_s"));
        }
        limiter_slot_leave(l);
        limiter_slot_leave(l);
        limiter_free(l);
}
END_TEST

START_TEST(test_connection_shares)
{
        /* The defaults: 256 slots, 16 reserved, 64 a uid. */
        ck_assert_int_eq(limits_conn_reserve(256, 16), 16);
        ck_assert_int_eq(limits_conn_uid_cap(256, 16, 64), 64);
        /* 0 per uid: half of the general slots, never all of them. */
        ck_assert_int_eq(limits_conn_uid_cap(256, 16, 0), 120);
        /* A per-uid cap above the share is cut to the share. */
        ck_assert_int_eq(limits_conn_uid_cap(256, 16, 1000), 120);
        /* The reserve is at most a quarter; tiny servers still admit one a uid. */
        ck_assert_int_eq(limits_conn_reserve(8, 100), 2);
        ck_assert_int_eq(limits_conn_reserve(256, 0), 0);
        ck_assert_int_eq(limits_conn_uid_cap(1, 16, 0), 1);
        ck_assert_int_eq(limits_conn_uid_cap(3, 16, 0), 1);

        /* One uid (root is no exception: the caller passes its count like any other's). */
        ck_assert_int_eq(limits_conn_admit(256, 16, 64, 0, 0), LIMITS_CONN_ADMIT);
        ck_assert_int_eq(limits_conn_admit(256, 16, 64, 63, 63), LIMITS_CONN_ADMIT);
        ck_assert_int_eq(limits_conn_admit(256, 16, 64, 64, 64), LIMITS_CONN_REFUSE);
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 119, 119), LIMITS_CONN_ADMIT);
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 120, 120), LIMITS_CONN_REFUSE);
        /* Two uids hold their shares: a third still gets a general slot. */
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 239, 0), LIMITS_CONN_ADMIT);
        /* Many uids together: the last 16 slots are for health only... */
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 240, 0), LIMITS_CONN_HEALTH_ONLY);
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 255, 3), LIMITS_CONN_HEALTH_ONLY);
        /* ...and past them nothing. */
        ck_assert_int_eq(limits_conn_admit(256, 16, 0, 256, 0), LIMITS_CONN_REFUSE);
        /* The uid's cap counts its reserved slots too. */
        ck_assert_int_eq(limits_conn_admit(256, 16, 64, 250, 64), LIMITS_CONN_REFUSE);
        /* No reserve: every slot is general. */
        ck_assert_int_eq(limits_conn_admit(256, 0, 0, 255, 0), LIMITS_CONN_ADMIT);
}
END_TEST

static Suite *limits_suite(void)
{
        Suite *s = suite_create("limits");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_bucket_burst_then_refill);
        tcase_add_test(tc, test_bucket_keys_apart_and_unlimited);
        tcase_add_test(tc, test_bucket_rate_lowered);
        tcase_add_test(tc, test_counters);
        tcase_add_test(tc, test_key_table_bounded);
        tcase_add_test(tc, test_slots_queue);
        tcase_add_test(tc, test_connection_shares);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(limits_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
