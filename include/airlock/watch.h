/* The watch over a running exec, shared by the engine stream loop and the host pump: a
 * deadline, a drain time after it, the client connection's hang-up and the daemon's cancel
 * descriptor, polled together with the caller's own descriptors. The semantics of all four
 * live here; the caller only acts on the event it is told about. */
#pragma once
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"

/* The descriptors the watch adds to the caller's poll set. */
#define WATCH_FDS 2

enum watch_event {
        WATCH_READY = 0,    /* one of the caller's descriptors has revents */
        WATCH_DEADLINE = 1, /* the deadline passed: the drain has begun */
        WATCH_CANCEL = 2,   /* the cancel fd turned readable: the drain has begun */
        WATCH_HANGUP = 3,   /* the watch fd hung up (reported once) */
        WATCH_DRAINED = 4,  /* the drain time is over: stop waiting */
};

struct watch {
        int64_t deadline; /* monotonic ms; <= 0: none */
        int64_t drain_ms; /* how long waiting goes on after the deadline or a cancel */
        int watch_fd;     /* < 0: none; its hang-up (POLLRDHUP, not POLLIN) is reported */
        int cancel_fd;    /* <= 0: none; polled until the drain begins */
        bool draining;    /* the deadline passed, a cancel came or watch_end was called */
        bool cancelled;
        bool hung_up;
        int64_t drain_until;
};

/* cancel_fd 0 means none: 0 is what a zeroed sink holds, never the daemon's eventfd. */
void watch_init(struct watch *w, int64_t deadline, int64_t drain_ms, int watch_fd, int cancel_fd);
/* Begin the drain (no deadline or cancel is reported after it) to end within_ms from now, or
 * bring an earlier end of a drain already begun forward. */
void watch_end(struct watch *w, int64_t within_ms);
/* Wait for one of pf[0..n) (the caller's, events set) or the watch. pf has room for
 * n + WATCH_FDS entries. *ret_event says what happened; the caller's revents are valid for
 * every event (zero when no poll was needed: the deadline or the drain's end were due).
 * Blocks until there is an event. Returns < 0 only when poll fails (EINTR is retried). */
int watch_poll(struct watch *w, struct pollfd *pf, size_t n, enum watch_event *ret_event,
               struct al_error *err);
