/* The gvisor tier's end of an exec (docs/isolation.md): processes in gVisor are the Sentry's
 * tasks, not host processes, so the daemon cannot put an exec in a cgroup of its own and end it
 * there. The agent ends what an exec left instead, from the sandbox's own /proc. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

/* Kill (SIGKILL) every process of the sandbox but the agent (pid 1) that belongs to no live
 * exec: a process belongs to live exec L when its session or process group is L (the agent
 * starts each exec as a session leader) or when L is among its ancestors. Everything else was
 * left by an exec that ended or was killed, or left its exec's session and tree (setsid and a
 * double fork): such a process cannot be told apart from the others, and ends with the next
 * sweep. Repeats while it finds something (a process may fork while it is swept), at most a
 * few rounds. is_live(pid) says whether pid is a live exec's main process. Returns how many
 * processes it signalled. */
int sweep_strays(bool (*is_live)(pid_t pid));
