/* Host names, domain patterns and CIDR blocks of the network policy (airlock/netrule.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "airlock/netrule.h"

static bool label_char(unsigned char ch)
{
        return isalnum(ch) || ch == '-';
}

/* An ASCII name: labels of 1..63 from label_char, '-' not at a label's ends. */
static bool ascii_name_valid(const char *s)
{
        size_t n = strlen(s), label = 0;

        if (n == 0 || n > NETRULE_NAME_MAX)
                return false;
        for (size_t i = 0; i <= n; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch == '.' || ch == '\0') {
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!label_char(ch))
                        return false;
                label++;
        }
        return true;
}

bool netrule_ip_literal(const char *s)
{
        char buf[64];
        uint8_t a[16];
        size_t n = strlen(s);

        if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
                if (n - 2 >= sizeof(buf))
                        return false;
                memcpy(buf, s + 1, n - 2);
                buf[n - 2] = '\0';
                s = buf;
        }
        if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
                return true;
        /* inet_aton forms ("127.1", "0x7f000001", "2130706433") reach the same addresses
         * through getaddrinfo: they are literals too. */
        struct in_addr ia;
        return inet_aton(s, &ia) != 0;
}

int netrule_name_normalize(const char *in, char out[NETRULE_NAME_SIZE])
{
        char buf[NETRULE_NAME_SIZE * 4];
        size_t n;
        bool ascii = true;

        if (!in)
                return -EINVAL;
        n = strlen(in);
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, in, n + 1);
        if (buf[n - 1] == '.')
                buf[--n] = '\0';
        for (size_t i = 0; i < n; i++) {
                if ((unsigned char)buf[i] >= 0x80)
                        ascii = false;
                else
                        buf[i] = (char)tolower((unsigned char)buf[i]);
        }
        if (!ascii) {
                char *a = NULL;

                /* TR46 non-transitional mapping, as browsers and curl do. */
                if (idn2_to_ascii_8z(buf, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
                        return -EINVAL;
                n = strlen(a);
                if (n >= sizeof(buf)) {
                        idn2_free(a);
                        return -EINVAL;
                }
                memcpy(buf, a, n + 1);
                idn2_free(a);
                for (size_t i = 0; i < n; i++)
                        buf[i] = (char)tolower((unsigned char)buf[i]);
        }
        if (netrule_ip_literal(buf) || !ascii_name_valid(buf))
                return -EINVAL;
        memcpy(out, buf, n + 1);
        return 0;
}

int netrule_pattern_normalize(const char *in, char out[NETRULE_NAME_SIZE + 2], const char **ret_why)
{
        const char *why = "not a host name";
        bool wild = in && in[0] == '*';

        if (wild && in[1] != '.') {
                why = "'*' may only start a pattern, as '*.' before a domain";
                goto bad;
        }
        if (netrule_name_normalize(wild ? in + 2 : in, out + (wild ? 2 : 0)) < 0)
                goto bad;
        if (wild) {
                out[0] = '*';
                out[1] = '.';
                if (!strchr(out + 2, '.')) {
                        why = "a wildcard must stand before at least two labels ('*.com' would "
                              "open a whole top-level domain)";
                        goto bad;
                }
        }
        return 0;
bad:
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

bool netrule_pattern_match(const char *pattern, const char *host)
{
        size_t pn, hn;

        if (pattern[0] != '*')
                return strcmp(pattern, host) == 0;
        /* "*.github.com": "api.github.com" and "a.b.github.com", never "github.com". */
        pattern += 1; /* ".github.com" */
        pn = strlen(pattern);
        hn = strlen(host);
        return hn > pn && strcmp(host + hn - pn, pattern) == 0;
}

const char *netrule_list_match(char *const *patterns, const char *host)
{
        for (size_t i = 0; patterns && patterns[i]; i++)
                if (netrule_pattern_match(patterns[i], host))
                        return patterns[i];
        return NULL;
}

int netrule_cidr_parse(const char *s, struct netrule_cidr *ret)
{
        char buf[64];
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        struct netrule_cidr c = {0};
        unsigned max;

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, c.addr) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, buf, c.addr) == 1)
                c.family = AF_INET6;
        else
                return -EINVAL;
        max = c.family == AF_INET ? 32 : 128;
        c.prefix = max;
        if (slash) {
                char *end;
                long p;

                if (!isdigit((unsigned char)slash[1]))
                        return -EINVAL;
                p = strtol(slash + 1, &end, 10);
                if (*end || p < 0 || p > (long)max)
                        return -EINVAL;
                c.prefix = (unsigned)p;
        }
        /* Host bits set ("10.1.2.3/16") usually mean a typo: refuse rather than guess. */
        for (unsigned bit = c.prefix; bit < max; bit++)
                if (c.addr[bit / 8] & (0x80 >> (bit % 8)))
                        return -EINVAL;
        *ret = c;
        return 0;
}

bool netrule_cidr_contains(const struct netrule_cidr *c, int family, const uint8_t *addr)
{
        unsigned full = c->prefix / 8, rest = c->prefix % 8;

        if (c->family != family)
                return false;
        if (memcmp(c->addr, addr, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((c->addr[full] ^ addr[full]) & (0xff00 >> rest)) == 0;
}
