/* Private to api/: the routes and the helpers they share with the server. */
#pragma once
#include <microhttpd.h>

#include "airlock/api.h"

enum MHD_Result api_route(struct airlock_ctx *ctx, struct MHD_Connection *conn, const char *url,
                          const char *method, const char *body, size_t len);
/* Queue doc (reference stolen) as the JSON response with status. */
enum MHD_Result api_send_json(struct MHD_Connection *conn, unsigned status, json_t *doc);
/* The same, with "Connection: close" when close_after. */
enum MHD_Result api_send_json_ex(struct MHD_Connection *conn, unsigned status, json_t *doc,
                                 bool close_after);
/* Queue {"error":{"code","message"}} with the status that fits code. */
enum MHD_Result api_send_error(struct MHD_Connection *conn, int code, const char *msg);
unsigned api_status_for(int code);
