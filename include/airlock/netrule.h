/* The pure pieces of the network policy (docs/egress.md): host names normalised the one way
 * (lower case, no trailing dot, IDNA to its ASCII form), domain patterns ("pypi.org" exact,
 * "*.github.com" strict subdomains), and CIDR blocks for allowed_cidrs. Shared by the settings
 * parser, which refuses what would not match as meant, and the egress proxy, which matches. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest host name (RFC 1035, text form), and a buffer that holds one. */
#define NETRULE_NAME_MAX  253
#define NETRULE_NAME_SIZE (NETRULE_NAME_MAX + 1)

/* Normalise a host name: lower case, one trailing dot dropped, non-ASCII labels to their IDNA
 * A-labels; then it must be a host name (letters, digits, '-' within labels of 1..63, at most
 * NETRULE_NAME_MAX). Writes out (NETRULE_NAME_SIZE bytes). Returns 0 or
 * -EINVAL. An IP literal is not a name: it is refused here (-EINVAL), see netrule_ip_literal. */
int netrule_name_normalize(const char *in, char out[NETRULE_NAME_SIZE]);

/* Normalise a domain pattern: a name, or "*." and a name of at least two labels ("*" alone and
 * "*.com" would open a whole top-level domain and are refused). Returns 0 or -EINVAL with why
 * (a static string) in *ret_why. */
int netrule_pattern_normalize(const char *in, char out[NETRULE_NAME_SIZE + 2],
                              const char **ret_why);

/* Whether normalised host matches normalised pattern. */
bool netrule_pattern_match(const char *pattern, const char *host);

/* The first pattern of the NULL-terminated list that host matches, or NULL. */
const char *netrule_list_match(char *const *patterns, const char *host);

/* An address block: family AF_INET or AF_INET6, 16 bytes (IPv4 in the first 4), prefix bits. */
struct netrule_cidr {
        int family;
        uint8_t addr[16];
        unsigned prefix;
};

/* Parse "10.1.0.0/16", "fd00::/8" or a single address (a /32 or /128). Host bits must be zero.
 * Returns 0 or -EINVAL. */
int netrule_cidr_parse(const char *s, struct netrule_cidr *ret);

/* Whether the address (family, 4 or 16 bytes) is inside the block. */
bool netrule_cidr_contains(const struct netrule_cidr *c, int family, const uint8_t *addr);

/* Whether s is an IPv4 or IPv6 literal (with or without [brackets]). */
bool netrule_ip_literal(const char *s);
