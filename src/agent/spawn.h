/* The first process of an exec (docs/agent-protocol.md, EXEC): started held, it sets itself up
 * (session, fds, rlimits, cwd), says "R" on its GO socket, waits for "G", then runs the code.
 * Made with clone(CLONE_VM) on a stack of its own where the architecture allows (no copy of the
 * agent's page tables, no copy-on-write faults, no teardown of a copied address space at
 * execve: on this project's VMs a fork of the agent was the largest cost of an exec), with
 * fork() elsewhere. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

/* A parsed EXEC, pointing into its JSON. */
struct exec_spec {
        const char **argv, **envp;
        const char *cwd;
        int n_limits;
        struct {
                int resource;
                rlim_t value;
        } limits[8];
        bool stdin;
};

/* What the held child is given: its stdin (-1: /dev/null), stdout, stderr and GO socket, and the
 * NOFILE limit to restore. */
struct spawn_fds {
        int in, out, err, go;
};

struct spawn;

/* Starts the held child of spec, which the spawn takes (with j, the JSON it points into): the
 * child reads it, and its stack, until it runs the code, so they live until spawn_reaped(pid).
 * Returns the child's pid, or -errno (then spec and j are freed). */
pid_t spawn_exec(json_t *j, const struct exec_spec *spec, const struct spawn_fds *fds,
                 const struct rlimit *nofile);

/* pid was reaped: its spawn, if it has one, is freed. */
void spawn_reaped(pid_t pid);

/* How many held children were made each way so far: with a shared address space (clone with
 * CLONE_VM) and by fork(). Reported in PONG, so that a fallback to fork is seen. */
void spawn_counts(unsigned long long *shared, unsigned long long *forked);
