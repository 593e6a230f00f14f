/* The policy resolver: what one agent gets, its [agent] section over the global sections; the
 * runtime allowlist; the JSON view GET /v1/policy serves. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/policy.h"

static const char settings[] = "[sandbox]\n"
                               "mode = all\n"
                               "scope = session\n"
                               "workspace = ro\n"
                               "workspace_root = /srv/ws\n"
                               "default_runtime = sh\n"
                               "[limits]\n"
                               "cpu_cores = 1\n"
                               "memory_mb = 512\n"
                               "disk_mb = 256\n"
                               "max_processes = 128\n"
                               "timeout_s = 60\n"
                               "output_kb = 1024\n"
                               "[network]\n"
                               "tier = restricted\n"
                               "allowed_domains = pypi.org *.github.com\n"
                               "blocked_domains = gist.github.com\n"
                               "[agent \"analyst\"]\n"
                               "mode = selective\n"
                               "scope = agent\n"
                               "workspace = rw\n"
                               "cpu_cores = 2\n"
                               "memory_mb = 2048\n"
                               "disk_mb = 1024\n"
                               "max_processes = 512\n"
                               "timeout_s = 600\n"
                               "output_kb = 64\n"
                               "network = standard\n"
                               "default_runtime = python\n"
                               "runtimes = python, ruby\n"
                               "isolation = gvisor\n"
                               "[agent \"intern\"]\n"
                               "timeout_s = 10\n"
                               "mode = off\n"
                               "[runtime \"ruby\"]\n"
                               "image = airlock/ruby:3.1\n"
                               "image_gvisor = airlock/ruby-gvisor:3.1\n"
                               "pool_gvisor = 2\n";

static struct policy *load(void)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        int r = policy_parse(settings, "test.conf", &p, &probs, &err);

        for (size_t i = 0; i < probs.n; i++)
                fprintf(stderr, "  %d: %s\n", probs.items[i].line, probs.items[i].msg);
        ck_assert_msg(r == 0, "%s", err.msg);
        policy_problems_free(&probs);
        return p;
}

static void assert_global(const struct policy *p, const struct policy_effective *e)
{
        ck_assert_ptr_eq(e->policy, p);
        ck_assert_ptr_null(e->section);
        ck_assert_int_eq(e->mode, MODE_ALL);
        ck_assert_int_eq(e->scope, SCOPE_SESSION);
        ck_assert_int_eq(e->workspace, WORKSPACE_RO);
        ck_assert_str_eq(e->workspace_root, "/srv/ws");
        ck_assert_double_eq(e->limits.cpu_cores, 1);
        ck_assert_int_eq(e->limits.memory_mb, 512);
        ck_assert_int_eq(e->limits.disk_mb, 256);
        ck_assert_int_eq(e->limits.max_processes, 128);
        ck_assert_int_eq(e->limits.timeout_s, 60);
        ck_assert_int_eq(e->limits.output_bytes, 1024 * 1024);
        ck_assert_int_eq(e->network_tier, NETWORK_RESTRICTED);
        ck_assert_ptr_eq(e->allowed_domains, p->network.allowed);
        ck_assert_ptr_eq(e->blocked_domains, p->network.blocked);
        ck_assert_str_eq(e->default_runtime, "sh");
        ck_assert_ptr_null(e->runtimes);
}

START_TEST(test_global_and_unknown_agent)
{
        struct policy *p = load();
        struct policy_effective e;

        ck_assert_int_eq(policy_resolve(p, NULL, &e), 0);
        ck_assert_ptr_null(e.agent);
        assert_global(p, &e);
        /* an agent without a section gets the global policy */
        ck_assert_int_eq(policy_resolve(p, "someone", &e), 0);
        ck_assert_str_eq(e.agent, "someone");
        assert_global(p, &e);
        /* names are exact */
        ck_assert_int_eq(policy_resolve(p, "Analyst", &e), 0);
        ck_assert_ptr_null(e.section);
        policy_unref(p);
}
END_TEST

START_TEST(test_full_override)
{
        struct policy *p = load();
        struct policy_effective e;

        ck_assert_int_eq(policy_resolve(p, "analyst", &e), 0);
        ck_assert_str_eq(e.agent, "analyst");
        ck_assert_ptr_eq(e.section, policy_agent(p, "analyst"));
        ck_assert_int_eq(e.mode, MODE_SELECTIVE);
        ck_assert_int_eq(e.scope, SCOPE_AGENT);
        ck_assert_int_eq(e.workspace, WORKSPACE_RW);
        /* never per agent */
        ck_assert_str_eq(e.workspace_root, "/srv/ws");
        ck_assert_double_eq(e.limits.cpu_cores, 2);
        ck_assert_int_eq(e.limits.memory_mb, 2048);
        ck_assert_int_eq(e.limits.disk_mb, 1024);
        ck_assert_int_eq(e.limits.max_processes, 512);
        ck_assert_int_eq(e.limits.timeout_s, 600);
        ck_assert_int_eq(e.limits.output_bytes, 64 * 1024);
        ck_assert_int_eq(e.network_tier, NETWORK_STANDARD);
        /* the domain lists are global */
        ck_assert_str_eq(e.allowed_domains[0], "pypi.org");
        ck_assert_str_eq(e.allowed_domains[1], "*.github.com");
        ck_assert_ptr_null(e.allowed_domains[2]);
        ck_assert_str_eq(e.blocked_domains[0], "gist.github.com");
        ck_assert_str_eq(e.default_runtime, "python");
        ck_assert_ptr_nonnull(e.runtimes);
        ck_assert_str_eq(e.runtimes[0], "python");
        ck_assert_str_eq(e.runtimes[1], "ruby");
        ck_assert_ptr_null(e.runtimes[2]);
        /* the isolation tier, and each tier's image */
        ck_assert_int_eq(e.isolation, ISOLATION_GVISOR);
        ck_assert_int_eq(p->isolation, ISOLATION_CONTAINER);
        ck_assert_str_eq(policy_runtime_image(policy_runtime(p, "ruby"), ISOLATION_GVISOR),
                         "airlock/ruby-gvisor:3.1");
        ck_assert_str_eq(policy_runtime_image(policy_runtime(p, "ruby"), ISOLATION_CONTAINER),
                         "airlock/ruby:3.1");
        ck_assert_str_eq(policy_runtime_image(policy_runtime(p, "python"), ISOLATION_GVISOR),
                         policy_runtime(p, "python")->image);
        ck_assert_int_eq(policy_runtime(p, "ruby")->pool_gvisor, 2);
        ck_assert_int_eq(policy_resolve(p, "intern", &e), 0);
        ck_assert_int_eq(e.isolation, ISOLATION_CONTAINER);
        policy_unref(p);
}
END_TEST

START_TEST(test_partial_override)
{
        struct policy *p = load();
        struct policy_effective e;

        ck_assert_int_eq(policy_resolve(p, "intern", &e), 0);
        ck_assert_ptr_nonnull(e.section);
        /* what the section sets */
        ck_assert_int_eq(e.mode, MODE_OFF);
        ck_assert_int_eq(e.limits.timeout_s, 10);
        /* everything else global */
        ck_assert_int_eq(e.scope, SCOPE_SESSION);
        ck_assert_int_eq(e.workspace, WORKSPACE_RO);
        ck_assert_double_eq(e.limits.cpu_cores, 1);
        ck_assert_int_eq(e.limits.memory_mb, 512);
        ck_assert_int_eq(e.limits.disk_mb, 256);
        ck_assert_int_eq(e.limits.max_processes, 128);
        ck_assert_int_eq(e.limits.output_bytes, 1024 * 1024);
        ck_assert_int_eq(e.network_tier, NETWORK_RESTRICTED);
        ck_assert_str_eq(e.default_runtime, "sh");
        ck_assert_ptr_null(e.runtimes);
        policy_unref(p);
}
END_TEST

START_TEST(test_bad_arguments)
{
        struct policy *p = load();
        struct policy_effective e = {.mode = MODE_SELECTIVE, .default_runtime = "untouched"};

        ck_assert_int_eq(policy_resolve(NULL, "analyst", &e), -EINVAL);
        ck_assert_int_eq(policy_resolve(p, "analyst", NULL), -EINVAL);
        ck_assert_int_eq(policy_resolve(p, "", &e), -EINVAL);
        ck_assert_int_eq(policy_resolve(p, "../analyst", &e), -EINVAL);
        ck_assert_int_eq(policy_resolve(p, "a b", &e), -EINVAL);
        /* untouched on failure */
        ck_assert_int_eq(e.mode, MODE_SELECTIVE);
        ck_assert_str_eq(e.default_runtime, "untouched");
        policy_unref(p);
}
END_TEST

START_TEST(test_runtime_allowed)
{
        struct policy *p = load();
        struct policy_effective e;

        ck_assert_int_eq(policy_resolve(p, "analyst", &e), 0);
        ck_assert(policy_effective_runtime_allowed(&e, "python"));
        ck_assert(policy_effective_runtime_allowed(&e, "ruby"));
        ck_assert(!policy_effective_runtime_allowed(&e, "bash"));
        ck_assert(!policy_effective_runtime_allowed(&e, "sh"));
        ck_assert(!policy_effective_runtime_allowed(&e, "perl"));
        ck_assert(!policy_effective_runtime_allowed(&e, NULL));

        /* no list: the whole catalog, and nothing outside it */
        ck_assert_int_eq(policy_resolve(p, "intern", &e), 0);
        ck_assert(policy_effective_runtime_allowed(&e, "bash"));
        ck_assert(policy_effective_runtime_allowed(&e, "ruby"));
        ck_assert(!policy_effective_runtime_allowed(&e, "perl"));
        ck_assert_int_eq(policy_resolve(p, NULL, &e), 0);
        ck_assert(policy_effective_runtime_allowed(&e, "node"));
        ck_assert(!policy_effective_runtime_allowed(&e, ""));
        ck_assert(!policy_effective_runtime_allowed(NULL, "node"));
        policy_unref(p);
}
END_TEST

START_TEST(test_defaults_resolve)
{
        struct policy *p = policy_new_default();
        struct policy_effective e;

        ck_assert_int_eq(policy_resolve(p, "anyone", &e), 0);
        ck_assert_int_eq(e.mode, MODE_ALL);
        ck_assert_int_eq(e.network_tier, NETWORK_RESTRICTED);
        ck_assert_ptr_nonnull(e.allowed_domains);
        ck_assert_ptr_null(e.allowed_domains[0]);
        ck_assert_str_eq(e.default_runtime, "bash");
        ck_assert(policy_effective_runtime_allowed(&e, "python"));
        policy_unref(p);
}
END_TEST

static const char *jstr(json_t *o, const char *a, const char *b)
{
        json_t *v = json_object_get(o, a);

        if (b)
                v = json_object_get(v, b);
        return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *a, const char *b)
{
        return json_integer_value(json_object_get(json_object_get(o, a), b));
}

START_TEST(test_json_agent)
{
        struct policy *p = load();
        struct policy_effective e;
        json_t *j, *rts, *ov;

        ck_assert_int_eq(policy_resolve(p, "analyst", &e), 0);
        j = policy_effective_to_json(&e, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(jstr(j, "agent", NULL), "analyst");
        ck_assert_str_eq(jstr(j, "sandbox", "mode"), "selective");
        ck_assert_str_eq(jstr(j, "sandbox", "scope"), "agent");
        ck_assert_str_eq(jstr(j, "sandbox", "workspace"), "rw");
        ck_assert_str_eq(jstr(j, "sandbox", "workspace_root"), "/srv/ws");
        ck_assert_str_eq(jstr(j, "sandbox", "default_runtime"), "python");
        ck_assert_double_eq(
            json_real_value(json_object_get(json_object_get(j, "limits"), "cpu_cores")), 2);
        ck_assert_int_eq(jint(j, "limits", "memory_mb"), 2048);
        ck_assert_int_eq(jint(j, "limits", "disk_mb"), 1024);
        ck_assert_int_eq(jint(j, "limits", "max_processes"), 512);
        ck_assert_int_eq(jint(j, "limits", "timeout_s"), 600);
        ck_assert_int_eq(jint(j, "limits", "output_kb"), 64);
        ck_assert_str_eq(jstr(j, "network", "tier"), "standard");
        ck_assert_uint_eq(
            json_array_size(json_object_get(json_object_get(j, "network"), "allowed_domains")), 2);
        ck_assert_str_eq(json_string_value(json_array_get(
                             json_object_get(json_object_get(j, "network"), "blocked_domains"), 0)),
                         "gist.github.com");
        /* the allowed runtimes, in catalog order */
        rts = json_object_get(j, "runtimes");
        ck_assert_uint_eq(json_array_size(rts), 2);
        ck_assert_str_eq(json_string_value(json_array_get(rts, 0)), "python");
        ck_assert_str_eq(json_string_value(json_array_get(rts, 1)), "ruby");
        ck_assert(json_is_true(json_object_get(j, "runtimes_restricted")));
        /* which keys came from the agent's section */
        ov = json_object_get(j, "overrides");
        ck_assert_uint_eq(json_object_size(ov), 13);
        ck_assert_int_eq(json_integer_value(json_object_get(ov, "timeout_s")), 600);
        json_decref(j);

        /* an explicit name wins */
        j = policy_effective_to_json(&e, "other");
        ck_assert_str_eq(jstr(j, "agent", NULL), "other");
        json_decref(j);
        policy_unref(p);
}
END_TEST

START_TEST(test_json_global)
{
        struct policy *p = load();
        struct policy_effective e;
        json_t *j, *rts;

        ck_assert_int_eq(policy_resolve(p, NULL, &e), 0);
        j = policy_effective_to_json(&e, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert(json_is_null(json_object_get(j, "agent")) || !json_object_get(j, "agent"));
        ck_assert_str_eq(jstr(j, "sandbox", "mode"), "all");
        ck_assert_str_eq(jstr(j, "network", "tier"), "restricted");
        ck_assert_int_eq(jint(j, "limits", "timeout_s"), 60);
        ck_assert_uint_eq(json_object_size(json_object_get(j, "overrides")), 0);
        /* every runtime of the catalog: 9 built-ins and ruby */
        rts = json_object_get(j, "runtimes");
        ck_assert_uint_eq(json_array_size(rts), 10);
        ck_assert_str_eq(json_string_value(json_array_get(rts, 9)), "ruby");
        ck_assert(json_is_false(json_object_get(j, "runtimes_restricted")));
        json_decref(j);
        ck_assert_ptr_null(policy_effective_to_json(NULL, NULL));

        /* the partial override lists only what it set */
        ck_assert_int_eq(policy_resolve(p, "intern", &e), 0);
        j = policy_effective_to_json(&e, NULL);
        ck_assert_uint_eq(json_object_size(json_object_get(j, "overrides")), 2);
        ck_assert_str_eq(jstr(j, "overrides", "mode"), "off");
        ck_assert_str_eq(jstr(j, "sandbox", "mode"), "off");
        ck_assert_str_eq(jstr(j, "sandbox", "scope"), "session");
        json_decref(j);
        policy_unref(p);
}
END_TEST

static Suite *resolve_suite(void)
{
        Suite *s = suite_create("resolve");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_global_and_unknown_agent);
        tcase_add_test(tc, test_full_override);
        tcase_add_test(tc, test_partial_override);
        tcase_add_test(tc, test_bad_arguments);
        tcase_add_test(tc, test_runtime_allowed);
        tcase_add_test(tc, test_defaults_resolve);
        tcase_add_test(tc, test_json_agent);
        tcase_add_test(tc, test_json_global);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(resolve_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
