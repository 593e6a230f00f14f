/* The settings file: INI text read with libinih, validated key by key into a policy.
 *
 * libinih reports neither line numbers to the handler (INI_HANDLER_LINENO is 0 in Debian's
 * build) nor more than the first syntax error, and never tells the handler about section
 * headers. So the reader we hand it counts lines and reads section headers itself, mirroring
 * inih's rules for what a line is, and the handler checks keys against that state. Every
 * problem is collected; any problem rejects the whole file. */
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
#include "policy/policy_private.h"

#define SOCKET_PATH_MAX 107  /* sizeof(sun_path) - 1 */
#define PATH_LEN_MAX    4095 /* PATH_MAX - 1 */
#define IMAGE_LEN_MAX   255
#define QUOTE_MAX       64 /* bytes of a user's value repeated in a message */

enum section_kind {
        SEC_NONE = 0, /* before the first header */
        SEC_BAD,      /* a header we reported; its keys are skipped */
        SEC_DAEMON,
        SEC_ENGINE,
        SEC_SANDBOX,
        SEC_LIMITS,
        SEC_RUNTIME,
        SEC__MAX,
};

static const char *const section_names[SEC__MAX] = {
    [SEC_DAEMON] = "daemon", [SEC_ENGINE] = "engine",   [SEC_SANDBOX] = "sandbox",
    [SEC_LIMITS] = "limits", [SEC_RUNTIME] = "runtime",
};

enum key_id {
        K_SOCKET,
        K_SOCKET_GROUP,
        K_STATE_DIR,
        K_MAX_BODY_KB,
        K_MAX_CONNECTIONS,
        K_LOG_LEVEL,
        K_ENGINE_KIND,
        K_ENGINE_SOCKET,
        K_SECCOMP_PROFILE,
        K_MODE,
        K_SCOPE,
        K_WORKSPACE,
        K_WORKSPACE_ROOT,
        K_DEFAULT_RUNTIME,
        K_EXEC_USER,
        K_KEEPER_USER,
        K_IDLE_TIMEOUT,
        K_CPU_CORES,
        K_MEMORY_MB,
        K_DISK_MB,
        K_MAX_PROCESSES,
        K_TIMEOUT_S,
        K_OUTPUT_KB,
        K_IMAGE,
        K_RUN,
        K_SHELL,
        K__MAX,
};

enum value_type {
        V_PATH,          /* absolute path */
        V_PATH_OR_EMPTY, /* absolute path, or empty for "the default" */
        V_SOCKET,        /* absolute path short enough for sun_path; empty for the default */
        V_NAME,          /* [A-Za-z0-9._-], 1..max characters */
        V_INT,           /* strict decimal in [min, max], times scale */
        V_DOUBLE,        /* finite decimal in [dmin, dmax] */
        V_ENUM,          /* one of choices, stored as its index */
        V_USER,          /* "uid:gid", not root */
        V_WORDS,         /* space-separated argv prefix, at least one word */
        V_IMAGE,         /* container image reference */
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const engine_kinds[] = {"docker", "podman", NULL};
static const char *const modes[] = {"off", "selective", "all", NULL};
static const char *const scopes[] = {"session", "agent", "shared", NULL};
static const char *const workspaces[] = {"none", "ro", "rw", NULL};

struct key_def {
        enum section_kind section;
        const char *name;
        enum value_type type;
        int64_t min, max, scale;
        double dmin, dmax;
        const char *const *choices;
};

/* Indexed by enum key_id; the ranges are the documented ones (docs/configuration.md). */
static const struct key_def keys[K__MAX] = {
    [K_SOCKET] = {SEC_DAEMON, "socket", V_SOCKET},
    [K_SOCKET_GROUP] = {SEC_DAEMON, "socket_group", V_NAME, .max = 32},
    [K_STATE_DIR] = {SEC_DAEMON, "state_dir", V_PATH},
    [K_MAX_BODY_KB] = {SEC_DAEMON, "max_body_kb", V_INT, 1, 65536, 1024},
    [K_MAX_CONNECTIONS] = {SEC_DAEMON, "max_connections", V_INT, 1, 65536, 1},
    [K_LOG_LEVEL] = {SEC_DAEMON, "log_level", V_ENUM, .choices = log_levels},
    [K_ENGINE_KIND] = {SEC_ENGINE, "kind", V_ENUM, .choices = engine_kinds},
    [K_ENGINE_SOCKET] = {SEC_ENGINE, "socket", V_SOCKET},
    [K_SECCOMP_PROFILE] = {SEC_ENGINE, "seccomp_profile", V_PATH_OR_EMPTY},
    [K_MODE] = {SEC_SANDBOX, "mode", V_ENUM, .choices = modes},
    [K_SCOPE] = {SEC_SANDBOX, "scope", V_ENUM, .choices = scopes},
    [K_WORKSPACE] = {SEC_SANDBOX, "workspace", V_ENUM, .choices = workspaces},
    [K_WORKSPACE_ROOT] = {SEC_SANDBOX, "workspace_root", V_PATH},
    [K_DEFAULT_RUNTIME] = {SEC_SANDBOX, "default_runtime", V_NAME, .max = 64},
    [K_EXEC_USER] = {SEC_SANDBOX, "exec_user", V_USER},
    [K_KEEPER_USER] = {SEC_SANDBOX, "keeper_user", V_USER},
    [K_IDLE_TIMEOUT] = {SEC_SANDBOX, "idle_timeout_s", V_INT, 0, 604800, 1},
    [K_CPU_CORES] = {SEC_LIMITS, "cpu_cores", V_DOUBLE, .dmin = 0.01, .dmax = 64},
    [K_MEMORY_MB] = {SEC_LIMITS, "memory_mb", V_INT, 16, 1048576, 1},
    [K_DISK_MB] = {SEC_LIMITS, "disk_mb", V_INT, 1, 1048576, 1},
    [K_MAX_PROCESSES] = {SEC_LIMITS, "max_processes", V_INT, 8, 65536, 1},
    [K_TIMEOUT_S] = {SEC_LIMITS, "timeout_s", V_INT, 1, 86400, 1},
    [K_OUTPUT_KB] = {SEC_LIMITS, "output_kb", V_INT, 1, 65536, 1024},
    [K_IMAGE] = {SEC_RUNTIME, "image", V_IMAGE},
    [K_RUN] = {SEC_RUNTIME, "run", V_WORDS},
    [K_SHELL] = {SEC_RUNTIME, "shell", V_WORDS},
};

/* Per runtime entry: where each of its keys was set (0 = not set in the file). */
struct runtime_state {
        int seen[3]; /* K_IMAGE, K_RUN, K_SHELL */
};

struct parse_ctx {
        struct policy *p;
        struct policy_problems *problems;
        bool too_many;
        int oom;
        /* the reader */
        const char *text;
        size_t len, pos;
        int line;        /* number of the line last handed to inih */
        const char *cur; /* that line, without its newline */
        size_t cur_len;
        bool expect_handler; /* inih will call the handler for it... */
        bool handled;        /* ...and did */
        bool continuation;   /* inih takes it as the continuation of the previous value */
        bool prev_key;       /* inih's prev_name is set: an indented line continues a value */
        /* the section being read */
        enum section_kind section;
        int runtime; /* index into p->runtimes for SEC_RUNTIME */
        int section_line[SEC__MAX];
        int seen[K__MAX]; /* line each key was set on, for the fixed sections */
        struct runtime_state rts[POLICY_RUNTIMES_MAX];
};

/* Copy at most QUOTE_MAX bytes of s into dst for a message, control bytes escaped. */
static const char *quote(char *dst, size_t size, const char *s)
{
        size_t o = 0, i;

        for (i = 0; i < QUOTE_MAX && s[i] && o + 5 < size; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch < 0x20 || ch == 0x7f)
                        o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
                else
                        dst[o++] = (char)ch;
        }
        if (s[i] && o + 4 < size) {
                memcpy(dst + o, "...", 3);
                o += 3;
        }
        dst[o] = '\0';
        return dst;
}

__attribute__((format(printf, 3, 4))) static void problem(struct parse_ctx *c, int line,
                                                          const char *fmt, ...)
{
        struct policy_problems *ps = c->problems;
        struct policy_problem *nv;
        va_list ap;

        if (c->too_many)
                return;
        nv = realloc(ps->items, (ps->n + 1) * sizeof(*nv));
        if (!nv) {
                c->oom = -ENOMEM;
                return;
        }
        ps->items = nv;
        nv = &ps->items[ps->n++];
        nv->line = line;
        if (ps->n == POLICY_PROBLEMS_MAX) {
                /* A file of garbage must not cost unbounded memory. */
                snprintf(nv->msg, sizeof(nv->msg), "too many problems; stopped reporting here");
                c->too_many = true;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(nv->msg, sizeof(nv->msg), fmt, ap);
        va_end(ap);
}

static bool has_problem_at(const struct parse_ctx *c, int line)
{
        for (size_t i = 0; i < c->problems->n; i++)
                if (c->problems->items[i].line == line)
                        return true;
        return false;
}

static const char *section_label(const struct parse_ctx *c, char *dst, size_t size)
{
        if (c->section == SEC_RUNTIME)
                snprintf(dst, size, "[runtime \"%s\"]", c->p->runtimes[c->runtime].name);
        else
                snprintf(dst, size, "[%s]", section_names[c->section]);
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
        char q[4 * QUOTE_MAX + 8];
        int i;

        if (!util_name_valid(name, 64)) {
                problem(c, c->line,
                        "runtime name '%s' must be 1 to 64 characters from [A-Za-z0-9._-]",
                        quote(q, sizeof(q), name));
                return;
        }
        i = policy_runtime_index(c->p, name);
        if (i >= 0 && c->p->runtimes[i].line > 0) {
                problem(c, c->line, "duplicate section [runtime \"%s\"] (first at line %d)", name,
                        c->p->runtimes[i].line);
        } else if (i >= 0) {
                /* A built-in named again: the file's keys override it one by one. */
                c->p->runtimes[i].line = c->line;
        } else {
                i = policy_runtime_add(c->p, name, NULL, NULL, NULL, c->line);
                if (i == -E2BIG) {
                        problem(c, c->line, "too many runtimes (at most %d, built-ins included)",
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

/* A "[...]" line that inih accepts as a header (it found the ']'): s..end is the header. */
static void enter_section(struct parse_ctx *c, const char *s, const char *close, const char *end)
{
        char q[4 * QUOTE_MAX + 8], name[160];
        const char *in = s + 1, *in_end = close, *rest = close + 1;

        c->section = SEC_BAD;
        trim(&rest, &end);
        if (rest < end && *rest != ';' && *rest != '#')
                problem(c, c->line, "unexpected text after the section header");
        trim(&in, &in_end);
        if ((size_t)(in_end - in) >= sizeof(name))
                in_end = in + sizeof(name) - 1;
        memcpy(name, in, (size_t)(in_end - in));
        name[in_end - in] = '\0';

        for (int k = SEC_DAEMON; k < SEC_RUNTIME; k++) {
                if (strcmp(name, section_names[k]) != 0)
                        continue;
                if (c->section_line[k])
                        problem(c, c->line, "duplicate section [%s] (first at line %d)", name,
                                c->section_line[k]);
                else
                        c->section_line[k] = c->line;
                /* Keys of a duplicate are still checked, against the first one's. */
                c->section = k;
                return;
        }
        if (strncmp(name, "runtime", 7) == 0 &&
            (name[7] == '\0' || isspace((unsigned char)name[7]))) {
                const char *rn = name + 7, *rn_end = name + strlen(name);

                trim(&rn, &rn_end);
                if (rn_end - rn >= 2 && rn[0] == '"' && rn_end[-1] == '"') {
                        char runtime_name[sizeof(name)];

                        memcpy(runtime_name, rn + 1, (size_t)(rn_end - rn - 2));
                        runtime_name[rn_end - rn - 2] = '\0';
                        enter_runtime(c, runtime_name);
                        return;
                }
                problem(c, c->line, "a runtime section is written [runtime \"NAME\"], got [%s]",
                        quote(q, sizeof(q), name));
                return;
        }
        problem(c, c->line,
                "unknown section [%s] (known: [daemon], [engine], [sandbox], [limits], "
                "[runtime \"NAME\"])",
                quote(q, sizeof(q), name));
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
                        problem(c, c->line, "section header is missing its closing ']'");
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
                problem(c, c->line, "expected 'key = value', a [section] header or a comment");
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
                        problem(c, c->line, "line is longer than %d characters", num - 2);
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

static bool path_ok(const char *v)
{
        if (v[0] != '/' || strlen(v) > PATH_LEN_MAX)
                return false;
        for (const char *s = v; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static bool image_ok(const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > IMAGE_LEN_MAX)
                return false;
        for (const char *s = v; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._-/:@+", *s))
                        return false;
        return true;
}

static int set_string(struct parse_ctx *c, char **field, const char *v)
{
        char *copy = strdup(v);

        if (!copy)
                return c->oom = -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

static int set_words(struct parse_ctx *c, char ***field, const char *v)
{
        char **w = util_split_words(v);

        if (!w)
                return c->oom = -ENOMEM;
        util_strv_free(*field);
        *field = w;
        return 0;
}

static void apply_enum(struct policy *p, enum key_id id, int idx)
{
        switch (id) {
        case K_ENGINE_KIND:
                p->engine_kind = (enum engine_kind)idx;
                break;
        case K_MODE:
                p->mode = (enum policy_mode)idx;
                break;
        case K_SCOPE:
                p->scope = (enum policy_scope)idx;
                break;
        case K_WORKSPACE:
                p->workspace = (enum policy_workspace)idx;
                break;
        default:
                break;
        }
}

static void apply_int(struct policy *p, enum key_id id, int64_t v)
{
        switch (id) {
        case K_MAX_BODY_KB:
                p->max_body_bytes = v;
                break;
        case K_MAX_CONNECTIONS:
                p->max_connections = v;
                break;
        case K_IDLE_TIMEOUT:
                p->idle_timeout_s = v;
                break;
        case K_MEMORY_MB:
                p->limits.memory_mb = v;
                break;
        case K_DISK_MB:
                p->limits.disk_mb = v;
                break;
        case K_MAX_PROCESSES:
                p->limits.max_processes = v;
                break;
        case K_TIMEOUT_S:
                p->limits.timeout_s = v;
                break;
        case K_OUTPUT_KB:
                p->limits.output_bytes = v;
                break;
        default:
                break;
        }
}

static char **string_field(struct policy *p, enum key_id id)
{
        switch (id) {
        case K_SOCKET:
                return &p->socket_path;
        case K_SOCKET_GROUP:
                return &p->socket_group;
        case K_STATE_DIR:
                return &p->state_dir;
        case K_LOG_LEVEL:
                return &p->log_level;
        case K_ENGINE_SOCKET:
                return &p->engine_socket;
        case K_SECCOMP_PROFILE:
                return &p->seccomp_profile;
        case K_WORKSPACE_ROOT:
                return &p->workspace_root;
        case K_DEFAULT_RUNTIME:
                return &p->default_runtime;
        case K_EXEC_USER:
                return &p->exec_user;
        case K_KEEPER_USER:
                return &p->keeper_user;
        default:
                return NULL;
        }
}

static void choices_text(const char *const *choices, char *dst, size_t size)
{
        size_t o = 0;

        dst[0] = '\0';
        for (size_t i = 0; choices[i] && o < size; i++)
                o += (size_t)snprintf(dst + o, size - o, "%s%s", i ? ", " : "", choices[i]);
}

/* Check value for key id and store it in the policy being built. */
static void set_value(struct parse_ctx *c, enum key_id id, const char *v)
{
        const struct key_def *k = &keys[id];
        struct policy *p = c->p;
        char q[4 * QUOTE_MAX + 8], list[128];
        uint32_t uid, gid;
        int64_t i;
        double d;
        char *end;
        int r;

        quote(q, sizeof(q), v);
        switch (k->type) {
        case V_PATH:
        case V_PATH_OR_EMPTY:
                if (!(k->type == V_PATH_OR_EMPTY && v[0] == '\0') && !path_ok(v)) {
                        problem(c, c->line, "%s must be an absolute path%s, got '%s'", k->name,
                                k->type == V_PATH_OR_EMPTY ? " or empty" : "", q);
                        return;
                }
                set_string(c, string_field(p, id), v);
                return;
        case V_SOCKET:
                if (v[0] != '\0' && (!path_ok(v) || strlen(v) > SOCKET_PATH_MAX)) {
                        problem(c, c->line,
                                "%s must be an absolute path of at most %d bytes or empty, got "
                                "'%s'",
                                k->name, SOCKET_PATH_MAX, q);
                        return;
                }
                /* Empty means the default, which for the engine depends on its kind. */
                if (v[0] != '\0' || id == K_ENGINE_SOCKET)
                        set_string(c, string_field(p, id), v);
                return;
        case V_NAME:
                if (!util_name_valid(v, (size_t)k->max)) {
                        problem(c, c->line,
                                "%s must be a name of 1 to %d characters from [A-Za-z0-9._-], "
                                "got '%s'",
                                k->name, (int)k->max, q);
                        return;
                }
                set_string(c, string_field(p, id), v);
                return;
        case V_INT:
                r = util_parse_int64(v, k->min, k->max, &i);
                if (r < 0) {
                        problem(c, c->line, "%s must be an integer between %lld and %lld, got '%s'",
                                k->name, (long long)k->min, (long long)k->max, q);
                        return;
                }
                apply_int(p, id, i * k->scale);
                return;
        case V_DOUBLE:
                errno = 0;
                d = strtod(v, &end);
                /* strtod takes " 1", "0x10", "inf" and "nan": a plain decimal only. */
                if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno || !isfinite(d) ||
                    strpbrk(v, "xXpPeE") || d < k->dmin || d > k->dmax) {
                        problem(c, c->line, "%s must be a number between %g and %g, got '%s'",
                                k->name, k->dmin, k->dmax, q);
                        return;
                }
                p->limits.cpu_cores = d;
                return;
        case V_ENUM:
                for (int n = 0; k->choices[n]; n++) {
                        if (strcmp(v, k->choices[n]) == 0) {
                                if (id == K_LOG_LEVEL)
                                        set_string(c, &p->log_level, v);
                                else
                                        apply_enum(p, id, n);
                                return;
                        }
                }
                choices_text(k->choices, list, sizeof(list));
                problem(c, c->line, "%s must be one of %s, got '%s'", k->name, list, q);
                return;
        case V_USER:
                r = policy_parse_user(v, &uid, &gid);
                if (r == -EPERM) {
                        problem(c, c->line,
                                "%s must not be root: uid and gid 0 are refused, got '%s'", k->name,
                                q);
                        return;
                }
                if (r < 0) {
                        problem(c, c->line,
                                "%s must be 'uid:gid' with numeric ids between 1 and 4294967294, "
                                "got '%s'",
                                k->name, q);
                        return;
                }
                if (set_string(c, string_field(p, id), v) < 0)
                        return;
                if (id == K_EXEC_USER) {
                        p->exec_uid = uid;
                        p->exec_gid = gid;
                } else {
                        p->keeper_uid = uid;
                        p->keeper_gid = gid;
                }
                return;
        case V_WORDS: {
                struct runtime *rt = &p->runtimes[c->runtime];
                const char *s = v;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (*s == '\0') {
                        problem(c, c->line, "%s must name a program and its arguments, got '%s'",
                                k->name, q);
                        return;
                }
                set_words(c, id == K_RUN ? &rt->run : &rt->shell, v);
                return;
        }
        case V_IMAGE:
                if (!image_ok(v)) {
                        problem(c, c->line,
                                "image must be an image reference of 1 to %d characters from "
                                "[A-Za-z0-9._-/:@+], got '%s'",
                                IMAGE_LEN_MAX, q);
                        return;
                }
                set_string(c, &p->runtimes[c->runtime].image, v);
                return;
        }
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *c = user;
        char q[4 * QUOTE_MAX + 8], label[QUOTE_MAX + 32];
        int *seen = NULL;

        c->handled = true;
        quote(q, sizeof(q), name);
        if (c->continuation) {
                problem(c, c->line,
                        "indented line is read as a continuation of '%s', which is not "
                        "supported; remove the indentation",
                        q);
                return 1;
        }
        c->prev_key = name[0] != '\0';
        if (name[0] == '\0') {
                problem(c, c->line, "missing key name before '='");
                return 1;
        }
        if (c->section == SEC_NONE) {
                problem(c, c->line, "key '%s' comes before any [section] header", q);
                return 1;
        }
        if (c->section == SEC_BAD)
                return 1; /* the header was reported */
        for (int id = 0; id < K__MAX; id++) {
                if (keys[id].section != c->section || strcmp(keys[id].name, name) != 0)
                        continue;
                if (c->section == SEC_RUNTIME)
                        seen = &c->rts[c->runtime].seen[id - K_IMAGE];
                else
                        seen = &c->seen[id];
                if (*seen) {
                        problem(c, c->line, "duplicate key '%s' in %s (first set at line %d)", name,
                                section_label(c, label, sizeof(label)), *seen);
                        return 1;
                }
                *seen = c->line;
                set_value(c, (enum key_id)id, value);
                return 1;
        }
        problem(c, c->line, "unknown key '%s' in %s", q, section_label(c, label, sizeof(label)));
        return 1;
}

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

/* Checks that need the whole file: defaults that depend on other keys, references. */
static void finish(struct parse_ctx *c)
{
        struct policy *p = c->p;
        char names[256];
        size_t o = 0;

        for (size_t i = 0; i < p->n_runtimes; i++) {
                struct runtime *rt = &p->runtimes[i];

                if (rt->line == 0)
                        continue;
                if (!c->rts[i].seen[0])
                        problem(c, rt->line, "[runtime \"%s\"] has no image", rt->name);
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
        if (!policy_runtime(p, p->default_runtime)) {
                for (size_t i = 0; i < p->n_runtimes && o < sizeof(names); i++)
                        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
                                              p->runtimes[i].name);
                problem(c, c->seen[K_DEFAULT_RUNTIME],
                        "default_runtime '%s' is not in the runtime catalog (%s)",
                        p->default_runtime, names);
        }
        if ((!c->seen[K_ENGINE_SOCKET] || p->engine_socket[0] == '\0') &&
            set_string(c, &p->engine_socket,
                       p->engine_kind == ENGINE_PODMAN ? "/run/podman/podman.sock"
                                                       : "/var/run/docker.sock") < 0)
                return;
        /* The workspaces live under the state directory unless placed elsewhere. */
        if (!c->seen[K_WORKSPACE_ROOT] && c->seen[K_STATE_DIR]) {
                char *w;

                if (asprintf(&w, "%s/workspaces", p->state_dir) < 0) {
                        c->oom = -ENOMEM;
                        return;
                }
                free(p->workspace_root);
                p->workspace_root = w;
        }
}

int policy_parse(const char *text, const char *source, struct policy **ret,
                 struct policy_problems *problems, struct al_error *err)
{
        struct policy_problems local = {0};
        _cleanup_(policy_unrefp) struct policy *p = NULL;
        _cleanup_free_ struct parse_ctx *c = NULL;
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
                problem(c, r, "syntax error");
        if (!c->oom)
                finish(c);
        if (c->oom) {
                policy_problems_free(&local);
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        }
        if (problems->n > 0) {
                /* By line; a stable insertion sort keeps the order found within a line. */
                for (size_t i = 1; i < problems->n; i++) {
                        struct policy_problem tmp = problems->items[i];
                        size_t j = i;

                        while (j > 0 && problems->items[j - 1].line > tmp.line) {
                                problems->items[j] = problems->items[j - 1];
                                j--;
                        }
                        problems->items[j] = tmp;
                }
                if (problems->items[0].line > 0)
                        al_err(err, -EINVAL, "%s:%d: %s", source, problems->items[0].line,
                               problems->items[0].msg);
                else
                        al_err(err, -EINVAL, "%s: %s", source, problems->items[0].msg);
                if (problems->n > 1 && err) {
                        size_t n = strlen(err->msg);

                        snprintf(err->msg + n, sizeof(err->msg) - n, " (%zu problems)",
                                 problems->n);
                }
                policy_problems_free(&local);
                return -EINVAL;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, struct policy **ret, struct policy_problems *problems,
                struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t got = 0;
        const char *nul;

        if (problems) {
                problems->items = NULL;
                problems->n = 0;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return al_err_errno(err, -errno, "cannot open %s", path);
        if (fstat(fd, &st) < 0)
                return al_err_errno(err, -errno, "cannot stat %s", path);
        if (!S_ISREG(st.st_mode))
                return al_err(err, -EINVAL, "%s: not a regular file", path);
        /* Whoever can write the settings can turn the sandbox off. */
        if (st.st_mode & S_IWOTH)
                return al_err(err, -EPERM, "%s: writable by every user, refused (chmod o-w)", path);
        text = malloc(POLICY_FILE_MAX + 2);
        if (!text)
                return al_err(err, -ENOMEM, "%s: out of memory", path);
        for (;;) {
                ssize_t n = read(fd, text + got, POLICY_FILE_MAX + 1 - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return al_err_errno(err, -errno, "cannot read %s", path);
                if (n == 0)
                        break;
                got += (size_t)n;
                if (got > POLICY_FILE_MAX)
                        return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %d bytes", path,
                                      POLICY_FILE_MAX);
        }
        text[got] = '\0';
        nul = memchr(text, '\0', got);
        if (nul) {
                int line = 1;

                for (const char *s = text; s < nul; s++)
                        line += *s == '\n';
                if (problems) {
                        problems->items = calloc(1, sizeof(*problems->items));
                        if (problems->items) {
                                problems->n = 1;
                                problems->items[0].line = line;
                                snprintf(problems->items[0].msg, sizeof(problems->items[0].msg),
                                         "contains a NUL byte");
                        }
                }
                return al_err(err, -EINVAL, "%s:%d: contains a NUL byte", path, line);
        }
        return policy_parse(text, path, ret, problems, err);
}
