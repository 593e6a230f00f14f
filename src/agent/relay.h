/* The agent's egress relay (relay.c): 127.0.0.1:port inside the sandbox to the daemon's
 * egress proxy at proxy_path. */
#pragma once

/* Start the relay's thread. Returns 0, or -errno when the port cannot be had (then the
 * sandbox simply has no way out). */
int relay_start(const char *proxy_path, int port);
