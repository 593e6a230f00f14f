/* Who may do what: the [access] and [client] settings, roles resolved from peer credentials
 * and tokens, agent patterns, bearer headers and the filters the listings use. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/policy.h"
#include "airlock/util.h"
#include "api/auth.h"

#define DAEMON_UID 4242

static struct policy *parse_ok(const char *text)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        int r = policy_parse(text, "test.conf", &p, &probs, &err);

        if (r < 0)
                ck_abort_msg("parse failed: %s", err.msg);
        policy_problems_free(&probs);
        return p;
}

/* The problems of a bad file, all of them joined with '|', "line:msg". */
static char *parse_bad(const char *text)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        struct buf b;

        ck_assert_int_eq(policy_parse(text, "test.conf", &p, &probs, &err), -EINVAL);
        ck_assert_ptr_null(p);
        buf_init(&b, 1 << 16);
        for (size_t i = 0; i < probs.n; i++)
                buf_appendf(&b, "%d:%s|", probs.items[i].line, probs.items[i].msg);
        policy_problems_free(&probs);
        return b.data ? buf_steal(&b, NULL) : strdup("");
}

/* Groups of the fake group database: staff = 50, ops = 60. */
static int fake_group(const char *name, gid_t *ret)
{
        if (strcmp(name, "staff") == 0) {
                *ret = 50;
                return 1;
        }
        if (strcmp(name, "ops") == 0) {
                *ret = 60;
                return 1;
        }
        return 0;
}

static struct auth_peer peer(uid_t uid, gid_t gid)
{
        struct auth_peer p = {.uid = uid, .gid = gid, .pid = 77};

        return p;
}

static const char *const two_clients = "[daemon]\n"
                                       "rate_per_min = 100\n"
                                       "max_concurrent = 3\n"
                                       "[access]\n"
                                       "admin_uids = 500, 501\n"
                                       "admin_groups = ops\n"
                                       "[client \"a\"]\n"
                                       "uids = 1001\n"
                                       "agents = alpha, team-*\n"
                                       "rate_per_min = 5\n"
                                       "[client \"b\"]\n"
                                       "uids = 1002 1003\n"
                                       "groups = staff\n"
                                       "agents = beta\n"
                                       "agents = b[0-9]\n"
                                       "max_concurrent = 0\n";

START_TEST(test_parse_access)
{
        _cleanup_(policy_unrefp) struct policy *p = parse_ok(two_clients);
        json_t *j;

        ck_assert_int_eq(p->rate_per_min, 100);
        ck_assert_int_eq(p->max_concurrent, 3);
        ck_assert_uint_eq(p->n_admin_uids, 2);
        ck_assert_uint_eq(p->admin_uids[1], 501);
        ck_assert_str_eq(p->admin_groups[0], "ops");
        ck_assert_uint_eq(p->n_clients, 2);
        ck_assert_str_eq(p->clients[0].name, "a");
        ck_assert_int_eq(p->clients[0].rate_per_min, 5);
        ck_assert_int_eq(p->clients[0].max_concurrent, -1);
        ck_assert_str_eq(p->clients[0].agents[1], "team-*");
        ck_assert_uint_eq(p->clients[1].n_uids, 2);
        ck_assert_str_eq(p->clients[1].groups[0], "staff");
        /* A repeated list key adds to the list. */
        ck_assert_str_eq(p->clients[1].agents[1], "b[0-9]");
        ck_assert_int_eq(p->clients[1].max_concurrent, 0);
        /* The JSON view names them as the file does. */
        j = policy_to_json(p);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(json_integer_value(json_object_get(
                             json_object_get(json_object_get(j, "clients"), "a"), "rate_per_min")),
                         5);
        ck_assert(json_is_null(json_object_get(json_object_get(json_object_get(j, "clients"), "a"),
                                               "max_concurrent")));
        ck_assert_int_eq(json_integer_value(json_array_get(
                             json_object_get(json_object_get(j, "access"), "admin_uids"), 0)),
                         500);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "daemon"),
                                                            "max_sandboxes_per_agent")),
                         32);
        json_decref(j);
}
END_TEST

START_TEST(test_parse_defaults_and_daemon_keys)
{
        _cleanup_(policy_unrefp) struct policy *d = policy_new_default();
        _cleanup_(policy_unrefp) struct policy *p =
            parse_ok("[daemon]\nmax_header_kb = 8\nmax_connections_per_uid = 0\n"
                     "max_execs = 2\nqueue_max = 0\nqueue_timeout_s = 5\n"
                     "max_sandboxes = 10\nmax_sandboxes_per_agent = 1\n");

        ck_assert_int_eq(d->max_header_bytes, 32 * 1024);
        ck_assert_int_eq(d->max_connections_per_uid, 64);
        ck_assert_int_eq(d->rate_per_min, 600);
        ck_assert_int_eq(d->max_concurrent, 32);
        ck_assert_int_eq(d->max_execs, 64);
        ck_assert_int_eq(d->queue_max, 64);
        ck_assert_int_eq(d->queue_timeout_s, 60);
        ck_assert_int_eq(d->max_sandboxes, 128);
        ck_assert_int_eq(d->max_sandboxes_per_agent, 32);
        ck_assert_uint_eq(d->n_clients, 0);
        ck_assert_ptr_nonnull(d->admin_groups);
        ck_assert_int_eq(p->max_header_bytes, 8 * 1024);
        ck_assert_int_eq(p->max_connections_per_uid, 0);
        ck_assert_int_eq(p->max_execs, 2);
        ck_assert_int_eq(p->queue_max, 0);
        ck_assert_int_eq(p->queue_timeout_s, 5);
        ck_assert_int_eq(p->max_sandboxes, 10);
        ck_assert_int_eq(p->max_sandboxes_per_agent, 1);
}
END_TEST

struct bad_conf {
        const char *text;
        const char *frag; /* in the joined problems */
};

static const struct bad_conf bad_confs[] = {
    {"[client \"a\"]\nagents = x\n", "1:[client \"a\"] names no caller"},
    {"[client \"a\"]\nuids = 1\n[client \"b\"]\nuids = 2, 1\n",
     "3:uid 1 is in [client \"a\"] and [client \"b\"]"},
    {"[client \"a\"]\nuids = 1, 1\n", "2:uids: uid 1 is listed twice"},
    {"[client \"a\"]\nuids = root\n", "2:uids: 'root' is not a numeric uid"},
    {"[client \"a\"]\nuids = -1\n", "is not a numeric uid"},
    {"[client \"a\"]\nuids = 4294967295\n", "is not a numeric uid"},
    {"[client \"a\"]\nuids = 1\nagents = ../x\n", "3:agents: '../x' is not an agent name"},
    {"[client \"a\"]\nuids = 1\nagents = a[b\n", "is not an agent name or pattern"},
    {"[client \"a\"]\nuids = 1\nagents = a]\n", "is not an agent name or pattern"},
    {"[client \"a\"]\nuids = 1\nagents = []\n", "is not an agent name or pattern"},
    {"[client \"a\"]\nuids = 1\nagents = ..\n", "is not an agent name or pattern"},
    {"[client \"a\"]\nuids = 1\nagents = x, x\n", "agents: 'x' is listed twice"},
    {"[client \"a\"]\ngroups = wheel!\n", "groups: 'wheel!' is not a group name"},
    {"[client \"a\"]\nuids = 1\nrate_per_min = many\n", "3:rate_per_min must be an integer"},
    {"[client \"a\"]\nuids = 1\nrate_per_min = 1\nrate_per_min = 2\n",
     "4:duplicate key 'rate_per_min' in [client \"a\"]"},
    {"[client \"a\"]\nuids = 1\nmode = all\n", "3:unknown key 'mode' in [client \"a\"]"},
    {"[client \"a\"]\nuids = 1\n[client \"a\"]\nuids = 2\n",
     "3:duplicate section [client \"a\"] (first at line 1)"},
    {"[client a]\n", "a client section is written [client \"NAME\"]"},
    {"[client \"a b\"]\n", "client name 'a b' must be"},
    {"[access]\nadmin_uids = x\n", "2:admin_uids: 'x' is not a numeric uid"},
    {"[access]\nadmin_groups = a:b\n", "admin_groups: 'a:b' is not a group name"},
    {"[access]\nagents = x\n", "unknown key 'agents' in [access]"},
    {"[access]\n[access]\n", "duplicate section [access]"},
    {"[daemon]\nmax_header_kb = 2\n", "max_header_kb must be an integer between 4 and 1024"},
    {"[daemon]\nmax_execs = 0\n", "max_execs must be an integer between 1 and 65536"},
    {"[daemon]\nqueue_timeout_s = 3601\n", "queue_timeout_s must be an integer between 0"},
    {"[daemon]\nmax_sandboxes = 0\n", "max_sandboxes must be an integer between 1"},
    {"[clients]\n", "unknown section [clients] (known: [daemon]"},
};

START_TEST(test_parse_bad)
{
        _cleanup_free_ char *probs = parse_bad(bad_confs[_i].text);

        if (!strstr(probs, bad_confs[_i].frag))
                ck_abort_msg("for %s\nwanted '%s'\ngot '%s'", bad_confs[_i].text,
                             bad_confs[_i].frag, probs);
}
END_TEST

START_TEST(test_parse_many_uids_fast)
{
        /* Every uid in its own client, the most a file may hold: the duplicate check must
         * not be quadratic. */
        struct buf b;
        int64_t t0 = util_now_ms();
        _cleanup_(policy_unrefp) struct policy *p = NULL;

        buf_init(&b, POLICY_FILE_MAX);
        for (int c = 0; c < POLICY_CLIENTS_MAX; c++) {
                buf_appendf(&b, "[client \"c%d\"]\n", c);
                for (int line = 0; line < 24; line++) {
                        buf_appendf(&b, "uids =");
                        for (int u = 0; u < 20; u++)
                                buf_appendf(&b, " %d", 100000 + c * 1000 + line * 20 + u);
                        buf_appendf(&b, "\n");
                }
        }
        ck_assert(!buf_truncated(&b));
        p = parse_ok(b.data);
        ck_assert_uint_eq(p->n_clients, POLICY_CLIENTS_MAX);
        ck_assert_uint_eq(p->clients[3].n_uids, 480);
        ck_assert_int_lt(util_now_ms() - t0, 5000);
        buf_free(&b);
}
END_TEST

START_TEST(test_pattern_valid)
{
        static const char *const good[] = {"a",      "alpha",   "team-*",  "*",    "?x",
                                           "b[0-9]", "b[!0-9]", "a.b_c-d", "[ab]*"};
        static const char *const bad[] = {"",   ".",  "..",  "a b",     "a/b", "a[",
                                          "a]", "[]", "[!]", "a[b[c]]", "x!",  "\\*"};
        char longest[POLICY_NAME_LEN_MAX + 2];

        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                ck_assert_msg(policy_agent_pattern_valid(good[i]), "%s", good[i]);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                ck_assert_msg(!policy_agent_pattern_valid(bad[i]), "%s", bad[i]);
        memset(longest, 'a', sizeof(longest));
        longest[POLICY_NAME_LEN_MAX] = '\0';
        ck_assert(policy_agent_pattern_valid(longest));
        longest[POLICY_NAME_LEN_MAX] = 'a';
        longest[POLICY_NAME_LEN_MAX + 1] = '\0';
        ck_assert(!policy_agent_pattern_valid(longest));
        ck_assert(!policy_agent_pattern_valid(NULL));
}
END_TEST

START_TEST(test_roles)
{
        _cleanup_(policy_unrefp) struct policy *p = parse_ok(two_clients);
        struct auth_identity id;
        struct auth_peer pr;

        /* Root and the daemon's own uid are always admins, and never throttled. */
        ck_assert_int_eq(
            auth_resolve(p, &(struct auth_peer){.uid = 0}, DAEMON_UID, NULL, NULL, fake_group, &id),
            0);
        ck_assert(id.known && id.admin && id.any_agent);
        ck_assert(auth_may_act_as(&id, "anyone"));
        ck_assert_int_eq(id.rate_per_min, 0);
        ck_assert_int_eq(id.max_concurrent, 0);
        auth_identity_clear(&id);
        pr = peer(DAEMON_UID, 1);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.admin);
        auth_identity_clear(&id);
        /* admin_uids, and admin_groups by primary or supplementary group. */
        pr = peer(501, 1);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.admin);
        auth_identity_clear(&id);
        pr = peer(9000, 60);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.admin);
        auth_identity_clear(&id);
        pr = peer(9000, 1);
        pr.groups[0] = 7;
        pr.groups[1] = 60;
        pr.n_groups = 2;
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.admin);
        auth_identity_clear(&id);

        /* A client by uid: its agents and patterns, its caps over the defaults. */
        pr = peer(1001, 1001);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.known && !id.admin && !id.any_agent);
        ck_assert_str_eq(id.client, "a");
        ck_assert(auth_may_act_as(&id, "alpha"));
        ck_assert(auth_may_act_as(&id, "team-red"));
        ck_assert(!auth_may_act_as(&id, "team"));
        ck_assert(!auth_may_act_as(&id, "beta"));
        ck_assert(!auth_may_act_as(&id, "alpha2"));
        ck_assert(!auth_may_act_as(&id, NULL));
        ck_assert_int_eq(id.rate_per_min, 5);
        ck_assert_int_eq(id.max_concurrent, 3);
        ck_assert_str_eq(id.key, "u:1001");
        auth_identity_clear(&id);

        /* A client by group; a uid in one client and a group of another gets both. */
        pr = peer(7777, 50);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.known);
        ck_assert_str_eq(id.client, "b");
        ck_assert(auth_may_act_as(&id, "b7"));
        ck_assert(!auth_may_act_as(&id, "b77"));
        ck_assert(!auth_may_act_as(&id, "alpha"));
        ck_assert_int_eq(id.max_concurrent, 0);
        ck_assert_int_eq(id.rate_per_min, 100);
        auth_identity_clear(&id);
        pr = peer(1001, 1001);
        pr.groups[0] = 50;
        pr.n_groups = 1;
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_str_eq(id.client, "a"); /* the uid match names the client */
        ck_assert(auth_may_act_as(&id, "alpha") && auth_may_act_as(&id, "beta"));
        auth_identity_clear(&id);

        /* Nobody the settings know: nothing at all. */
        pr = peer(1234, 1234);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(!id.known && !id.admin);
        ck_assert(!auth_may_act_as(&id, "alpha"));
        ck_assert_int_eq(id.rate_per_min, 100);
        auth_identity_clear(&id);
        /* Credentials that could not be read are nobody, even with no [client] at all. */
        {
                _cleanup_(policy_unrefp) struct policy *d = policy_new_default();

                pr = peer((uid_t)-1, (gid_t)-1);
                auth_resolve(d, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
                ck_assert(!id.known);
                auth_identity_clear(&id);
        }
}
END_TEST

START_TEST(test_single_tenant_default)
{
        _cleanup_(policy_unrefp) struct policy *p = policy_new_default();
        struct auth_identity id;
        struct auth_peer pr = peer(1234, 1234);

        /* No [client] section: whoever can open the socket may act as any agent, capped. */
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert(id.known && id.any_agent && !id.admin);
        ck_assert(auth_may_act_as(&id, "whatever"));
        ck_assert_int_eq(id.rate_per_min, 600);
        ck_assert_int_eq(id.max_concurrent, 32);
        auth_identity_clear(&id);
}
END_TEST

START_TEST(test_tokens_narrow)
{
        _cleanup_(policy_unrefp) struct policy *p = parse_ok(two_clients);
        _cleanup_(policy_unrefp) struct policy *d = policy_new_default();
        const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        struct auth_identity id;
        struct auth_peer pr = {.uid = 0};

        /* Even root, with a token, is only the token's agent. */
        auth_resolve(p, &pr, DAEMON_UID, "alpha", hash, fake_group, &id);
        ck_assert(id.known && id.token && !id.admin && !id.any_agent);
        ck_assert(auth_may_act_as(&id, "alpha"));
        ck_assert(!auth_may_act_as(&id, "beta"));
        ck_assert_str_eq(id.key, "t:0123456789abcdef");
        /* ...and is capped like a client. */
        ck_assert_int_eq(id.rate_per_min, 100);
        auth_identity_clear(&id);
        /* A client's token for an agent its uid could not act as: the token decides. */
        pr = peer(1001, 1001);
        auth_resolve(p, &pr, DAEMON_UID, "beta", hash, fake_group, &id);
        ck_assert(auth_may_act_as(&id, "beta"));
        ck_assert(!auth_may_act_as(&id, "alpha"));
        auth_identity_clear(&id);
        /* A token does not let in a uid that the settings do not know. */
        pr = peer(1234, 1234);
        auth_resolve(p, &pr, DAEMON_UID, "alpha", hash, fake_group, &id);
        ck_assert(!id.known);
        ck_assert(!auth_may_act_as(&id, "alpha"));
        auth_identity_clear(&id);
        /* Single tenant: a token still narrows. */
        auth_resolve(d, &pr, DAEMON_UID, "alpha", hash, fake_group, &id);
        ck_assert(id.known && !id.any_agent);
        ck_assert(!auth_may_act_as(&id, "beta"));
        auth_identity_clear(&id);
}
END_TEST

START_TEST(test_bearer)
{
        char token[AUTH_TOKEN_LEN + 1], hash[SHA256_HEX_LEN], parsed[SHA256_HEX_LEN],
            other[AUTH_TOKEN_LEN + 1], header[128];
        struct al_error err = {0};
        static const char *const bad[] = {
            NULL,
            "",
            "Bearer",
            "Bearer ",
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Bearer alk_",
            "Bearer alk_0123",
            "Bearer xyz_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Bearer alk_0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "Bearer alk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
            "Bearer alk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde ",
            "Bearer alk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        };

        ck_assert_int_eq(auth_token_new(token, hash, &err), 0);
        ck_assert_uint_eq(strlen(token), AUTH_TOKEN_LEN);
        ck_assert(strncmp(token, "alk_", 4) == 0);
        ck_assert_int_eq(auth_token_new(other, parsed, &err), 0);
        ck_assert_str_ne(token, other);
        snprintf(header, sizeof(header), "Bearer %s", token);
        ck_assert_int_eq(auth_parse_bearer(header, parsed, &err), 0);
        ck_assert_str_eq(parsed, hash);
        /* The scheme in any case. */
        snprintf(header, sizeof(header), "bearer %s", token);
        ck_assert_int_eq(auth_parse_bearer(header, parsed, &err), 0);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                ck_assert_msg(auth_parse_bearer(bad[i], parsed, &err) == -EKEYREJECTED, "%s",
                              bad[i] ? bad[i] : "(null)");
                /* A message never repeats what was sent. */
                ck_assert(!bad[i] || strlen(bad[i]) < 12 || !strstr(err.msg, bad[i] + 7));
        }
}
END_TEST

START_TEST(test_listing_filters)
{
        _cleanup_(policy_unrefp) struct policy *p =
            parse_ok("[client \"plain\"]\nuids = 1\nagents = x, y\n"
                     "[client \"pat\"]\nuids = 2\nagents = x, t*\n"
                     "[client \"none\"]\nuids = 3\n");
        struct auth_identity id;
        struct auth_peer pr = peer(1, 1);
        const char **names = NULL;
        bool all = true;
        json_t *rows;

        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_int_eq(auth_agent_filter(&id, &all, &names), 0);
        ck_assert(!all);
        ck_assert_ptr_nonnull(names);
        ck_assert_str_eq(names[0], "x");
        ck_assert_str_eq(names[1], "y");
        ck_assert_ptr_null(names[2]);
        free(names);
        auth_identity_clear(&id);

        pr = peer(2, 2);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_int_eq(auth_agent_filter(&id, &all, &names), 0);
        ck_assert(!all);
        ck_assert_ptr_null(names); /* patterns: row by row */
        rows = json_loads("[{\"agent\":\"x\"},{\"agent\":\"y\"},{\"agent\":\"tx\"},"
                          "{\"agent\":null},{\"id\":1},{\"agent\":\"t\"}]",
                          0, NULL);
        auth_filter_rows(&id, rows, false);
        ck_assert_uint_eq(json_array_size(rows), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 1), "agent")),
                         "tx");
        json_decref(rows);
        rows = json_loads("[{\"agent\":null},{\"agent\":\"y\"}]", 0, NULL);
        auth_filter_rows(&id, rows, true); /* SHARED sandboxes stay */
        ck_assert_uint_eq(json_array_size(rows), 1);
        json_decref(rows);
        auth_identity_clear(&id);

        /* A client with no agents sees nothing; an admin sees everything. */
        pr = peer(3, 3);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_int_eq(auth_agent_filter(&id, &all, &names), 0);
        ck_assert(!all);
        ck_assert_ptr_nonnull(names);
        ck_assert_ptr_null(names[0]);
        free(names);
        auth_identity_clear(&id);
        pr = peer(0, 0);
        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_int_eq(auth_agent_filter(&id, &all, &names), 0);
        ck_assert(all);
        ck_assert_ptr_null(names);
        auth_identity_clear(&id);
        /* A token: its agent only. */
        auth_resolve(p, &pr, DAEMON_UID, "q", "ab", fake_group, &id);
        ck_assert_int_eq(auth_agent_filter(&id, &all, &names), 0);
        ck_assert(!all);
        ck_assert_str_eq(names[0], "q");
        ck_assert_ptr_null(names[1]);
        free(names);
        auth_identity_clear(&id);
}
END_TEST

START_TEST(test_label)
{
        _cleanup_(policy_unrefp) struct policy *p = parse_ok(two_clients);
        struct auth_identity id;
        struct auth_peer pr = peer(1001, 1001);
        char buf[160];

        auth_resolve(p, &pr, DAEMON_UID, NULL, NULL, fake_group, &id);
        ck_assert_str_eq(auth_label(&id, buf, sizeof(buf)), "uid 1001 pid 77 client 'a'");
        auth_identity_clear(&id);
        auth_resolve(p, &pr, DAEMON_UID, "beta", "ab", fake_group, &id);
        ck_assert_str_eq(auth_label(&id, buf, sizeof(buf)), "uid 1001 pid 77 token for 'beta'");
        ck_assert_str_eq(auth_label(&id, buf, 8), "uid 100");
        auth_identity_clear(&id);
        auth_identity_clear(NULL);
}
END_TEST

static Suite *auth_suite(void)
{
        Suite *s = suite_create("auth");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_parse_access);
        tcase_add_test(tc, test_parse_defaults_and_daemon_keys);
        tcase_add_loop_test(tc, test_parse_bad, 0, (int)ARRAY_SIZE(bad_confs));
        tcase_add_test(tc, test_parse_many_uids_fast);
        tcase_add_test(tc, test_pattern_valid);
        tcase_add_test(tc, test_roles);
        tcase_add_test(tc, test_single_tenant_default);
        tcase_add_test(tc, test_tokens_narrow);
        tcase_add_test(tc, test_bearer);
        tcase_add_test(tc, test_listing_filters);
        tcase_add_test(tc, test_label);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(auth_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
