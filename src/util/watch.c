/* One exec-watch loop step for every backend: see airlock/watch.h. */
#include "airlock/watch.h"

#include <errno.h>
#include <limits.h>

#include "airlock/util.h"

static int timeout_until(int64_t until, int64_t now)
{
        if (until <= now)
                return 0;
        return until - now > INT_MAX ? INT_MAX : (int)(until - now);
}

void watch_init(struct watch *w, int64_t deadline, int64_t drain_ms, int watch_fd, int cancel_fd)
{
        *w = (struct watch){.deadline = deadline,
                            .drain_ms = drain_ms > 0 ? drain_ms : 0,
                            .watch_fd = watch_fd,
                            .cancel_fd = cancel_fd > 0 ? cancel_fd : -1};
}

void watch_end(struct watch *w, int64_t within_ms)
{
        int64_t until = util_now_ms() + (within_ms > 0 ? within_ms : 0);

        if (!w->draining || until < w->drain_until)
                w->drain_until = until;
        w->draining = true;
}

static void drain_begin(struct watch *w)
{
        w->draining = true;
        w->drain_until = util_now_ms() + w->drain_ms;
}

int watch_poll(struct watch *w, struct pollfd *pf, size_t n, enum watch_event *ret_event,
               struct al_error *err)
{
        for (;;) {
                int64_t now = util_now_ms();
                int timeout = -1, idx_watch = -1, idx_cancel = -1, r;
                size_t k = n;

                for (size_t i = 0; i < n; i++)
                        pf[i].revents = 0;
                if (!w->draining && w->deadline > 0 && now >= w->deadline) {
                        drain_begin(w);
                        *ret_event = WATCH_DEADLINE;
                        return 0;
                }
                if (w->draining && now >= w->drain_until) {
                        *ret_event = WATCH_DRAINED;
                        return 0;
                }
                if (w->draining)
                        timeout = timeout_until(w->drain_until, now);
                else if (w->deadline > 0)
                        timeout = timeout_until(w->deadline, now);
                if (w->watch_fd >= 0 && !w->hung_up) {
                        idx_watch = (int)k;
                        /* Not POLLIN: a pipelined request must not wake us in a loop. */
                        pf[k++] = (struct pollfd){.fd = w->watch_fd, .events = POLLRDHUP};
                }
                if (w->cancel_fd >= 0 && !w->draining) {
                        idx_cancel = (int)k;
                        pf[k++] = (struct pollfd){.fd = w->cancel_fd, .events = POLLIN};
                }
                r = poll(pf, (nfds_t)k, timeout);
                if (r < 0 && errno != EINTR)
                        return al_err_errno(err, -errno, "poll");
                if (r <= 0)
                        continue; /* timed out: the deadline or the drain's end is due */
                if (idx_watch >= 0 &&
                    (pf[idx_watch].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
                        w->hung_up = true;
                        *ret_event = WATCH_HANGUP;
                        return 0;
                }
                if (idx_cancel >= 0 && pf[idx_cancel].revents) {
                        /* The daemon's drain deadline: end the exec like at its deadline. */
                        w->cancelled = true;
                        drain_begin(w);
                        *ret_event = WATCH_CANCEL;
                        return 0;
                }
                *ret_event = WATCH_READY;
                return 0;
        }
}
