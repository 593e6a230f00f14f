/* Shared between the docker backend's files: docker.c (sandboxes: create, adopt, remove, the
 * ops table), docker_exec.c (an exec in a live sandbox, in the foreground or the background)
 * and docker_procs.c (background processes). */
#pragma once
#include <pthread.h>
#include <stdbool.h>

#include "airlock/backend.h"
#include "airlock/buf.h"
#include "airlock/engine.h"
#include "hostconfig.h"

struct exec_cgroup;
struct dproc;

/* What the backend remembers of each live sandbox it made. */
struct dsandbox {
        char *id;
        char *exec_user;
        char *oom_path; /* memory.oom_control (v1) or memory.events (v2), or NULL */
        char *cg_root;  /* where its per-exec cgroups are made */
        char *run_dir;  /* host directory of its agent's socket; NULL: no agent (engine execs) */
        char *workdir;  /* where execs start: /workspace or /tmp */
        long long init_pid; /* host pid of its first process (the agent) */
        bool agent_down;    /* its agent did not take the last exec: engine execs */
        bool gvisor;        /* the gvisor tier: no exec cgroups, the agent ends trees */
        char *pids_events;  /* gvisor: the pids cgroup's events file (a full cgroup ends it) */
        struct dproc *procs;
        int n_procs;
        struct dsandbox *next;
};

struct dbackend {
        struct engine *engine;
        struct hostconfig_env env;
        char *seccomp_text;
        char *seccomp_text_gvisor;
        char *seccomp_path;
        char *exec_shim;
        char *agent_bin;      /* airlock-agent, bound into every sandbox */
        char *lib_dir;        /* airlock-lib (the context driver), bound read-only, or NULL */
        char *pyshims;        /* airlock-python/, bound when present (plot artifacts) */
        char *run_root;       /* where sandboxes' agent directories are made */
        char *hosts_file;     /* env.hosts, or NULL */
        pthread_mutex_t lock; /* the sandbox list and every process record */
        struct dsandbox *sandboxes;
        struct backend_ops ops; /* docker_ops, named for the engine */
};

/* What an exec needs of its sandbox, copied out of the list (which may change under it). */
struct dsandbox_ref {
        char *exec_user;
        char *oom_path;
        char *cg_root;
        char *run_dir; /* NULL: no agent */
        char *workdir;
        long long init_pid;
        bool gvisor;
        char *pids_events;
};

int dsandbox_ref_get(struct dbackend *d, const char *id, struct dsandbox_ref *ret);
void dsandbox_ref_clear(struct dsandbox_ref *ref);
/* Note whether the sandbox's agent took an exec (health counts those whose agent did not). */
void dsandbox_agent_seen(struct dbackend *d, const char *id, bool up);
/* The sandbox record of id; call with d->lock held. NULL when unknown. */
struct dsandbox *dsandbox_find_locked(struct dbackend *d, const char *id);

/* An exec opened in a sandbox: created in the engine, its cgroup made; run it with
 * dexec_pump (blocking), then dexec_finish. */
struct dexec {
        struct dbackend *d;
        const char *container_id;
        bool gvisor;       /* ended through its agent (SIGNAL), not by cgroup */
        char *pids_events; /* gvisor: see struct dsandbox */
        long long pids_before;
        char *run_dir;    /* the agent's directory (gvisor: where SIGNAL goes) */
        char *exec_id;    /* the engine's exec (fallback path), or NULL */
        int agent_fd;     /* the connection to the sandbox's agent (hot path), or -1 */
        char *agent_exec; /* its EXEC frame's JSON, made when the exec is opened */
        long long init_pid;
        char *cg_root;     /* the sandbox's cgroup, where its exec cgroups are made */
        char *workdir;     /* default working directory */
        bool agent_failed; /* the agent misbehaved or went away: the sandbox is unusable */
        struct exec_cgroup *cg;
        long long pid;   /* host pid of the shim, once placed */
        long long nspid; /* its pid inside the sandbox */
        long long oom_before;
        char *oom_path;
        const struct exec_sink *sink;
        struct exec_result *res;
        pthread_mutex_t *out_lock; /* background: res is read by other threads under it */
        /* Called once the shim is placed (its pids known); may be NULL. */
        int (*on_placed)(void *ctx);
        void *placed_ctx;
        bool killed; /* the cgroup was killed (deadline, cancel, request) */
        bool kill_failed;
        bool emptied; /* dexec_finish saw its cgroup empty */
        int64_t t0;
};

/* Create the exec of x in sandbox id (not started yet). */
int dexec_open(struct dbackend *d, const char *id, const struct exec_spec *x, struct dexec *ret,
               struct al_error *err);
/* Start it and pump its streams until it ends (exit, deadline, hang-up, cancel): output goes
 * to res (and sink). */
int dexec_pump(struct dexec *e, const struct exec_spec *x, struct engine_stream_io *io,
               struct al_error *err);
/* End what is left of the exec's processes and read its exit: -ESTALE when something survived
 * the kill (the sandbox is unusable). */
int dexec_finish(struct dexec *e, struct al_error *err);
void dexec_clear(struct dexec *e);
/* End every process of the exec now (from any thread). */
void dexec_kill(struct dexec *e);
/* The stream's output callback (ctx: a struct dexec): into res, and to the sink. */
int dexec_output(void *ctx, int stream, const char *data, size_t len);
/* The exit as engines report it (128+N for signal N) into res. */
void dexec_set_exit(struct exec_result *res, long long code);
/* The pid inside its innermost PID namespace of host pid; -1 when unknown. */
long long dexec_ns_pid(long long pid);
/* The (host) parent pid of host pid; -1 when unknown. */
long long dexec_ppid(long long pid);
/* The "max" counter of a pids cgroup's events file at path (forks refused); -1 when unknown. */
long long dexec_events_max(const char *path);
/* The OOM-kill counter in the cgroup file at path; -1 when unknown. */
long long dexec_oom_kills(const char *path);

/* The in-sandbox agent (docker_agent.c). */
/* Connect to the agent whose socket is in run_dir and check that it is init_pid; with gvisor,
 * that the peer is a sibling of init_pid in its cgroup (runsc's gofer holds every socket of a
 * gVisor sandbox on the host: docs/isolation.md). */
int dagent_connect(const char *run_dir, long long init_pid, bool gvisor, int *ret_fd,
                   struct al_error *err);
/* The same for the socket name in run_dir, held by host pid peer_pid (gvisor: as above). */
int dagent_connect_to(const char *run_dir, const char *name, long long peer_pid, bool gvisor,
                      int *ret_fd, struct al_error *err);
/* PING, and a PONG within timeout_ms. */
int dagent_ping(const char *run_dir, long long init_pid, bool gvisor, int timeout_ms,
                struct al_error *err);
/* SIGNAL: have the agent signal its exec whose pid in the sandbox is pid (SIGKILL: its tree).
 * Sent and not waited for. */
int dagent_signal(const char *run_dir, long long init_pid, long long pid, int sig,
                  struct al_error *err);
/* A fresh agent directory under d->run_root owned by exec_user ("uid:gid"); remove one (and
 * its socket; NULL is a no-op); remove those no sandbox of d holds (after a crash). */
int dagent_dir_make(struct dbackend *d, const char *exec_user, char **ret, struct al_error *err);
void dagent_dir_remove(const char *dir);
void dagent_dir_sweep(struct dbackend *d);
/* The agent directory a container of d names in its labels (from its inspect document) when it
 * is one of d's and still there; NULL otherwise (made without an agent). */
const char *dagent_dir_of(struct dbackend *d, json_t *insp);
/* Wait until the agent of a new sandbox answers (AGENT_START_MS). */
int dagent_wait(const char *run_dir, long long pid, bool gvisor, struct al_error *err);
#define AGENT_START_MS 10000 /* a new sandbox's agent answers within this */
#define AGENT_PING_MS  2000

/* The EXEC frame's JSON for x in e (the sandbox's default working directory filled in). */
int dagent_exec_json(const struct dexec *e, const struct exec_spec *x, char **ret);
/* Run e (opened on an agent connection) to its end, like dexec_pump. */
int dagent_pump(struct dexec *e, const struct exec_spec *x, struct engine_stream_io *io,
                struct al_error *err);

/* How long output is still read after an exec was killed. */
#define DEXEC_DRAIN_MS 1500

/* Background processes (docker_procs.c). */
int dprocs_start(struct backend *b, const char *handle, const struct exec_spec *x,
                 const struct proc_hooks *hooks, long long *ret_pid, struct al_error *err);
json_t *dprocs_list(struct backend *b, const char *handle, long long pid, struct al_error *err);
int dprocs_kill(struct backend *b, const char *handle, long long pid, struct al_error *err);
/* Where the running background process pid (inside the sandbox) of sandbox handle is. */
struct dproc_ref {
        long long host_pid; /* -1 in gVisor, where it is no host process */
        long long pid;
        long long init_pid; /* the sandbox's first host process */
        bool gvisor;
        char *run_dir; /* its agent directory (owned), NULL when it has none */
};
/* Fill *ret (free run_dir): -ENOENT when the sandbox or the process is unknown, -ESRCH when it
 * has ended. */
int dprocs_ref(struct dbackend *d, const char *handle, long long pid, struct dproc_ref *ret,
               struct al_error *err);
/* Contexts (docker_ctx.c): connect to a background process's socket, signal it. */
int dctx_connect(struct backend *b, const char *handle, long long pid, const char *sock_name,
                 int *ret_fd, struct al_error *err);
int dctx_signal(struct backend *b, const char *handle, long long pid, int sig,
                struct al_error *err);
/* End and forget every background process of a sandbox record taken out of the list. */
void dprocs_end_all(struct dbackend *d, struct dsandbox *s);
