/* Private to api/: the open connections of the HTTP server. Each one is admitted or refused
 * when it is accepted (the slot shares of limits.h, root included), and a sweeper closes those
 * that take longer than [daemon] read_timeout_s to deliver a whole request: counted from the
 * accept, or from the end of the previous answer on a kept-alive connection. Answering is not
 * reading: a long exec or an NDJSON stream is never cut by it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "airlock/api.h"
#include "airlock/error.h"

struct api; /* routes.h */

struct conns;

/* The uid that stands for every client of the MCP listener (TCP, no peer credentials) in the
 * connection shares: (uid_t)-2, which no account has. */
#define CONNS_TCP_UID ((uid_t)-2)

/* max: the server's connection limit. Starts the sweeper. NULL with err set on failure. */
struct conns *conns_new(struct api *ctx, int64_t max, struct al_error *err);
/* Stops the sweeper; every connection must have been closed (MHD_stop_daemon). NULL: no-op. */
void conns_free(struct conns *c);

/* MHD_OPTION_NOTIFY_CONNECTION. A connection past its uid's share, or past max, is shut down at
 * once (its thread sees the end and closes it). */
void conns_notify(struct conns *c, struct MHD_Connection *conn, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe);
/* The request on conn is read whole (or answered): its read deadline stops. */
void conns_request_read(struct MHD_Connection *conn);
/* The answer on conn is done: a kept-alive connection has a new deadline for its next one. */
void conns_request_done(struct MHD_Connection *conn);
/* conn holds one of the reserved slots: it may ask only for health and version. */
bool conns_health_only(struct MHD_Connection *conn);
