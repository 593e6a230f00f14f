/* The egress proxy's side of a handoff (src/egress/handoff.c): the first message of an
 * egress.sock connection, with the fds it may carry, and the check that a passed fd is what a
 * relay would pass (the code's connected TCP socket). Nothing the sandbox passes is trusted. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read the first bytes of fd (a connected socket) into buf (cap bytes), waiting at most
 * timeout_ms. At most one passed fd is kept: *ret_fd is it (close-on-exec), or -1; every other
 * fd that came is closed, and *ret_extra is set when there were others or the kernel dropped
 * some (MSG_CTRUNC). Returns the bytes read, 0 at EOF, or -errno (-ETIMEDOUT); on failure no fd
 * is kept. */
ssize_t egress_handoff_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms, int *ret_fd,
                            int *ret_extra);

/* NULL when fd is a connected TCP socket (IPv4 or IPv6, stream, not listening), the reason
 * why not otherwise ("handoff_not_socket", "handoff_bad_socket"). Only asks the kernel. */
const char *egress_handoff_refused(int fd);

/* Make a passed socket fit to serve: non-blocking (the proxy waits with poll), no lingering
 * close, no low-water mark, no Nagle wait. Returns 0 or -errno. */
int egress_handoff_prepare(int fd);
