/* The [host] settings' defaults and the toggle words (airlock/host_options.h). */
#include "airlock/host_options.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

static pthread_once_t deny_once = PTHREAD_ONCE_INIT;
static char *default_deny;

static void find_default_deny(void)
{
        default_deny = util_policy_file(NULL, "host-seccomp.deny");
}

void host_options_default(struct host_options *o)
{
        pthread_once(&deny_once, find_default_deny);
        memset(o, 0, sizeof(*o));
        o->user = "nobody";
        o->seccomp_deny = default_deny;
        o->no_new_privs = true;
        o->drop_capabilities = true;
        o->network_namespace = HOST_AUTO;
        o->mount_namespace = HOST_AUTO;
        o->pid_namespace = HOST_AUTO;
        o->ipc_namespace = HOST_AUTO;
        o->prestart = 4;
        o->cgroup = HOST_AUTO;
        o->read_only_root = true;
        o->private_tmp = true;
        o->mount_proc = true;
        o->cgroup_parent = "airlock";
        o->rlimit_cpu_s = HOST_RLIMIT_AUTO;
        o->rlimit_as_mb = HOST_RLIMIT_AUTO;
        o->rlimit_fsize_mb = HOST_RLIMIT_AUTO;
        o->rlimit_nofile = 1024;
        o->rlimit_nproc = HOST_RLIMIT_AUTO;
        o->default_path = HOST_DEFAULT_PATH;
}

int host_toggle_parse(const char *s, enum host_toggle *ret)
{
        static const char *const req[] = {"required", "true", "yes", "on"};
        static const char *const off[] = {"off", "false", "no"};

        if (!s)
                return -EINVAL;
        if (strcmp(s, "auto") == 0) {
                *ret = HOST_AUTO;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(req); i++)
                if (strcmp(s, req[i]) == 0) {
                        *ret = HOST_REQUIRED;
                        return 0;
                }
        for (size_t i = 0; i < ARRAY_SIZE(off); i++)
                if (strcmp(s, off[i]) == 0) {
                        *ret = HOST_OFF;
                        return 0;
                }
        return -EINVAL;
}

const char *host_toggle_name(enum host_toggle t)
{
        switch (t) {
        case HOST_AUTO:
                return "auto";
        case HOST_REQUIRED:
                return "required";
        case HOST_OFF:
                return "off";
        }
        return "?";
}
