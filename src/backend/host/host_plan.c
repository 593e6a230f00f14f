/* The mount namespace of one exec as data: which steps, in which order. Pure but for the two
 * directory tests, which the caller may replace (the unit tests do); the child carries the
 * steps out (host_launch.c) without deciding anything. */
#include "backend/host/host_plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "airlock/cleanup.h"
#include "backend/host/host_validate.h"

/* Options of the tmpfs that hide directories (compared by address in the plan). */
static const char hide_tmpfs[] = "size=64k,nr_inodes=1024,mode=755";

static void plan_iso(struct host_plan *r, const char *name)
{
        if (r->n_iso < ARRAY_SIZE(r->iso))
                r->iso[r->n_iso++] = name;
}

static char *run_str(struct host_plan *r, char *s)
{
        if (!s)
                return NULL;
        if (r->n_strs >= ARRAY_SIZE(r->strs)) {
                free(s);
                return NULL;
        }
        r->strs[r->n_strs++] = s;
        return s;
}

static int mop_add(struct host_plan *r, enum host_mop_kind kind, const char *src,
                   const char *target, const char *data, unsigned long flags, struct al_error *err)
{
        if (r->n_mops >= HOST_MOPS_MAX)
                return al_err(err, -E2BIG, "too many mount operations");
        r->mops[r->n_mops++] = (struct host_mop){
            .kind = kind, .src = src, .target = target, .data = data, .flags = flags};
        return 0;
}

static bool fs_is_dir(const char *p)
{
        struct stat st;

        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir for every component of path below base (path within base), in order. */
static int mkdir_chain(struct host_plan *r, const char *base, const char *path,
                       struct al_error *err)
{
        size_t bl = strcmp(base, "/") == 0 ? 0 : strlen(base);

        for (const char *p = path + bl + 1; p <= path + strlen(path); p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char *d = run_str(r, strndup(path, (size_t)(p - path)));

                if (!d)
                        return al_err(err, -ENOMEM, "out of memory");
                if (mop_add(r, HOST_MOP_MKDIR, NULL, d, NULL, 0, err) < 0)
                        return -E2BIG;
                if (!*p)
                        break;
        }
        return 0;
}

static bool fs_is_real_dir(const char *p)
{
        struct stat st;

        return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The mount namespace: every mount private (nothing propagates back), the host read-only,
 * a minimal /dev, private tmpfs on /tmp, /var/tmp and /dev/shm, the host's /run (engine and
 * daemon sockets), the daemon's directories and other agents' workspaces behind empty tmpfs,
 * the exec's workspace bound RO or RW, a fresh /proc. */
/* The outermost directory above the workspace that the code's user cannot traverse and that
 * no tmpfs covers already (a default state directory is root's, mode 0700), or NULL. Covering
 * it with an empty tmpfs that holds only the way to the workspace shows the code nothing it
 * could read before. Stored in the plan. */
static const char *blocking_ancestor(struct host_plan *r, const struct host_cfg *c,
                                     const struct host_plan_fs *fs, const char *ws,
                                     const char *const *cover, size_t nc)
{
        if (!fs->searchable)
                return NULL;
        for (const char *p = strchr(ws + 1, '/'); p; p = strchr(p + 1, '/')) {
                char *a = run_str(r, strndup(ws, (size_t)(p - ws)));

                if (!a)
                        return NULL;
                for (size_t i = 0; i < nc; i++)
                        if (host_path_within(a, cover[i]))
                                return NULL;
                if (!fs->searchable(a, c->uid, c->gid))
                        return a;
        }
        return NULL;
}

static int plan_mounts(struct host_plan *r, const struct host_cfg *c,
                       const struct sandbox_spec *spec, bool want_ws, const struct host_plan_fs *fs,
                       struct al_error *err)
{
        static const char *const tmps[] = {"/tmp", "/var/tmp", "/dev/shm"};
        /* Sockets of the host's services (Docker, Podman, systemd, D-Bus) live under /run;
         * /var/run is mostly a link to it, covered with it. */
        static const char *const runs[] = {"/run", "/var/run"};

        const char *cover[ARRAY_SIZE(tmps) + ARRAY_SIZE(runs) + HOST_HIDE_MAX + 3];
        bool cover_hide[ARRAY_SIZE(cover)];
        size_t nc = 0;
        char *tmp_data = NULL;
        const char *ws = want_ws ? spec->workspace_dir : NULL;
        bool hidden_ws_root = false;
        int rr;

        if (mop_add(r, HOST_MOP_PRIVATE, NULL, NULL, NULL, 0, err) < 0)
                return -E2BIG;
        /* Opened before anything covers it (it may lie under /tmp or a hidden directory). */
        if (ws && mop_add(r, HOST_MOP_OPEN, NULL, ws, NULL, 0, err) < 0)
                return -E2BIG;
        if (c->ro_root) {
                if (mop_add(r, HOST_MOP_RO_ROOT, NULL, NULL, NULL, 0, err) < 0)
                        return -E2BIG;
                plan_iso(r, "readonly_root");
        }
        /* Before the tmpfs below: the minimal /dev brings its own /dev/shm. */
        if (c->private_tmp) {
                if (spec->limits.disk_mb > 0) {
                        if (asprintf(&tmp_data, "size=%" PRId64 "m,mode=1777",
                                     spec->limits.disk_mb) < 0)
                                return al_err(err, -ENOMEM, "out of memory");
                } else {
                        tmp_data = strdup("mode=1777");
                }
                if (!run_str(r, tmp_data))
                        return al_err(err, -ENOMEM, "out of memory");
        }
        if (c->minimal_dev) {
                if (mop_add(r, HOST_MOP_DEV, NULL, "/dev", tmp_data, 0, err) < 0)
                        return -E2BIG;
                plan_iso(r, "dev");
        }
        /* The directories to cover with a tmpfs, outermost first; nested ones are covered
         * already. */
        if (c->private_tmp)
                for (size_t i = 0; i < ARRAY_SIZE(tmps); i++) {
                        if (c->minimal_dev && strcmp(tmps[i], "/dev/shm") == 0)
                                continue;
                        cover_hide[nc] = false;
                        cover[nc++] = tmps[i];
                }
        if (c->hide_run)
                for (size_t i = 0; i < ARRAY_SIZE(runs); i++)
                        if (fs->is_real_dir(runs[i])) {
                                cover_hide[nc] = true;
                                cover[nc++] = runs[i];
                        }
        if (c->workspace_root) {
                cover_hide[nc] = true;
                cover[nc++] = c->workspace_root;
        }
        if (spec->workspace == WORKSPACE_NONE && spec->workspace_dir &&
            spec->workspace_dir[0] == '/') {
                cover_hide[nc] = true;
                cover[nc++] = spec->workspace_dir;
        }
        for (size_t i = 0; c->hide[i]; i++) {
                cover_hide[nc] = true;
                cover[nc++] = c->hide[i];
        }
        if (ws) {
                const char *a = blocking_ancestor(r, c, fs, ws, cover, nc);

                if (a) {
                        cover_hide[nc] = true;
                        cover[nc++] = a;
                }
        }
        for (size_t i = 0; i < nc; i++) {
                bool nested = false;

                for (size_t j = 0; j < nc && !nested; j++)
                        if (j != i && host_path_within(cover[i], cover[j]) &&
                            (strcmp(cover[i], cover[j]) != 0 || j < i))
                                nested = true;
                if (nested || !fs->is_dir(cover[i]))
                        continue;
                if (cover_hide[i])
                        rr = mop_add(r, HOST_MOP_TMPFS, NULL, cover[i], hide_tmpfs,
                                     MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
                else
                        rr = mop_add(r, HOST_MOP_TMPFS, NULL, cover[i], tmp_data,
                                     MS_NOSUID | MS_NODEV, err);
                if (rr < 0)
                        return rr;
                /* The workspace's mount point, inside the tmpfs that now covers it. */
                if (ws && host_path_within(ws, cover[i]) && strcmp(ws, cover[i]) != 0) {
                        rr = mkdir_chain(r, cover[i], ws, err);
                        if (rr < 0)
                                return rr;
                }
                if (spec->workspace == WORKSPACE_NONE && c->workspace_root &&
                    host_path_within(c->workspace_root, cover[i]))
                        hidden_ws_root = true;
                if (spec->workspace == WORKSPACE_NONE && spec->workspace_dir &&
                    host_path_within(spec->workspace_dir, cover[i]))
                        hidden_ws_root = true;
        }
        if (c->private_tmp)
                plan_iso(r, "tmpfs");
        if (ws) {
                unsigned long fl = MS_NOSUID | MS_NODEV;

                if (spec->workspace == WORKSPACE_RO)
                        fl |= MS_RDONLY;
                if (mop_add(r, HOST_MOP_BIND, NULL, ws, NULL, 0, err) < 0 ||
                    mop_add(r, HOST_MOP_REMOUNT, NULL, ws, NULL, fl, err) < 0)
                        return -E2BIG;
                if (spec->workspace == WORKSPACE_RO)
                        plan_iso(r, "workspace_ro");
        }
        /* The hiding tmpfs become read-only once the workspace mount points exist in them. */
        for (size_t i = 0, n = r->n_mops; i < n; i++)
                if (host_plan_hides(&r->mops[i]) &&
                    mop_add(r, HOST_MOP_REMOUNT, NULL, r->mops[i].target, NULL,
                            MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
                        return -E2BIG;
        if (hidden_ws_root)
                plan_iso(r, "workspace_hidden");
        if (c->hide_run)
                plan_iso(r, "run_hidden");
        if (c->mount_proc) {
                if (mop_add(r, HOST_MOP_PROC, NULL, NULL, NULL, 0, err) < 0)
                        return -E2BIG;
                plan_iso(r, "proc");
        }
        return 0;
}

/* Whether uid:gid may search (traverse) directory path, by its mode bits. */
static bool fs_searchable(const char *path, uid_t uid, gid_t gid)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return false;
        if (st.st_uid == uid)
                return st.st_mode & S_IXUSR;
        if (st.st_gid == gid)
                return st.st_mode & S_IXGRP;
        return st.st_mode & S_IXOTH;
}

static const struct host_plan_fs real_fs = {
    .is_dir = fs_is_dir, .is_real_dir = fs_is_real_dir, .searchable = fs_searchable};

int host_plan_mounts(const struct host_cfg *c, const struct sandbox_spec *spec, bool want_ws,
                     const struct host_plan_fs *fs, struct host_plan *ret, struct al_error *err)
{
        struct host_plan p = {0};
        int r;

        r = plan_mounts(&p, c, spec, want_ws, fs ? fs : &real_fs, err);
        if (r < 0) {
                host_plan_clear(&p);
                return r;
        }
        *ret = p;
        return 0;
}

void host_plan_clear(struct host_plan *p)
{
        for (size_t i = 0; i < p->n_strs; i++)
                free(p->strs[i]);
        memset(p, 0, sizeof(*p));
}

bool host_plan_hides(const struct host_mop *m)
{
        return m->kind == HOST_MOP_TMPFS && m->data == hide_tmpfs;
}
