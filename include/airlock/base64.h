/* Standard padded base64 (RFC 4648 section 4), for JSON fields that carry bytes. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The encoding of n bytes as a new NUL-terminated string; NULL on ENOMEM. */
char *base64_encode(const void *p, size_t n);
/* Decodes standard padded base64 into a new buffer (*ret, NUL-terminated, caller frees);
 * returns its length, or -1 when s is not base64 or on ENOMEM. */
ssize_t base64_decode(const char *s, size_t n, uint8_t **ret);
