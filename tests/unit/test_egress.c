/* The egress proxy's pure logic: names and patterns, CIDR blocks, the address classes that are
 * never reached, the tier and lists, the HTTP proxy request line and the ClientHello's SNI. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "airlock/cleanup.h"
#include "airlock/egress.h"
#include "airlock/netrule.h"
#include "airlock/policy.h"

START_TEST(test_names)
{
        char out[NETRULE_NAME_SIZE];

        ck_assert_int_eq(netrule_name_normalize("PyPI.Org.", out), 0);
        ck_assert_str_eq(out, "pypi.org");
        ck_assert_int_eq(netrule_name_normalize("bücher.example", out), 0);
        ck_assert_str_eq(out, "xn--bcher-kva.example");
        ck_assert_int_eq(netrule_name_normalize("BÜCHER.example", out), 0);
        ck_assert_str_eq(out, "xn--bcher-kva.example");
        ck_assert_int_eq(netrule_name_normalize("10.0.0.1", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("2130706433", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("127.1", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("a..b", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("a b.org", out), -EINVAL);
        ck_assert_int_eq(netrule_name_normalize("-a.org", out), -EINVAL);
}
END_TEST

START_TEST(test_patterns)
{
        char out[NETRULE_NAME_SIZE + 2];
        const char *why = NULL;

        ck_assert_int_eq(netrule_pattern_normalize("*.GitHub.com", out, &why), 0);
        ck_assert_str_eq(out, "*.github.com");
        ck_assert_int_eq(netrule_pattern_normalize("*", out, &why), -EINVAL);
        ck_assert_int_eq(netrule_pattern_normalize("*.com", out, &why), -EINVAL);
        ck_assert_ptr_nonnull(strstr(why, "two labels"));
        ck_assert_int_eq(netrule_pattern_normalize("a.*.com", out, &why), -EINVAL);
        ck_assert_int_eq(netrule_pattern_normalize("*x.com", out, &why), -EINVAL);
        ck_assert(netrule_pattern_match("pypi.org", "pypi.org"));
        ck_assert(!netrule_pattern_match("pypi.org", "x.pypi.org"));
        ck_assert(!netrule_pattern_match("pypi.org", "evilpypi.org"));
        ck_assert(netrule_pattern_match("*.github.com", "api.github.com"));
        ck_assert(netrule_pattern_match("*.github.com", "a.b.github.com"));
        ck_assert(!netrule_pattern_match("*.github.com", "github.com"));
        ck_assert(!netrule_pattern_match("*.github.com", "evilgithub.com"));
}
END_TEST

static void addr(const char *s, int *fam, uint8_t a[16])
{
        memset(a, 0, 16);
        *fam = inet_pton(AF_INET, s, a) == 1 ? AF_INET : AF_INET6;
        if (*fam == AF_INET6)
                ck_assert_int_eq(inet_pton(AF_INET6, s, a), 1);
}

static const struct {
        const char *addr;
        const char *why; /* NULL: public */
} classes[] = {
    {"8.8.8.8", NULL},
    {"151.101.0.223", NULL},
    {"2a04:4e42::223", NULL},
    {"127.0.0.1", "address_loopback"},
    {"127.9.9.9", "address_loopback"},
    {"0.0.0.0", "address_unspecified"},
    {"10.1.2.3", "address_private"},
    {"172.16.0.1", "address_private"},
    {"172.31.255.255", "address_private"},
    {"172.32.0.1", NULL},
    {"192.168.1.1", "address_private"},
    {"100.64.0.1", "address_cgnat"},
    {"100.100.100.200", "address_cgnat"}, /* Alibaba's metadata */
    {"169.254.169.254", "address_link_local"},
    {"224.0.0.1", "address_multicast"},
    {"255.255.255.255", "address_broadcast"},
    {"::1", "address_loopback"},
    {"::", "address_unspecified"},
    {"::ffff:127.0.0.1", "address_ipv4_embedded"},
    {"::ffff:8.8.8.8", "address_ipv4_embedded"},
    {"::127.0.0.1", "address_ipv4_embedded"},
    {"64:ff9b::a9fe:a9fe", "address_ipv4_embedded"},
    {"2002:a9fe:a9fe::1", "address_ipv4_embedded"},
    {"fd00:ec2::254", "address_private"}, /* AWS's IPv6 metadata */
    {"fe80::1", "address_link_local"},
    {"ff02::1", "address_multicast"},
};

START_TEST(test_classes)
{
        uint8_t a[16];
        int fam;
        const char *why;

        addr(classes[_i].addr, &fam, a);
        why = egress_addr_refused(fam, a, NULL, 0);
        if (classes[_i].why)
                ck_assert_msg(why && strcmp(why, classes[_i].why) == 0, "%s: %s", classes[_i].addr,
                              why ? why : "(public)");
        else
                ck_assert_msg(!why, "%s: %s", classes[_i].addr, why);
}
END_TEST

START_TEST(test_cidrs)
{
        struct netrule_cidr c[2];
        uint8_t a[16];
        int fam;

        ck_assert_int_eq(netrule_cidr_parse("10.213.0.0/16", &c[0]), 0);
        ck_assert_int_eq(netrule_cidr_parse("fd00:1::/64", &c[1]), 0);
        ck_assert_int_eq(netrule_cidr_parse("10.213.1.0/16", &c[0]), -EINVAL);
        ck_assert_int_eq(netrule_cidr_parse("10.0.0.0/33", &c[0]), -EINVAL);
        ck_assert_int_eq(netrule_cidr_parse("x/8", &c[0]), -EINVAL);
        ck_assert_int_eq(netrule_cidr_parse("10.213.0.0/16", &c[0]), 0);
        addr("10.213.4.2", &fam, a);
        ck_assert_ptr_null(egress_addr_refused(fam, a, c, 2));
        addr("10.214.4.2", &fam, a);
        ck_assert_str_eq(egress_addr_refused(fam, a, c, 2), "address_private");
        addr("fd00:1::5", &fam, a);
        ck_assert_ptr_null(egress_addr_refused(fam, a, c, 2));
        /* Loopback stays refused whatever the admin lists. */
        ck_assert_int_eq(netrule_cidr_parse("127.0.0.0/8", &c[0]), 0);
        addr("127.0.0.1", &fam, a);
        ck_assert_str_eq(egress_addr_refused(fam, a, c, 1), "address_loopback");
}
END_TEST

START_TEST(test_tiers)
{
        char *allowed[] = {"pypi.org", "*.github.com", NULL};
        char *blocked[] = {"evil.github.com", NULL};
        char *none[] = {NULL};
        struct egress_rules r = {
            .tier = NETWORK_STANDARD, .allowed = allowed, .blocked = blocked, .cidrs = none};

        ck_assert_ptr_null(egress_name_refused(&r, "pypi.org"));
        ck_assert_ptr_null(egress_name_refused(&r, "api.github.com"));
        ck_assert_str_eq(egress_name_refused(&r, "github.com"), "not_allowed");
        ck_assert_str_eq(egress_name_refused(&r, "evil.github.com"), "blocked_domain");
        r.tier = NETWORK_ELEVATED;
        ck_assert_ptr_null(egress_name_refused(&r, "example.org"));
        ck_assert_str_eq(egress_name_refused(&r, "evil.github.com"), "blocked_domain");
        r.tier = NETWORK_RESTRICTED;
        ck_assert_str_eq(egress_name_refused(&r, "pypi.org"), "tier_restricted");
}
END_TEST

static int parse(const char *s, struct egress_http *h, const char **why)
{
        return egress_http_parse(s, strlen(s), h, why);
}

START_TEST(test_http)
{
        struct egress_http h;
        const char *why;
        const char *get = "GET http://Example.org:8080/a/b?c=1 HTTP/1.1\r\nHost: x\r\n\r\nBODY";

        ck_assert_int_eq(
            parse("CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n", &h, &why), 1);
        ck_assert(h.connect);
        ck_assert_str_eq(h.host, "pypi.org");
        ck_assert_int_eq(h.port, 443);
        ck_assert_int_eq(parse("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", &h, &why), 1);
        ck_assert_str_eq(h.host, "2001:db8::1");
        ck_assert_int_eq(parse(get, &h, &why), 1);
        ck_assert(!h.connect);
        ck_assert_str_eq(h.method, "GET");
        ck_assert_str_eq(h.host, "Example.org");
        ck_assert_int_eq(h.port, 8080);
        ck_assert_int_eq((int)h.path_len, 8);
        ck_assert(strncmp(h.path, "/a/b?c=1", 8) == 0);
        ck_assert_int_eq((int)h.head_len, (int)(strstr(get, "BODY") - get));
        ck_assert_int_eq(parse("GET http://a.org HTTP/1.0\r\n\r\n", &h, &why), 1);
        ck_assert_int_eq(h.port, 80);
        ck_assert_int_eq((int)h.path_len, 0);
        /* Incomplete, then refused forms. */
        ck_assert_int_eq(parse("GET http://a.org/ HTTP/1.1\r\nHost: a", &h, &why), 0);
        ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_str_eq(why, "not_a_proxy_request");
        ck_assert_int_eq(parse("GET https://a.org/ HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_str_eq(why, "https_needs_connect");
        ck_assert_int_eq(parse("CONNECT a.org HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_int_eq(parse("CONNECT a.org:0 HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_int_eq(parse("CONNECT a.org:99999 HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_int_eq(parse("GET http://user@a.org/ HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_int_eq(parse("get http://a.org/ HTTP/1.1\r\n\r\n", &h, &why), -EINVAL);
        ck_assert_int_eq(parse("GET http://a.org/ HTTP/2.0\r\n\r\n", &h, &why), -EINVAL);
}
END_TEST

/* A minimal ClientHello with one server_name extension. */
static size_t hello(uint8_t *b, const char *name)
{
        size_t nl = strlen(name), p = 0, hs_len, ext_len = 9 + nl, body;

        body = 2 + 32 + 1 + 4 + 2 + 2 + ext_len;
        hs_len = body;
        b[p++] = 0x16, b[p++] = 3, b[p++] = 1;
        b[p++] = (uint8_t)((hs_len + 4) >> 8), b[p++] = (uint8_t)(hs_len + 4);
        b[p++] = 1, b[p++] = 0, b[p++] = (uint8_t)(hs_len >> 8), b[p++] = (uint8_t)hs_len;
        b[p++] = 3, b[p++] = 3;
        memset(b + p, 0xaa, 32), p += 32;
        b[p++] = 0;                                           /* session id */
        b[p++] = 0, b[p++] = 2, b[p++] = 0x13, b[p++] = 0x01; /* one suite */
        b[p++] = 1, b[p++] = 0;                               /* compression: null */
        b[p++] = (uint8_t)(ext_len >> 8), b[p++] = (uint8_t)ext_len;
        b[p++] = 0, b[p++] = 0; /* server_name */
        b[p++] = (uint8_t)((nl + 5) >> 8), b[p++] = (uint8_t)(nl + 5);
        b[p++] = (uint8_t)((nl + 3) >> 8), b[p++] = (uint8_t)(nl + 3);
        b[p++] = 0, b[p++] = (uint8_t)(nl >> 8), b[p++] = (uint8_t)nl;
        memcpy(b + p, name, nl), p += nl;
        return p;
}

START_TEST(test_sni)
{
        uint8_t b[512];
        char out[NETRULE_NAME_SIZE];
        size_t n = hello(b, "pypi.org");

        ck_assert_int_eq(egress_sni_parse(b, n, out), 1);
        ck_assert_str_eq(out, "pypi.org");
        for (size_t cut = 0; cut < n; cut++)
                ck_assert_int_eq(egress_sni_parse(b, cut, out), -EAGAIN);
        ck_assert_int_eq(egress_sni_parse((const uint8_t *)"GET / HTTP/1.1\r\n", 16, out), 0);
        /* A length that runs past the record is no name, never a read past it. */
        b[n - 9] = 0xff;
        ck_assert_int_eq(egress_sni_parse(b, n, out), 0);
}
END_TEST

/* An agent's lists replace the global ones; an empty one means none. */
START_TEST(test_agent_lists)
{
        const char *text = "[network]\ntier = standard\nallowed_domains = pypi.org\n"
                           "blocked_domains = evil.org\n"
                           "[agent \"npm\"]\nallowed_domains = registry.npmjs.org, *.GitHub.com\n"
                           "[agent \"none\"]\nallowed_domains =\n";
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        struct policy_effective e;

        ck_assert_int_eq(policy_parse(text, "f", &p, &probs, &err), 0);
        ck_assert_int_eq(policy_resolve(p, "npm", &e), 0);
        ck_assert_str_eq(e.allowed_domains[0], "registry.npmjs.org");
        ck_assert_str_eq(e.allowed_domains[1], "*.github.com");
        ck_assert_ptr_null(e.allowed_domains[2]);
        ck_assert_str_eq(e.blocked_domains[0], "evil.org");
        ck_assert_int_eq(policy_resolve(p, "none", &e), 0);
        ck_assert_ptr_null(e.allowed_domains[0]);
        ck_assert_int_eq(policy_resolve(p, "other", &e), 0);
        ck_assert_str_eq(e.allowed_domains[0], "pypi.org");
        policy_unref(p);
        policy_problems_free(&probs);
}
END_TEST

static Suite *egress_suite(void)
{
        Suite *s = suite_create("egress");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_patterns);
        tcase_add_loop_test(tc, test_classes, 0, (int)ARRAY_SIZE(classes));
        tcase_add_test(tc, test_cidrs);
        tcase_add_test(tc, test_tiers);
        tcase_add_test(tc, test_http);
        tcase_add_test(tc, test_sni);
        tcase_add_test(tc, test_agent_lists);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(egress_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
