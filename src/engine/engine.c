/* Plain Engine API requests through libcurl over the UNIX socket. A small pool of easy handles
 * keeps keep-alive connections warm across threads; each handle is used by one thread at a
 * time. Every response body is capped. */
#include "engine_private.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/cleanup.h"
#include "http.h"

#define ENGINE_ARCHIVE_TIMEOUT_MS 300000L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct engine *engine_new(const char *socket_path, enum engine_kind kind, struct al_error *err)
{
        struct engine *e;

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK) {
                al_err(err, -ENOMEM, "curl_global_init failed: %s",
                       curl_easy_strerror(curl_init_result));
                return NULL;
        }
        if (!socket_path || !*socket_path) {
                al_err(err, -EINVAL, "engine socket path is empty");
                return NULL;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        e->socket_path = strdup(socket_path);
        if (!e->socket_path) {
                free(e);
                al_err(err, -ENOMEM, "out of memory");
                return NULL;
        }
        e->kind = kind;
        e->api_minor = ENGINE_API_MINOR_OURS;
        pthread_mutex_init(&e->lock, NULL);
        return e;
}

void engine_free(struct engine *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->pool_len; i++)
                curl_easy_cleanup(e->pool[i]);
        pthread_mutex_destroy(&e->lock);
        free(e->socket_path);
        free(e);
}

enum engine_kind engine_kind(const struct engine *e)
{
        return e->kind;
}

const char *engine_socket(const struct engine *e)
{
        return e->socket_path;
}

int engine_api_minor(const struct engine *e)
{
        return __atomic_load_n(&e->api_minor, __ATOMIC_RELAXED);
}

static CURL *pool_get(struct engine *e)
{
        CURL *c = NULL;

        pthread_mutex_lock(&e->lock);
        if (e->pool_len > 0)
                c = e->pool[--e->pool_len];
        pthread_mutex_unlock(&e->lock);
        /* All handles busy (e.g. long waits): a fresh one, dropped or pooled on release. */
        return c ? c : curl_easy_init();
}

static void pool_put(struct engine *e, CURL *c)
{
        pthread_mutex_lock(&e->lock);
        if (e->pool_len < ENGINE_POOL_MAX) {
                e->pool[e->pool_len++] = c;
                c = NULL;
        }
        pthread_mutex_unlock(&e->lock);
        if (c)
                curl_easy_cleanup(c);
}

/* Printable, single-line copy of at most 300 bytes of an engine's raw text. */
static void copy_text(char *out, size_t out_size, const char *s, size_t len)
{
        size_t o = 0;

        while (len > 0 && isspace((unsigned char)s[len - 1]))
                len--;
        for (size_t i = 0; i < len && o + 1 < out_size && i < 300; i++) {
                unsigned char c = (unsigned char)s[i];

                out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        }
        out[o] = '\0';
}

int engine_status_error(long status, const char *body, size_t len, const char *what,
                        struct al_error *err)
{
        char msg[AL_ERR_MSG_MAX];
        json_t *j = NULL;
        const char *m = NULL;
        int code;

        msg[0] = '\0';
        if (body && len > 0) {
                j = json_loadb(body, len, 0, NULL);
                m = json_string_value(json_object_get(j, "message"));
                if (m)
                        copy_text(msg, sizeof(msg), m, strlen(m));
                else
                        copy_text(msg, sizeof(msg), body, len);
                json_decref(j);
        }
        if (status == 404)
                code = -ENOENT;
        else if (status == 409)
                code = -AL_E_CONFLICT;
        /* Podman 4 answers a taken name or a container in the wrong state (kill of a stopped
         * one, exec in it) with 500 where Docker says 409. */
        else if (status == 500 &&
                 (strstr(msg, "name is already in use") || strstr(msg, "container state improper")))
                code = -AL_E_CONFLICT;
        else
                code = -AL_E_ENGINE;
        if (msg[0])
                return al_err(err, code, "%s: %s (HTTP %ld)", what, msg, status);
        return al_err(err, code, "%s: engine answered HTTP %ld", what, status);
}

struct sink {
        struct buf *b;
        bool over;
        bool nomem;
};

static size_t sink_write(char *p, size_t size, size_t n, void *userdata)
{
        struct sink *s = userdata;
        size_t len = size * n;

        if (len > s->b->max - s->b->len) {
                s->over = true;
                return 0;
        }
        if (buf_append(s->b, p, len) < 0) {
                s->nomem = true;
                return 0;
        }
        return len;
}

struct req {
        const char *method; /* GET, POST, PUT, DELETE */
        const char *path;   /* below the version prefix, from '/' */
        bool unversioned;   /* /version and /_ping answer for every client version */
        const void *body;   /* NULL: no body (POSTs send an empty one) */
        size_t body_len;
        const char *content_type;
        long timeout_ms; /* 0: none */
        const char *what;
};

static int curl_error(struct engine *e, CURL *c, CURLcode rc, const struct sink *s,
                      const char *errbuf, const char *what, struct al_error *err)
{
        long oserr = 0;
        const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);

        if (rc == CURLE_WRITE_ERROR && s->over)
                return al_err(err, -AL_E_TOO_LARGE, "%s: engine response exceeds %zu bytes", what,
                              s->b->max);
        if (rc == CURLE_OUT_OF_MEMORY || (rc == CURLE_WRITE_ERROR && s->nomem))
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
                curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
                if (oserr > 0)
                        return al_err(err, -AL_E_ENGINE_DOWN, "engine at %s is not answering: %s",
                                      e->socket_path, strerror((int)oserr));
                /* fall through */
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_PARTIAL_FILE:
                return al_err(err, -AL_E_ENGINE_DOWN, "engine at %s is not answering: %s (%s)",
                              e->socket_path, detail, what);
        default:
                return al_err(err, -AL_E_ENGINE, "%s: request to engine at %s failed: %s", what,
                              e->socket_path, detail);
        }
}

/* Perform one request; on success *ret_status is the HTTP status and resp holds the body. */
static int engine_do(struct engine *e, const struct req *r, struct buf *resp, long *ret_status,
                     struct al_error *err)
{
        char url[64 + 4096], errbuf[CURL_ERROR_SIZE], ctype[128];
        struct curl_slist *hdrs = NULL, *h;
        struct sink s = {.b = resp};
        CURLcode rc;
        long status = 0;
        CURL *c;
        int n;

        if (r->unversioned)
                n = snprintf(url, sizeof(url), "http://localhost%s", r->path);
        else
                n = snprintf(url, sizeof(url), "http://localhost/v1.%d%s", engine_api_minor(e),
                             r->path);
        if (n < 0 || (size_t)n >= sizeof(url))
                return al_err(err, -E2BIG, "%s: request path too long", r->what);
        c = pool_get(e);
        if (!c)
                return al_err(err, -ENOMEM, "%s: cannot create a curl handle", r->what);
        /* Reset keeps the handle's live connection, which is the point of the pool. */
        curl_easy_reset(c);
        errbuf[0] = '\0';
        /* "Expect:" stops curl from waiting for 100-continue on larger bodies. */
        h = curl_slist_append(NULL, "Expect:");
        if (h && r->content_type) {
                snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->content_type);
                hdrs = curl_slist_append(h, ctype);
                if (!hdrs) {
                        curl_slist_free_all(h);
                        h = NULL;
                }
        } else {
                hdrs = h;
        }
        if (!hdrs) {
                pool_put(e, c);
                return al_err(err, -ENOMEM, "%s: out of memory", r->what);
        }
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->socket_path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ENGINE_CONNECT_TIMEOUT);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
                curl_easy_setopt(c, CURLOPT_POST, 1L);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)(r->body ? r->body_len : 0));
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
                if (strcmp(r->method, "PUT") == 0)
                        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        } else if (strcmp(r->method, "GET") != 0) {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
        }
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
                int ret = curl_error(e, c, rc, &s, errbuf, r->what, err);

                curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
                curl_slist_free_all(hdrs);
                pool_put(e, c);
                return ret;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        pool_put(e, c);
        *ret_status = status;
        return 0;
}

/* A request with an optional JSON body and JSON answer. Statuses >= 300 other than 304 become
 * errors (see engine_status_error); *ret_status tells 304 from 2xx. ret may be NULL. */
static int engine_json_req(struct engine *e, struct req *r, json_t *body, long *ret_status,
                           json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        struct buf resp;
        long status = 0;
        json_error_t jerr;
        json_t *j;
        int ret_code;

        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        return al_err(err, -ENOMEM, "%s: cannot serialize the request", r->what);
                r->body = text;
                r->body_len = strlen(text);
                r->content_type = "application/json";
        }
        buf_init(&resp, ENGINE_JSON_MAX);
        ret_code = engine_do(e, r, &resp, &status, err);
        if (ret_code < 0)
                goto out;
        if (status >= 300 && status != 304) {
                ret_code = engine_status_error(status, resp.data, resp.len, r->what, err);
                goto out;
        }
        if (ret) {
                if (resp.len == 0) {
                        ret_code =
                            al_err(err, -AL_E_ENGINE, "%s: engine sent an empty answer", r->what);
                        goto out;
                }
                j = json_loadb(resp.data, resp.len, 0, &jerr);
                if (!j) {
                        ret_code = al_err(err, -AL_E_ENGINE, "%s: engine sent invalid JSON: %s",
                                          r->what, jerr.text);
                        goto out;
                }
                *ret = j;
        }
        if (ret_status)
                *ret_status = status;
out:
        buf_free(&resp);
        return ret_code;
}

static int engine_json(struct engine *e, const char *method, const char *path, json_t *body,
                       long timeout_ms, const char *what, long *ret_status, json_t **ret,
                       struct al_error *err)
{
        struct req r = {
            .method = method,
            .path = path,
            .timeout_ms = timeout_ms,
            .what = what,
        };

        return engine_json_req(e, &r, body, ret_status, ret, err);
}

/* "/<prefix>/<escaped id><suffix>" as a new string, or NULL on ENOMEM. */
static char *path_with_id(const char *prefix, const char *id, const char *suffix)
{
        _cleanup_free_ char *esc = engine_http_escape(id);
        char *p = NULL;

        if (!esc || asprintf(&p, "%s/%s%s", prefix, esc, suffix) < 0)
                return NULL;
        return p;
}

static int bad_id(const char *id, const char *what, struct al_error *err)
{
        if (!id || !*id)
                return al_err(err, -EINVAL, "%s: empty id", what);
        return 0;
}

int engine_ping(struct engine *e, struct al_error *err)
{
        return engine_ping_within(e, ENGINE_TIMEOUT_MS, err);
}

int engine_ping_within(struct engine *e, long timeout_ms, struct al_error *err)
{
        struct req r = {.method = "GET",
                        .path = "/_ping",
                        .unversioned = true,
                        .timeout_ms = timeout_ms,
                        .what = "ping"};
        struct buf resp;
        long status = 0;
        int ret;

        buf_init(&resp, 4096);
        ret = engine_do(e, &r, &resp, &status, err);
        if (ret == 0 && status != 200)
                ret = engine_status_error(status, resp.data, resp.len, "ping", err);
        buf_free(&resp);
        return ret;
}

static int parse_api(const char *s, int *ret_major, int *ret_minor)
{
        int major, minor, n = 0;

        if (!s || sscanf(s, "%d.%d%n", &major, &minor, &n) != 2 || s[n] != '\0' || major < 0 ||
            minor < 0)
                return -EINVAL;
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}

static void copy_str(char *out, size_t size, const char *s)
{
        snprintf(out, size, "%s", s ? s : "");
}

int engine_version(struct engine *e, struct engine_version *ret, struct al_error *err)
{
        return engine_version_within(e, ENGINE_TIMEOUT_MS, ret, err);
}

int engine_version_within(struct engine *e, long timeout_ms, struct engine_version *ret,
                          struct al_error *err)
{
        struct req rq = {
            .method = "GET",
            .path = "/version",
            .unversioned = true,
            .timeout_ms = timeout_ms,
            .what = "version",
        };
        json_t *j = NULL, *comp;
        struct engine_version v;
        int major, minor, r;
        size_t i;

        /* Unversioned: an older engine refuses a path prefix newer than itself. */
        r = engine_json_req(e, &rq, NULL, NULL, &j, err);
        if (r < 0)
                return r;
        memset(&v, 0, sizeof(v));
        copy_str(v.version, sizeof(v.version), json_string_value(json_object_get(j, "Version")));
        copy_str(v.api_version, sizeof(v.api_version),
                 json_string_value(json_object_get(j, "ApiVersion")));
        copy_str(v.os, sizeof(v.os), json_string_value(json_object_get(j, "Os")));
        json_array_foreach(json_object_get(j, "Components"), i, comp)
        {
                const char *name = json_string_value(json_object_get(comp, "Name"));

                if (name && strstr(name, "Podman"))
                        v.is_podman = true;
        }
        json_decref(j);
        if (parse_api(v.api_version, &major, &minor) < 0)
                return al_err(err, -AL_E_ENGINE, "version: engine reports no usable API version");
        if (major < 1 || (major == 1 && minor < ENGINE_API_MINOR_MIN))
                return al_err(err, -AL_E_ENGINE,
                              "engine at %s speaks API %s; airlock needs at least 1.%d",
                              e->socket_path, v.api_version, ENGINE_API_MINOR_MIN);
        if (major > 1 || minor > ENGINE_API_MINOR_OURS)
                minor = ENGINE_API_MINOR_OURS;
        __atomic_store_n(&e->api_minor, minor, __ATOMIC_RELAXED);
        snprintf(v.used_api, sizeof(v.used_api), "1.%d", minor);
        *ret = v;
        return 0;
}

int engine_info(struct engine *e, json_t **ret, struct al_error *err)
{
        return engine_info_within(e, ENGINE_TIMEOUT_MS, ret, err);
}

int engine_info_within(struct engine *e, long timeout_ms, json_t **ret, struct al_error *err)
{
        return engine_json(e, "GET", "/info", NULL, timeout_ms, "info", NULL, ret, err);
}

int engine_image_inspect(struct engine *e, const char *image, json_t **ret, struct al_error *err)
{
        return engine_image_inspect_within(e, image, ENGINE_TIMEOUT_MS, ret, err);
}

int engine_image_inspect_within(struct engine *e, const char *image, long timeout_ms, json_t **ret,
                                struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        json_t *j = NULL;
        int r;

        if ((r = bad_id(image, "inspect image", err)) < 0)
                return r;
        path = path_with_id("/images", image, "/json");
        if (!path)
                return al_err(err, -ENOMEM, "inspect image: out of memory");
        r = engine_json(e, "GET", path, NULL, timeout_ms, "inspect image", NULL, &j, err);
        if (r < 0)
                return r;
        if (ret)
                *ret = j;
        else
                json_decref(j);
        return 0;
}

/* The "Id" string of a JSON answer as a new string. */
static int take_id(json_t *j, const char *what, char **ret_id, struct al_error *err)
{
        const char *id = json_string_value(json_object_get(j, "Id"));
        char *copy;

        if (!id || !*id)
                return al_err(err, -AL_E_ENGINE, "%s: engine answer has no Id", what);
        copy = strdup(id);
        if (!copy)
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        *ret_id = copy;
        return 0;
}

int engine_container_create(struct engine *e, const char *name, json_t *body, char **ret_id,
                            struct al_error *err)
{
        _cleanup_free_ char *path = NULL, *esc = NULL;
        json_t *j = NULL;
        int r;

        if (name) {
                esc = engine_http_escape(name);
                if (!esc || asprintf(&path, "/containers/create?name=%s", esc) < 0)
                        return al_err(err, -ENOMEM, "create container: out of memory");
        }
        r = engine_json(e, "POST", path ? path : "/containers/create", body, ENGINE_TIMEOUT_MS,
                        "create container", NULL, &j, err);
        if (r < 0)
                return r;
        r = take_id(j, "create container", ret_id, err);
        json_decref(j);
        return r;
}

/* POST /containers/{id}<suffix> with no body and no answer wanted; *ret_status as engine_json. */
static int container_post(struct engine *e, const char *id, const char *suffix, long timeout_ms,
                          const char *what, long *ret_status, struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if ((r = bad_id(id, what, err)) < 0)
                return r;
        path = path_with_id("/containers", id, suffix);
        if (!path)
                return al_err(err, -ENOMEM, "%s: out of memory", what);
        return engine_json(e, "POST", path, NULL, timeout_ms, what, ret_status, NULL, err);
}

int engine_container_start(struct engine *e, const char *id, struct al_error *err)
{
        /* 304 (already started) is success: engine_json lets it through. */
        return container_post(e, id, "/start", ENGINE_TIMEOUT_MS, "start container", NULL, err);
}

int engine_container_inspect(struct engine *e, const char *id, json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if ((r = bad_id(id, "inspect container", err)) < 0)
                return r;
        path = path_with_id("/containers", id, "/json");
        if (!path)
                return al_err(err, -ENOMEM, "inspect container: out of memory");
        return engine_json(e, "GET", path, NULL, ENGINE_TIMEOUT_MS, "inspect container", NULL, ret,
                           err);
}

int engine_container_wait(struct engine *e, const char *id, int64_t *ret_status,
                          struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        json_t *j = NULL, *code, *werr;
        const char *msg;
        int r;

        if ((r = bad_id(id, "wait container", err)) < 0)
                return r;
        path = path_with_id("/containers", id, "/wait");
        if (!path)
                return al_err(err, -ENOMEM, "wait container: out of memory");
        /* No timeout: a container may legitimately run for as long as its policy allows. */
        r = engine_json(e, "POST", path, NULL, 0, "wait container", NULL, &j, err);
        if (r < 0)
                return r;
        code = json_object_get(j, "StatusCode");
        werr = json_object_get(j, "Error");
        msg = json_string_value(json_object_get(werr, "Message"));
        if (msg && *msg) {
                r = al_err(err, -AL_E_ENGINE, "wait container: %s", msg);
        } else if (!json_is_integer(code)) {
                r = al_err(err, -AL_E_ENGINE, "wait container: engine answer has no StatusCode");
        } else {
                *ret_status = json_integer_value(code);
                r = 0;
        }
        json_decref(j);
        return r;
}

int engine_container_kill(struct engine *e, const char *id, const char *signal,
                          struct al_error *err)
{
        _cleanup_free_ char *esc = NULL, *suffix = NULL;
        int r;

        esc = engine_http_escape(signal && *signal ? signal : "KILL");
        if (!esc || asprintf(&suffix, "/kill?signal=%s", esc) < 0)
                return al_err(err, -ENOMEM, "kill container: out of memory");
        r = container_post(e, id, suffix, ENGINE_TIMEOUT_MS, "kill container", NULL, err);
        /* 409: the container is not running, which is what a kill wants anyway. */
        if (r == -AL_E_CONFLICT) {
                al_err_clear(err);
                r = 0;
        }
        return r;
}

int engine_container_remove(struct engine *e, const char *id, struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if ((r = bad_id(id, "remove container", err)) < 0)
                return r;
        path = path_with_id("/containers", id, "?force=1&v=1");
        if (!path)
                return al_err(err, -ENOMEM, "remove container: out of memory");
        r = engine_json(e, "DELETE", path, NULL, ENGINE_TIMEOUT_MS, "remove container", NULL, NULL,
                        err);
        if (r == -ENOENT) {
                al_err_clear(err);
                r = 0;
        }
        return r;
}

int engine_container_list(struct engine *e, const char *label, json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *filters = NULL, *esc = NULL, *path = NULL;
        json_t *f, *j = NULL;
        int r;

        if (!label || !*label)
                return al_err(err, -EINVAL, "list containers: empty label");
        f = json_pack("{s:[s]}", "label", label);
        if (!f)
                return al_err(err, -ENOMEM, "list containers: out of memory");
        filters = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (!filters)
                return al_err(err, -ENOMEM, "list containers: out of memory");
        esc = engine_http_escape(filters);
        if (!esc || asprintf(&path, "/containers/json?all=1&filters=%s", esc) < 0)
                return al_err(err, -ENOMEM, "list containers: out of memory");
        r = engine_json(e, "GET", path, NULL, ENGINE_TIMEOUT_MS, "list containers", NULL, &j, err);
        if (r < 0)
                return r;
        if (!json_is_array(j)) {
                json_decref(j);
                return al_err(err, -AL_E_ENGINE, "list containers: engine answer is not a list");
        }
        *ret = j;
        return 0;
}

int engine_exec_create(struct engine *e, const char *container_id, json_t *body, char **ret_id,
                       struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        json_t *j = NULL;
        int r;

        if ((r = bad_id(container_id, "create exec", err)) < 0)
                return r;
        path = path_with_id("/containers", container_id, "/exec");
        if (!path)
                return al_err(err, -ENOMEM, "create exec: out of memory");
        r = engine_json(e, "POST", path, body, ENGINE_TIMEOUT_MS, "create exec", NULL, &j, err);
        if (r < 0)
                return r;
        r = take_id(j, "create exec", ret_id, err);
        json_decref(j);
        return r;
}

int engine_exec_inspect(struct engine *e, const char *exec_id, json_t **ret, struct al_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if ((r = bad_id(exec_id, "inspect exec", err)) < 0)
                return r;
        path = path_with_id("/exec", exec_id, "/json");
        if (!path)
                return al_err(err, -ENOMEM, "inspect exec: out of memory");
        return engine_json(e, "GET", path, NULL, ENGINE_TIMEOUT_MS, "inspect exec", NULL, ret, err);
}

static char *archive_path(const char *id, const char *path)
{
        _cleanup_free_ char *esc = engine_http_escape(path);
        _cleanup_free_ char *suffix = NULL;

        if (!esc || asprintf(&suffix, "/archive?path=%s", esc) < 0)
                return NULL;
        return path_with_id("/containers", id, suffix);
}

int engine_archive_get(struct engine *e, const char *id, const char *path, size_t max, char **ret,
                       size_t *ret_len, struct al_error *err)
{
        _cleanup_free_ char *p = NULL;
        struct req r = {
            .method = "GET", .timeout_ms = ENGINE_ARCHIVE_TIMEOUT_MS, .what = "get archive"};
        struct buf resp;
        long status = 0;
        int rc;

        if ((rc = bad_id(id, "get archive", err)) < 0)
                return rc;
        if (!path || !*path)
                return al_err(err, -EINVAL, "get archive: empty path");
        p = archive_path(id, path);
        if (!p)
                return al_err(err, -ENOMEM, "get archive: out of memory");
        r.path = p;
        /* Error bodies are small JSON; a cap below that would hide the engine's message. */
        buf_init(&resp, max < 65536 ? 65536 : max);
        rc = engine_do(e, &r, &resp, &status, err);
        if (rc == 0 && status != 200)
                rc = engine_status_error(status, resp.data, resp.len, "get archive", err);
        if (rc == 0 && resp.len > max)
                rc = al_err(err, -AL_E_TOO_LARGE, "get archive: archive exceeds %zu bytes", max);
        if (rc < 0) {
                buf_free(&resp);
                return rc;
        }
        *ret = buf_steal(&resp, ret_len);
        if (!*ret) {
                /* An empty archive still gets a valid pointer so callers need not special-case. */
                *ret = calloc(1, 1);
                *ret_len = 0;
                if (!*ret)
                        return al_err(err, -ENOMEM, "get archive: out of memory");
        }
        return 0;
}

int engine_archive_put(struct engine *e, const char *id, const char *path, const void *tar,
                       size_t len, struct al_error *err)
{
        _cleanup_free_ char *p = NULL;
        struct req r = {.method = "PUT",
                        .body = tar,
                        .body_len = len,
                        .content_type = "application/x-tar",
                        .timeout_ms = ENGINE_ARCHIVE_TIMEOUT_MS,
                        .what = "put archive"};
        struct buf resp;
        long status = 0;
        int rc;

        if ((rc = bad_id(id, "put archive", err)) < 0)
                return rc;
        if (!path || !*path)
                return al_err(err, -EINVAL, "put archive: empty path");
        p = archive_path(id, path);
        if (!p)
                return al_err(err, -ENOMEM, "put archive: out of memory");
        r.path = p;
        buf_init(&resp, 65536);
        rc = engine_do(e, &r, &resp, &status, err);
        if (rc == 0 && status != 200)
                rc = engine_status_error(status, resp.data, resp.len, "put archive", err);
        buf_free(&resp);
        return rc;
}
