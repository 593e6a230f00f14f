/* The egress proxy's pure parts: which addresses are never reached, what the tier and lists
 * say of a name, the HTTP proxy request head and the TLS ClientHello's server name. Everything
 * here reads bytes from a sandbox: every length is checked against what is held. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "airlock/cleanup.h"
#include "airlock/egress.h"

struct block {
        const char *cidr;
        const char *why;
};

/* Never reached whatever the tier (allowed_cidrs cannot open the first group). */
static const struct block always4[] = {
    {"0.0.0.0/8", "address_unspecified"},
    {"127.0.0.0/8", "address_loopback"},
    {"224.0.0.0/4", "address_multicast"},
    {"255.255.255.255/32", "address_broadcast"},
};
static const struct block private4[] = {
    {"10.0.0.0/8", "address_private"},        {"172.16.0.0/12", "address_private"},
    {"192.168.0.0/16", "address_private"},    {"100.64.0.0/10", "address_cgnat"},
    {"169.254.0.0/16", "address_link_local"}, {"192.0.0.0/24", "address_reserved"},
    {"192.0.2.0/24", "address_reserved"},     {"198.18.0.0/15", "address_reserved"},
    {"198.51.100.0/24", "address_reserved"},  {"203.0.113.0/24", "address_reserved"},
    {"240.0.0.0/4", "address_reserved"},
};
static const struct block always6[] = {
    {"::/128", "address_unspecified"},
    {"::1/128", "address_loopback"},
    {"ff00::/8", "address_multicast"},
    /* IPv4 inside IPv6 reaches IPv4 addresses by another name. */
    {"::ffff:0:0/96", "address_ipv4_embedded"},
    {"::/96", "address_ipv4_embedded"},
    {"64:ff9b::/96", "address_ipv4_embedded"},
    {"64:ff9b:1::/48", "address_ipv4_embedded"},
    {"2002::/16", "address_ipv4_embedded"},
    {"2001::/32", "address_ipv4_embedded"},
};
static const struct block private6[] = {
    {"fc00::/7", "address_private"},  {"fe80::/10", "address_link_local"},
    {"fec0::/10", "address_private"}, {"2001:db8::/32", "address_reserved"},
    {"100::/64", "address_reserved"},
};

static const char *in_blocks(const struct block *b, size_t n, int family, const uint8_t *addr)
{
        for (size_t i = 0; i < n; i++) {
                struct netrule_cidr c;

                if (netrule_cidr_parse(b[i].cidr, &c) == 0 &&
                    netrule_cidr_contains(&c, family, addr))
                        return b[i].why;
        }
        return NULL;
}

const char *egress_addr_refused(int family, const uint8_t *addr, const struct netrule_cidr *cidrs,
                                size_t n_cidrs)
{
        const char *why;
        bool v4 = family == AF_INET;

        if (family != AF_INET && family != AF_INET6)
                return "address_family";
        why = v4 ? in_blocks(always4, ARRAY_SIZE(always4), family, addr)
                 : in_blocks(always6, ARRAY_SIZE(always6), family, addr);
        if (why)
                return why;
        for (size_t i = 0; i < n_cidrs; i++)
                if (netrule_cidr_contains(&cidrs[i], family, addr))
                        return NULL;
        return v4 ? in_blocks(private4, ARRAY_SIZE(private4), family, addr)
                  : in_blocks(private6, ARRAY_SIZE(private6), family, addr);
}

const char *egress_name_refused(const struct egress_rules *rules, const char *host)
{
        if (rules->tier == NETWORK_RESTRICTED)
                return "tier_restricted";
        /* A name on both lists is refused: blocked wins. */
        if (netrule_list_match(rules->blocked, host))
                return "blocked_domain";
        if (rules->tier == NETWORK_STANDARD && !netrule_list_match(rules->allowed, host))
                return "not_allowed";
        return NULL;
}

/* host[:port] or [v6][:port] into host (brackets dropped) and port (default when absent). */
static int split_authority(const char *s, size_t n, int def_port, char *host, size_t host_size,
                           int *ret_port)
{
        const char *colon = NULL, *hs = s;
        size_t hn;
        long port = def_port;

        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);

                if (!close)
                        return -EINVAL;
                hs = s + 1;
                hn = (size_t)(close - hs);
                if ((size_t)(close + 1 - s) < n) {
                        if (close[1] != ':')
                                return -EINVAL;
                        colon = close + 1;
                }
        } else {
                colon = memchr(s, ':', n);
                hn = colon ? (size_t)(colon - s) : n;
        }
        if (colon) {
                char buf[8];
                size_t pn = n - (size_t)(colon + 1 - s);
                char *end;

                if (pn == 0 || pn >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, colon + 1, pn);
                buf[pn] = '\0';
                port = strtol(buf, &end, 10);
                if (*end || buf[0] < '0' || buf[0] > '9')
                        return -EINVAL;
        }
        if (hn == 0 || hn >= host_size || port < 1 || port > 65535)
                return -EINVAL;
        memcpy(host, hs, hn);
        host[hn] = '\0';
        if (strlen(host) != hn)
                return -EINVAL;
        *ret_port = (int)port;
        return 0;
}

int egress_http_parse(const char *head, size_t len, struct egress_http *ret, const char **ret_why)
{
        struct egress_http h = {0};
        const char *end, *sp1, *sp2, *eol, *target;
        size_t tlen;

        *ret_why = "bad_request";
        end = memmem(head, len, "\r\n\r\n", 4);
        if (!end)
                return len >= EGRESS_HEAD_MAX ? -E2BIG : 0;
        h.head_len = (size_t)(end + 4 - head);
        eol = memmem(head, h.head_len, "\r\n", 2);
        h.line_len = (size_t)(eol + 2 - head);
        sp1 = memchr(head, ' ', (size_t)(eol - head));
        if (!sp1 || sp1 == head || (size_t)(sp1 - head) >= sizeof(h.method))
                return -EINVAL;
        memcpy(h.method, head, (size_t)(sp1 - head));
        for (const char *m = h.method; *m; m++)
                if (*m < 'A' || *m > 'Z')
                        return -EINVAL;
        target = sp1 + 1;
        sp2 = memchr(target, ' ', (size_t)(eol - target));
        if (!sp2 || sp2 == target)
                return -EINVAL;
        if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
            (sp2[8] != '0' && sp2[8] != '1'))
                return -EINVAL;
        tlen = (size_t)(sp2 - target);
        if (strcmp(h.method, "CONNECT") == 0) {
                h.connect = true;
                if (split_authority(target, tlen, 0, h.host, sizeof(h.host), &h.port) < 0 ||
                    h.port == 0)
                        return -EINVAL;
        } else {
                const char *auth, *slash;

                if (tlen < 7 || strncasecmp(target, "http://", 7) != 0) {
                        *ret_why = tlen >= 8 && strncasecmp(target, "https://", 8) == 0
                                       ? "https_needs_connect"
                                       : "not_a_proxy_request";
                        return -EINVAL;
                }
                auth = target + 7;
                slash = memchr(auth, '/', (size_t)(sp2 - auth));
                if (!slash)
                        slash = memchr(auth, '?', (size_t)(sp2 - auth));
                if (split_authority(auth, (size_t)((slash ? slash : sp2) - auth), 80, h.host,
                                    sizeof(h.host), &h.port) < 0 ||
                    memchr(h.host, '@', strlen(h.host)))
                        return -EINVAL;
                h.path = slash;
                h.path_len = slash ? (size_t)(sp2 - slash) : 0;
        }
        *ret = h;
        *ret_why = NULL;
        return 1;
}

static unsigned be16(const uint8_t *p)
{
        return (unsigned)p[0] << 8 | p[1];
}

int egress_sni_parse(const uint8_t *d, size_t len, char out[NETRULE_NAME_SIZE])
{
        size_t rec_len, p, end, n;

        if (len < 1)
                return -EAGAIN;
        if (d[0] != 0x16) /* not a TLS handshake record */
                return 0;
        if (len < 5)
                return -EAGAIN;
        rec_len = be16(d + 3);
        if (len < 5 + rec_len)
                return -EAGAIN;
        end = 5 + rec_len;
        p = 5;
        /* Handshake: type 1 (ClientHello), 3-byte length, version, 32 random bytes. */
        if (p + 4 > end || d[p] != 0x01)
                return 0;
        n = (size_t)d[p + 1] << 16 | (size_t)d[p + 2] << 8 | d[p + 3];
        p += 4;
        if (n < end - p)
                end = p + n;
        p += 2 + 32;
        if (p + 1 > end)
                return 0;
        p += 1 + d[p]; /* session id */
        if (p + 2 > end)
                return 0;
        p += 2 + be16(d + p); /* cipher suites */
        if (p + 1 > end)
                return 0;
        p += 1 + d[p]; /* compression methods */
        if (p + 2 > end)
                return 0;
        n = be16(d + p);
        p += 2;
        if (p + n < end)
                end = p + n;
        while (p + 4 <= end) {
                unsigned type = be16(d + p);
                size_t elen = be16(d + p + 2), q, lend;

                p += 4;
                if (p + elen > end)
                        return 0;
                if (type != 0) {
                        p += elen;
                        continue;
                }
                /* server_name: list length, then (type 0 host_name, length, name). */
                if (elen < 2)
                        return 0;
                q = p + 2;
                lend = p + 2 + be16(d + p);
                if (lend > p + elen)
                        return 0;
                while (q + 3 <= lend) {
                        unsigned nt = d[q];
                        size_t nl = be16(d + q + 1);

                        q += 3;
                        if (q + nl > lend)
                                return 0;
                        if (nt == 0) {
                                if (nl == 0 || nl >= NETRULE_NAME_SIZE || memchr(d + q, 0, nl))
                                        return 0;
                                memcpy(out, d + q, nl);
                                out[nl] = '\0';
                                return 1;
                        }
                        q += nl;
                }
                return 0;
        }
        return 0;
}
