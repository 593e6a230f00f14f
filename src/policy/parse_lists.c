/* The settings file's list-valued keys: domains, runtime names, uids, groups and agent name
 * patterns, separated by commas or spaces and adding up when a key is repeated. */
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
#include "airlock/netrule.h"
#include "airlock/util.h"
#include "policy/parse_private.h"
#include "policy/policy_private.h"

/* One entry of allowed_domains or blocked_domains, normalised (case, trailing dot, IDNA) so
 * that the proxy compares like with like. */
static void add_domain(struct parse_ctx *c, enum key_id id, const char *item)
{
        struct policy_network *n = &c->p->network;
        struct policy_agent *a = c->section == SEC_AGENT ? parse_cur_agent(c) : NULL;
        bool allow = id == K_ALLOWED_DOMAINS || id == K_A_ALLOWED_DOMAINS;
        char ***list = a ? (allow ? &a->allowed_domains : &a->blocked_domains)
                         : (allow ? &n->allowed : &n->blocked);
        char *const *other = a ? (allow ? a->blocked_domains : a->allowed_domains)
                               : (allow ? n->blocked : n->allowed);
        const char *name = parse_keys[id].name,
                   *other_name = allow ? "blocked_domains" : "allowed_domains";
        char q[UTIL_QUOTE_SIZE], norm[NETRULE_NAME_SIZE + 2];
        const char *why = NULL;

        util_quote(q, sizeof(q), item);
        if (netrule_pattern_normalize(item, norm, &why) < 0) {
                parse_problem(c, c->line,
                              "%s: '%s' is not a domain pattern: %s (write 'pypi.org' for that "
                              "name, '*.github.com' for its strict subdomains)",
                              name, q, why);
                return;
        }
        if (policy_strv_contains(*list, norm)) {
                parse_problem(c, c->line, "%s: '%s' is listed twice", name, q);
                return;
        }
        if (policy_strv_contains(other, norm)) {
                parse_problem(c, c->line, "%s: '%s' is also in %s", name, q, other_name);
                return;
        }
        if (util_strv_len(*list) >= POLICY_DOMAINS_MAX) {
                parse_problem(c, c->line, "%s holds at most %d domains", name, POLICY_DOMAINS_MAX);
                return;
        }
        /* An agent's list replaces the global one; made empty first, so that an empty value
         * ("allowed_domains =") means "none" for that agent. */
        if (!*list && !(*list = calloc(1, sizeof(char *)))) {
                c->oom = -ENOMEM;
                return;
        }
        if (policy_strv_push(list, norm) < 0)
                c->oom = -ENOMEM;
}

/* One entry of allowed_cidrs: an address block the proxy may reach although it is private
 * (an internal package mirror). */
static void add_cidr(struct parse_ctx *c, const char *item)
{
        struct policy_agent *a = c->section == SEC_AGENT ? parse_cur_agent(c) : NULL;
        char ***list = a ? &a->allowed_cidrs : &c->p->network.cidrs;
        struct netrule_cidr cidr;
        char q[UTIL_QUOTE_SIZE];

        util_quote(q, sizeof(q), item);
        if (netrule_cidr_parse(item, &cidr) < 0) {
                parse_problem(c, c->line,
                              "allowed_cidrs: '%s' is not an address block (write '10.9.0.0/16' "
                              "or 'fd00:1::/64', host bits zero)",
                              q);
                return;
        }
        if (policy_strv_contains(*list, item)) {
                parse_problem(c, c->line, "allowed_cidrs: '%s' is listed twice", q);
                return;
        }
        if (util_strv_len(*list) >= POLICY_DOMAINS_MAX) {
                parse_problem(c, c->line, "allowed_cidrs holds at most %d blocks",
                              POLICY_DOMAINS_MAX);
                return;
        }
        if (policy_strv_push(list, item) < 0)
                c->oom = -ENOMEM;
}

/* One entry of an agent's runtimes; whether the catalog has it is checked in parse_finish(). */
static void add_runtime_name(struct parse_ctx *c, const char *item)
{
        struct policy_agent *a = parse_cur_agent(c);
        struct runtime_ref *nv;
        char q[UTIL_QUOTE_SIZE];

        util_quote(q, sizeof(q), item);
        if (!util_name_valid(item, POLICY_NAME_LEN_MAX)) {
                parse_problem(c, c->line,
                              "runtimes: '%s' is not a runtime name (1 to %d characters from "
                              "[A-Za-z0-9._-])",
                              q, POLICY_NAME_LEN_MAX);
                return;
        }
        if (policy_strv_contains(a->runtimes, item)) {
                parse_problem(c, c->line, "runtimes: '%s' is listed twice", q);
                return;
        }
        if (util_strv_len(a->runtimes) >= POLICY_RUNTIMES_MAX) {
                parse_problem(c, c->line, "runtimes holds at most %d names", POLICY_RUNTIMES_MAX);
                return;
        }
        nv = realloc(c->refs, (c->n_refs + 1) * sizeof(*nv));
        if (!nv || policy_strv_push(&a->runtimes, item) < 0) {
                if (nv)
                        c->refs = nv;
                c->oom = -ENOMEM;
                return;
        }
        c->refs = nv;
        c->refs[c->n_refs++] = (struct runtime_ref){
            .agent = c->agent, .line = c->line, .index = util_strv_len(a->runtimes) - 1};
}

/* One entry of admin_uids, admin_groups or a client's uids, groups or agents. */
static void add_access_item(struct parse_ctx *c, enum key_id id, const char *item)
{
        struct policy *p = c->p;
        struct policy_client *cl = c->section == SEC_CLIENT ? &p->clients[c->client] : NULL;
        const char *name = parse_keys[id].name;
        char q[UTIL_QUOTE_SIZE];
        char ***strv = NULL;
        int64_t uid;
        uint32_t **uids;
        size_t *n_uids;

        util_quote(q, sizeof(q), item);
        switch (parse_keys[id].type) {
        case V_UIDS:
                uids = cl ? &cl->uids : &p->admin_uids;
                n_uids = cl ? &cl->n_uids : &p->n_admin_uids;
                if (util_parse_int64(item, 0, 4294967294LL, &uid) < 0) {
                        parse_problem(c, c->line,
                                      "%s: '%s' is not a numeric uid between 0 and 4294967294",
                                      name, q);
                        return;
                }
                for (size_t i = 0; i < *n_uids; i++) {
                        if ((*uids)[i] == (uint32_t)uid) {
                                parse_problem(c, c->line, "%s: uid %lld is listed twice", name,
                                              (long long)uid);
                                return;
                        }
                }
                if (*n_uids >= POLICY_IDS_MAX) {
                        parse_problem(c, c->line, "%s holds at most %d uids", name, POLICY_IDS_MAX);
                        return;
                }
                if (policy_uid_push(uids, n_uids, (uint32_t)uid) < 0)
                        c->oom = -ENOMEM;
                return;
        case V_GROUPS:
                strv = cl ? &cl->groups : &p->admin_groups;
                if (!util_name_valid(item, 32)) {
                        parse_problem(c, c->line,
                                      "%s: '%s' is not a group name (1 to 32 characters from "
                                      "[A-Za-z0-9._-])",
                                      name, q);
                        return;
                }
                break;
        default:
                strv = &cl->agents;
                if (!policy_agent_pattern_valid(item)) {
                        parse_problem(
                            c, c->line,
                            "%s: '%s' is not an agent name or pattern (1 to %d characters "
                            "from [A-Za-z0-9._-] and the pattern characters * ? [ ] !)",
                            name, q, POLICY_NAME_LEN_MAX);
                        return;
                }
                break;
        }
        if (policy_strv_contains(*strv, item)) {
                parse_problem(c, c->line, "%s: '%s' is listed twice", name, q);
                return;
        }
        if (util_strv_len(*strv) >= POLICY_IDS_MAX) {
                parse_problem(c, c->line, "%s holds at most %d entries", name, POLICY_IDS_MAX);
                return;
        }
        if (policy_strv_push(strv, item) < 0)
                c->oom = -ENOMEM;
}

/* A list value: items separated by commas and blanks; a key given again adds to the list
 * (the line length cap would otherwise cap the list). */
void parse_add_list(struct parse_ctx *c, enum key_id id, const char *v)
{
        static const char seps[] = ", \t";
        char item[256];
        size_t found = 0;

        for (const char *s = v + strspn(v, seps); *s; s += strspn(s, seps)) {
                size_t n = strcspn(s, seps);

                /* Lines are capped well below sizeof(item). */
                if (n >= sizeof(item))
                        n = sizeof(item) - 1;
                memcpy(item, s, n);
                item[n] = '\0';
                s += strcspn(s, seps);
                found++;
                if (id == K_A_RUNTIMES)
                        add_runtime_name(c, item);
                else if (id == K_ALLOWED_DOMAINS || id == K_BLOCKED_DOMAINS ||
                         id == K_A_ALLOWED_DOMAINS || id == K_A_BLOCKED_DOMAINS)
                        add_domain(c, id, item);
                else if (id == K_ALLOWED_CIDRS || id == K_A_ALLOWED_CIDRS)
                        add_cidr(c, item);
                else
                        add_access_item(c, id, item);
        }
        if (id == K_A_ALLOWED_DOMAINS || id == K_A_BLOCKED_DOMAINS || id == K_A_ALLOWED_CIDRS) {
                struct policy_agent *a = parse_cur_agent(c);
                char ***list = id == K_A_ALLOWED_DOMAINS   ? &a->allowed_domains
                               : id == K_A_BLOCKED_DOMAINS ? &a->blocked_domains
                                                           : &a->allowed_cidrs;

                if (!*list && !(*list = calloc(1, sizeof(char *))))
                        c->oom = -ENOMEM;
                parse_agent_mark(c, id);
        }
        if (id == K_A_RUNTIMES) {
                if (found == 0)
                        parse_problem(c, c->line, "runtimes must name at least one runtime");
                /* Set even when empty or wrong: the agent meant to restrict its runtimes. */
                parse_agent_mark(c, id);
        }
}

/* Check value for key id and store it in the policy being built. */
