/* [provider "NAME"] sections (docs/providers.md) and the [agent] key that routes an agent to
 * one (backend = provider:NAME). Only kinds with a tested backend are accepted: the designed
 * ones (aws-lambda, azure-aca) are named in the error, so that a settings file never claims a
 * provider that airlock cannot drive. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock/util.h"
#include "policy/parse_private.h"
#include "policy/policy_private.h"

#define URL_LEN_MAX 2048
/* provider kind not set yet, and set to one that was reported */
#define KIND_UNSET       ((enum provider_kind) - 1)
#define KIND_REPORTED    ((enum provider_kind) - 2)
#define TEMPLATE_LEN_MAX 128

enum provider_key {
        PK_KIND,
        PK_API_URL,
        PK_SANDBOX_URL,
        PK_DOMAIN,
        PK_KEY_FILE,
        PK_TEMPLATE,
        PK_SANDBOX_TIMEOUT,
        PK_REQUEST_TIMEOUT,
        PK_RETRIES,
        PK__MAX
};

static const char *const provider_keys[PK__MAX] = {
    [PK_KIND] = "kind",
    [PK_API_URL] = "api_url",
    [PK_SANDBOX_URL] = "sandbox_url",
    [PK_DOMAIN] = "domain",
    [PK_KEY_FILE] = "api_key_file",
    [PK_TEMPLATE] = "template",
    [PK_SANDBOX_TIMEOUT] = "sandbox_timeout_s",
    [PK_REQUEST_TIMEOUT] = "request_timeout_s",
    [PK_RETRIES] = "retries",
};

_Static_assert(PK__MAX <= sizeof(((struct parse_ctx *)0)->provider_seen) / sizeof(int),
               "provider_seen holds every provider key");

void policy_provider_clear(struct policy_provider *pr)
{
        free(pr->name);
        free(pr->api_url);
        free(pr->sandbox_url);
        free(pr->domain);
        free(pr->api_key_file);
        free(pr->template);
        for (size_t i = 0; i < pr->n_templates; i++) {
                free(pr->templates[i].runtime);
                free(pr->templates[i].template);
        }
        free(pr->templates);
        memset(pr, 0, sizeof(*pr));
}

const struct policy_provider *policy_provider(const struct policy *p, const char *name)
{
        for (size_t i = 0; p && name && i < p->n_providers; i++)
                if (strcmp(p->providers[i].name, name) == 0)
                        return &p->providers[i];
        return NULL;
}

const char *policy_provider_template(const struct policy_provider *pr, const char *runtime)
{
        for (size_t i = 0; pr && runtime && i < pr->n_templates; i++)
                if (strcmp(pr->templates[i].runtime, runtime) == 0)
                        return pr->templates[i].template;
        return pr ? pr->template : NULL;
}

const struct policy_provider *policy_agent_provider(const struct policy *p, const char *agent)
{
        const struct policy_agent *a = policy_agent(p, agent);

        return a && a->provider ? policy_provider(p, a->provider) : NULL;
}

void parse_enter_provider(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        struct policy_provider *nv;

        if (!util_name_valid(name, POLICY_NAME_LEN_MAX)) {
                parse_problem(c, c->line,
                              "provider name '%s' must be 1 to %d characters from [A-Za-z0-9._-]",
                              util_quote(q, sizeof(q), name), POLICY_NAME_LEN_MAX);
                return;
        }
        if (policy_provider(c->p, name)) {
                parse_problem(c, c->line, "duplicate section [provider \"%s\"] (first at line %d)",
                              name, policy_provider(c->p, name)->line);
                return;
        }
        if (c->p->n_providers >= POLICY_PROVIDERS_MAX) {
                parse_problem(c, c->line, "too many provider sections (at most %d)",
                              POLICY_PROVIDERS_MAX);
                return;
        }
        nv = realloc(c->p->providers, (c->p->n_providers + 1) * sizeof(*nv));
        if (!nv) {
                c->oom = -ENOMEM;
                return;
        }
        c->p->providers = nv;
        nv = &nv[c->p->n_providers];
        memset(nv, 0, sizeof(*nv));
        nv->name = strdup(name);
        if (!nv->name) {
                c->oom = -ENOMEM;
                return;
        }
        nv->line = c->line;
        nv->kind = KIND_UNSET;
        nv->sandbox_timeout_s = 300;
        nv->request_timeout_s = 30;
        nv->retries = 3;
        c->provider = (int)c->p->n_providers++;
        memset(c->provider_seen, 0, sizeof(c->provider_seen));
        c->section = SEC_PROVIDER;
}

static bool url_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > URL_LEN_MAX)
                return false;
        if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
                return false;
        for (const char *s = v; *s; s++)
                if ((unsigned char)*s <= ' ' || *s == 0x7f)
                        return false;
        return strlen(v) > (v[4] == 's' ? 8u : 7u);
}

/* A template or runtime name as the provider sees it: no spaces, no path tricks. */
static bool template_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > TEMPLATE_LEN_MAX)
                return false;
        for (const char *s = v; *s; s++)
                if (!(*s == '-' || *s == '_' || *s == '.' || *s == ':' ||
                      (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= 'A' && *s <= 'Z')))
                        return false;
        return true;
}

static void set_kind(struct parse_ctx *c, struct policy_provider *pr, const char *v)
{
        char q[UTIL_QUOTE_SIZE];

        pr->kind = KIND_REPORTED; /* its other problems would only be noise */
        if (strcmp(v, "e2b") == 0) {
                pr->kind = PROVIDER_E2B;
                return;
        }
        if (strcmp(v, "aws-lambda") == 0 || strcmp(v, "azure-aca") == 0) {
                parse_problem(c, c->line,
                              "provider kind '%s' is designed (docs/providers.md) but not "
                              "implemented; implemented kinds: e2b",
                              v);
                return;
        }
        parse_problem(c, c->line, "unknown provider kind '%s' (implemented kinds: e2b)",
                      util_quote(q, sizeof(q), v));
}

static void set_string(struct parse_ctx *c, char **field, const char *v, bool (*ok)(const char *),
                       const char *key, const char *what)
{
        char q[UTIL_QUOTE_SIZE];

        if (ok && !ok(v)) {
                parse_problem(c, c->line, "%s '%s' is not %s", key, util_quote(q, sizeof(q), v),
                              what);
                return;
        }
        free(*field);
        *field = strdup(v);
        if (!*field)
                c->oom = -ENOMEM;
}

static bool domain_ok(const char *v)
{
        return policy_domain_valid(v) && v[0] != '*';
}

static bool abs_path_ok(const char *v)
{
        return v[0] == '/' && strlen(v) < 4096;
}

static void set_int(struct parse_ctx *c, int64_t *field, const char *v, int64_t min, int64_t max,
                    const char *key)
{
        char q[UTIL_QUOTE_SIZE];

        if (util_parse_int64(v, min, max, field) < 0)
                parse_problem(c, c->line, "%s '%s' must be a whole number from %lld to %lld", key,
                              util_quote(q, sizeof(q), v), (long long)min, (long long)max);
}

static void add_template(struct parse_ctx *c, struct policy_provider *pr, const char *runtime,
                         const char *v)
{
        struct policy_provider_template *nv;
        char q[UTIL_QUOTE_SIZE];

        if (!util_name_valid(runtime, POLICY_NAME_LEN_MAX) || !template_ok(v)) {
                parse_problem(c, c->line,
                              "template.%s = '%s': a runtime name and a template of "
                              "[A-Za-z0-9._:-] are expected",
                              util_quote(q, sizeof(q), runtime), v);
                return;
        }
        for (size_t i = 0; i < pr->n_templates; i++)
                if (strcmp(pr->templates[i].runtime, runtime) == 0) {
                        parse_problem(c, c->line,
                                      "duplicate key 'template.%s' in [provider \"%s\"] (first "
                                      "set at line %d)",
                                      runtime, pr->name, pr->templates[i].line);
                        return;
                }
        nv = realloc(pr->templates, (pr->n_templates + 1) * sizeof(*nv));
        if (!nv) {
                c->oom = -ENOMEM;
                return;
        }
        pr->templates = nv;
        nv = &nv[pr->n_templates];
        nv->runtime = strdup(runtime);
        nv->template = strdup(v);
        nv->line = c->line;
        pr->n_templates++;
        if (!nv->runtime || !nv->template)
                c->oom = -ENOMEM;
}

void parse_provider_key(struct parse_ctx *c, const char *name, const char *v)
{
        struct policy_provider *pr = &c->p->providers[c->provider];
        char q[UTIL_QUOTE_SIZE];
        int k;

        if (strncmp(name, "template.", 9) == 0) {
                add_template(c, pr, name + 9, v);
                return;
        }
        for (k = 0; k < PK__MAX; k++)
                if (strcmp(name, provider_keys[k]) == 0)
                        break;
        if (k == PK__MAX) {
                parse_problem(c, c->line,
                              "unknown key '%s' in [provider \"%s\"] (keys: kind, api_url, "
                              "sandbox_url, domain, api_key_file, template, template.RUNTIME, "
                              "sandbox_timeout_s, request_timeout_s, retries)",
                              util_quote(q, sizeof(q), name), pr->name);
                return;
        }
        if (c->provider_seen[k]) {
                parse_problem(c, c->line,
                              "duplicate key '%s' in [provider \"%s\"] (first set at line %d)",
                              name, pr->name, c->provider_seen[k]);
                return;
        }
        c->provider_seen[k] = c->line;
        switch ((enum provider_key)k) {
        case PK_KIND:
                set_kind(c, pr, v);
                break;
        case PK_API_URL:
                set_string(c, &pr->api_url, v, url_ok, name, "an http:// or https:// URL");
                break;
        case PK_SANDBOX_URL:
                set_string(c, &pr->sandbox_url, v, url_ok, name, "an http:// or https:// URL");
                break;
        case PK_DOMAIN:
                set_string(c, &pr->domain, v, domain_ok, name, "a domain name");
                break;
        case PK_KEY_FILE:
                set_string(c, &pr->api_key_file, v, abs_path_ok, name, "an absolute path");
                break;
        case PK_TEMPLATE:
                set_string(c, &pr->template, v, template_ok, name,
                           "a template name of [A-Za-z0-9._:-]");
                break;
        case PK_SANDBOX_TIMEOUT:
                set_int(c, &pr->sandbox_timeout_s, v, 10, 86400, name);
                break;
        case PK_REQUEST_TIMEOUT:
                set_int(c, &pr->request_timeout_s, v, 1, 600, name);
                break;
        case PK_RETRIES:
                set_int(c, &pr->retries, v, 0, 10, name);
                break;
        case PK__MAX:
                break;
        }
}

void parse_agent_backend(struct parse_ctx *c, const char *v)
{
        struct policy_agent *a = parse_cur_agent(c);
        char q[UTIL_QUOTE_SIZE];

        if (a->provider_line) {
                parse_problem(c, c->line,
                              "duplicate key 'backend' in [agent \"%s\"] (first set at line %d)",
                              a->name, a->provider_line);
                return;
        }
        a->provider_line = c->line;
        if (strcmp(v, "local") == 0)
                return;
        if (strncmp(v, "provider:", 9) != 0 || !util_name_valid(v + 9, POLICY_NAME_LEN_MAX)) {
                parse_problem(c, c->line,
                              "backend '%s' must be 'local' or 'provider:NAME' (a [provider] "
                              "section)",
                              util_quote(q, sizeof(q), v));
                return;
        }
        free(a->provider);
        a->provider = strdup(v + 9);
        if (!a->provider)
                c->oom = -ENOMEM;
}

void parse_finish_providers(struct parse_ctx *c)
{
        struct policy *p = c->p;

        for (size_t i = 0; i < p->n_providers; i++) {
                const struct policy_provider *pr = &p->providers[i];

                if (pr->kind == KIND_REPORTED)
                        continue;
                if (pr->kind == KIND_UNSET)
                        parse_problem(c, pr->line,
                                      "[provider \"%s\"] needs a kind (implemented kinds: e2b)",
                                      pr->name);
                if (!pr->api_url)
                        parse_problem(c, pr->line, "[provider \"%s\"] needs api_url", pr->name);
                if (!pr->api_key_file)
                        parse_problem(c, pr->line, "[provider \"%s\"] needs api_key_file",
                                      pr->name);
                if (pr->sandbox_url && pr->domain)
                        parse_problem(c, pr->line,
                                      "[provider \"%s\"] takes sandbox_url or domain, not both",
                                      pr->name);
                for (size_t t = 0; t < pr->n_templates; t++)
                        if (!policy_runtime(p, pr->templates[t].runtime))
                                parse_problem(c, pr->templates[t].line,
                                              "template.%s: unknown runtime '%s'",
                                              pr->templates[t].runtime, pr->templates[t].runtime);
        }
        for (size_t i = 0; i < p->n_agents; i++) {
                const struct policy_agent *a = &p->agents[i];

                if (a->provider && !policy_provider(p, a->provider))
                        parse_problem(c, a->provider_line,
                                      "backend 'provider:%s': no [provider \"%s\"] section",
                                      a->provider, a->provider);
        }
}

json_t *policy_providers_to_json(const struct policy *p)
{
        json_t *o = json_object();

        for (size_t i = 0; o && i < p->n_providers; i++) {
                const struct policy_provider *pr = &p->providers[i];
                json_t *t = json_object();

                for (size_t k = 0; t && k < pr->n_templates; k++)
                        json_object_set_new(t, pr->templates[k].runtime,
                                            json_string(pr->templates[k].template));
                /* The key's path is shown, never the key. */
                if (json_object_set_new(
                        o, pr->name,
                        json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:o?, s:I, s:I, s:I}",
                                  "kind", "e2b", "api_url", pr->api_url, "sandbox_url",
                                  pr->sandbox_url, "domain", pr->domain, "api_key_file",
                                  pr->api_key_file, "template", pr->template, "templates", t,
                                  "sandbox_timeout_s", (json_int_t)pr->sandbox_timeout_s,
                                  "request_timeout_s", (json_int_t)pr->request_timeout_s, "retries",
                                  (json_int_t)pr->retries)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}
