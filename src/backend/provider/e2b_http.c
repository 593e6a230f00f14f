/* The E2B client's transport (e2b_http.h). */
#include "backend/provider/e2b_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/provider/e2b_proto.h"

#define KEY_MAX 512

void e2b_answer_init(struct e2b_answer *a)
{
        memset(a, 0, sizeof(*a));
        buf_init(&a->body, E2B_BODY_MAX);
}

void e2b_answer_free(struct e2b_answer *a)
{
        buf_free(&a->body);
}

static void curl_cleanupp(CURL **h)
{
        if (*h)
                curl_easy_cleanup(*h);
}

static void slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

/* The key, trimmed of its line end. It never leaves this function but in a header. */
static int read_key(const char *path, char *out, size_t size, struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        unsigned mode = 0;
        size_t len = 0;

        if (util_read_file(path, KEY_MAX, &text, &len, &mode, err) < 0)
                return al_err(err, -EACCES, "cannot read the provider's api_key_file '%s'", path);
        /* A secret every user may read (or replace) is no secret. */
        if (mode & 0006) {
                explicit_bzero(text, len);
                return al_err(err, -EACCES,
                              "the provider's api_key_file '%s' is readable or writable by every "
                              "user (chmod 600 it)",
                              path);
        }
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
                len--;
        if (len == 0 || len >= size || memchr(text, '\n', len) || memchr(text, '\r', len))
                return al_err(err, -EACCES, "the provider's api_key_file '%s' holds no single key",
                              path);
        memcpy(out, text, len);
        out[len] = '\0';
        explicit_bzero(text, len);
        return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
        struct buf *b = arg;

        if (buf_append(b, p, size * n) < 0 || buf_truncated(b))
                return 0; /* too large: the transfer fails */
        return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
        struct e2b_answer *a = arg;

        if (size * n > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
                a->retry_after_s = strtoll(p + 12, NULL, 10);
        return size * n;
}

static int curl_failure(CURLcode cc, const char *what, struct al_error *err)
{
        int code = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;

        return al_err(err, code, "%s: %s", what, curl_easy_strerror(cc));
}

/* One request, no retry. */
static int perform(const char *method, const char *url, struct curl_slist *headers,
                   const char *body, size_t body_len, int64_t timeout_s, struct e2b_answer *ret,
                   struct al_error *err)
{
        _cleanup_(curl_cleanupp) CURL *h = curl_easy_init();
        CURLcode cc;

        if (!h)
                return al_err(err, -ENOMEM, "out of memory");
        buf_reset(&ret->body);
        ret->status = 0;
        ret->retry_after_s = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &ret->body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, ret);
        if (body) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
        }
        cc = curl_easy_perform(h);
        if (cc == CURLE_WRITE_ERROR)
                return al_err(err, -EPROTO, "the provider's answer is larger than %zu bytes",
                              ret->body.max);
        if (cc != CURLE_OK)
                return curl_failure(cc, "the provider does not answer", err);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
        if (ret->status >= 400)
                e2b_error_message(ret->status, ret->body.data, ret->body.len, ret->message,
                                  sizeof(ret->message));
        return 0;
}

static void sleep_ms(int64_t ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int e2b_api_call(const struct e2b_client *c, const char *method, const char *path, const char *json,
                 struct e2b_answer *ret, struct al_error *err)
{
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        char key[KEY_MAX + 16], url[4096];
        int r = 0;

        r = read_key(c->key_file, key + 11, sizeof(key) - 11, err);
        if (r < 0)
                return r;
        memcpy(key, "X-API-Key: ", 11);
        headers = curl_slist_append(headers, key);
        explicit_bzero(key, sizeof(key));
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Accept: application/json");
        if (!headers)
                return al_err(err, -ENOMEM, "out of memory");
        snprintf(url, sizeof(url), "%s%s", c->api_url, path);
        for (int attempt = 0;; attempt++) {
                r = perform(method, url, headers, json, json ? strlen(json) : 0,
                            c->request_timeout_s, ret, err);
                /* A refused connection or a busy provider is worth another try; an answer
                 * that cannot be read, or one that took the whole timeout, is not. */
                if (r < 0 && r != -EHOSTUNREACH)
                        break;
                if (r == 0 && !e2b_status_retryable(ret->status))
                        break;
                if (attempt >= c->retries)
                        break;
                sleep_ms(e2b_backoff_ms(attempt + 1, r == 0 ? ret->retry_after_s : 0));
        }
        curl_slist_free_all(TAKE_PTR(headers));
        return r;
}

void e2b_target_for(const struct e2b_client *c, const char *id, const char *token,
                    const char *domain, int port, struct e2b_target *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->port = port;
        snprintf(ret->token, sizeof(ret->token), "%s", token ? token : "");
        snprintf(ret->id, sizeof(ret->id), "%s", id);
        if (c->sandbox_url || !(domain && *domain)) {
                /* One URL for every sandbox (E2B_SANDBOX_URL): the sandbox is named in headers.
                 * Without a domain, the control plane's own address serves envd too. */
                snprintf(ret->base, sizeof(ret->base), "%s",
                         c->sandbox_url ? c->sandbox_url : c->api_url);
                ret->via_sandbox_url = true;
        } else {
                snprintf(ret->base, sizeof(ret->base), "https://%d-%s.%s", port, id, domain);
        }
}

static struct curl_slist *envd_headers(const struct e2b_target *t, const char *content_type)
{
        struct curl_slist *l = NULL;
        char line[256];

        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        l = curl_slist_append(l, line);
        l = curl_slist_append(l, "Connect-Protocol-Version: 1");
        if (t->via_sandbox_url) {
                snprintf(line, sizeof(line), "E2b-Sandbox-Id: %s", t->id);
                l = curl_slist_append(l, line);
                snprintf(line, sizeof(line), "E2b-Sandbox-Port: %d", t->port);
                l = curl_slist_append(l, line);
        }
        if (t->token[0]) {
                snprintf(line, sizeof(line), "X-Access-Token: %s", t->token);
                l = curl_slist_append(l, line);
        }
        return l;
}

int e2b_rpc_call(const struct e2b_client *c, const struct e2b_target *t, const char *rpc,
                 const char *json, struct e2b_answer *ret, struct al_error *err)
{
        _cleanup_(slist_freep) struct curl_slist *headers = envd_headers(t, "application/json");
        char url[4096];

        if (!headers)
                return al_err(err, -ENOMEM, "out of memory");
        snprintf(url, sizeof(url), "%s/%s", t->base, rpc);
        return perform("POST", url, headers, json, strlen(json), c->request_timeout_s, ret, err);
}

int e2b_envd_request(const struct e2b_client *c, const struct e2b_target *t, const char *method,
                     const char *path, const char *content_type, const void *body, size_t len,
                     size_t cap, struct e2b_answer *ret, struct al_error *err)
{
        _cleanup_(slist_freep) struct curl_slist *headers =
            envd_headers(t, content_type ? content_type : "application/octet-stream");
        char url[20480];

        if (!headers)
                return al_err(err, -ENOMEM, "out of memory");
        if ((size_t)snprintf(url, sizeof(url), "%s/%s", t->base, path) >= sizeof(url))
                return al_err(err, -ENAMETOOLONG, "the path is too long for a URL");
        buf_free(&ret->body);
        buf_init(&ret->body, cap);
        if (!body && strcmp(method, "GET") != 0)
                body = "";
        return perform(method, url, headers, body, len, c->request_timeout_s, ret, err);
}

struct stream_state {
        const struct e2b_stream_hooks *h;
        struct e2b_answer *ret;
        CURL *easy;
        int stop; /* the hook's return that stopped the stream */
};

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
        struct stream_state *s = arg;
        long status = 0;

        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
                return on_body(p, size, n, &s->ret->body); /* an error document */
        s->stop = s->h->on_data(s->h->ctx, p, size * n);
        return s->stop < 0 ? 0 : size * n;
}

static void multi_cleanupp(CURLM **m)
{
        if (*m)
                curl_multi_cleanup(*m);
}

int e2b_rpc_stream(const struct e2b_client *c, const struct e2b_target *t, const char *rpc,
                   const char *json, const struct e2b_stream_hooks *h, struct e2b_answer *ret,
                   struct al_error *err)
{
        struct buf body;
        int r;

        buf_init(&body, E2B_MESSAGE_MAX + E2B_ENVELOPE_HEAD);
        if (e2b_envelope_put(&body, 0, json, strlen(json)) < 0 || buf_truncated(&body)) {
                buf_free(&body);
                return al_err(err, -AL_E_TOO_LARGE, "the request does not fit one message");
        }
        r = e2b_post_stream(c, t, rpc, "application/connect+json", body.data, body.len, h, ret,
                            err);
        buf_free(&body);
        return r;
}

int e2b_post_stream(const struct e2b_client *c, const struct e2b_target *t, const char *path,
                    const char *content_type, const char *body, size_t len,
                    const struct e2b_stream_hooks *h, struct e2b_answer *ret, struct al_error *err)
{
        _cleanup_(slist_freep) struct curl_slist *headers = envd_headers(t, content_type);
        _cleanup_(curl_cleanupp) CURL *easy = curl_easy_init();
        _cleanup_(multi_cleanupp) CURLM *multi = curl_multi_init();
        struct stream_state st = {.h = h, .ret = ret, .easy = easy};
        char url[4096];
        int running = 1, r = 0;
        CURLcode cc = CURLE_OK;

        (void)c;
        if (!headers || !easy || !multi)
                return al_err(err, -ENOMEM, "out of memory");
        snprintf(url, sizeof(url), "%s/%s", t->base, path);
        buf_reset(&ret->body);
        ret->status = 0;
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_stream);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &st);
        /* A stream that stops moving (remote gone without a FIN) ends: envd sends keepalives. */
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 90L);
        curl_multi_add_handle(multi, easy);
        while (running) {
                struct curl_waitfd extra[2];
                unsigned n = 0;
                bool ready = false;
                CURLMsg *m;
                int left;

                if (curl_multi_perform(multi, &running) != CURLM_OK) {
                        r = al_err(err, -EIO, "the stream to the provider failed");
                        break;
                }
                while ((m = curl_multi_info_read(multi, &left)))
                        if (m->msg == CURLMSG_DONE)
                                cc = m->data.result;
                if (!running)
                        break;
                for (int i = 0; i < 2; i++)
                        if (h->watch_fds[i] > 0)
                                extra[n++] = (struct curl_waitfd){.fd = h->watch_fds[i],
                                                                  .events = CURL_WAIT_POLLIN};
                curl_multi_wait(multi, extra, n, 100, NULL);
                for (unsigned i = 0; i < n; i++)
                        if (extra[i].revents)
                                ready = true;
                if (h->tick && (r = h->tick(h->ctx, util_now_ms(), ready)) < 0)
                        break;
        }
        curl_multi_remove_handle(multi, easy);
        if (r < 0)
                return r;
        if (st.stop < 0)
                return st.stop;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &ret->status);
        if (ret->status >= 400 || (ret->status && ret->status != 200)) {
                e2b_error_message(ret->status, ret->body.data, ret->body.len, ret->message,
                                  sizeof(ret->message));
                return 0;
        }
        if (cc != CURLE_OK)
                return curl_failure(cc, "the provider's stream broke", err);
        return 0;
}
