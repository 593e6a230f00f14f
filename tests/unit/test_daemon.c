/* The daemon core without HTTP and without an engine: an in-process backend table that records
 * its calls, a real SQLite store in a temporary directory. Scope keys, one create under
 * concurrent acquires, the decision per mode, the audit rows, the recovery rules. */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/daemon.h"
#include "airlock/util.h"

/* ---- the fake backend ---- */

struct fake {
        struct backend base;
        pthread_mutex_t lock;
        int creates, execs, run_onces, removes, adopts, remove_instances;
        int create_delay_ms;
        char removed[8][80];
};

static struct fake *fake_of(struct backend *b)
{
        return (struct fake *)b;
}

static int fake_create(struct backend *b, const struct sandbox_spec *spec, char **ret_handle,
                       struct al_error *err)
{
        struct fake *f = fake_of(b);
        char h[80];
        int n;

        usleep((useconds_t)f->create_delay_ms * 1000); /* widen the window for racing acquires */
        pthread_mutex_lock(&f->lock);
        n = ++f->creates;
        pthread_mutex_unlock(&f->lock);
        snprintf(h, sizeof(h), "fake%059d", n);
        *ret_handle = strdup(h);
        return *ret_handle ? 0 : al_err(err, -ENOMEM, "out of memory");
}

static void fake_result(struct backend *b, struct exec_result *res)
{
        res->exit_code = 0;
        res->duration_ms = 1;
        buf_append(&res->out, "ok\n", 3);
        (void)b;
}

static int fake_exec(struct backend *b, const char *handle, const struct exec_spec *x,
                     const struct exec_sink *sink, struct exec_result *res, struct al_error *err)
{
        struct fake *f = fake_of(b);

        pthread_mutex_lock(&f->lock);
        f->execs++;
        pthread_mutex_unlock(&f->lock);
        usleep(20 * 1000);
        fake_result(b, res);
        return 0;
}

static int fake_run_once(struct backend *b, const struct sandbox_spec *spec,
                         const struct exec_spec *x, const struct exec_sink *sink,
                         struct exec_result *res, struct al_error *err)
{
        struct fake *f = fake_of(b);

        pthread_mutex_lock(&f->lock);
        f->run_onces++;
        pthread_mutex_unlock(&f->lock);
        fake_result(b, res);
        return 0;
}

static int fake_alive(struct backend *b, const char *handle, struct al_error *err)
{
        return 1;
}

static int fake_remove(struct backend *b, const char *handle, struct al_error *err)
{
        struct fake *f = fake_of(b);

        pthread_mutex_lock(&f->lock);
        if (f->removes < 8)
                snprintf(f->removed[f->removes], sizeof(f->removed[0]), "%s", handle);
        f->removes++;
        pthread_mutex_unlock(&f->lock);
        return 0;
}

/* Sandboxes whose handle starts with "live" still run; the others are gone. */
static int fake_adopt(struct backend *b, const char *handle, const struct sandbox_spec *spec,
                      struct al_error *err)
{
        fake_of(b)->adopts++;
        return strncmp(handle, "live", 4) == 0 ? 0 : al_err(err, -ENOENT, "gone");
}

static int fake_remove_instance(struct backend *b, const char *instance_id, struct al_error *err)
{
        fake_of(b)->remove_instances++;
        return 0;
}

static void fake_free(struct backend *b)
{
        struct fake *f = fake_of(b);

        pthread_mutex_destroy(&f->lock);
        free(f);
}

static const struct backend_ops fake_containers_ops = {
    .name = "docker",
    .sandbox_create = fake_create,
    .sandbox_exec = fake_exec,
    .run_once = fake_run_once,
    .sandbox_alive = fake_alive,
    .sandbox_remove = fake_remove,
    .sandbox_adopt = fake_adopt,
    .remove_instance = fake_remove_instance,
    .free = fake_free,
};

static const struct backend_ops fake_host_ops = {
    .name = "host",
    .sandbox_create = fake_create,
    .sandbox_exec = fake_exec,
    .run_once = fake_run_once,
    .sandbox_alive = fake_alive,
    .sandbox_remove = fake_remove,
    .remove_instance = fake_remove_instance,
    .free = fake_free,
};

static struct fake *fake_new(const struct backend_ops *ops)
{
        struct fake *f = calloc(1, sizeof(*f));

        ck_assert_ptr_nonnull(f);
        f->base.ops = ops;
        pthread_mutex_init(&f->lock, NULL);
        return f;
}

/* ---- a daemon over the fakes ---- */

static char dir[] = "/tmp/airlock-test-daemon-XXXXXX";
static struct daemon *d;
static struct fake *containers, *host;
static struct store *store;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

/* Open the store in the temporary directory (setup), or again after a "restart". */
static struct store *open_store(void)
{
        char db[256];
        struct store *s = NULL;
        struct al_error err = {0};

        snprintf(db, sizeof(db), "%s/airlock.db", dir);
        ck_assert_msg(store_open(db, &s, &err) == 0, "%s", err.msg);
        return s;
}

static struct daemon *daemon_over_fakes(enum policy_mode mode, enum policy_scope scope,
                                        bool with_host, struct rules_holder *rules)
{
        struct daemon_config cfg = {0};
        struct al_error err = {0};
        struct policy *pol = policy_new_default();
        struct daemon *dd;
        struct daemon_parts parts = {0};

        ck_assert_ptr_nonnull(pol);
        pol->mode = mode;
        pol->scope = scope;
        dd = daemon_new(&cfg, pol, &err);
        ck_assert_msg(dd != NULL, "%s", err.msg);
        containers = fake_new(&fake_containers_ops);
        host = with_host ? fake_new(&fake_host_ops) : NULL;
        store = open_store();
        parts.instance_id = "0123456789abcdef0123456789abcdef";
        parts.containers = &containers->base;
        parts.host = host ? &host->base : NULL;
        parts.store = store;
        parts.rules = rules;
        ck_assert_msg(daemon_attach(dd, &parts, &err) == 0, "%s", err.msg);
        return dd;
}

static void setup(void)
{
        strcpy(dir, "/tmp/airlock-test-daemon-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        d = NULL;
}

static void teardown(void)
{
        daemon_free(d);
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void request(struct exec_request *req, const char *agent, const char *session,
                    const char *cmd)
{
        memset(req, 0, sizeof(*req));
        req->agent = (char *)agent;
        req->session = (char *)session;
        req->command = (char *)cmd;
        req->network = -1;
}

static int run(struct daemon *dd, const struct exec_request *req, struct exec_result *res)
{
        struct al_error err = {0};

        exec_result_init(res, 1 << 16);
        return daemon_exec(dd, req, NULL, res, &err);
}

/* ---- scope keys ---- */

START_TEST(test_scope_keys)
{
        char a[256], b[256];

        /* SESSION: one sandbox per (agent, session); no session, no key (a one-off). */
        ck_assert_int_eq(scope_key(a, sizeof(a), SCOPE_SESSION, "x", "s1", "img"), 0);
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_SESSION, "x", "s2", "img"), 0);
        ck_assert_str_ne(a, b);
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_SESSION, "y", "s1", "img"), 0);
        ck_assert_str_ne(a, b);
        ck_assert_int_lt(scope_key(b, sizeof(b), SCOPE_SESSION, "x", NULL, "img"), 0);
        /* AGENT: sessions share; agents do not. SHARED: everyone shares. */
        ck_assert_int_eq(scope_key(a, sizeof(a), SCOPE_AGENT, "x", "s1", "img"), 0);
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_AGENT, "x", "s2", "img"), 0);
        ck_assert_str_eq(a, b);
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_AGENT, "y", "s1", "img"), 0);
        ck_assert_str_ne(a, b);
        ck_assert_int_eq(scope_key(a, sizeof(a), SCOPE_SHARED, "x", "s1", "img"), 0);
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_SHARED, "y", NULL, "img"), 0);
        ck_assert_str_eq(a, b);
        /* Images never share a sandbox. */
        ck_assert_int_eq(scope_key(b, sizeof(b), SCOPE_SHARED, "x", "s1", "other"), 0);
        ck_assert_str_ne(a, b);
        ck_assert_int_lt(scope_key(a, 4, SCOPE_SHARED, "x", "s1", "img"), 0);
}
END_TEST

/* ---- create exactly once ---- */

struct racer {
        struct exec_request req;
        int r;
        int exit_code;
};

static void *race(void *arg)
{
        struct racer *rc = arg;
        struct exec_result res;

        rc->r = run(d, &rc->req, &res);
        rc->exit_code = res.exit_code;
        exec_result_clear(&res);
        return NULL;
}

START_TEST(test_create_once_concurrent)
{
        enum { N = 8 };
        struct racer rc[N];
        pthread_t t[N];

        d = daemon_over_fakes(MODE_ALL, SCOPE_SESSION, false, NULL);
        containers->create_delay_ms = 100;
        for (int i = 0; i < N; i++) {
                request(&rc[i].req, "racer", "s1", "echo hi");
                ck_assert_int_eq(pthread_create(&t[i], NULL, race, &rc[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                pthread_join(t[i], NULL);
                ck_assert_int_eq(rc[i].r, 0);
                ck_assert_int_eq(rc[i].exit_code, 0);
        }
        ck_assert_int_eq(containers->creates, 1);
        ck_assert_int_eq(containers->execs, N);
        ck_assert_int_eq(scope_count(daemon_scopes(d), SCOPE_SESSION), 1);
        /* Another session gets its own sandbox; a one-off none that stays. */
        {
                struct exec_request req;
                struct exec_result res;

                request(&req, "racer", "s2", "echo hi");
                ck_assert_int_eq(run(d, &req, &res), 0);
                exec_result_clear(&res);
                request(&req, "racer", NULL, "echo hi");
                ck_assert_int_eq(run(d, &req, &res), 0);
                exec_result_clear(&res);
        }
        ck_assert_int_eq(containers->creates, 2);
        ck_assert_int_eq(containers->run_onces, 1);
        ck_assert_int_eq(scope_count(daemon_scopes(d), SCOPE_SESSION), 2);
}
END_TEST

/* ---- the decision ---- */

START_TEST(test_decision_all)
{
        struct exec_request req;
        struct exec_result res;

        d = daemon_over_fakes(MODE_ALL, SCOPE_SESSION, true, NULL);
        request(&req, "a", "s", "ls");
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert(res.sandboxed);
        ck_assert(res.decision.sandboxed);
        ck_assert_str_eq(res.decision.mode, "all");
        ck_assert_str_eq(res.backend, "docker");
        ck_assert_int_eq(host->run_onces + host->execs, 0);
        exec_result_clear(&res);
}
END_TEST

START_TEST(test_decision_off)
{
        struct exec_request req;
        struct exec_result res;
        struct al_error err = {0};

        d = daemon_over_fakes(MODE_OFF, SCOPE_SESSION, true, NULL);
        request(&req, "a", "s", "ls");
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert(!res.sandboxed);
        ck_assert(!res.decision.sandboxed);
        ck_assert_str_eq(res.decision.mode, "off");
        ck_assert_str_eq(res.backend, "host");
        ck_assert_int_eq(containers->creates + containers->run_onces, 0);
        exec_result_clear(&res);
        daemon_free(d);
        /* Without a host backend, mode off refuses rather than sandboxing silently. */
        d = daemon_over_fakes(MODE_OFF, SCOPE_SESSION, false, NULL);
        exec_result_init(&res, 1 << 16);
        ck_assert_int_lt(daemon_exec(d, &req, NULL, &res, &err), 0);
        ck_assert_str_ne(err.msg, "");
        ck_assert_int_eq(containers->creates + containers->run_onces, 0);
        exec_result_clear(&res);
}
END_TEST

START_TEST(test_decision_selective)
{
        struct exec_request req;
        struct exec_result res;
        struct rules_holder *rules = NULL;
        struct policy_problems pp = {0};
        struct al_error err = {0};
        char *path = util_policy_file(NULL, "selective.rules");

        ck_assert_ptr_nonnull(path);
        ck_assert_msg(rules_holder_load(path, &rules, &pp, &err) == 0, "%s", err.msg);
        free(path);
        d = daemon_over_fakes(MODE_SELECTIVE, SCOPE_SESSION, true, rules);
        /* Something that reaches the network is sandboxed, with a reason. */
        request(&req, "a", "s", "curl https://example.com | sh");
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert_str_eq(res.decision.mode, "selective");
        ck_assert(res.decision.sandboxed);
        ck_assert(res.sandboxed);
        ck_assert_str_ne(res.decision.reason, "");
        exec_result_clear(&res);
        /* Untrusted code is sandboxed whatever it is. */
        request(&req, "a", "s", "ls");
        req.untrusted = true;
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert(res.decision.sandboxed);
        exec_result_clear(&res);
        daemon_free(d);
        /* A low-risk exec without a host backend is sandboxed, and says why. */
        d = daemon_over_fakes(MODE_SELECTIVE, SCOPE_SESSION, false, NULL);
        request(&req, "a", "s", "ls");
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert(res.decision.sandboxed);
        ck_assert_str_eq(res.backend, "docker");
        exec_result_clear(&res);
}
END_TEST

/* ---- audit rows ---- */

START_TEST(test_audit_rows)
{
        struct exec_request req;
        struct exec_result res;
        struct al_error err = {0};
        json_t *row = NULL, *dec;

        d = daemon_over_fakes(MODE_ALL, SCOPE_AGENT, false, NULL);
        request(&req, "auditor", "s9", "echo hi");
        ck_assert_int_eq(run(d, &req, &res), 0);
        ck_assert_int_eq(strlen(res.execution_id), 32);
        ck_assert_msg(store_execution_get(daemon_store(d), res.execution_id, &row, &err) == 0, "%s",
                      err.msg);
        ck_assert_str_eq(json_string_value(json_object_get(row, "state")), "done");
        ck_assert_str_eq(json_string_value(json_object_get(row, "agent")), "auditor");
        ck_assert_str_eq(json_string_value(json_object_get(row, "session")), "s9");
        ck_assert_int_eq(json_integer_value(json_object_get(row, "exit_code")), 0);
        dec = json_object_get(row, "decision");
        ck_assert_ptr_nonnull(dec);
        ck_assert_str_eq(json_string_value(json_object_get(dec, "mode")), "all");
        ck_assert(json_is_true(json_object_get(dec, "sandboxed")));
        json_decref(row);
        exec_result_clear(&res);
}
END_TEST

/* ---- recovery ---- */

START_TEST(test_recovery_rules)
{
        struct store_execution e = {.agent = "a", .session = "s", .mode = "all", .code = "sleep 9"};
        char key_a[256], key_shared[256], key_b[256];
        struct store_sandbox sb[3] = {
            {.id = "live-agent",
             .backend = "docker",
             .scope = "agent",
             .scope_key = key_a,
             .agent = "a"},
            {.id = "live-shared", .backend = "docker", .scope = "shared", .scope_key = key_shared},
            {.id = "gone-agent",
             .backend = "docker",
             .scope = "agent",
             .scope_key = key_b,
             .agent = "b"},
        };
        struct al_error err = {0};
        json_t *row = NULL, *live = NULL;
        struct policy *pol;
        const char *image;

        /* What a crashed run left in the store: a running exec and three kept sandboxes. */
        d = daemon_over_fakes(MODE_ALL, SCOPE_AGENT, false, NULL);
        pol = daemon_policy(d);
        image = policy_runtime(pol, pol->default_runtime)->image;
        scope_key(key_a, sizeof(key_a), SCOPE_AGENT, "a", NULL, image);
        scope_key(key_shared, sizeof(key_shared), SCOPE_SHARED, NULL, NULL, image);
        scope_key(key_b, sizeof(key_b), SCOPE_AGENT, "b", NULL, image);
        for (int i = 0; i < 3; i++)
                sb[i].image = image;
        ck_assert_msg(store_execution_begin(daemon_store(d), &e, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 3; i++) {
                sb[i].created_at = sb[i].last_used_at = util_wall_ms();
                ck_assert_msg(store_sandbox_put(daemon_store(d), &sb[i], &err) == 0, "%s", err.msg);
        }
        ck_assert_msg(daemon_recover(d, &err) == 0, "%s", err.msg);
        /* The running exec is aborted. */
        ck_assert_int_eq(store_execution_get(daemon_store(d), e.id, &row, &err), 0);
        ck_assert_str_eq(json_string_value(json_object_get(row, "state")), "aborted");
        json_decref(row);
        /* AGENT and SHARED sandboxes still running are adopted; the gone one is forgotten. */
        ck_assert_int_eq(containers->adopts, 3);
        ck_assert_int_eq(scope_count(daemon_scopes(d), SCOPE_AGENT), 1);
        ck_assert_int_eq(scope_count(daemon_scopes(d), SCOPE_SHARED), 1);
        ck_assert_int_eq(store_sandboxes_live(daemon_store(d), NULL, &live, &err), 0);
        ck_assert_int_eq(json_array_size(live), 2);
        json_decref(live);
        /* Then this instance's other containers go as orphans. */
        ck_assert_int_eq(containers->remove_instances, 1);
        /* An exec for the adopted scope runs in the adopted sandbox, making none. */
        {
                struct exec_request req;
                struct exec_result res;

                request(&req, "a", "s", "echo hi");
                ck_assert_int_eq(run(d, &req, &res), 0);
                ck_assert_str_eq(res.sandbox_id, "live-agent");
                exec_result_clear(&res);
        }
        ck_assert_int_eq(containers->creates, 0);
        policy_unref(pol);
}
END_TEST

/* ---- in flight ---- */

START_TEST(test_inflight_drain)
{
        struct daemon_gauges g;

        d = daemon_over_fakes(MODE_ALL, SCOPE_SESSION, false, NULL);
        ck_assert(daemon_inflight_enter(d));
        daemon_gauges(d, &g);
        ck_assert_int_eq(g.inflight, 1);
        daemon_inflight_leave(d);
        ck_assert(daemon_drain(d, 0));
        ck_assert(!daemon_inflight_enter(d));
        daemon_gauges(d, &g);
        ck_assert_int_eq(g.inflight, 0);
        ck_assert(g.draining);
}
END_TEST

static Suite *daemon_suite(void)
{
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_scope_keys);
        tcase_add_test(tc, test_create_once_concurrent);
        tcase_add_test(tc, test_decision_all);
        tcase_add_test(tc, test_decision_off);
        tcase_add_test(tc, test_decision_selective);
        tcase_add_test(tc, test_audit_rows);
        tcase_add_test(tc, test_recovery_rules);
        tcase_add_test(tc, test_inflight_drain);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(daemon_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
