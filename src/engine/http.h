/* Pure helpers for the few bits of HTTP/1.1 the hijacked streams parse by hand (libcurl does
 * the rest): the end of a response header, its status line, a header's value, a chunked body,
 * and percent-encoding for URL paths and queries. No I/O, no allocation except escape. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Offset just past the "\r\n\r\n" that ends the header in buf[0..len), or 0 if not there yet. */
size_t engine_http_header_end(const char *buf, size_t len);
/* Parse the status line "HTTP/1.x NNN ..." at the start of hdr; -EPROTO when malformed. */
int engine_http_status(const char *hdr, size_t len, int *ret_code);
/* Copy the trimmed value of header name (case-insensitive) from hdr[0..len) into out (NUL
 * terminated). Returns the value's length, -ENOENT when absent, -E2BIG when it does not fit. */
int engine_http_header_get(const char *hdr, size_t len, const char *name, char *out,
                           size_t out_size);
/* Decode the chunked body in[0..len) into out (room for len bytes is always enough); sets
 * *ret_len to the decoded length. Returns 1 when the last chunk was seen, 0 when more input is
 * needed, -EPROTO on a malformed body. */
int engine_http_dechunk(const char *in, size_t len, char *out, size_t *ret_len);
/* New string with every byte outside [A-Za-z0-9-._~] percent-encoded; NULL on ENOMEM. */
char *engine_http_escape(const char *s);
