/* HTTP/1.1 over airlockd's UNIX socket with libcurl: one request per call, the reply either
 * buffered under a cap or handed to a streaming consumer as it arrives. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <curl/curl.h>

#include "airlock/cleanup.h"

static void curl_easy_cleanupp(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}

static void curl_slist_free_allp(struct curl_slist **l)
{
        if (*l)
                curl_slist_free_all(*l);
}

struct xfer {
        CURL *curl;
        const struct cli_request *req;
        struct cli_reply *reply;
        struct al_error *err;
        bool decided; /* status and Content-Type looked at */
        int failed;   /* < 0: the write side set err, aborted the transfer with this code */
};

/* True when the media type of a Content-Type header (parameters after ';' ignored) equals want. */
static bool media_type_is(const char *content_type, const char *want)
{
        size_t n = strcspn(content_type, ";");

        while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
                n--;
        return n == strlen(want) && strncasecmp(content_type, want, n) == 0;
}

static void xfer_decide(struct xfer *x)
{
        struct cli_reply *reply = x->reply;
        char *ct = NULL;

        if (x->decided)
                return;
        x->decided = true;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &reply->status);
        if (curl_easy_getinfo(x->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                snprintf(reply->content_type, sizeof(reply->content_type), "%s", ct);
        /* Stream only a successful reply in the type asked for; an error reply or a daemon
         * that ignores Accept gets buffered and handled as plain JSON. */
        reply->streamed = x->req->on_body && x->req->accept && reply->status >= 200 &&
                          reply->status < 300 && media_type_is(reply->content_type, x->req->accept);
}

static size_t xfer_write(char *p, size_t size, size_t nmemb, void *userdata)
{
        struct xfer *x = userdata;
        size_t n = size * nmemb;
        int r;

        xfer_decide(x);
        if (x->reply->streamed) {
                r = x->req->on_body(x->req->userdata, p, n, x->err);
                if (r < 0) {
                        x->failed = r;
                        return 0;
                }
                return n;
        }
        r = buf_append(&x->reply->body, p, n);
        if (r < 0) {
                x->failed = al_err_errno(x->err, r, "reading the reply");
                return 0;
        }
        if (buf_truncated(&x->reply->body)) {
                x->failed = al_err(x->err, -AL_E_TOO_LARGE, "the reply of airlockd exceeds %u MiB",
                                   (unsigned)(CLI_BODY_MAX >> 20));
                return 0;
        }
        return n;
}

/* What usually lies behind a failed connect, for the operator reading the message. */
static const char *connect_hint(long os_errno)
{
        switch (os_errno) {
        case ENOENT:
        case ECONNREFUSED:
                return " (is airlockd running? --socket or $AIRLOCK_SOCKET name another socket)";
        case EACCES:
        case EPERM:
                return " (is this user in the airlock group?)";
        default:
                return "";
        }
}

static int transfer_error(struct cli_ctx *ctx, CURL *curl, CURLcode rc, const char *errbuf,
                          struct al_error *err)
{
        const char *reason = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        long os_errno = 0;

        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
                /* errno names the cause plainly (ENOENT: not running, EACCES: not in the
                 * group); curl's text speaks of "localhost port 80". */
                if (rc == CURLE_COULDNT_CONNECT && os_errno > 0)
                        reason = strerror((int)os_errno);
                return al_err(err, -AL_E_ENGINE_DOWN, "cannot reach airlockd at %s: %s%s",
                              ctx->socket_path, reason, connect_hint(os_errno));
        case CURLE_GOT_NOTHING:
                return al_err(err, -EPROTO, "airlockd at %s closed the connection without a reply",
                              ctx->socket_path);
        default:
                return al_err(err, -EIO, "request to airlockd at %s failed: %s", ctx->socket_path,
                              reason);
        }
}

int cli_http(struct cli_ctx *ctx, const struct cli_request *req, struct cli_reply *reply,
             struct al_error *err)
{
        _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "", url[512], accept[160];
        struct xfer x = {.req = req, .reply = reply, .err = err};
        struct sockaddr_un sun;
        struct curl_slist *h;
        CURLcode rc;

        memset(reply, 0, sizeof(*reply));
        buf_init(&reply->body, CLI_BODY_MAX);
        if (strlen(ctx->socket_path) >= sizeof(sun.sun_path))
                return al_err(err, -ENAMETOOLONG, "socket path %s is longer than %zu bytes",
                              ctx->socket_path, sizeof(sun.sun_path) - 1);
        curl = curl_easy_init();
        if (!curl)
                return al_err(err, -ENOMEM, "cannot initialise libcurl");
        x.curl = curl;

        snprintf(url, sizeof(url), "http://localhost%s", req->path);
        snprintf(accept, sizeof(accept), "Accept: %s",
                 req->accept ? req->accept : "application/json");
        h = curl_slist_append(headers, accept);
        if (h)
                headers = h;
        /* Without this curl waits up to a second for "100 Continue" on bodies over 1 MiB. */
        if (h)
                h = curl_slist_append(headers, "Expect:");
        if (h && req->body) {
                char ct[160];

                snprintf(ct, sizeof(ct), "Content-Type: %s",
                         req->content_type ? req->content_type : "application/json");
                h = curl_slist_append(headers, ct);
        }
        if (!h)
                return al_err(err, -ENOMEM, "cannot build the request headers");
        /* A bearer token narrows the request to the token's agent (docs/security.md). */
        {
                const char *tok = getenv("AIRLOCK_TOKEN");
                char authz[160];

                if (tok && *tok) {
                        if (strlen(tok) > 128 || strspn(tok, "abcdefghijklmnopqrstuvwxyz"
                                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_-.") != strlen(tok))
                                return al_err(err, -EINVAL,
                                              "$AIRLOCK_TOKEN is not a token (alk_ and hex)");
                        snprintf(authz, sizeof(authz), "Authorization: Bearer %s", tok);
                        if (!curl_slist_append(headers, authz))
                                return al_err(err, -ENOMEM, "cannot build the request headers");
                }
        }

        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "airlock/" AIRLOCK_VERSION);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
        if (req->timeout_s > 0)
                curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s);
        if (req->body) {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        } else if (strcmp(req->method, "GET") == 0) {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, xfer_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);

        rc = curl_easy_perform(curl);
        if (rc != CURLE_OK) {
                if (x.failed < 0)
                        return x.failed;
                return transfer_error(ctx, curl, rc, errbuf, err);
        }
        /* A reply without a body never reached the write callback. */
        xfer_decide(&x);
        return 0;
}

void cli_reply_free(struct cli_reply *reply)
{
        if (!reply)
                return;
        buf_free(&reply->body);
}

json_t *cli_reply_json(const struct cli_reply *reply, struct al_error *err)
{
        json_error_t jerr;
        json_t *doc;

        if (reply->body.len == 0) {
                al_err(err, -EPROTO, "airlockd sent an empty reply (HTTP %ld)", reply->status);
                return NULL;
        }
        /* Program output may hold NUL bytes, which arrive as \u0000. */
        doc = json_loadb(reply->body.data, reply->body.len, JSON_ALLOW_NUL, &jerr);
        if (!doc)
                al_err(err, -EPROTO, "airlockd sent a reply that is not JSON (HTTP %ld): %s",
                       reply->status, jerr.text);
        return doc;
}

int cli_report_api_error(const struct cli_reply *reply)
{
        const char *code = NULL, *message = NULL;
        json_t *doc, *e;

        doc = json_loadb(reply->body.data ? reply->body.data : "", reply->body.len, 0, NULL);
        e = json_object_get(doc, "error");
        if (json_is_object(e)) {
                code = json_string_value(json_object_get(e, "code"));
                message = json_string_value(json_object_get(e, "message"));
        }
        if (message && code)
                cli_errorf("%s (%s)", message, code);
        else if (message)
                cli_errorf("%s", message);
        else
                /* Not ours to trust: show only the start of whatever came back. */
                cli_errorf("airlockd answered HTTP %ld%s%.200s", reply->status,
                           reply->body.len ? ": " : "", reply->body.len ? reply->body.data : "");
        json_decref(doc);
        return CLI_EXIT_FAIL;
}
