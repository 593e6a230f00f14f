/* The agent's egress relay (relay.c): 127.0.0.1:port inside the sandbox to the daemon's
 * egress proxy at proxy_path. */
#pragma once

#include <stdbool.h>

/* Start the relay's thread; pass: hand each connection itself to the proxy (not under gVisor,
 * whose sockets the host cannot take), bytes relayed only where that fails. Returns 0, or
 * -errno when the port cannot be had (then the sandbox simply has no way out). */
int relay_start(const char *proxy_path, int port, bool pass);
