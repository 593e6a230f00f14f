#include "sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SWEEP_PROCS_MAX 65536
#define SWEEP_ROUNDS    8

struct pinfo {
        pid_t pid, ppid, pgrp, sid;
};

/* pid's parent, process group and session from /proc/PID/stat; -1 when gone. */
static int read_stat(pid_t pid, struct pinfo *ret)
{
        char path[64], buf[512], *p;
        int fd, ppid, pgrp, sid;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        /* The command name may hold anything, ')' included: the fields follow the last one. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %d %d %d", &ppid, &pgrp, &sid) != 3)
                return -1;
        *ret = (struct pinfo){pid, ppid, pgrp, sid};
        return 0;
}

static int list_procs(struct pinfo *out, int max)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;

        if (!d)
                return 0;
        while (n < max && (de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || pid <= 1)
                        continue;
                if (read_stat((pid_t)pid, &out[n]) == 0)
                        n++;
        }
        closedir(d);
        return n;
}

static const struct pinfo *find(const struct pinfo *ps, int n, pid_t pid)
{
        for (int i = 0; i < n; i++)
                if (ps[i].pid == pid)
                        return &ps[i];
        return NULL;
}

static bool belongs(const struct pinfo *ps, int n, const struct pinfo *p, bool (*is_live)(pid_t))
{
        if (is_live(p->sid) || is_live(p->pgrp))
                return true;
        /* Up the tree (bounded: a cycle cannot happen, a long chain is cut short). */
        for (int depth = 0; p && depth < 4096; depth++) {
                if (is_live(p->pid))
                        return true;
                if (p->ppid <= 1)
                        return false;
                p = find(ps, n, p->ppid);
        }
        return false;
}

int sweep_strays(bool (*is_live)(pid_t pid))
{
        struct pinfo *ps = malloc(sizeof(*ps) * SWEEP_PROCS_MAX);
        int total = 0;

        if (!ps)
                return 0;
        for (int round = 0; round < SWEEP_ROUNDS; round++) {
                int n = list_procs(ps, SWEEP_PROCS_MAX), killed = 0;

                for (int i = 0; i < n; i++)
                        if (!belongs(ps, n, &ps[i], is_live) && kill(ps[i].pid, SIGKILL) == 0)
                                killed++;
                total += killed;
                if (killed == 0)
                        break;
        }
        free(ps);
        return total;
}
