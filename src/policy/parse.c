/* The settings file: INI text read with libinih, validated key by key into a policy.
 *
 * libinih reports neither line numbers to the handler (INI_HANDLER_LINENO is 0 in Debian's
 * build) nor more than the first syntax error, and never tells the handler about section
 * headers. So the reader we hand it counts lines and reads section headers itself, mirroring
 * inih's rules for what a line is, and the handler checks keys against that state. Every
 * problem is collected; any problem rejects the whole file.
 *
 * Split along its seams: see parse_private.h. */
#include "airlock/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
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

const char *const parse_section_names[SEC__MAX] = {
    [SEC_DAEMON] = "daemon",   [SEC_ENGINE] = "engine",   [SEC_SANDBOX] = "sandbox",
    [SEC_LIMITS] = "limits",   [SEC_NETWORK] = "network", [SEC_HOST] = "host",
    [SEC_RUNTIME] = "runtime", [SEC_AGENT] = "agent",     [SEC_ACCESS] = "access",
    [SEC_CLIENT] = "client",   [SEC_MONITOR] = "monitor", [SEC_MCP] = "mcp",
    [SEC_FILES] = "files",     [SEC_E2B] = "e2b",         [SEC_PROVIDER] = "provider",
};

void parse_problem(struct parse_ctx *c, int line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (policy_problems_addv(c->problems, line, fmt, ap) < 0)
                c->oom = -ENOMEM;
        va_end(ap);
}

static bool has_problem_at(const struct parse_ctx *c, int line)
{
        for (size_t i = 0; i < c->problems->n; i++)
                if (c->problems->items[i].line == line)
                        return true;
        return false;
}

const char *parse_section_label(const struct parse_ctx *c, char *dst, size_t size)
{
        if (c->section == SEC_RUNTIME)
                snprintf(dst, size, "[runtime \"%s\"]", c->p->runtimes[c->runtime].name);
        else if (c->section == SEC_AGENT)
                snprintf(dst, size, "[agent \"%s\"]", c->p->agents[c->agent].name);
        else if (c->section == SEC_CLIENT)
                snprintf(dst, size, "[client \"%s\"]", c->p->clients[c->client].name);
        else if (c->section == SEC_PROVIDER)
                snprintf(dst, size, "[provider \"%s\"]", c->p->providers[c->provider].name);
        else
                snprintf(dst, size, "[%s]", parse_section_names[c->section]);
        return dst;
}

/* inih's find_chars_or_comment: the first of chars, or a ';' after whitespace, or the end. */
static const char *ini_find(const char *s, const char *end, const char *chars)
{
        bool was_space = false;

        for (; s < end; s++) {
                if (chars && strchr(chars, *s))
                        break;
                if (was_space && *s == ';')
                        break;
                was_space = isspace((unsigned char)*s);
        }
        return s;
}

static void trim(const char **s, const char **end)
{
        while (*s < *end && isspace((unsigned char)**s))
                (*s)++;
        while (*end > *s && isspace((unsigned char)(*end)[-1]))
                (*end)--;
}

static void enter_runtime(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        int i;

        if (!util_name_valid(name, 64)) {
                parse_problem(c, c->line,
                              "runtime name '%s' must be 1 to 64 characters from [A-Za-z0-9._-]",
                              util_quote(q, sizeof(q), name));
                return;
        }
        i = policy_runtime_index(c->p, name);
        if (i >= 0 && c->p->runtimes[i].line > 0) {
                parse_problem(c, c->line, "duplicate section [runtime \"%s\"] (first at line %d)",
                              name, c->p->runtimes[i].line);
        } else if (i >= 0) {
                /* A built-in named again: the file's keys override it one by one. */
                c->p->runtimes[i].line = c->line;
        } else {
                i = policy_runtime_add(c->p, name, NULL, NULL, NULL, c->line);
                if (i == -E2BIG) {
                        parse_problem(c, c->line,
                                      "too many runtimes (at most %d, built-ins included)",
                                      POLICY_RUNTIMES_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
        }
        c->section = SEC_RUNTIME;
        c->runtime = i;
}

static void enter_agent(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        struct agent_state *nv;
        int i;

        if (!util_name_valid(name, POLICY_NAME_LEN_MAX)) {
                parse_problem(c, c->line,
                              "agent name '%s' must be 1 to %d characters from [A-Za-z0-9._-]",
                              util_quote(q, sizeof(q), name), POLICY_NAME_LEN_MAX);
                return;
        }
        i = policy_agent_index(c->p, name);
        if (i >= 0) {
                /* Its keys are still checked, against the first one's. */
                parse_problem(c, c->line, "duplicate section [agent \"%s\"] (first at line %d)",
                              name, c->p->agents[i].line);
        } else {
                i = policy_agent_add(c->p, name, c->line);
                if (i == -E2BIG) {
                        parse_problem(c, c->line, "too many agent sections (at most %d)",
                                      POLICY_AGENTS_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
                nv = realloc(c->ags, c->p->n_agents * sizeof(*nv));
                if (!nv) {
                        c->oom = -ENOMEM;
                        return;
                }
                c->ags = nv;
                memset(&c->ags[i], 0, sizeof(c->ags[i]));
        }
        c->section = SEC_AGENT;
        c->agent = i;
}

static void enter_client(struct parse_ctx *c, const char *name)
{
        char q[UTIL_QUOTE_SIZE];
        struct client_state *nv;
        int i;

        if (!util_name_valid(name, POLICY_NAME_LEN_MAX)) {
                parse_problem(c, c->line,
                              "client name '%s' must be 1 to %d characters from [A-Za-z0-9._-]",
                              util_quote(q, sizeof(q), name), POLICY_NAME_LEN_MAX);
                return;
        }
        i = policy_client_index(c->p, name);
        if (i >= 0) {
                parse_problem(c, c->line, "duplicate section [client \"%s\"] (first at line %d)",
                              name, c->p->clients[i].line);
        } else {
                i = policy_client_add(c->p, name, c->line);
                if (i == -E2BIG) {
                        parse_problem(c, c->line, "too many client sections (at most %d)",
                                      POLICY_CLIENTS_MAX);
                        return;
                }
                if (i < 0) {
                        c->oom = i;
                        return;
                }
                nv = realloc(c->cls, c->p->n_clients * sizeof(*nv));
                if (!nv) {
                        c->oom = -ENOMEM;
                        return;
                }
                c->cls = nv;
                memset(&c->cls[i], 0, sizeof(c->cls[i]));
        }
        c->section = SEC_CLIENT;
        c->client = i;
}

/* "[kind "NAME"]" for kind runtime, agent or client: name is the header's inside, trimmed. Returns
 * false when name is not of that kind. */
static bool enter_named(struct parse_ctx *c, const char *name, enum section_kind kind)
{
        const char *label = parse_section_names[kind];
        size_t n = strlen(label);
        const char *rn, *rn_end;
        char q[UTIL_QUOTE_SIZE], inner[160];

        if (strncmp(name, label, n) != 0 || (name[n] != '\0' && !isspace((unsigned char)name[n])))
                return false;
        rn = name + n;
        rn_end = name + strlen(name);
        trim(&rn, &rn_end);
        if (rn_end - rn >= 2 && rn[0] == '"' && rn_end[-1] == '"' &&
            (size_t)(rn_end - rn - 2) < sizeof(inner)) {
                memcpy(inner, rn + 1, (size_t)(rn_end - rn - 2));
                inner[rn_end - rn - 2] = '\0';
                if (kind == SEC_RUNTIME)
                        enter_runtime(c, inner);
                else if (kind == SEC_AGENT)
                        enter_agent(c, inner);
                else if (kind == SEC_PROVIDER)
                        parse_enter_provider(c, inner);
                else
                        enter_client(c, inner);
                return true;
        }
        parse_problem(c, c->line, "a%s %s section is written [%s \"NAME\"], got [%s]",
                      kind == SEC_AGENT ? "n" : "", label, label, util_quote(q, sizeof(q), name));
        return true;
}

/* A "[...]" line that inih accepts as a header (it found the ']'): s..end is the header. */
static void enter_section(struct parse_ctx *c, const char *s, const char *close, const char *end)
{
        char q[UTIL_QUOTE_SIZE], name[160];
        const char *in = s + 1, *in_end = close, *rest = close + 1;

        c->section = SEC_BAD;
        trim(&rest, &end);
        if (rest < end && *rest != ';' && *rest != '#')
                parse_problem(c, c->line, "unexpected text after the section header");
        trim(&in, &in_end);
        if ((size_t)(in_end - in) >= sizeof(name))
                in_end = in + sizeof(name) - 1;
        memcpy(name, in, (size_t)(in_end - in));
        name[in_end - in] = '\0';

        for (int k = SEC_DAEMON; k < SEC_RUNTIME; k++) {
                if (strcmp(name, parse_section_names[k]) != 0)
                        continue;
                if (c->section_line[k])
                        parse_problem(c, c->line, "duplicate section [%s] (first at line %d)", name,
                                      c->section_line[k]);
                else
                        c->section_line[k] = c->line;
                /* Keys of a duplicate are still checked, against the first one's. */
                c->section = k;
                return;
        }
        if (enter_named(c, name, SEC_RUNTIME) || enter_named(c, name, SEC_AGENT) ||
            enter_named(c, name, SEC_CLIENT) || enter_named(c, name, SEC_PROVIDER))
                return;
        parse_problem(c, c->line,
                      "unknown section [%s] (known: [daemon], [engine], [sandbox], [limits], "
                      "[network], [host], [access], [monitor], [mcp], [e2b], [runtime \"NAME\"], "
                      "[agent \"NAME\"], [client \"NAME\"], [provider \"NAME\"])",
                      util_quote(q, sizeof(q), name));
}

/* Decide what inih will make of the line just handed out, in inih's order of rules. */
static void classify(struct parse_ctx *c)
{
        const char *line = c->cur, *s = c->cur, *end = c->cur + c->cur_len, *close;

        c->expect_handler = c->handled = c->continuation = false;
        if (c->line == 1 && c->cur_len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
                s += 3;
        trim(&s, &end);
        if (s == end || *s == ';' || *s == '#')
                return;
        if (c->prev_key && s > line) {
                c->expect_handler = c->continuation = true;
                return;
        }
        if (*s == '[') {
                close = ini_find(s + 1, end, "]");
                if (close == end || *close != ']') {
                        parse_problem(c, c->line, "section header is missing its closing ']'");
                        c->section = SEC_BAD;
                        return;
                }
                c->prev_key = false;
                enter_section(c, s, close, end);
                return;
        }
        c->expect_handler = true;
}

/* A line inih should have passed to the handler but did not: it is not "key = value". */
static void finish_line(struct parse_ctx *c)
{
        if (c->line > 0 && c->expect_handler && !c->handled)
                parse_problem(c, c->line,
                              "expected 'key = value', a [section] header or a comment");
        c->expect_handler = false;
}

/* inih's reader: hands out one line at a time, counting them. */
static char *reader(char *str, int num, void *stream)
{
        struct parse_ctx *c = stream;
        const char *nl;
        size_t n;

        finish_line(c);
        if (c->pos >= c->len)
                return NULL;
        c->cur = c->text + c->pos;
        nl = memchr(c->cur, '\n', c->len - c->pos);
        n = nl ? (size_t)(nl - c->cur) : c->len - c->pos;
        c->cur_len = n;
        c->pos += n + (nl ? 1 : 0);
        c->line++;
        if (num < 3 || n + 2 > (size_t)num) {
                /* inih would split it into pieces; hand it an empty line instead. */
                const char *s = c->cur, *end = c->cur + n;

                trim(&s, &end);
                if (s < end && *s != '#' && *s != ';')
                        parse_problem(c, c->line, "line is longer than %d characters", num - 2);
                /* Keys after an unread header must not land in the previous section. */
                if (s < end && *s == '[')
                        c->section = SEC_BAD;
                c->expect_handler = false;
                snprintf(str, (size_t)num, "\n");
                return str;
        }
        memcpy(str, c->cur, n);
        str[n] = '\n';
        str[n + 1] = '\0';
        classify(c);
        return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *c = user;
        char q[UTIL_QUOTE_SIZE], label[UTIL_QUOTE_MAX + 32], allowed[256];
        int *seen = NULL;

        c->handled = true;
        util_quote(q, sizeof(q), name);
        if (c->continuation) {
                parse_problem(c, c->line,
                              "indented line is read as a continuation of '%s', which is not "
                              "supported; remove the indentation",
                              q);
                return 1;
        }
        c->prev_key = name[0] != '\0';
        if (name[0] == '\0') {
                parse_problem(c, c->line, "missing key name before '='");
                return 1;
        }
        if (c->section == SEC_NONE) {
                parse_problem(c, c->line, "key '%s' comes before any [section] header", q);
                return 1;
        }
        if (c->section == SEC_BAD)
                return 1; /* the header was reported */
        if (c->section == SEC_PROVIDER) {
                parse_provider_key(c, name, value);
                return 1;
        }
        if (c->section == SEC_AGENT && strcmp(name, "backend") == 0) {
                parse_agent_backend(c, value);
                return 1;
        }
        for (int id = 0; id < K__MAX; id++) {
                bool list = parse_keys[id].type == V_DOMAINS || parse_keys[id].type == V_NAMES ||
                            parse_keys[id].type == V_UIDS || parse_keys[id].type == V_GROUPS ||
                            parse_keys[id].type == V_PATTERNS;

                if (parse_keys[id].section != c->section || strcmp(parse_keys[id].name, name) != 0)
                        continue;
                if (c->section == SEC_RUNTIME)
                        seen = &c->rts[c->runtime].seen[id - K_RUNTIME_FIRST];
                else if (c->section == SEC_AGENT)
                        seen = &c->ags[c->agent].seen[id - K_AGENT_FIRST];
                else if (c->section == SEC_CLIENT)
                        seen = &c->cls[c->client].seen[id - K_CLIENT_FIRST];
                else
                        seen = &c->seen[id];
                if (*seen && !list) {
                        parse_problem(c, c->line, "duplicate key '%s' in %s (first set at line %d)",
                                      name, parse_section_label(c, label, sizeof(label)), *seen);
                        return 1;
                }
                if (!*seen)
                        *seen = c->line;
                parse_set_value(c, (enum key_id)id, value);
                return 1;
        }
        if (c->section == SEC_AGENT) {
                /* A setting of another section: say so rather than "unknown". */
                for (int id = 0; id < K__MAX; id++) {
                        if (parse_keys[id].section == SEC_AGENT ||
                            strcmp(parse_keys[id].name, name) != 0)
                                continue;
                        parse_problem(
                            c, c->line,
                            "key '%s' cannot be overridden per agent (per-agent keys: %s)", q,
                            parse_agent_keys_text(allowed, sizeof(allowed)));
                        return 1;
                }
                parse_problem(c, c->line, "unknown key '%s' in %s (per-agent keys: %s)", q,
                              parse_section_label(c, label, sizeof(label)),
                              parse_agent_keys_text(allowed, sizeof(allowed)));
                return 1;
        }
        parse_problem(c, c->line, "unknown key '%s' in %s", q,
                      parse_section_label(c, label, sizeof(label)));
        return 1;
}

static void parse_ctx_freep(struct parse_ctx **c)
{
        if (!*c)
                return;
        free((*c)->ags);
        free((*c)->cls);
        free((*c)->refs);
        free(*c);
}

int policy_parse(const char *text, const char *source, struct policy **ret,
                 struct policy_problems *problems, struct al_error *err)
{
        struct policy_problems local = {0};
        _cleanup_(policy_unrefp) struct policy *p = NULL;
        _cleanup_(parse_ctx_freep) struct parse_ctx *c = NULL;
        size_t len;
        int r;

        if (!problems)
                problems = &local;
        problems->items = NULL;
        problems->n = 0;
        if (!source)
                source = "<settings>";
        if (!text)
                return al_err(err, -EINVAL, "%s: no settings text", source);
        len = strlen(text);
        if (len > POLICY_FILE_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %d bytes", source,
                              POLICY_FILE_MAX);
        p = policy_new_default();
        c = calloc(1, sizeof(*c));
        if (!p || !c)
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        free(p->text);
        p->text = strdup(text);
        p->source_path = strdup(source);
        if (!p->text || !p->source_path)
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        c->p = p;
        c->problems = problems;
        c->text = text;
        c->len = len;
        r = ini_parse_stream(reader, c, handler, c);
        finish_line(c);
        if (r == -2)
                c->oom = -ENOMEM;
        else if (r > 0 && !has_problem_at(c, r))
                parse_problem(c, r, "syntax error");
        if (!c->oom)
                parse_finish(c);
        if (c->oom) {
                policy_problems_free(&local);
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        }
        if (problems->n > 0) {
                r = policy_problems_fail(problems, source, err);
                policy_problems_free(&local);
                return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, struct policy **ret, struct policy_problems *problems,
                struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = policy_read_admin_file(path, POLICY_FILE_MAX, &text, problems, err);

        return r < 0 ? r : policy_parse(text, path, ret, problems, err);
}
