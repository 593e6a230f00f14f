/* The host backend's configuration (the options, their defaults and toggles, are policy's:
 * airlock/host_options.h): the immutable,
 * reference-counted struct host_cfg built from them at start-up and on reload (the exec user,
 * the seccomp filter, what this host offers, probed once). */
#include "backend/host/host_internal.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/capability.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "backend/host/host_validate.h"

static void cfg_free(struct host_cfg *c)
{
        if (!c)
                return;
        host_filter_free(&c->filter);
        free(c->user);
        free(c->workspace_root);
        for (size_t i = 0; c->hide[i]; i++)
                free(c->hide[i]);
        /* protected_dirs[0] is the only entry it owns (the others alias). */
        free(c->protected_dirs[0]);
        free(c->default_path);
        free(c);
}

struct host_cfg *host_cfg_ref(struct host_cfg *c)
{
        atomic_fetch_add(&c->refs, 1);
        return c;
}

void host_cfg_unref(struct host_cfg *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                cfg_free(c);
}

void host_cfg_template(const struct host_cfg *c, struct host_launch *l)
{
        l->uid = c->uid;
        l->gid = c->gid;
        l->no_new_privs = c->nnp;
        l->drop_caps = c->drop_caps;
        l->cap_last = c->cap_last;
        l->filter = c->has_filter ? &c->fprog : NULL;
        l->pidns = c->pidns;
        l->host_net_fd = -1;
}

static int resolve_user(const char *user, uid_t *ret_uid, gid_t *ret_gid, struct al_error *err)
{
        const char *colon;

        if (!user || !user[0])
                return al_err(err, -EINVAL, "host user is empty");
        colon = strchr(user, ':');
        if (colon) {
                char u[32];
                int64_t uid, gid;

                if ((size_t)(colon - user) >= sizeof(u))
                        return al_err(err, -EINVAL, "host user '%s' is not uid:gid", user);
                memcpy(u, user, (size_t)(colon - user));
                u[colon - user] = '\0';
                if (util_parse_int64(u, 0, 0xfffffffe, &uid) < 0 ||
                    util_parse_int64(colon + 1, 0, 0xfffffffe, &gid) < 0)
                        return al_err(err, -EINVAL, "host user '%s' is not uid:gid", user);
                *ret_uid = (uid_t)uid;
                *ret_gid = (gid_t)gid;
        } else {
                struct passwd pw, *res = NULL;
                char buf[4096];
                int r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);

                if (r != 0)
                        return al_err_errno(err, -r, "look up host user '%s'", user);
                if (!res)
                        return al_err(err, -ENOENT, "host user '%s' does not exist", user);
                *ret_uid = pw.pw_uid;
                *ret_gid = pw.pw_gid;
        }
        if (*ret_uid == 0 || *ret_gid == 0)
                return al_err(err, -EINVAL,
                              "host user '%s' is root: the host backend runs code unprivileged",
                              user);
        return 0;
}

/* want a protection the host may lack: *use says whether execs get it. */
static int toggle(enum host_toggle t, bool available, const char *name, bool *use,
                  struct al_error *err)
{
        *use = t != HOST_OFF && available;
        if (t == HOST_REQUIRED && !available)
                return al_err(err, -ENOTSUP,
                              "[host] %s is required, but this host does not "
                              "offer it",
                              name);
        return 0;
}

static char *exe_dir(void)
{
        char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        char *slash;

        if (n <= 0)
                return NULL;
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (!slash)
                return NULL;
        if (slash == path)
                slash++;
        *slash = '\0';
        return strdup(path);
}

static int copy_path(const char *in, const char *what, char **ret, struct al_error *err)
{
        int r = host_path_normalize(in, ret, err);

        if (r < 0)
                return al_err_wrap(err, r, "%s", what);
        return 0;
}

int host_cfg_new(const struct host_options *o, struct host_cfg **ret, struct al_error *err)
{
        struct host_cfg *c;
        size_t np = 0;
        bool cg_avail;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return al_err(err, -ENOMEM, "out of memory");
        atomic_init(&c->refs, 1);
        r = resolve_user(o->user, &c->uid, &c->gid, err);
        if (r < 0)
                goto fail;
        c->user = strdup(o->user);
        c->default_path = strdup(o->default_path ? o->default_path : HOST_DEFAULT_PATH);
        if (!c->user || !c->default_path) {
                r = al_err(err, -ENOMEM, "out of memory");
                goto fail;
        }
        if (o->seccomp_deny && o->seccomp_deny[0]) {
                struct host_deny_list l = {0};

                r = host_deny_load(o->seccomp_deny, &l, err);
                if (r >= 0)
                        r = host_filter_build(&l, &c->filter, err);
                c->n_denied = l.n;
                host_deny_list_free(&l);
                if (r < 0)
                        goto fail;
                c->fprog.len = c->filter.len;
                c->fprog.filter = c->filter.insns;
                c->has_filter = true;
        }
        /* Switching to the exec user, namespaces and cgroups all need root. */
        if (geteuid() != 0) {
                r = al_err(err, -EPERM, "the host backend needs airlockd to run as root");
                goto fail;
        }
        c->nnp = o->no_new_privs;
        c->drop_caps = o->drop_capabilities;
        c->cap_last = (int)cap_max_bits() - 1;
        host_launch_prebind();

        host_launch_probe(&c->probe);
        r = toggle(o->network_namespace, c->probe.netns, "network_namespace", &c->netns, err);
        if (r >= 0)
                r = toggle(o->mount_namespace, c->probe.mountns, "mount_namespace", &c->mountns,
                           err);
        if (r >= 0)
                r = toggle(o->pid_namespace, c->probe.pidns, "pid_namespace", &c->pidns, err);
        if (r >= 0)
                r = toggle(o->ipc_namespace, c->probe.ipcns, "ipc_namespace", &c->ipcns, err);
        if (r < 0)
                goto fail;
        c->ro_root = o->read_only_root && c->mountns && c->probe.ro_root;
        c->private_tmp = o->private_tmp && c->mountns && c->probe.tmpfs;
        c->mount_proc = o->mount_proc && c->mountns && c->pidns && c->probe.proc;
        c->minimal_dev = c->mountns && c->probe.dev;
        c->hide_run = c->mountns && c->probe.tmpfs;

        if (o->cgroup != HOST_OFF) {
                r = host_cg_detect(o->cgroup_parent ? o->cgroup_parent : "airlock", &c->cg, err);
                if (r < 0)
                        goto fail;
        }
        cg_avail = c->cg.mode != HOST_CG_NONE && c->cg.memory && c->cg.pids;
        r = toggle(o->cgroup, cg_avail, "cgroup", &c->cgroup, err);
        if (r < 0)
                goto fail;
        c->cgroup = o->cgroup != HOST_OFF && c->cg.mode != HOST_CG_NONE;

        c->rl_cpu = o->rlimit_cpu_s;
        c->rl_as = o->rlimit_as_mb;
        c->rl_fsize = o->rlimit_fsize_mb;
        c->rl_nofile = o->rlimit_nofile;
        c->rl_nproc = o->rlimit_nproc;
        c->prestart = o->prestart < 0 ? 0 : o->prestart > 64 ? 64 : o->prestart;

        c->protected_dirs[np] = exe_dir();
        if (c->protected_dirs[np])
                np++;
        if (o->workspace_root && o->workspace_root[0]) {
                r = copy_path(o->workspace_root, "workspace_root", &c->workspace_root, err);
                if (r < 0)
                        goto fail;
                c->protected_dirs[np++] = c->workspace_root;
        }
        for (size_t i = 0, k = 0; i < HOST_HIDE_MAX && o->hide_paths[i]; i++) {
                r = copy_path(o->hide_paths[i], "hidden path", &c->hide[k], err);
                if (r < 0)
                        goto fail;
                if (strcmp(c->hide[k], "/") == 0) {
                        r = al_err(err, -EINVAL, "hidden path '/' would hide the whole host");
                        goto fail;
                }
                c->protected_dirs[np++] = c->hide[k++];
        }
        *ret = c;
        return 0;
fail:
        cfg_free(c);
        return r;
}
