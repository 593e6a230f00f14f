/* The daemon's HTTP/1.1 + JSON API on a UNIX socket: routing, request parsing, authentication
 * at the edge, replies. Everything it does it asks of the core (airlock/daemon.h). */
#pragma once
#include <stdbool.h>

#include "airlock/daemon.h"
#include "airlock/error.h"

struct api_server;

/* Serve on listen_fd (a bound, listening UNIX socket; ownership passes to the server). */
struct api_server *api_server_start(struct daemon *core, int listen_fd, struct al_error *err);
/* The MCP listener ([mcp] listen): MCP's Streamable HTTP transport at /mcp on a loopback TCP
 * address, for requests with a bearer token only; it shares main's caps and exec slots. Stop
 * it (before main) with api_server_stop. */
struct api_server *api_mcp_start(struct api_server *main, const char *listen_addr,
                                 struct al_error *err);
/* The E2B listener ([e2b] listen, docs/e2b.md): the E2B-compatible API on a loopback TCP
 * address, for callers with an API key (an airlock token) or a sandbox's access token; it
 * shares main's caps and exec slots. Stop it (before main) with api_server_stop. */
struct api_server *api_e2b_start(struct api_server *main, const char *listen_addr,
                                 struct al_error *err);
/* Stop accepting new connections (draining); requests in progress go on. */
void api_server_quiesce(struct api_server *s);
/* Stop serving and free; close every connection. */
void api_server_stop(struct api_server *s);

/* The monitor listener: GET /v1/health and GET /metrics only, read-only, on a loopback TCP
 * address ("127.0.0.1:9464", "[::1]:9464"; see policy_parse_listen). */
struct monitor_server;
struct monitor_server *monitor_start(struct daemon *core, const char *listen, struct al_error *err);
/* Stop serving and free; NULL is a no-op. */
void monitor_stop(struct monitor_server *m);

/* Make the listening socket at path: stale socket replaced, created under umask 0117, mode
 * 0660, group set when group is not NULL and exists. Returns the fd. */
int api_listen_unix(const char *path, const char *group, struct al_error *err);
