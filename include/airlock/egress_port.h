/* Where a sandbox's way out is, shared by the daemon's egress proxy and the in-sandbox agent:
 * the loopback port the agent relays inside the sandbox, and the proxy's socket's name in the
 * sandbox's run directory (/.airlock/run/ inside). */
#pragma once

#define EGRESS_SANDBOX_PORT 3128
#define EGRESS_SOCK_NAME    "egress.sock"
