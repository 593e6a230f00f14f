/* What contexts (docs/contexts.md) need of a container sandbox beyond background processes:
 * the control socket of a context's driver, and a signal to it. The driver is a background
 * process (its own cgroup, ended with its sandbox); its socket is in the sandbox's agent
 * directory, where code of the sandbox could put a socket of its own: the listener must be
 * the driver's own process. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "docker_private.h"

int dctx_connect(struct backend *b, const char *handle, long long pid, const char *sock_name,
                 int *ret_fd, struct al_error *err)
{
        _cleanup_free_ char *run_dir = NULL;
        long long host_pid;
        int r;

        r = dprocs_host_pid(b->priv, handle, pid, &host_pid, &run_dir, err);
        if (r < 0)
                return r;
        if (!run_dir)
                return al_err(err, -EOPNOTSUPP,
                              "sandbox %.12s has no agent directory (made by an older airlockd)",
                              handle);
        return dagent_connect_to(run_dir, sock_name, host_pid, ret_fd, err);
}

int dctx_signal(struct backend *b, const char *handle, long long pid, int sig, struct al_error *err)
{
        long long host_pid;
        int r = dprocs_host_pid(b->priv, handle, pid, &host_pid, NULL, err);

        if (r < 0)
                return r;
        /* The process, not its group: the interpreter's main thread takes the signal. */
        if (kill((pid_t)host_pid, sig) < 0)
                return al_err_errno(err, -errno, "signalling process %lld", pid);
        return 0;
}
