/* The host backend's mount plan (backend/host/host_plan.h) as data: which steps, in which
 * order, for a workspace RW, RO or none, with and without the minimal /dev, with the host's
 * /run, the daemon's state and socket directories hidden. The file system is a fake. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "airlock/cleanup.h"
#include "backend/host/host_plan.h"

static const char *const fake_dirs[] = {"/tmp",      "/var/tmp",         "/dev/shm",
                                        "/run",      "/var/run",         "/srv/ws",
                                        "/srv/ws/a", "/var/lib/airlock", "/srv/sock"};

static bool fake_is_dir(const char *p)
{
        for (size_t i = 0; i < ARRAY_SIZE(fake_dirs); i++)
                if (strcmp(p, fake_dirs[i]) == 0)
                        return true;
        return false;
}

/* /var/run is a link to /run, as on most hosts. */
static bool fake_is_real_dir(const char *p)
{
        return strcmp(p, "/var/run") != 0 && fake_is_dir(p);
}

static const struct host_plan_fs fake_fs = {.is_dir = fake_is_dir, .is_real_dir = fake_is_real_dir};

static struct host_cfg cfg;

static void cfg_full(void)
{
        static char ws_root[] = "/srv/ws", state[] = "/var/lib/airlock", sock[] = "/srv/sock",
                    nested[] = "/run/airlock", missing[] = "/nonexistent";

        memset(&cfg, 0, sizeof(cfg));
        cfg.mountns = cfg.ro_root = cfg.private_tmp = cfg.minimal_dev = true;
        cfg.hide_run = cfg.mount_proc = cfg.pidns = true;
        cfg.workspace_root = ws_root;
        cfg.hide[0] = state;
        cfg.hide[1] = sock;
        cfg.hide[2] = nested;  /* inside /run: covered already */
        cfg.hide[3] = missing; /* nothing to hide */
}

static struct sandbox_spec spec_ws(enum policy_workspace w)
{
        return (struct sandbox_spec){.workspace = w, .workspace_dir = "/srv/ws/a"};
}

static void plan(const struct sandbox_spec *spec, struct host_plan *p)
{
        struct al_error err = {0};

        ck_assert_int_eq(
            host_plan_mounts(&cfg, spec, spec->workspace != WORKSPACE_NONE, &fake_fs, p, &err), 0);
}

/* "KIND:target" for each step, joined by spaces. */
static const char *steps(const struct host_plan *p)
{
        static const char *const kinds[] = {"private", "ro_root", "tmpfs", "mkdir", "open",
                                            "bind",    "remount", "proc",  "dev"};
        static char out[4096];
        size_t at = 0;

        out[0] = '\0';
        for (size_t i = 0; i < p->n_mops; i++)
                at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s%s%s", i ? " " : "",
                                       kinds[p->mops[i].kind], p->mops[i].target ? ":" : "",
                                       p->mops[i].target ? p->mops[i].target : "");
        return out;
}

static const char *isos(const struct host_plan *p)
{
        static char out[256];
        size_t at = 0;

        out[0] = '\0';
        for (size_t i = 0; i < p->n_iso; i++)
                at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s", i ? " " : "", p->iso[i]);
        return out;
}

static const struct host_mop *step(const struct host_plan *p, enum host_mop_kind k,
                                   const char *target)
{
        for (size_t i = 0; i < p->n_mops; i++)
                if (p->mops[i].kind == k && p->mops[i].target &&
                    strcmp(p->mops[i].target, target) == 0)
                        return &p->mops[i];
        return NULL;
}

START_TEST(test_workspace_rw)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_RW);
        struct host_plan p;
        const struct host_mop *m;

        cfg_full();
        plan(&s, &p);
        ck_assert_str_eq(steps(&p), "private open:/srv/ws/a ro_root dev:/dev tmpfs:/tmp "
                                    "tmpfs:/var/tmp tmpfs:/run tmpfs:/srv/ws mkdir:/srv/ws/a "
                                    "tmpfs:/var/lib/airlock tmpfs:/srv/sock bind:/srv/ws/a "
                                    "remount:/srv/ws/a remount:/run remount:/srv/ws "
                                    "remount:/var/lib/airlock remount:/srv/sock proc");
        ck_assert_str_eq(isos(&p), "readonly_root dev tmpfs run_hidden proc");
        m = step(&p, HOST_MOP_REMOUNT, "/srv/ws/a");
        ck_assert_uint_eq(m->flags, MS_NOSUID | MS_NODEV);
        /* The private /tmp is writable and executable; the hiding tmpfs are neither. */
        m = step(&p, HOST_MOP_TMPFS, "/tmp");
        ck_assert(!host_plan_hides(m));
        ck_assert_str_eq(m->data, "mode=1777");
        ck_assert_uint_eq(m->flags, MS_NOSUID | MS_NODEV);
        m = step(&p, HOST_MOP_TMPFS, "/run");
        ck_assert(host_plan_hides(m));
        ck_assert_uint_eq(m->flags, MS_NOSUID | MS_NODEV | MS_NOEXEC);
        host_plan_clear(&p);
}
END_TEST

/* A workspace under a directory the code's user cannot traverse (a private state directory):
 * the outermost such directory is covered with an empty tmpfs holding only the way down. */
static bool fake_searchable(const char *p, uid_t uid, gid_t gid)
{
        return strcmp(p, "/priv") != 0 && strcmp(p, "/priv/state") != 0;
}

START_TEST(test_workspace_below_a_private_dir)
{
        struct host_plan_fs fs = fake_fs;
        struct sandbox_spec s = {.workspace = WORKSPACE_RW, .workspace_dir = "/priv/state/ws/a"};
        struct al_error err = {0};
        struct host_plan p;

        cfg_full();
        cfg.workspace_root = NULL;
        fs.searchable = fake_searchable;
        ck_assert_int_eq(host_plan_mounts(&cfg, &s, true, &fs, &p, &err), 0);
        /* /priv is not a directory of the fake, so it is not covered: nothing is. */
        ck_assert_ptr_null(strstr(steps(&p), "tmpfs:/priv"));
        host_plan_clear(&p);
        /* Without the check (fs.searchable NULL) nothing changes either. */
        fs.searchable = NULL;
        ck_assert_int_eq(host_plan_mounts(&cfg, &s, true, &fs, &p, &err), 0);
        ck_assert_ptr_null(strstr(steps(&p), "tmpfs:/priv"));
        host_plan_clear(&p);
}
END_TEST

static bool fake_is_dir_priv(const char *p)
{
        return fake_is_dir(p) || strcmp(p, "/priv") == 0 || strcmp(p, "/priv/state") == 0;
}

START_TEST(test_private_ancestor_is_covered)
{
        struct host_plan_fs fs = {.is_dir = fake_is_dir_priv,
                                  .is_real_dir = fake_is_real_dir,
                                  .searchable = fake_searchable};
        struct sandbox_spec s = {.workspace = WORKSPACE_RW, .workspace_dir = "/priv/state/ws/a"};
        struct al_error err = {0};
        struct host_plan p;

        cfg_full();
        cfg.workspace_root = NULL;
        ck_assert_int_eq(host_plan_mounts(&cfg, &s, true, &fs, &p, &err), 0);
        /* The outermost blocking directory is hidden, the way down made, the workspace bound. */
        ck_assert_ptr_nonnull(strstr(steps(&p),
                                     "tmpfs:/priv mkdir:/priv/state mkdir:/priv/state/ws "
                                     "mkdir:/priv/state/ws/a"));
        ck_assert_ptr_null(strstr(steps(&p), "tmpfs:/priv/state"));
        ck_assert_ptr_nonnull(strstr(steps(&p), "bind:/priv/state/ws/a"));
        ck_assert(host_plan_hides(step(&p, HOST_MOP_TMPFS, "/priv")));
        host_plan_clear(&p);
}
END_TEST

START_TEST(test_workspace_ro)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_RO);
        struct host_plan p;

        cfg_full();
        plan(&s, &p);
        ck_assert_uint_eq(step(&p, HOST_MOP_REMOUNT, "/srv/ws/a")->flags,
                          MS_NOSUID | MS_NODEV | MS_RDONLY);
        ck_assert_str_eq(isos(&p), "readonly_root dev tmpfs workspace_ro run_hidden proc");
        host_plan_clear(&p);
}
END_TEST

START_TEST(test_workspace_none)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_NONE);
        struct host_plan p;

        cfg_full();
        plan(&s, &p);
        /* Nothing opened or bound; the workspace stays behind the hidden root. */
        ck_assert_ptr_null(step(&p, HOST_MOP_OPEN, "/srv/ws/a"));
        ck_assert_ptr_null(step(&p, HOST_MOP_BIND, "/srv/ws/a"));
        ck_assert_ptr_null(step(&p, HOST_MOP_MKDIR, "/srv/ws/a"));
        ck_assert(host_plan_hides(step(&p, HOST_MOP_TMPFS, "/srv/ws")));
        ck_assert_str_eq(isos(&p), "readonly_root dev tmpfs workspace_hidden run_hidden proc");
        host_plan_clear(&p);
}
END_TEST

START_TEST(test_state_and_socket_dirs_hidden)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_RW);
        struct host_plan p;
        const struct host_mop *m;

        cfg_full();
        plan(&s, &p);
        for (size_t i = 0; i < 2; i++) {
                const char *d = i ? "/srv/sock" : "/var/lib/airlock";

                ck_assert_msg(host_plan_hides(step(&p, HOST_MOP_TMPFS, d)), "%s", d);
                m = step(&p, HOST_MOP_REMOUNT, d);
                ck_assert_msg(m != NULL, "%s not made read-only", d);
                ck_assert_uint_eq(m->flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        }
        /* Covered by /run already, and a path that does not exist: no step of their own. */
        ck_assert_ptr_null(step(&p, HOST_MOP_TMPFS, "/run/airlock"));
        ck_assert_ptr_null(step(&p, HOST_MOP_TMPFS, "/nonexistent"));
        /* /var/run is a link into /run: covering /run covers it. */
        ck_assert_ptr_null(step(&p, HOST_MOP_TMPFS, "/var/run"));
        host_plan_clear(&p);
}
END_TEST

START_TEST(test_without_minimal_dev)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_RW);
        struct host_plan p;

        cfg_full();
        cfg.minimal_dev = false;
        s.limits.disk_mb = 100;
        plan(&s, &p);
        ck_assert_ptr_null(step(&p, HOST_MOP_DEV, "/dev"));
        /* The host's /dev stays; its /dev/shm gets a private tmpfs of the exec's disk size. */
        ck_assert_str_eq(step(&p, HOST_MOP_TMPFS, "/dev/shm")->data, "size=100m,mode=1777");
        ck_assert_str_eq(step(&p, HOST_MOP_TMPFS, "/tmp")->data, "size=100m,mode=1777");
        ck_assert_str_eq(isos(&p), "readonly_root tmpfs run_hidden proc");
        host_plan_clear(&p);
}
END_TEST

START_TEST(test_nothing_offered)
{
        struct sandbox_spec s = spec_ws(WORKSPACE_RW);
        struct host_plan p;

        memset(&cfg, 0, sizeof(cfg));
        plan(&s, &p);
        /* Only what the namespace itself needs: private mounts and the workspace bound. */
        ck_assert_str_eq(steps(&p), "private open:/srv/ws/a bind:/srv/ws/a remount:/srv/ws/a");
        ck_assert_str_eq(isos(&p), "");
        host_plan_clear(&p);
}
END_TEST

static Suite *host_plan_suite(void)
{
        Suite *s = suite_create("host_plan");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_workspace_rw);
        tcase_add_test(tc, test_workspace_ro);
        tcase_add_test(tc, test_workspace_below_a_private_dir);
        tcase_add_test(tc, test_private_ancestor_is_covered);
        tcase_add_test(tc, test_workspace_none);
        tcase_add_test(tc, test_state_and_socket_dirs_hidden);
        tcase_add_test(tc, test_without_minimal_dev);
        tcase_add_test(tc, test_nothing_offered);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(host_plan_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
