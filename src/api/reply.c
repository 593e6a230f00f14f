/* What every part of api/ answers with: JSON replies, the error document and its status, and
 * the client connection's socket and peer. The leaf of api/: it calls nothing else there. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "airlock/error.h"
#include "airlock/metrics.h"
#include "routes.h"

int api_connection_fd(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        return ci ? ci->connect_fd : -1;
}

void api_peer_of(struct MHD_Connection *conn, struct ucred *ret)
{
        socklen_t len = sizeof(*ret);
        int fd = api_connection_fd(conn);

        ret->pid = 0;
        ret->uid = ret->gid = (unsigned)-1;
        if (fd >= 0)
                getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &len);
}

enum MHD_Result api_send_text(struct MHD_Connection *conn, unsigned status, char *text, size_t len,
                              const char *content_type, const char *const *headers)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (!text)
                return MHD_NO;
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", content_type);
        for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
                MHD_add_response_header(resp, headers[i], headers[i + 1]);
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

enum MHD_Result api_send_json_with(struct MHD_Connection *conn, unsigned status, json_t *doc,
                                   const char *const *headers)
{
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

        json_decref(doc);
        return api_send_text(conn, status, text, text ? strlen(text) : 0, "application/json",
                             headers);
}

enum MHD_Result api_send_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
        return api_send_json_with(conn, status, doc, NULL);
}

unsigned api_status_for(int code)
{
        switch (-code) {
        case EINVAL:
        case E2BIG:
        case ENAMETOOLONG:
                return 400;
        case EPERM:
        case EACCES:
        case AL_E_FORBIDDEN:
                return 403;
        case ENOENT:
                return 404;
        case EEXIST:
        case EBUSY:
        case AL_E_CONFLICT:
                return 409;
        case AL_E_TOO_LARGE:
        case EMSGSIZE:
                return 413;
        case AL_E_LIMITED:
                return 429;
        case ENOSPC:
                return 507; /* the sandbox's disk (or a file area of it) is full */
        case AL_E_ENGINE:
        case AL_E_PROVIDER:
                return 502;
        case AL_E_ENGINE_DOWN:
        case AL_E_TIER_UNAVAILABLE:
        case EOPNOTSUPP:
                return 503;
        default:
                return 500;
        }
}

json_t *api_error_doc_named(const char *name, const char *msg)
{
        return json_pack("{s:{s:s, s:s}}", "error", "code", name, "message", msg);
}

json_t *api_error_doc(int code, const char *msg)
{
        return api_error_doc_named(al_err_name(code), msg);
}

enum MHD_Result api_send_error(struct MHD_Connection *conn, int code, const char *msg)
{
        /* Every error answer passes here: one place counts them all, by their error code. */
        metrics_rejected(al_err_name(code));
        return api_send_json(conn, api_status_for(code), api_error_doc(code, msg));
}
