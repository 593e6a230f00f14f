/* [access] and [client "name"]: who may use the daemon and as which agents, plus the caps on
 * clients that [daemon] holds. The parser (parse.c) fills these in; the API's auth module
 * reads them. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/policy.h"
#include "airlock/util.h"
#include "policy/policy_private.h"

int policy_access_init(struct policy *p)
{
        p->max_header_bytes = 32 * 1024;
        p->max_connections_per_uid = 64;
        p->reserved_connections = 16;
        p->read_timeout_s = 10;
        p->rate_per_min = 600;
        p->max_concurrent = 32;
        p->max_execs = 64;
        p->queue_max = 64;
        p->queue_timeout_s = 60;
        p->max_sandboxes = 128;
        p->max_sandboxes_per_agent = 32;
        p->admin_groups = calloc(1, sizeof(char *));
        return p->admin_groups ? 0 : -ENOMEM;
}

static void client_clear(struct policy_client *c)
{
        free(c->name);
        free(c->uids);
        util_strv_free(c->groups);
        util_strv_free(c->agents);
        memset(c, 0, sizeof(*c));
}

void policy_access_free(struct policy *p)
{
        free(p->admin_uids);
        util_strv_free(p->admin_groups);
        for (size_t i = 0; i < p->n_clients; i++)
                client_clear(&p->clients[i]);
        free(p->clients);
        p->admin_uids = NULL;
        p->admin_groups = NULL;
        p->clients = NULL;
        p->n_admin_uids = p->n_clients = 0;
}

int policy_client_index(const struct policy *p, const char *name)
{
        if (!p || !name)
                return -1;
        for (size_t i = 0; i < p->n_clients; i++)
                if (strcmp(p->clients[i].name, name) == 0)
                        return (int)i;
        return -1;
}

int policy_client_add(struct policy *p, const char *name, int line)
{
        struct policy_client *nv;

        if (p->n_clients >= POLICY_CLIENTS_MAX)
                return -E2BIG;
        nv = realloc(p->clients, (p->n_clients + 1) * sizeof(*nv));
        if (!nv)
                return -ENOMEM;
        p->clients = nv;
        nv = &p->clients[p->n_clients];
        memset(nv, 0, sizeof(*nv));
        nv->line = line;
        nv->rate_per_min = nv->max_concurrent = -1;
        nv->name = strdup(name);
        nv->groups = calloc(1, sizeof(char *));
        nv->agents = calloc(1, sizeof(char *));
        if (!nv->name || !nv->groups || !nv->agents) {
                client_clear(nv);
                return -ENOMEM;
        }
        return (int)p->n_clients++;
}

int policy_uid_push(uint32_t **v, size_t *n, uint32_t uid)
{
        uint32_t *nv = realloc(*v, (*n + 1) * sizeof(*nv));

        if (!nv)
                return -ENOMEM;
        nv[(*n)++] = uid;
        *v = nv;
        return 0;
}

bool policy_agent_pattern_valid(const char *s)
{
        size_t n = 0;
        bool in_class = false;

        if (!s)
                return false;
        for (; s[n]; n++) {
                char ch = s[n];

                if (n >= POLICY_NAME_LEN_MAX)
                        return false;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' || ch == '*' ||
                    ch == '?')
                        continue;
                if (ch == '[' && !in_class) {
                        in_class = true;
                        continue;
                }
                /* "[!" negates; a ']' closes only a non-empty class. */
                if (ch == '!' && in_class && s[n - 1] == '[')
                        continue;
                if (ch == ']' && in_class && s[n - 1] != '[' &&
                    !(s[n - 1] == '!' && s[n - 2] == '[')) {
                        in_class = false;
                        continue;
                }
                return false;
        }
        /* "." and ".." are never agent names; a pattern of them would only mislead. */
        return n > 0 && !in_class && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static json_t *uids_to_json(const uint32_t *v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++) {
                if (json_array_append_new(a, json_integer((json_int_t)v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* A per-client limit: the number, or null for "the [daemon] default". */
static json_t *limit_to_json(int64_t v)
{
        return v < 0 ? json_null() : json_integer((json_int_t)v);
}

static json_t *client_to_json(const struct policy_client *c)
{
        return json_pack("{s:o, s:o, s:o, s:o, s:o}", "uids", uids_to_json(c->uids, c->n_uids),
                         "groups", policy_strv_to_json(c->groups), "agents",
                         policy_strv_to_json(c->agents), "rate_per_min",
                         limit_to_json(c->rate_per_min), "max_concurrent",
                         limit_to_json(c->max_concurrent));
}

bool policy_access_to_json(const struct policy *p, json_t *o)
{
        json_t *daemon = json_object_get(o, "daemon"), *clients = json_object(), *access;

        if (!daemon || !clients)
                goto fail;
        for (size_t i = 0; i < p->n_clients; i++) {
                json_t *c = client_to_json(&p->clients[i]);

                if (!c || json_object_set_new(clients, p->clients[i].name, c) < 0)
                        goto fail;
        }
        access = json_pack("{s:o, s:o}", "admin_uids", uids_to_json(p->admin_uids, p->n_admin_uids),
                           "admin_groups", policy_strv_to_json(p->admin_groups));
        if (!access || json_object_set_new(o, "access", access) < 0)
                goto fail;
        if (json_object_set_new(o, "clients", clients) < 0)
                return false;
        clients = NULL;
        return json_object_set_new(daemon, "max_header_kb",
                                   json_integer((json_int_t)(p->max_header_bytes / 1024))) == 0 &&
               json_object_set_new(daemon, "max_connections_per_uid",
                                   json_integer((json_int_t)p->max_connections_per_uid)) == 0 &&
               json_object_set_new(daemon, "reserved_connections",
                                   json_integer((json_int_t)p->reserved_connections)) == 0 &&
               json_object_set_new(daemon, "read_timeout_s",
                                   json_integer((json_int_t)p->read_timeout_s)) == 0 &&
               json_object_set_new(daemon, "rate_per_min",
                                   json_integer((json_int_t)p->rate_per_min)) == 0 &&
               json_object_set_new(daemon, "max_concurrent",
                                   json_integer((json_int_t)p->max_concurrent)) == 0 &&
               json_object_set_new(daemon, "max_execs", json_integer((json_int_t)p->max_execs)) ==
                   0 &&
               json_object_set_new(daemon, "queue_max", json_integer((json_int_t)p->queue_max)) ==
                   0 &&
               json_object_set_new(daemon, "queue_timeout_s",
                                   json_integer((json_int_t)p->queue_timeout_s)) == 0 &&
               json_object_set_new(daemon, "max_sandboxes",
                                   json_integer((json_int_t)p->max_sandboxes)) == 0 &&
               json_object_set_new(daemon, "max_sandboxes_per_agent",
                                   json_integer((json_int_t)p->max_sandboxes_per_agent)) == 0;
fail:
        json_decref(clients);
        return false;
}
