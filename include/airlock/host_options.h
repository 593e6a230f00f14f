/* The [host] settings: what the host backend is asked to do. They belong to the policy, which
 * parses and prints them; the host backend (airlock/host_backend.h) applies them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define HOST_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* How a protection that depends on the host is used. */
enum host_toggle {
        HOST_AUTO = 0,     /* use it when the host offers it; the result's isolation says */
        HOST_REQUIRED = 1, /* refuse to start when the host lacks it */
        HOST_OFF = 2,      /* never */
};

#define HOST_RLIMIT_AUTO (-1) /* derive the rlimit from the exec's limits */
#define HOST_HIDE_MAX    8

struct host_options {
        /* [host] user: a user name or "uid:gid"; root (uid 0 or gid 0) is refused. */
        const char *user;
        /* [host] seccomp_deny: the deny-list file; NULL or "" turns the filter off. */
        const char *seccomp_deny;
        bool no_new_privs;      /* [host] no_new_privs */
        bool drop_capabilities; /* [host] drop_capabilities: all sets and the bounding set */
        enum host_toggle network_namespace; /* [host] network_namespace (when network=false) */
        enum host_toggle mount_namespace;   /* [host] mount_namespace */
        enum host_toggle pid_namespace;     /* [host] pid_namespace */
        enum host_toggle ipc_namespace;     /* [host] ipc_namespace */
        enum host_toggle cgroup;            /* [host] cgroup (memory and pids, cpu if set) */
        bool read_only_root; /* [host] read_only_root: every host mount read-only (mount ns) */
        bool private_tmp;    /* [host] private_tmp: /tmp, /var/tmp, /dev/shm as capped tmpfs */
        bool mount_proc;     /* [host] mount_proc: a /proc that shows only the exec's tree */
        const char *cgroup_parent; /* [host] cgroup_parent: directory under each hierarchy */
        /* [host] prestart: spawner slots kept ready (their cgroups joined in advance, which is
         * what makes a launch fast); 0 launches every exec directly. */
        int64_t prestart;
        /* [host] rlimit_*: HOST_RLIMIT_AUTO, 0 for unlimited, or a value. */
        int64_t rlimit_cpu_s;
        int64_t rlimit_as_mb;
        int64_t rlimit_fsize_mb;
        int64_t rlimit_nofile;
        int64_t rlimit_nproc;
        /* The root of every agent's workspace ([sandbox] workspace_root): hidden from execs but
         * for the exec's own workspace. May be NULL. */
        const char *workspace_root;
        /* More directories hidden behind an empty read-only tmpfs (the daemon's state dir, its
         * socket dir, ...) and refused as PATH entries. NULL-terminated, borrowed. */
        const char *hide_paths[HOST_HIDE_MAX + 1];
        /* [host] path: PATH for execs whose env sets none. */
        const char *default_path;
};

/* The safe defaults: user nobody, the shipped deny-list, every protection on (AUTO). */
void host_options_default(struct host_options *o);

/* Parse a toggle setting: "auto"; "required", "true", "yes", "on"; "off", "false", "no". */
int host_toggle_parse(const char *s, enum host_toggle *ret);
const char *host_toggle_name(enum host_toggle t);
