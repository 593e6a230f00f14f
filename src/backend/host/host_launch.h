/* The launcher: forks the command with every protection applied. The daemon prepares a
 * struct host_launch (all strings, paths and the compiled seccomp program); the child only
 * makes system calls, never allocates or takes a lock, because the daemon is multi-threaded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <linux/filter.h>

#include "airlock/error.h"

#define HOST_MOPS_MAX 48
#define HOST_RLIM_MAX 8
#define HOST_KEEP_MAX 16

enum host_mop_kind {
        HOST_MOP_PRIVATE, /* make every mount private: nothing propagates to the host */
        HOST_MOP_RO_ROOT, /* every mount read-only and nosuid (mount_setattr, recursive) */
        HOST_MOP_TMPFS,   /* a tmpfs on target with data */
        HOST_MOP_MKDIR,   /* a mount point inside a tmpfs made above */
        HOST_MOP_OPEN,    /* open target (O_PATH) before anything covers it, for BIND */
        HOST_MOP_BIND,    /* bind what OPEN opened on target */
        HOST_MOP_REMOUNT, /* remount the bind on target with flags */
        HOST_MOP_PROC,    /* a fresh procfs on /proc (PID namespace) */
        HOST_MOP_DEV,     /* a minimal /dev (see host_dev_nodes); data: the /dev/shm tmpfs */
};

/* The host device nodes a minimal /dev gets, bound from the host's /dev by name. Beside them
 * /dev holds only pts (a devpts of the exec's own), ptmx -> pts/ptmx, shm (a tmpfs), and the
 * fd, stdin, stdout, stderr links into /proc/self/fd; it is read-only. */
#define HOST_DEV_NODES 6
extern const char *const host_dev_nodes[HOST_DEV_NODES];

struct host_mop {
        enum host_mop_kind kind;
        const char *src;
        const char *target;
        const char *data;
        unsigned long flags;
};

/* Where the child failed, sent to the daemon over the report pipe. */
enum host_stage {
        HOST_STAGE_NONE = 0,
        HOST_STAGE_CGROUP,
        HOST_STAGE_MOUNT,
        HOST_STAGE_NETWORK,
        HOST_STAGE_FORK,
        HOST_STAGE_FDS,
        HOST_STAGE_RLIMIT,
        HOST_STAGE_SESSION,
        HOST_STAGE_CAPS,
        HOST_STAGE_GROUPS,
        HOST_STAGE_GID,
        HOST_STAGE_UID,
        HOST_STAGE_NNP,
        HOST_STAGE_SECCOMP,
        HOST_STAGE_CHDIR,
        HOST_STAGE_EXEC,
};

struct host_report {
        int32_t stage;  /* enum host_stage */
        int32_t error;  /* errno */
        int32_t detail; /* the mount op index for HOST_STAGE_MOUNT */
};

struct host_launch {
        char *const *argv;
        char *const *envp;
        char *const *candidates; /* paths execve tries in order */
        const char *workdir;
        uid_t uid;
        gid_t gid;
        bool pidns, netns, mountns, ipcns;
        bool no_new_privs;
        bool drop_caps;
        int cap_last;                    /* highest capability number the kernel knows */
        const struct sock_fprog *filter; /* NULL: no seccomp */
        int rl_res[HOST_RLIM_MAX];
        struct rlimit rl[HOST_RLIM_MAX];
        size_t n_rl;
        const struct host_mop *mops;
        size_t n_mops;
        const int *cg_fds; /* cgroup.procs of each hierarchy, joined by writing "0" */
        size_t n_cg_fds;
        /* Spawner only: the host's network namespace, which the init joins when the exec asks
         * for the network (the spawner itself sits in a private one), or -1. */
        int host_net_fd;
        int stdin_fd, stdout_fd, stderr_fd; /* the child's ends, all >= 3 */
        int report_fd;                      /* write end of the report pipe (O_CLOEXEC) */
        int status_fd;                      /* pidns: init writes the command's wait status here */
};

/* Fork the child (clone3 with the namespaces asked for, CLONE_PIDFD). Returns 0 with the
 * pidfd and pid of the child (with a PID namespace, its init), or < 0. */
int host_launch_start(const struct host_launch *l, int *ret_pidfd, pid_t *ret_pid,
                      struct al_error *err);

/* The spawner: a child of the daemon that joins a set of cgroups once and then forks the init
 * of each exec it is sent, so that the init starts inside the cgroups. Moving a process into a
 * cgroup waits for an RCU grace period (10-30 ms); forking inside one costs nothing.
 *
 * With tmpl->netns the spawner makes one network namespace (loopback up) for all the execs
 * of its slot: they run one after another and every process of one is dead before the next
 * starts, so nothing is shared, and creating a namespace per exec would cost ~0.7 ms.
 *
 * tmpl carries the per-configuration part of the launch (user, capabilities, seccomp program),
 * read from the spawner's copy of the daemon's memory: it must not change while the spawner
 * lives. cg_fds are the cgroup.procs fds to join. Returns the daemon's end of the request
 * socket, and the spawner's pidfd and pid; waits until the spawner has joined the cgroups. */
int host_spawner_start(const struct host_launch *tmpl, const int *cg_fds, size_t n_cg_fds,
                       int *ret_sock, int *ret_pidfd, pid_t *ret_pid, struct al_error *err);

/* Send one exec (the per-exec part of l: argv, env, candidates, workdir, namespaces, rlimits,
 * mounts and fds) to the spawner; returns the pidfd of the exec's init, which is the spawner's
 * child (it reaps it): wait for it by polling, and read the status from status_fd. */
int host_spawner_launch(int sock, const struct host_launch *l, int *ret_pidfd,
                        struct al_error *err);

/* A short name for a stage, for messages. */
const char *host_stage_name(enum host_stage s);

/* Bind, in this process, every library symbol the forked children use (call once, before
 * forking; see the comment inside). */
void host_launch_prebind(void);

/* Which of CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID the host lets the daemon make, and
 * whether the mount operations work (mount_setattr, tmpfs, proc). Runs short-lived children. */
struct host_probe {
        bool netns, mountns, pidns, ipcns;
        bool ro_root, tmpfs, proc;
        bool dev; /* HOST_MOP_DEV works: tmpfs on /dev, binds of the nodes, devpts newinstance */
};
void host_launch_probe(struct host_probe *ret);

/* The child side, for the spawner (host_spawner.c) only: they run in a forked child of the
 * multi-threaded daemon (system calls only, no allocation, no locks). */
/* Close every fd but keep[0..n). */
void host_child_close_all_except(int *keep, size_t n);
/* Bring the loopback of a fresh network namespace up; < 0 on failure. */
int host_child_loopback_up(void);
/* Write v to /proc/self/oom_score_adj, ignoring failure. */
void host_child_oom_score_adj(const char *v);
/* The init of an exec's PID namespace: sets up l's namespaces, forks the command and waits for
 * it, writing its wait status to l->status_fd. */
_Noreturn void host_child_init_main(const struct host_launch *l);
