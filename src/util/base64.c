/* Base64 (include/airlock/base64.h). */
#include "airlock/base64.h"

#include <stdlib.h>

char *base64_encode(const void *data, size_t n)
{
        const uint8_t *p = data;
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);

                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
                *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? tbl[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

ssize_t base64_decode(const char *s, size_t n, uint8_t **ret)
{
        uint8_t *out;
        size_t o = 0;

        if (n % 4)
                return -1;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -1;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];

                for (int k = 0; k < 4; k++) {
                        v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : value(s[i + k]);
                        if (v[k] < 0 || (k == 2 && s[i + 2] == '=' && s[i + 3] != '=')) {
                                free(out);
                                return -1;
                        }
                }
                out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
                if (s[i + 2] != '=')
                        out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
                if (s[i + 3] != '=')
                        out[o++] = (uint8_t)(v[2] << 6 | v[3]);
        }
        out[o] = '\0';
        *ret = out;
        return (ssize_t)o;
}
