/* Growable byte buffer with a hard cap: bytes past max are counted and dropped, never stored. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct buf {
        char *data;     /* always NUL-terminated when not NULL */
        size_t len;     /* bytes stored */
        size_t alloc;   /* bytes allocated */
        size_t max;     /* hard cap on len */
        size_t dropped; /* bytes offered past the cap */
};

void buf_init(struct buf *b, size_t max);
/* Append up to the cap; returns 0, or -ENOMEM. Bytes past the cap set dropped. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool buf_truncated(const struct buf *b)
{
        return b->dropped > 0;
}
void buf_reset(struct buf *b);
/* Free the storage; the struct may be reused after buf_init. */
void buf_free(struct buf *b);
/* Hand the data to the caller (NUL-terminated, possibly NULL when empty) and reset. */
char *buf_steal(struct buf *b, size_t *ret_len);
