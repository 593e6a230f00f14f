/* The exec watch (airlock/watch.h): deadline, drain, client hang-up and cancel, on real pipes,
 * socketpairs and eventfds. */
#include <check.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airlock/util.h"
#include "airlock/watch.h"

static enum watch_event step(struct watch *w, struct pollfd *pf, size_t n)
{
        struct al_error err = {0};
        enum watch_event ev = -1;

        ck_assert_int_eq(watch_poll(w, pf, n, &ev, &err), 0);
        return ev;
}

START_TEST(test_deadline_then_drain)
{
        struct pollfd pf[1 + WATCH_FDS];
        int p[2];
        struct watch w;
        int64_t t0 = util_now_ms();

        ck_assert_int_eq(pipe(p), 0);
        watch_init(&w, t0 + 50, 80, -1, 0);
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DEADLINE);
        ck_assert_int_ge(util_now_ms() - t0, 50);
        ck_assert(w.draining);
        ck_assert(!w.cancelled);
        ck_assert_int_eq(pf[0].revents, 0);
        /* Reported once: then the drain runs out. */
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DRAINED);
        ck_assert_int_ge(util_now_ms() - t0, 130);
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DRAINED);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_readable_fd_is_ready)
{
        struct pollfd pf[2 + WATCH_FDS];
        int p[2], q[2];
        struct watch w;

        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_eq(pipe(q), 0);
        watch_init(&w, 0, 0, -1, -1);
        ck_assert_int_eq(write(q[1], "x", 1), 1);
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = q[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 2), WATCH_READY);
        ck_assert_int_eq(pf[0].revents, 0);
        ck_assert(pf[1].revents & POLLIN);
        ck_assert(!w.draining);
        close(p[0]);
        close(p[1]);
        close(q[0]);
        close(q[1]);
}
END_TEST

START_TEST(test_cancel_begins_drain)
{
        struct pollfd pf[1 + WATCH_FDS];
        int p[2], ev = eventfd(0, EFD_CLOEXEC);
        uint64_t one = 1;
        struct watch w;
        int64_t t0 = util_now_ms();

        ck_assert_int_ge(ev, 0);
        ck_assert_int_eq(pipe(p), 0);
        watch_init(&w, t0 + 60000, 50, -1, ev);
        ck_assert_int_eq(write(ev, &one, sizeof(one)), sizeof(one));
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_CANCEL);
        ck_assert(w.cancelled);
        ck_assert(w.draining);
        /* The eventfd stays readable but is not polled again: the drain runs out. */
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DRAINED);
        ck_assert_int_lt(util_now_ms() - t0, 10000);
        close(ev);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_cancel_zero_is_none)
{
        struct pollfd pf[1 + WATCH_FDS];
        int p[2];
        struct watch w;

        ck_assert_int_eq(pipe(p), 0);
        watch_init(&w, util_now_ms() + 30, 0, -1, 0);
        ck_assert_int_eq(w.cancel_fd, -1);
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DEADLINE);
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DRAINED);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_hangup_reported_once)
{
        struct pollfd pf[1 + WATCH_FDS];
        int sv[2], p[2];
        struct watch w;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(pipe(p), 0);
        watch_init(&w, util_now_ms() + 60000, 1000, sv[0], -1);
        close(sv[1]);
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_HANGUP);
        ck_assert(w.hung_up);
        ck_assert(!w.draining);
        /* Not again: the caller's own descriptors go on. */
        ck_assert_int_eq(write(p[1], "x", 1), 1);
        ck_assert_int_eq(step(&w, pf, 1), WATCH_READY);
        ck_assert(pf[0].revents & POLLIN);
        close(sv[0]);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_pipelined_bytes_do_not_wake)
{
        struct pollfd pf[1 + WATCH_FDS];
        int sv[2], p[2];
        struct watch w;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(pipe(p), 0);
        /* The client sent its next request: readable, but not gone. */
        ck_assert_int_eq(write(sv[1], "GET /", 5), 5);
        watch_init(&w, util_now_ms() + 50, 0, sv[0], -1);
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DEADLINE);
        ck_assert(!w.hung_up);
        close(sv[0]);
        close(sv[1]);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_end_shortens_and_stops_deadline)
{
        struct pollfd pf[1 + WATCH_FDS];
        int p[2];
        struct watch w;
        int64_t t0 = util_now_ms();

        ck_assert_int_eq(pipe(p), 0);
        watch_init(&w, t0 + 20, 60000, -1, -1);
        /* Ended before its deadline (the process exited): no deadline is reported. */
        watch_end(&w, 10000);
        watch_end(&w, 30);
        watch_end(&w, 50000); /* never later than already set */
        pf[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_DRAINED);
        ck_assert_int_lt(util_now_ms() - t0, 5000);
        ck_assert(!w.cancelled);
        close(p[0]);
        close(p[1]);
}
END_TEST

START_TEST(test_no_deadline_waits_for_fd)
{
        struct pollfd pf[1 + WATCH_FDS];
        int sv[2];
        struct watch w;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        watch_init(&w, 0, 0, -1, -1);
        close(sv[1]);
        pf[0] = (struct pollfd){.fd = sv[0], .events = POLLIN};
        ck_assert_int_eq(step(&w, pf, 1), WATCH_READY);
        ck_assert(pf[0].revents & (POLLIN | POLLHUP));
        close(sv[0]);
}
END_TEST

static Suite *watch_suite(void)
{
        Suite *s = suite_create("watch");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_deadline_then_drain);
        tcase_add_test(tc, test_readable_fd_is_ready);
        tcase_add_test(tc, test_cancel_begins_drain);
        tcase_add_test(tc, test_cancel_zero_is_none);
        tcase_add_test(tc, test_hangup_reported_once);
        tcase_add_test(tc, test_pipelined_bytes_do_not_wake);
        tcase_add_test(tc, test_end_shortens_and_stops_deadline);
        tcase_add_test(tc, test_no_deadline_waits_for_fd);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(watch_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
