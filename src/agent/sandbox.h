/* Small helpers shared by the static programs that run inside sandboxes (exec_shim.c, agent.c):
 * libc only, no allocation, safe between fork and execve. */
#pragma once
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A message on stderr, best effort. */
static inline void say(const char *msg)
{
        ssize_t r = write(STDERR_FILENO, msg, strlen(msg));

        (void)r;
}

static inline long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
