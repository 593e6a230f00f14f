/* What contexts (docs/contexts.md) need of a container sandbox beyond background processes:
 * the control socket of a context's driver, and a signal to it. The driver is a background
 * process (its own cgroup, ended with its sandbox); its socket is in the sandbox's agent
 * directory, where code of the sandbox could put a socket of its own: the listener must be
 * the driver's own process. In gVisor every socket of the sandbox is held by runsc's gofer on
 * the host: the check is then only that it is this sandbox's (docs/isolation.md), and signals
 * go through the agent. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "docker_private.h"

int dctx_connect(struct backend *b, const char *handle, long long pid, const char *sock_name,
                 int *ret_fd, struct al_error *err)
{
        struct dproc_ref ref = {0};
        int r;

        r = dprocs_ref(b->priv, handle, pid, &ref, err);
        if (r < 0)
                return r;
        if (!ref.run_dir)
                r = al_err(err, -EOPNOTSUPP,
                           "sandbox %.12s has no agent directory (made by an older airlockd)",
                           handle);
        else
                r = dagent_connect_to(ref.run_dir, sock_name,
                                      ref.gvisor ? ref.init_pid : ref.host_pid, ref.gvisor, ret_fd,
                                      err);
        free(ref.run_dir);
        return r;
}

int dctx_signal(struct backend *b, const char *handle, long long pid, int sig, struct al_error *err)
{
        struct dproc_ref ref = {0};
        int r = dprocs_ref(b->priv, handle, pid, &ref, err);

        if (r < 0)
                return r;
        /* The process, not its group: the interpreter's main thread takes the signal. */
        if (ref.gvisor)
                r = ref.run_dir ? dagent_signal(ref.run_dir, ref.init_pid, pid, sig, err)
                                : al_err(err, -EOPNOTSUPP, "sandbox %.12s has no agent", handle);
        else if (kill((pid_t)ref.host_pid, sig) < 0)
                r = al_err_errno(err, -errno, "signalling process %lld", pid);
        free(ref.run_dir);
        return r;
}
