/* What engine.c and stream.c share: the engine object and the error mapping. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "airlock/engine.h"

#define ENGINE_POOL_MAX        8
#define ENGINE_API_MINOR_OURS  41 /* we speak API 1.41 (Docker 20.10) */
#define ENGINE_API_MINOR_MIN   40
#define ENGINE_TIMEOUT_MS      30000L
#define ENGINE_CONNECT_TIMEOUT 5000L
#define ENGINE_JSON_MAX        (8u << 20)

struct engine {
        char *socket_path;
        enum engine_kind kind;
        int api_minor; /* negotiated "1.<minor>"; read and written atomically */
        pthread_mutex_t lock;
        CURL *pool[ENGINE_POOL_MAX]; /* idle handles, most recently used last */
        size_t pool_len;
};

/* Minor version of the API path prefix ("/v1.<minor>"). */
int engine_api_minor(const struct engine *e);
/* Turn an HTTP status >= 300 and the engine's body (its {"message":...} or raw text) into an
 * error: 404 -ENOENT, 409 -AL_E_CONFLICT, else -AL_E_ENGINE. what names the operation. */
int engine_status_error(long status, const char *body, size_t len, const char *what,
                        struct al_error *err);
