#include "http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t engine_http_header_end(const char *buf, size_t len)
{
        const char *p;

        if (len < 4)
                return 0;
        p = memmem(buf, len, "\r\n\r\n", 4);
        return p ? (size_t)(p - buf) + 4 : 0;
}

int engine_http_status(const char *hdr, size_t len, int *ret_code)
{
        int code = 0;

        /* "HTTP/1.1 101 UPGRADED": 9 bytes of prefix, three digits, then space or line end. */
        if (len < 12 || memcmp(hdr, "HTTP/1.", 7) != 0 || (hdr[7] != '0' && hdr[7] != '1') ||
            hdr[8] != ' ')
                return -EPROTO;
        for (size_t i = 9; i < 12; i++) {
                if (hdr[i] < '0' || hdr[i] > '9')
                        return -EPROTO;
                code = code * 10 + (hdr[i] - '0');
        }
        if (len > 12 && hdr[12] != ' ' && hdr[12] != '\r')
                return -EPROTO;
        if (code < 100)
                return -EPROTO;
        *ret_code = code;
        return 0;
}

int engine_http_header_get(const char *hdr, size_t len, const char *name, char *out,
                           size_t out_size)
{
        size_t nlen = strlen(name);
        const char *p = hdr, *end = hdr + len;

        /* Skip the status line; header lines follow, each ending in CRLF. */
        while (p < end) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                const char *v, *ve;
                size_t vlen;

                if (!eol)
                        eol = end;
                if (p != hdr && (size_t)(eol - p) > nlen && p[nlen] == ':' &&
                    strncasecmp(p, name, nlen) == 0) {
                        v = p + nlen + 1;
                        ve = eol;
                        while (v < ve && (*v == ' ' || *v == '\t'))
                                v++;
                        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                                ve--;
                        vlen = (size_t)(ve - v);
                        if (vlen + 1 > out_size)
                                return -E2BIG;
                        memcpy(out, v, vlen);
                        out[vlen] = '\0';
                        return (int)vlen;
                }
                p = eol + 2;
        }
        return -ENOENT;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int engine_http_dechunk(const char *in, size_t len, char *out, size_t *ret_len)
{
        size_t i = 0, o = 0;

        for (;;) {
                size_t size = 0, digits = 0;
                const char *eol;

                /* Chunk size line: hex digits, optional ";ext", CRLF. */
                while (i < len && hexval(in[i]) >= 0) {
                        if (size > (SIZE_MAX >> 4))
                                return -EPROTO;
                        size = size * 16 + (size_t)hexval(in[i]);
                        i++;
                        digits++;
                }
                if (i >= len)
                        break;
                if (digits == 0)
                        return -EPROTO;
                eol = memmem(in + i, len - i, "\r\n", 2);
                if (!eol)
                        break;
                if (in[i] != '\r' && in[i] != ';' && in[i] != ' ')
                        return -EPROTO;
                i = (size_t)(eol - in) + 2;
                if (size == 0) {
                        /* Trailers are not used by the engines; the last chunk ends the body. */
                        *ret_len = o;
                        return 1;
                }
                if (len - i < size) {
                        memmove(out + o, in + i, len - i);
                        o += len - i;
                        *ret_len = o;
                        return 0;
                }
                memmove(out + o, in + i, size);
                o += size;
                i += size;
                if (len - i < 2)
                        break;
                if (in[i] != '\r' || in[i + 1] != '\n')
                        return -EPROTO;
                i += 2;
        }
        *ret_len = o;
        return 0;
}

char *engine_http_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~') {
                        *o++ = (char)c;
                } else {
                        *o++ = '%';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 15];
                }
        }
        *o = '\0';
        return out;
}
