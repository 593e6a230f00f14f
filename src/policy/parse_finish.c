/* The settings file's checks once the whole file is read: the runtime catalog, the agents'
 * references to it, the clients' uids, and defaults that depend on other keys. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "policy/parse_private.h"
#include "policy/policy_private.h"

static char **strv_copy(char *const *v)
{
        size_t n = util_strv_len(v);
        char **copy = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; copy && i < n; i++) {
                if (!(copy[i] = strdup(v[i]))) {
                        util_strv_free(copy);
                        return NULL;
                }
        }
        return copy;
}

/* The runtime catalog's names, for messages. */
static const char *catalog_text(const struct policy *p, char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (size_t i = 0; i < p->n_runtimes && o < size; i++)
                o +=
                    (size_t)snprintf(dst + o, size - o, "%s%s", i ? ", " : "", p->runtimes[i].name);
        return dst;
}

/* An agent's references to the catalog, which may be defined anywhere in the file. */
static void finish_agents(struct parse_ctx *c)
{
        struct policy *p = c->p;
        char names[160];

        for (size_t i = 0; i < c->n_refs; i++) {
                const struct runtime_ref *ref = &c->refs[i];
                const char *rt = p->agents[ref->agent].runtimes[ref->index];

                if (!policy_runtime(p, rt))
                        parse_problem(c, ref->line, "unknown runtime '%s' (catalog: %s)", rt,
                                      catalog_text(p, names, sizeof(names)));
        }
        for (size_t i = 0; i < p->n_agents; i++) {
                const struct policy_agent *a = &p->agents[i];
                const int *seen = c->ags[i].seen;
                int dr_line = seen[K_A_DEFAULT_RUNTIME - K_AGENT_FIRST];
                const char *dr = a->default_runtime ? a->default_runtime : p->default_runtime;

                if (a->default_runtime && !policy_runtime(p, a->default_runtime)) {
                        parse_problem(c, dr_line,
                                      "default_runtime '%s' is not in the runtime catalog (%s)",
                                      a->default_runtime, catalog_text(p, names, sizeof(names)));
                        continue;
                }
                /* Requests that name no runtime would otherwise be refused for this agent. */
                if (a->runtimes && a->runtimes[0] && !policy_strv_contains(a->runtimes, dr))
                        parse_problem(c, dr_line ? dr_line : seen[K_A_RUNTIMES - K_AGENT_FIRST],
                                      "default_runtime '%s'%s is not among the runtimes of [agent "
                                      "\"%s\"]",
                                      dr, a->default_runtime ? "" : " (from [sandbox])", a->name);
        }
}

struct uid_owner {
        uint32_t uid;
        size_t client;
};

static int uid_owner_cmp(const void *a, const void *b)
{
        const struct uid_owner *x = a, *y = b;

        if (x->uid != y->uid)
                return x->uid < y->uid ? -1 : 1;
        return x->client < y->client ? -1 : x->client > y->client;
}

/* A client that names no caller, and a uid given to two clients (which of them it is would
 * depend on the order of the file). Sorted, so that a large file costs n log n. */
static void finish_clients(struct parse_ctx *c)
{
        const struct policy *p = c->p;
        struct uid_owner *all;
        size_t n = 0;

        for (size_t i = 0; i < p->n_clients; i++) {
                if (p->clients[i].n_uids == 0 && !p->clients[i].groups[0])
                        parse_problem(c, p->clients[i].line,
                                      "[client \"%s\"] names no caller: give it uids or groups",
                                      p->clients[i].name);
                n += p->clients[i].n_uids;
        }
        if (n < 2)
                return;
        all = calloc(n, sizeof(*all));
        if (!all) {
                c->oom = -ENOMEM;
                return;
        }
        n = 0;
        for (size_t i = 0; i < p->n_clients; i++)
                for (size_t k = 0; k < p->clients[i].n_uids; k++)
                        all[n++] = (struct uid_owner){p->clients[i].uids[k], i};
        qsort(all, n, sizeof(*all), uid_owner_cmp);
        for (size_t i = 1; i < n; i++) {
                const struct policy_client *first = &p->clients[all[i - 1].client];
                const struct policy_client *second = &p->clients[all[i].client];

                if (all[i].uid == all[i - 1].uid)
                        parse_problem(c, second->line,
                                      "uid %lu is in [client \"%s\"] and [client \"%s\"]; give "
                                      "each uid to one client",
                                      (unsigned long)all[i].uid, first->name, second->name);
        }
        free(all);
}

/* Checks that need the whole file: defaults that depend on other keys, references. */
void parse_finish(struct parse_ctx *c)
{
        struct policy *p = c->p;
        char names[256];

        for (size_t i = 0; i < p->n_runtimes; i++) {
                struct runtime *rt = &p->runtimes[i];

                if (rt->line == 0)
                        continue;
                if (!c->rts[i].seen[0])
                        parse_problem(c, rt->line, "[runtime \"%s\"] has no image", rt->name);
                /* A new runtime runs code through its shell unless told otherwise. */
                if (!rt->shell && !(rt->shell = util_split_words("sh -c"))) {
                        c->oom = -ENOMEM;
                        return;
                }
                if (!rt->run && !(rt->run = strv_copy(rt->shell))) {
                        c->oom = -ENOMEM;
                        return;
                }
        }
        if (!policy_runtime(p, p->default_runtime))
                parse_problem(c, c->seen[K_DEFAULT_RUNTIME],
                              "default_runtime '%s' is not in the runtime catalog (%s)",
                              p->default_runtime, catalog_text(p, names, sizeof(names)));
        finish_agents(c);
        finish_clients(c);
        parse_finish_providers(c);
        if ((!c->seen[K_ENGINE_SOCKET] || p->engine_socket[0] == '\0') &&
            parse_set_string(c, &p->engine_socket,
                             p->engine_kind == ENGINE_PODMAN ? "/run/podman/podman.sock"
                                                             : "/var/run/docker.sock") < 0)
                return;
        /* The workspaces live under the state directory unless placed elsewhere. */
        p->workspace_root_set = c->seen[K_WORKSPACE_ROOT];
        if (c->seen[K_STATE_DIR] && policy_set_state_dir(p, p->state_dir) < 0)
                c->oom = -ENOMEM;
}
