/* SELECTIVE mode's risk classifier: the rules file parser and the decision.
 *
 * The decision is deliberately lopsided. Sandbox rules only need to recognise something to
 * sandbox it; host rules must vouch for every simple command in the exec, and a simple command
 * the tokenizer cannot see through (substitutions, redirections, grouping, a quoted or escaped
 * command word, a program outside the system directories) is never vouched for, whatever the
 * rules say. Anything unreadable, oversized or surprising is sandboxed. */
#include "airlock/classify.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "policy/shell_tokens.h"

#define EXCERPT_MAX 40 /* bytes of a command quoted in a reason */

enum cl_kind { CL_WORD, CL_REGEX, CL_METACHAR, CL_FLAG };
/* What a flag rule looks at: the request's own flags. */
enum cl_flag { CL_F_UNTRUSTED, CL_F_NETWORK, CL_F_ALWAYS };

struct cl_rule {
        int line;
        bool host;
        bool gvisor; /* raises the isolation tier (and sandboxes): docs/isolation.md */
        enum cl_kind kind;
        enum cl_flag flag;
        char name[CLASSIFY_NAME_MAX + 1];
        char provider[POLICY_NAME_LEN_MAX + 1]; /* "provider:NAME" rules; "" otherwise */
        char *tokens; /* word, metachar: NUL-separated tokens ended by an empty one */
        regex_t re;
        bool has_re;
};

struct classify_rules {
        struct cl_rule *rules;
        size_t n;
        char *source_name; /* last path component of the source, for reasons */
};

/* ---- the rules file ---- */

struct parse_ctx {
        struct policy_problems *problems;
        bool oom;
};

__attribute__((format(printf, 3, 4))) static void problem(struct parse_ctx *c, int line,
                                                          const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (policy_problems_addv(c->problems, line, fmt, ap) < 0)
                c->oom = true;
        va_end(ap);
}

static void rule_clear(struct cl_rule *rule)
{
        free(rule->tokens);
        rule->tokens = NULL;
        if (rule->has_re)
                regfree(&rule->re);
        rule->has_re = false;
}

void classify_rules_free(struct classify_rules *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++)
                rule_clear(&r->rules[i]);
        free(r->rules);
        free(r->source_name);
        free(r);
}

size_t classify_rules_count(const struct classify_rules *r, size_t *ret_host)
{
        size_t host = 0;

        for (size_t i = 0; r && i < r->n; i++)
                host += r->rules[i].host;
        if (ret_host)
                *ret_host = host;
        return r ? r->n : 0;
}

size_t classify_rules_gvisor(const struct classify_rules *r)
{
        size_t n = 0;

        for (size_t i = 0; r && i < r->n; i++)
                n += r->rules[i].gvisor;
        return n;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

/* Program names as a rule may list them: no path, nothing the shell would interpret. */
static bool word_token_valid(const char *s)
{
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr("._+-", *s)))
                        return false;
        return true;
}

/* Split pattern into NUL-separated tokens (ended by an empty one), applying backslash escapes
 * for metachar rules: \n newline, \t tab, \s space, \X the character X. */
static char *split_tokens(struct parse_ctx *c, int line, const char *pattern, enum cl_kind kind)
{
        _cleanup_free_ char *out = malloc(strlen(pattern) + 2);
        char *o = out;
        bool ok = true;

        if (!out) {
                c->oom = true;
                return NULL;
        }
        for (const char *s = pattern; *s;) {
                char *start = o;

                while (is_blank(*s))
                        s++;
                if (!*s)
                        break;
                for (; *s && !is_blank(*s); s++) {
                        if (kind == CL_METACHAR && *s == '\\') {
                                s++;
                                if (!*s) {
                                        problem(c, line, "pattern ends with a lone backslash");
                                        return NULL;
                                }
                                *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 's' ? ' ' : *s;
                        } else {
                                *o++ = *s;
                        }
                }
                *o++ = '\0';
                if (kind == CL_WORD && !word_token_valid(start)) {
                        problem(c, line,
                                "word '%.64s' is not a plain program name (letters, digits and "
                                "._+- only, no path)",
                                start);
                        ok = false;
                }
        }
        *o = '\0';
        if (!ok)
                return NULL;
        return TAKE_PTR(out);
}

/* One non-comment line, already trimmed: a rule added to r, or problems. */
static void parse_line(struct parse_ctx *c, struct classify_rules *r, char *s, int line)
{
        char *field[3];
        char *pattern;
        struct cl_rule rule = {.line = line};

        for (int i = 0; i < 3; i++) {
                static const char *const what[] = {"an action", "a name", "a kind"};

                field[i] = s;
                while (*s && !is_blank(*s))
                        s++;
                if (!*s && i < 2) {
                        problem(c, line,
                                "expected '<action> <name> <kind> <pattern>', %s is missing",
                                what[i + 1]);
                        return;
                }
                if (*s)
                        *s++ = '\0';
                while (is_blank(*s))
                        s++;
        }
        pattern = s;

        if (strcmp(field[0], "sandbox") == 0)
                rule.host = false;
        else if (strcmp(field[0], "host") == 0)
                rule.host = true;
        else if (strcmp(field[0], "gvisor") == 0)
                rule.gvisor = true;
        else if (strncmp(field[0], "provider:", 9) == 0 &&
                 util_name_valid(field[0] + 9, POLICY_NAME_LEN_MAX))
                /* A sandbox rule whose sandbox is a remote provider's (docs/providers.md). */
                snprintf(rule.provider, sizeof(rule.provider), "%s", field[0] + 9);
        else
                problem(c, line,
                        "unknown action '%.64s' (expected sandbox, host, gvisor or provider:NAME)",
                        field[0]);
        if (!util_name_valid(field[1], CLASSIFY_NAME_MAX))
                problem(c, line, "rule name '%.64s' must be 1-%d characters of [A-Za-z0-9._-]",
                        field[1], CLASSIFY_NAME_MAX);
        else
                snprintf(rule.name, sizeof(rule.name), "%s", field[1]);
        if (strcmp(field[2], "word") == 0) {
                rule.kind = CL_WORD;
        } else if (strcmp(field[2], "regex") == 0) {
                rule.kind = CL_REGEX;
        } else if (strcmp(field[2], "metachar") == 0) {
                rule.kind = CL_METACHAR;
        } else if (strcmp(field[2], "flag") == 0) {
                rule.kind = CL_FLAG;
        } else {
                problem(c, line, "unknown kind '%.64s' (expected word, regex, metachar or flag)",
                        field[2]);
                return;
        }
        if (!*pattern) {
                problem(c, line, "the %s rule has no pattern", field[2]);
                return;
        }
        if (rule.kind == CL_FLAG) {
                if (!rule.gvisor)
                        problem(c, line, "flag rules can only raise the tier (action gvisor)");
                else if (strcmp(pattern, "untrusted") == 0)
                        rule.flag = CL_F_UNTRUSTED;
                else if (strcmp(pattern, "network") == 0)
                        rule.flag = CL_F_NETWORK;
                else if (strcmp(pattern, "always") == 0)
                        rule.flag = CL_F_ALWAYS;
                else
                        problem(c, line,
                                "unknown flag '%.64s' (expected untrusted, network or always)",
                                pattern);
                if (c->problems->n == 0 && r->n < CLASSIFY_RULES_MAX)
                        r->rules[r->n++] = rule;
                else if (r->n == CLASSIFY_RULES_MAX)
                        problem(c, line, "more than %d rules", CLASSIFY_RULES_MAX);
                return;
        }
        if (rule.kind == CL_METACHAR && rule.host) {
                /* Finding a character proves nothing harmless. */
                problem(c, line, "metachar rules can only sandbox");
                return;
        }
        if (rule.kind == CL_REGEX) {
                int rr = regcomp(&rule.re, pattern, REG_EXTENDED);

                if (rr != 0) {
                        char msg[128];

                        regerror(rr, &rule.re, msg, sizeof(msg));
                        problem(c, line, "bad regex '%.64s': %s", pattern, msg);
                        return;
                }
                rule.has_re = true;
        } else {
                rule.tokens = split_tokens(c, line, pattern, rule.kind);
                if (!rule.tokens)
                        return;
        }
        if (c->problems->n > 0) {
                /* The whole file is refused anyway; keep only what reports problems. */
                rule_clear(&rule);
                return;
        }
        if (r->n == CLASSIFY_RULES_MAX) {
                problem(c, line, "more than %d rules", CLASSIFY_RULES_MAX);
                rule_clear(&rule);
                return;
        }
        r->rules[r->n++] = rule;
}

int classify_rules_parse(const char *text, const char *source, struct classify_rules **ret,
                         struct policy_problems *problems, struct al_error *err)
{
        struct policy_problems local = {0};
        struct parse_ctx c = {0};
        _cleanup_(classify_rules_freep) struct classify_rules *r = NULL;
        _cleanup_free_ char *line_buf = NULL;
        const char *base;
        size_t len;
        int line = 0;

        if (!problems)
                problems = &local;
        problems->items = NULL;
        problems->n = 0;
        c.problems = problems;
        if (!source)
                source = "<rules>";
        if (!text)
                return al_err(err, -EINVAL, "%s: no rules text", source);
        len = strlen(text);
        if (len > CLASSIFY_FILE_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %d bytes", source,
                              CLASSIFY_FILE_MAX);
        base = strrchr(source, '/');
        base = base && base[1] ? base + 1 : source;
        r = calloc(1, sizeof(*r));
        line_buf = malloc(CLASSIFY_LINE_MAX + 1);
        if (!r || !line_buf || !(r->source_name = strdup(base)))
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        r->rules = calloc(CLASSIFY_RULES_MAX, sizeof(*r->rules));
        if (!r->rules)
                return al_err(err, -ENOMEM, "%s: out of memory", source);

        for (const char *s = text; *s && !c.oom;) {
                const char *nl = strchr(s, '\n');
                size_t n = nl ? (size_t)(nl - s) : strlen(s);
                char *b, *e;

                line++;
                if (n > CLASSIFY_LINE_MAX) {
                        problem(&c, line, "line is longer than %d characters", CLASSIFY_LINE_MAX);
                } else {
                        memcpy(line_buf, s, n);
                        line_buf[n] = '\0';
                        e = line_buf + n;
                        while (e > line_buf && (is_blank(e[-1]) || e[-1] == '\r'))
                                *--e = '\0';
                        for (b = line_buf; is_blank(*b); b++)
                                ;
                        if (*b && *b != '#')
                                parse_line(&c, r, b, line);
                }
                s += n + (nl != NULL);
        }
        if (c.oom) {
                policy_problems_free(&local);
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        }
        if (problems->n > 0) {
                int failed = policy_problems_fail(problems, source, err);

                policy_problems_free(&local);
                return failed;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

int classify_rules_load(const char *path, struct classify_rules **ret,
                        struct policy_problems *problems, struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = policy_read_admin_file(path, CLASSIFY_FILE_MAX, &text, problems, err);

        return r < 0 ? r : classify_rules_parse(text, path, ret, problems, err);
}

/* ---- the decision ---- */

struct verdict {
        char *why;
        size_t size;
        const char *provider; /* the matched rule's provider, or NULL */
};

__attribute__((format(printf, 2, 3))) static bool sandbox(struct verdict *v, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(v->why, v->size, fmt, ap);
        va_end(ap);
        return true;
}

/* A bounded, printable-ASCII copy of s for a reason: JSON and the audit log both take it. */
static const char *excerpt(char *dst, size_t size, const char *s, size_t len)
{
        size_t o = 0;

        for (size_t i = 0; i < len && o + 4 < size; i++) {
                unsigned char c = (unsigned char)s[i];

                if (o >= EXCERPT_MAX) {
                        memcpy(dst + o, "...", 3);
                        o += 3;
                        break;
                }
                dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        dst[o] = '\0';
        return dst;
}

static bool runtime_is_shell(const char *name)
{
        return name && (strcmp(name, "bash") == 0 || strcmp(name, "sh") == 0);
}

/* Variables that change nothing about which program runs or what it loads. PATH, LD_*,
 * BASH_ENV, ENV, IFS, SHELLOPTS, BASH_FUNC_* and the rest can all turn "ls" into something
 * else, so any variable not listed sends the exec to a sandbox. */
static bool env_name_harmless(const char *e, size_t n)
{
        static const char *const names[] = {"LANG",      "LANGUAGE",   "TZ",         "TERM",
                                            "COLUMNS",   "LINES",      "NO_COLOR",   "CLICOLOR",
                                            "LS_COLORS", "TIME_STYLE", "GREP_COLORS"};

        if (n > 3 && strncmp(e, "LC_", 3) == 0)
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strlen(names[i]) == n && strncmp(e, names[i], n) == 0)
                        return true;
        return false;
}

/* The command word names a program the host resolves through its own PATH or a system
 * directory: "./ls" or "/tmp/ls" is whatever the agent put there. */
static bool program_trusted(const char *w)
{
        const char *slash = strrchr(w, '/');

        for (const char *s = w; *s; s++)
                if (!shell_char_plain((unsigned char)*s))
                        return false;
        if (!slash)
                return true;
        if (!slash[1] || strcmp(slash + 1, "..") == 0 || strcmp(slash + 1, ".") == 0)
                return false;
        return (size_t)(slash - w) == strlen("/bin")       ? strncmp(w, "/bin/", 5) == 0
               : (size_t)(slash - w) == strlen("/usr/bin") ? strncmp(w, "/usr/bin/", 9) == 0
                                                           : false;
}

static const char *base_name(const char *w)
{
        const char *slash = strrchr(w, '/');

        return slash ? slash + 1 : w;
}

static bool word_listed(const struct cl_rule *rule, const char *word, const char **ret_tok)
{
        const char *b = base_name(word);

        for (const char *t = rule->tokens; *t; t += strlen(t) + 1)
                if (strcmp(t, b) == 0) {
                        *ret_tok = t;
                        return true;
                }
        return false;
}

static bool regex_match(const struct cl_rule *rule, const char *s, char *ex, size_t ex_size)
{
        regmatch_t m[1];

        regoff_t so, eo;

        if (regexec(&rule->re, s, 1, m, 0) != 0)
                return false;
        /* Patterns often match the blank before a command; the reason reads better without. */
        so = m[0].rm_so;
        eo = m[0].rm_eo;
        while (so < eo && (is_blank(s[so]) || s[so] == '\n'))
                so++;
        while (eo > so && (is_blank(s[eo - 1]) || s[eo - 1] == '\n'))
                eo--;
        excerpt(ex, ex_size, s + so, (size_t)(eo - so));
        return true;
}

/* Does a sandbox rule match anywhere in the exec? */
static bool sandbox_rule_matches(const struct cl_rule *rule, const struct shell_parsed *p, char *ex,
                                 size_t ex_size)
{
        const char *tok;

        switch (rule->kind) {
        case CL_WORD:
                for (size_t c = 0; c < p->n_cmds; c++)
                        if (word_listed(rule, p->words[p->cmds[c].first], &tok)) {
                                excerpt(ex, ex_size, tok, strlen(tok));
                                return true;
                        }
                return false;
        case CL_REGEX:
                if (regex_match(rule, p->raw, ex, ex_size))
                        return true;
                /* Again on each command as the shell reads it: 'r''m' -rf is rm -rf. */
                for (size_t c = 0; c < p->n_cmds; c++)
                        if (regex_match(rule, p->cmds[c].norm, ex, ex_size))
                                return true;
                return false;
        case CL_METACHAR:
                for (tok = rule->tokens; *tok; tok += strlen(tok) + 1)
                        if (memmem(p->raw, p->raw_len, tok, strlen(tok))) {
                                excerpt(ex, ex_size, tok, strlen(tok));
                                return true;
                        }
                return false;
        case CL_FLAG:
                return false; /* gvisor rules only: gvisor_rule_matches */
        }
        return false;
}

/* The first host rule that vouches for this command, or NULL. */
static const struct cl_rule *host_rule_for(const struct classify_rules *r,
                                           const struct shell_parsed *p,
                                           const struct shell_cmd *cmd)
{
        const char *tok;
        char ex[8];

        for (size_t i = 0; r && i < r->n; i++) {
                const struct cl_rule *rule = &r->rules[i];

                if (!rule->host)
                        continue;
                if (rule->kind == CL_WORD && word_listed(rule, p->words[cmd->first], &tok))
                        return rule;
                if (rule->kind == CL_REGEX && regex_match(rule, cmd->norm, ex, sizeof(ex)))
                        return rule;
        }
        return NULL;
}

/* Is name already an entry of the ", "-separated list? */
static bool list_has(const char *list, const char *name)
{
        size_t n = strlen(name);

        for (const char *s = list; *s;) {
                const char *e = strstr(s, ", ");
                size_t l = e ? (size_t)(e - s) : strlen(s);

                if (l == n && strncmp(s, name, n) == 0)
                        return true;
                s += l + (e ? 2 : 0);
        }
        return false;
}

static bool decide_text(const struct classify_rules *r, struct shell_parsed *p, struct verdict *v)
{
        const char *src = r ? r->source_name : "";
        const struct cl_rule *first = NULL;
        char ex[EXCERPT_MAX + 8], list[64];
        size_t lo = 0;

        if (p->n_cmds == 0)
                return sandbox(v, "empty command; sandboxed");
        for (size_t i = 0; r && i < r->n; i++) {
                const struct cl_rule *rule = &r->rules[i];

                if (!rule->host && !rule->gvisor && sandbox_rule_matches(rule, p, ex, sizeof(ex))) {
                        v->provider = rule->provider[0] ? rule->provider : NULL;
                        return sandbox(v, "rule %s (%s:%d): matched '%s'", rule->name, src,
                                       rule->line, ex);
                }
        }
        list[0] = '\0';
        for (size_t c = 0; c < p->n_cmds; c++) {
                const struct shell_cmd *cmd = &p->cmds[c];
                const char *w = p->words[cmd->first];
                const struct cl_rule *rule;

                excerpt(ex, sizeof(ex), w, strlen(w));
                if (!cmd->word0_plain)
                        return sandbox(v,
                                       "command word '%s' is quoted or escaped; sandboxed by "
                                       "default",
                                       ex);
                if (cmd->active)
                        return sandbox(v,
                                       "'%s' runs with a substitution, redirection or "
                                       "grouping; sandboxed by default",
                                       ex);
                if (!program_trusted(w))
                        return sandbox(v,
                                       "'%s' is not a program from /bin or /usr/bin; "
                                       "sandboxed by default",
                                       ex);
                rule = host_rule_for(r, p, cmd);
                if (!rule)
                        return sandbox(v, "no low-risk rule matched '%s'; sandboxed by default",
                                       ex);
                if (!first)
                        first = rule;
                if (lo < sizeof(list) - 1 && !list_has(list, base_name(w))) {
                        int n =
                            snprintf(list + lo, sizeof(list) - lo, "%s%s", lo ? ", " : "",
                                     excerpt(ex, sizeof(ex), base_name(w), strlen(base_name(w))));

                        lo = n < 0 ? lo : lo + (size_t)n;
                        if (lo >= sizeof(list) - 1) {
                                memcpy(list + sizeof(list) - 4, "...", 4);
                                lo = sizeof(list) - 1;
                        }
                }
        }
        snprintf(v->why, v->size, "rule %s (%s:%d): %s %s on the low-risk list", first->name, src,
                 first->line, list, strchr(list, ',') ? "are" : "is");
        return false;
}

/* argv ["sh", "-c", TEXT, ...] or ["bash", "-c", TEXT, ...] with a system shell: the shell
 * text is what runs. */
static const char *argv_shell_text(char *const *argv)
{
        const char *b;

        if (!argv[0] || !argv[1] || !argv[2] || strcmp(argv[1], "-c") != 0)
                return NULL;
        if (!program_trusted(argv[0]))
                return NULL;
        b = base_name(argv[0]);
        return strcmp(b, "sh") == 0 || strcmp(b, "bash") == 0 ? argv[2] : NULL;
}

/* The exec's text as the shell reads it, into *ret_p (caller frees); false with the reason in
 * v when it cannot be read (which sandboxes). */
static bool request_parsed(const struct exec_request *req, struct shell_parsed **ret_p,
                           struct verdict *v)
{
        _cleanup_(shell_parsed_freep) struct shell_parsed *p = NULL;
        const char *text = NULL, *why;
        size_t len = 0, cap;

        if (req->argv && req->argv[0])
                text = argv_shell_text(req->argv);
        else if (req->command)
                text = req->command;
        else if (req->code)
                text = req->code;
        else
                return !sandbox(v, "no code, argv or command to classify; sandboxed");

        if (text) {
                len = strlen(text);
                if ((why = shell_text_unreadable(text, len)))
                        return !sandbox(v, "the command is %s; sandboxed", why);
                cap = len;
        } else {
                size_t n = 0;

                for (; req->argv[n]; n++) {
                        size_t l = strlen(req->argv[n]);

                        if ((why = shell_text_unreadable(req->argv[n], l)))
                                return !sandbox(v, "argv[%zu] is %s; sandboxed", n, why);
                        len += l + 1;
                        if (len > CLASSIFY_TEXT_MAX || n >= CLASSIFY_WORDS_MAX)
                                return !sandbox(v, "argv is longer than the classifier reads; "
                                                   "sandboxed");
                }
                cap = len;
        }

        p = shell_parsed_new(cap);
        if (!p)
                return !sandbox(v, "out of memory while classifying; sandboxed");
        if (text) {
                p->raw = text;
                p->raw_len = len;
                why = shell_tokenize(p, text, len);
        } else {
                why = shell_tokenize_argv(p, req->argv);
                if (!why) {
                        /* Rules see argv as the shell command that would mean the same. */
                        shell_norms_build(p);
                        p->joined = strdup(p->n_cmds ? p->cmds[0].norm : "");
                        if (!p->joined)
                                return !sandbox(v, "out of memory while classifying; sandboxed");
                        p->raw = p->joined;
                        p->raw_len = strlen(p->joined);
                }
        }
        if (why)
                return !sandbox(v, "cannot read the command: %s; sandboxed", why);
        shell_norms_build(p);
        *ret_p = TAKE_PTR(p);
        return true;
}

static bool decide(const struct classify_rules *r, const struct exec_request *req,
                   const char *runtime_name, struct verdict *v)
{
        _cleanup_(shell_parsed_freep) struct shell_parsed *p = NULL;
        char ex[EXCERPT_MAX + 8];

        if (req->network == 1)
                return sandbox(v, "network requested");
        if (req->untrusted)
                return sandbox(v, "marked untrusted by the client");
        if (!runtime_is_shell(runtime_name))
                return sandbox(v, "runtime '%s' runs arbitrary code",
                               runtime_name
                                   ? excerpt(ex, sizeof(ex), runtime_name, strlen(runtime_name))
                                   : "(none)");
        for (size_t i = 0; req->env && req->env[i]; i++) {
                const char *e = req->env[i], *eq = strchr(e, '=');
                size_t n = eq ? (size_t)(eq - e) : strlen(e);

                if (!env_name_harmless(e, n))
                        return sandbox(v, "env '%s' can change what runs on the host",
                                       excerpt(ex, sizeof(ex), e, n));
        }

        if (!request_parsed(req, &p, v))
                return true;
        return decide_text(r, p, v);
}

int classify_exec_route(const struct classify_rules *r, const struct exec_request *req,
                        const char *runtime_name, bool *ret_sandbox, char *provider, char *reason,
                        size_t reason_len)
{
        char why[CLASSIFY_REASON_MAX];
        struct verdict v = {.why = why, .size = sizeof(why)};

        if (!req || !ret_sandbox)
                return -EINVAL;
        why[0] = '\0';
        *ret_sandbox = decide(r, req, runtime_name, &v);
        if (reason && reason_len > 0)
                snprintf(reason, reason_len, "%s", why);
        if (provider)
                snprintf(provider, POLICY_NAME_LEN_MAX + 1, "%s",
                         *ret_sandbox && v.provider ? v.provider : "");
        return 0;
}

int classify_exec(const struct classify_rules *r, const struct exec_request *req,
                  const char *runtime_name, bool *ret_sandbox, char *reason, size_t reason_len)
{
        return classify_exec_route(r, req, runtime_name, ret_sandbox, NULL, reason, reason_len);
}

/* Does a gvisor rule match the exec? Flags look at the request; the other kinds at its text as
 * the shell reads it (p, NULL when unreadable: then only its raw text, for regex and metachar). */
static bool gvisor_rule_matches(const struct cl_rule *rule, const struct exec_request *req,
                                const struct shell_parsed *p, char *ex, size_t ex_size)
{
        ex[0] = '\0';
        if (rule->kind == CL_FLAG)
                return rule->flag == CL_F_ALWAYS ||
                       (rule->flag == CL_F_UNTRUSTED && req->untrusted) ||
                       (rule->flag == CL_F_NETWORK && req->network == 1);
        return p && sandbox_rule_matches(rule, p, ex, ex_size);
}

int classify_isolation(const struct classify_rules *r, const struct exec_request *req,
                       bool *ret_gvisor, char *reason, size_t reason_len)
{
        _cleanup_(shell_parsed_freep) struct shell_parsed *p = NULL;
        char why[CLASSIFY_REASON_MAX], ex[EXCERPT_MAX + 8];
        struct verdict v = {.why = why, .size = sizeof(why)};
        bool parsed = false;

        if (!req || !ret_gvisor)
                return -EINVAL;
        *ret_gvisor = false;
        for (size_t i = 0; r && i < r->n; i++) {
                const struct cl_rule *rule = &r->rules[i];

                if (!rule->gvisor)
                        continue;
                if (rule->kind != CL_FLAG && !parsed) {
                        parsed = true;
                        if (!request_parsed(req, &p, &v))
                                p = NULL;
                }
                if (!gvisor_rule_matches(rule, req, p, ex, sizeof(ex)))
                        continue;
                *ret_gvisor = true;
                if (reason && reason_len > 0) {
                        if (rule->kind == CL_FLAG)
                                snprintf(reason, reason_len, "rule %s (%s:%d): %s", rule->name,
                                         r->source_name, rule->line,
                                         rule->flag == CL_F_UNTRUSTED ? "marked untrusted"
                                         : rule->flag == CL_F_NETWORK ? "network requested"
                                                                      : "always");
                        else
                                snprintf(reason, reason_len, "rule %s (%s:%d): matched '%s'",
                                         rule->name, r->source_name, rule->line, ex);
                }
                return 0;
        }
        return 0;
}
