/* The metrics registry and its exposition: counts land on the right series, the histogram is
 * cumulative, label values cannot break the format, the registry cannot be grown without
 * bound, counting is exact under threads; and [monitor] listen takes loopback only. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/metrics.h"
#include "airlock/policy.h"

static char *render(void)
{
        struct metrics_gauges g = {
            .version = "9.9.9",
            .start_time_s = 1700000000,
            .sandboxes_live = {2, 1, 0},
            .policy_reloads = 3,
            .policy_reload_failures = 1,
            .execs_in_flight = 4,
        };
        char *text = NULL;
        size_t len = 0;
        int r = metrics_render(&g, &text, &len);

        ck_assert_int_eq(r, 0);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(strlen(text), len);
        return text;
}

/* The value of the sample line that starts with prefix (name and labels), or -1. */
static double sample(const char *text, const char *prefix)
{
        size_t n = strlen(prefix);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        return -1;
}

static void setup(void)
{
        metrics_reset();
}

START_TEST(test_empty_registry_has_every_family)
{
        char *t = render();
        static const char *const families[] = {
            "airlock_executions_total counter",
            "airlock_exec_duration_seconds histogram",
            "airlock_sandboxes_live gauge",
            "airlock_sandboxes_created_total counter",
            "airlock_engine_errors_total counter",
            "airlock_policy_reloads_total counter",
            "airlock_policy_reload_failures_total counter",
            "airlock_requests_rejected_total counter",
            "airlock_build_info gauge",
        };

        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
                char line[128];

                snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
                ck_assert_msg(strstr(t, line), "missing '%s' in:\n%s", line, t);
        }
        ck_assert(sample(t, "airlock_build_info{version=\"9.9.9\"}") == 1);
        ck_assert(sample(t, "airlock_sandboxes_live{scope=\"session\"}") == 2);
        ck_assert(sample(t, "airlock_sandboxes_live{scope=\"agent\"}") == 1);
        ck_assert(sample(t, "airlock_sandboxes_live{scope=\"shared\"}") == 0);
        ck_assert(sample(t, "airlock_policy_reloads_total") == 3);
        ck_assert(sample(t, "airlock_policy_reload_failures_total") == 1);
        ck_assert(sample(t, "airlock_executions_in_flight") == 4);
        /* No exec yet: no series, only the family's header. */
        ck_assert_ptr_null(strstr(t, "airlock_executions_total{"));
        ck_assert(t[strlen(t) - 1] == '\n');
        free(t);
}
END_TEST

START_TEST(test_exec_counts_and_labels)
{
        char *t;

        metrics_exec_done("ok", "all", "docker", "python", 40);
        metrics_exec_done("ok", "all", "docker", "python", 60);
        metrics_exec_done("timeout", "all", "docker", "python", 5000);
        metrics_exec_done("failed", NULL, NULL, "bash", -1);
        t = render();
        ck_assert(sample(t, "airlock_executions_total{outcome=\"ok\",mode=\"all\",backend="
                            "\"docker\",runtime=\"python\"}") == 2);
        ck_assert(sample(t, "airlock_executions_total{outcome=\"timeout\",mode=\"all\","
                            "backend=\"docker\",runtime=\"python\"}") == 1);
        /* A failed exec has no mode or backend yet, and did not run: no latency. */
        ck_assert(sample(t, "airlock_executions_total{outcome=\"failed\",mode=\"none\","
                            "backend=\"none\",runtime=\"bash\"}") == 1);
        ck_assert(sample(t, "airlock_exec_duration_seconds_count{backend=\"docker\"}") == 3);
        ck_assert(sample(t, "airlock_exec_duration_seconds_count{backend=\"none\"}") == -1);
        free(t);
}
END_TEST

START_TEST(test_histogram_is_cumulative)
{
        char *t;

        metrics_exec_done("ok", "all", "host", "sh", 3);
        metrics_exec_done("ok", "all", "host", "sh", 5); /* on the bound: le is inclusive */
        metrics_exec_done("ok", "all", "host", "sh", 40);
        metrics_exec_done("ok", "all", "host", "sh", 200000); /* past the last bound */
        t = render();
        ck_assert(
            sample(t, "airlock_exec_duration_seconds_bucket{backend=\"host\",le=\"0.005\"}") == 2);
        ck_assert(sample(t, "airlock_exec_duration_seconds_bucket{backend=\"host\",le=\"0.01\"}") ==
                  2);
        ck_assert(sample(t, "airlock_exec_duration_seconds_bucket{backend=\"host\",le=\"0.05\"}") ==
                  3);
        ck_assert(sample(t, "airlock_exec_duration_seconds_bucket{backend=\"host\",le=\"120\"}") ==
                  3);
        ck_assert(sample(t, "airlock_exec_duration_seconds_bucket{backend=\"host\",le=\"+Inf\"}") ==
                  4);
        ck_assert(sample(t, "airlock_exec_duration_seconds_count{backend=\"host\"}") == 4);
        ck_assert(sample(t, "airlock_exec_duration_seconds_sum{backend=\"host\"}") == 200.048);
        free(t);
}
END_TEST

START_TEST(test_label_values_cannot_break_the_format)
{
        char long_name[200];
        char *t;

        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        metrics_rejected("a\"b\\c\nd\xff");
        metrics_rejected(long_name);
        t = render();
        /* Quote and backslash escaped, newline and non-ASCII replaced: one line per sample. */
        ck_assert(sample(t, "airlock_requests_rejected_total{reason=\"a\\\"b\\\\c_d_\"}") == 1);
        {
                char prefix[128];

                snprintf(prefix, sizeof(prefix), "airlock_requests_rejected_total{reason=\"%.*s\"}",
                         METRICS_LABEL_MAX - 1, long_name);
                ck_assert(sample(t, prefix) == 1);
        }
        free(t);
}
END_TEST

START_TEST(test_series_are_capped)
{
        char name[32], *t;

        /* A client cannot grow the registry: label sets past the cap share one series. */
        for (int i = 0; i < 1000; i++) {
                snprintf(name, sizeof(name), "r%d", i);
                metrics_exec_done("ok", "all", "docker", name, 1);
        }
        t = render();
        ck_assert(sample(t, "airlock_executions_total{outcome=\"ok\",mode=\"all\",backend="
                            "\"docker\",runtime=\"r0\"}") == 1);
        ck_assert(sample(t, "airlock_executions_total{outcome=\"ok\",mode=\"all\",backend="
                            "\"docker\",runtime=\"r999\"}") == -1);
        ck_assert(sample(t, "airlock_executions_total{outcome=\"_overflow\",mode=\"_overflow\","
                            "backend=\"_overflow\",runtime=\"_overflow\"}") > 700);
        ck_assert(strlen(t) < 200 * 1024);
        free(t);
}
END_TEST

static void *count_many(void *arg)
{
        for (int i = 0; i < 20000; i++) {
                metrics_engine_error("unavailable");
                metrics_sandbox_created("session");
        }
        return arg;
}

START_TEST(test_counting_is_exact_under_threads)
{
        pthread_t th[4];
        char *t;

        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&th[i], NULL, count_many, NULL), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        t = render();
        ck_assert(sample(t, "airlock_engine_errors_total{kind=\"unavailable\"}") == 80000);
        ck_assert(sample(t, "airlock_sandboxes_created_total{scope=\"session\"}") == 80000);
        free(t);
}
END_TEST

START_TEST(test_outcomes)
{
        struct exec_result r;

        memset(&r, 0, sizeof(r));
        ck_assert_str_eq(metrics_exec_outcome(-EIO, NULL), "failed");
        ck_assert_str_eq(metrics_exec_outcome(0, &r), "ok");
        r.exit_code = 3;
        ck_assert_str_eq(metrics_exec_outcome(0, &r), "error");
        r.signal = 9;
        ck_assert_str_eq(metrics_exec_outcome(0, &r), "signal");
        r.oom_killed = true;
        ck_assert_str_eq(metrics_exec_outcome(0, &r), "oom");
        r.timed_out = true;
        ck_assert_str_eq(metrics_exec_outcome(0, &r), "timeout");
        ck_assert_str_eq(metrics_engine_error_kind(-AL_E_ENGINE_DOWN), "unavailable");
        ck_assert_str_eq(metrics_engine_error_kind(-AL_E_ENGINE), "api");
        ck_assert_ptr_null(metrics_engine_error_kind(-EINVAL));
}
END_TEST

START_TEST(test_listen_loopback_only)
{
        char host[64];
        uint16_t port = 0;

        ck_assert_int_eq(policy_parse_listen("127.0.0.1:9464", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "127.0.0.1");
        ck_assert_uint_eq(port, 9464);
        ck_assert_int_eq(policy_parse_listen("127.1.2.3:1", host, sizeof(host), &port), 0);
        ck_assert_int_eq(policy_parse_listen("[::1]:65535", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "::1");
        ck_assert_uint_eq(port, 65535);
        /* Not loopback: refused as such. */
        ck_assert_int_eq(policy_parse_listen("0.0.0.0:9464", host, sizeof(host), &port), -EPERM);
        ck_assert_int_eq(policy_parse_listen("10.0.0.1:9464", host, sizeof(host), &port), -EPERM);
        ck_assert_int_eq(policy_parse_listen("[::]:9464", host, sizeof(host), &port), -EPERM);
        ck_assert_int_eq(policy_parse_listen("[::ffff:127.0.0.1]:9464", host, sizeof(host), &port),
                         -EPERM);
        /* Malformed. */
        static const char *const bad[] = {
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "localhost:9464",
            ":9464",
            "::1:9464",
            "[::1]9464",
            "[::1]:",
            "127.0.0.1:94x",
            "127.0.0.1: 9464",
            "[127.0.0.1]:9464",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(policy_parse_listen(bad[i], host, sizeof(host), &port) == -EINVAL,
                              "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_listen_setting)
{
        struct policy *p = NULL;
        struct policy_problems pp = {0};
        struct al_error err = {0};

        ck_assert_int_eq(
            policy_parse("[monitor]\nlisten = 127.0.0.1:9464\n", "t.conf", &p, &pp, &err), 0);
        ck_assert_str_eq(p->monitor_listen, "127.0.0.1:9464");
        policy_unref(p);
        p = policy_new_default();
        ck_assert_str_eq(p->monitor_listen, "");
        policy_unref(p);
        p = NULL;
        ck_assert_int_eq(
            policy_parse("[monitor]\nlisten = 0.0.0.0:9464\n", "t.conf", &p, &pp, &err), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_msg(strstr(err.msg, "t.conf:2:") && strstr(err.msg, "loopback"), "%s", err.msg);
        policy_problems_free(&pp);
}
END_TEST

static Suite *metrics_suite(void)
{
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("registry");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_empty_registry_has_every_family);
        tcase_add_test(tc, test_exec_counts_and_labels);
        tcase_add_test(tc, test_histogram_is_cumulative);
        tcase_add_test(tc, test_label_values_cannot_break_the_format);
        tcase_add_test(tc, test_series_are_capped);
        tcase_add_test(tc, test_counting_is_exact_under_threads);
        tcase_add_test(tc, test_outcomes);
        suite_add_tcase(s, tc);
        tc = tcase_create("monitor listen");
        tcase_add_test(tc, test_listen_loopback_only);
        tcase_add_test(tc, test_listen_setting);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(metrics_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
