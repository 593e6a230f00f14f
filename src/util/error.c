#include "airlock/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct al_error *err, int code, const char *fmt, va_list ap)
{
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int al_err(struct al_error *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        va_start(ap, fmt);
        vset(err, code, fmt, ap);
        va_end(ap);
        return code;
}

int al_err_errno(struct al_error *err, int code, const char *fmt, ...)
{
        va_list ap;
        size_t n;

        if (!err)
                return code;
        va_start(ap, fmt);
        vset(err, code, fmt, ap);
        va_end(ap);
        n = strlen(err->msg);
        if (code > -AL_E_ENGINE_DOWN)
                snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
        return code;
}

int al_err_wrap(struct al_error *err, int code, const char *fmt, ...)
{
        char prefix[AL_ERR_MSG_MAX], old[AL_ERR_MSG_MAX];
        va_list ap;

        if (!err)
                return code;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        /* prefix + ": " + old, cut at the buffer's end. */
        {
                size_t n = strlen(prefix), o = strlen(old), cap = sizeof(err->msg) - 1, at = 0;

                memcpy(err->msg, prefix, n < cap ? n : cap);
                at = n < cap ? n : cap;
                for (const char *sep = ": "; *sep && at < cap; sep++)
                        err->msg[at++] = *sep;
                if (o > cap - at)
                        o = cap - at;
                memcpy(err->msg + at, old, o);
                err->msg[at + o] = '\0';
        }
        return code;
}

void al_err_clear(struct al_error *err)
{
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}

const char *al_err_name(int code)
{
        switch (-code) {
        case 0:
                return "ok";
        case EINVAL:
        case E2BIG:
                return "invalid_request";
        case ENOENT:
                return "not_found";
        case EPERM:
        case EACCES:
        case AL_E_FORBIDDEN:
                return "forbidden";
        case EEXIST:
        case EBUSY:
        case AL_E_CONFLICT:
                return "conflict";
        case AL_E_TOO_LARGE:
        case EMSGSIZE:
                return "too_large";
        case AL_E_LIMITED:
        case EAGAIN:
                return "rate_limited";
        case ENOSPC:
                return "insufficient_storage";
        case AL_E_ENGINE_DOWN:
                return "engine_unavailable";
        case AL_E_TIER_UNAVAILABLE:
                return "tier_unavailable";
        case AL_E_ENGINE:
                return "engine_error";
        case AL_E_PROVIDER:
                return "provider_error";
        case ETIMEDOUT:
                return "timeout";
        case ENOSYS:
        case EOPNOTSUPP:
                return "not_supported";
        default:
                return "internal_error";
        }
}
