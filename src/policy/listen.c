/* [monitor] listen: a loopback TCP address. The monitor listener answers without asking who
 * calls, so it must never face a network: anything but a loopback address is refused here,
 * when the settings are read, rather than found out once it is exposed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "airlock/policy.h"
#include "airlock/util.h"

int policy_parse_listen(const char *s, char *host, size_t host_len, uint16_t *ret_port)
{
        char addr[INET6_ADDRSTRLEN];
        const char *colon, *h = s;
        size_t hlen;
        int64_t port;

        if (!s || !*s || host_len < sizeof(addr))
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                h = s + 1;
                hlen = (size_t)(close - h);
                colon = close + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                hlen = (size_t)(colon - s);
        }
        if (hlen == 0 || hlen >= sizeof(addr))
                return -EINVAL;
        if (util_parse_int64(colon + 1, 1, 65535, &port) < 0)
                return -EINVAL;
        memcpy(addr, h, hlen);
        addr[hlen] = '\0';
        if (s[0] == '[') {
                struct in6_addr a6;

                if (inet_pton(AF_INET6, addr, &a6) != 1)
                        return -EINVAL;
                if (!IN6_IS_ADDR_LOOPBACK(&a6))
                        return -EPERM;
        } else {
                struct in_addr a4;

                if (inet_pton(AF_INET, addr, &a4) != 1)
                        return -EINVAL;
                if ((ntohl(a4.s_addr) >> 24) != 127)
                        return -EPERM;
        }
        snprintf(host, host_len, "%s", addr);
        *ret_port = (uint16_t)port;
        return 0;
}
