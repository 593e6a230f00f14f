/* Error object carried up the stack: a negative errno-like code and a message.
 * Fallible functions return < 0 and fill *err (when err is not NULL); callers wrap
 * the message with context on the way up and only the API layer maps codes to HTTP. */
#pragma once
#include <errno.h>
#include <stddef.h>

#define AL_ERR_MSG_MAX 512

/* Codes beyond errno for conditions errno has no good name for. */
enum {
        AL_E_ENGINE_DOWN = 1000,      /* the container engine does not answer (HTTP 503) */
        AL_E_ENGINE = 1001,           /* the engine answered with an error (HTTP 502) */
        AL_E_TOO_LARGE = 1002,        /* an input exceeds its cap (HTTP 413) */
        AL_E_FORBIDDEN = 1003,        /* the policy does not allow it (HTTP 403) */
        AL_E_CONFLICT = 1004,         /* state conflict (HTTP 409) */
        AL_E_LIMITED = 1005,          /* rate or concurrency limit (HTTP 429) */
        AL_E_PROVIDER = 1006,         /* a remote provider failed or refused (HTTP 502) */
        AL_E_TIER_UNAVAILABLE = 1007, /* an isolation tier is not in force here (HTTP 503) */
};

struct al_error {
        int code; /* negative: -errno or -AL_E_* */
        char msg[AL_ERR_MSG_MAX];
};

/* Set err (if not NULL) to code and a printf-style message; returns code (which must be < 0). */
int al_err(struct al_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like al_err, appending ": strerror(-code)". */
int al_err_errno(struct al_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context ("context: old message") and set the code to code,
 * the callee's return value; returns code (which must be < 0). */
int al_err_wrap(struct al_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset to "no error". */
void al_err_clear(struct al_error *err);

/* Short stable name for a code, used as the API's error.code string. */
const char *al_err_name(int code);
