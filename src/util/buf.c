#include "airlock/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
        memset(b, 0, sizeof(*b));
        b->max = max;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
        size_t room = b->max > b->len ? b->max - b->len : 0;
        size_t take = n < room ? n : room;

        b->dropped += n - take;
        if (take == 0)
                return 0;
        if (b->len + take + 1 > b->alloc) {
                size_t want = b->alloc ? b->alloc : 256;
                char *nd;

                while (want < b->len + take + 1)
                        want *= 2;
                if (want > b->max + 1)
                        want = b->max + 1;
                nd = realloc(b->data, want);
                if (!nd)
                        return -ENOMEM;
                b->data = nd;
                b->alloc = want;
        }
        memcpy(b->data + b->len, p, take);
        b->len += take;
        b->data[b->len] = '\0';
        return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
        char small[512], *big = NULL;
        va_list ap;
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n < sizeof(small))
                return buf_append(b, small, (size_t)n);
        va_start(ap, fmt);
        n = vasprintf(&big, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        r = buf_append(b, big, (size_t)n);
        free(big);
        return r;
}

void buf_reset(struct buf *b)
{
        b->len = 0;
        b->dropped = 0;
        if (b->data)
                b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->alloc = b->dropped = 0;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
        char *d = b->data;

        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->alloc = b->dropped = 0;
        return d;
}
