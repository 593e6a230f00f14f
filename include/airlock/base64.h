/* Standard padded base64 (RFC 4648, section 4): artifacts and contexts' images, and files
 * carried inside JSON (the MCP file tools). Pure, libc only: the in-sandbox agent links it
 * too. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A new NUL-terminated string; NULL when out of memory. */
char *base64_encode(const void *p, size_t n);
/* Decodes s (n characters, padded) into a new buffer (*ret, one byte more than the length,
 * NUL-terminated); the length, or -1 when s is not base64 or on ENOMEM. */
ssize_t base64_decode(const char *s, size_t n, uint8_t **ret);
