/* Where a sandbox's way out is, shared by the daemon's egress proxy and the in-sandbox agent:
 * the loopback port the agent relays inside the sandbox, and the proxy's socket's name in the
 * sandbox's run directory (/.airlock/run/ inside). */
#pragma once

#define EGRESS_SANDBOX_PORT 3128
#define EGRESS_SOCK_NAME    "egress.sock"

/* The first and only byte of a handoff (docs/egress.md, "The path"): the agent's relay sends it
 * on a fresh egress.sock connection with the code's accepted TCP socket attached (SCM_RIGHTS),
 * then the proxy serves that socket itself. No HTTP method and no SOCKS5 greeting starts with
 * it. */
#define EGRESS_HANDOFF_BYTE 0xfd
