#include "backend/host/host_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

/* The namespace flags clone(2) may carry; clone3 hides its flags in memory seccomp cannot
 * read, which is why the shipped list makes clone3 fail with ENOSYS. */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

/* The address families if-family= knows: those a sandbox has no business with. */
static const struct {
        const char *name;
        int family;
} families[] = {
    {"vsock", AF_VSOCK},     {"packet", AF_PACKET},
    {"netlink", AF_NETLINK}, {"bluetooth", AF_BLUETOOTH},
    {"alg", AF_ALG},         {"xdp", AF_XDP},
    {"tipc", AF_TIPC},       {"rds", AF_RDS},
    {"kcm", AF_KCM},         {"can", AF_CAN},
    {"unix", AF_UNIX},       {"inet", AF_INET},
    {"inet6", AF_INET6},
};

int host_deny_family(const char *name, size_t len)
{
        for (size_t i = 0; i < ARRAY_SIZE(families); i++)
                if (strlen(families[i].name) == len && memcmp(families[i].name, name, len) == 0)
                        return families[i].family;
        return -1;
}

/* "if-family=vsock,packet": the families into r. */
static int parse_families(const char *list, struct host_deny_rule *r, int line, const char *source,
                          struct al_error *err)
{
        if (strcmp(r->name, "socket") != 0 && strcmp(r->name, "socketpair") != 0)
                return al_err(err, -EINVAL,
                              "%s:%d: 'if-family' applies to socket and socketpair only", source,
                              line);
        for (const char *p = list;;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                int f = host_deny_family(p, len);

                if (f < 0)
                        return al_err(err, -EINVAL, "%s:%d: unknown address family '%.*s'", source,
                                      line, (int)len, p);
                if (r->n_families >= HOST_DENY_FAMILIES)
                        return al_err(err, -EINVAL, "%s:%d: more than %d families", source, line,
                                      HOST_DENY_FAMILIES);
                r->families[r->n_families++] = f;
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

static bool name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

/* Split the next whitespace-separated word of [*p, end) into w (capped); returns its length,
 * 0 at the end of the line, or -1 when the word is too long. */
static int next_word(const char **p, const char *end, char *w, size_t wmax)
{
        const char *s = *p;
        size_t n = 0;

        while (s < end && is_space(*s))
                s++;
        if (s < end && *s == '#')
                s = end;
        while (s < end && !is_space(*s) && *s != '#') {
                if (n + 1 >= wmax)
                        return -1;
                w[n++] = *s++;
        }
        w[n] = '\0';
        *p = s;
        return (int)n;
}

static int parse_line(const char *s, const char *end, int line, const char *source,
                      struct host_deny_list *l, struct al_error *err)
{
        struct host_deny_rule *r;
        char word[HOST_DENY_NAME_MAX];
        int n;

        n = next_word(&s, end, word, sizeof(word));
        if (n < 0)
                return al_err(err, -EINVAL, "%s:%d: syscall name too long", source, line);
        if (n == 0)
                return 0;
        for (int i = 0; i < n; i++)
                if (!name_char(word[i]))
                        return al_err(err, -EINVAL, "%s:%d: '%s' is not a syscall name", source,
                                      line, word);
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->rules[i].name, word) == 0)
                        return al_err(err, -EINVAL, "%s:%d: '%s' listed twice (first on line %d)",
                                      source, line, word, l->rules[i].line);
        if (l->n >= HOST_DENY_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "%s:%d: more than %d rules", source, line,
                              HOST_DENY_MAX);
        r = &l->rules[l->n];
        memset(r, 0, sizeof(*r));
        memcpy(r->name, word, (size_t)n + 1);
        r->line = line;
        r->nr = seccomp_syscall_resolve_name(word);
        if (r->nr == __NR_SCMP_ERROR)
                return al_err(err, -EINVAL, "%s:%d: unknown syscall '%s'", source, line, word);
        for (;;) {
                n = next_word(&s, end, word, sizeof(word));
                if (n < 0)
                        return al_err(err, -EINVAL, "%s:%d: modifier too long", source, line);
                if (n == 0)
                        break;
                if (strcmp(word, "enosys") == 0) {
                        r->action = HOST_DENY_ENOSYS;
                } else if (strcmp(word, "if-ns-flags") == 0) {
                        if (strcmp(r->name, "clone") != 0)
                                return al_err(err, -EINVAL,
                                              "%s:%d: 'if-ns-flags' applies to clone only", source,
                                              line);
                        r->ns_flags_only = true;
                } else if (strncmp(word, "if-family=", 10) == 0) {
                        int rr = parse_families(word + 10, r, line, source, err);

                        if (rr < 0)
                                return rr;
                } else {
                        return al_err(err, -EINVAL,
                                      "%s:%d: unknown modifier '%s' (expected 'enosys', "
                                      "'if-ns-flags' or 'if-family=')",
                                      source, line, word);
                }
        }
        l->n++;
        return 0;
}

int host_deny_parse(const char *text, size_t len, const char *source, struct host_deny_list *ret,
                    struct al_error *err)
{
        struct host_deny_list l = {0};
        const char *p = text, *end = text + len;
        int line = 0, r;

        if (len > HOST_DENY_FILE_MAX)
                return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %d bytes", source,
                              HOST_DENY_FILE_MAX);
        if (memchr(text, '\0', len))
                return al_err(err, -EINVAL, "%s: contains a NUL byte", source);
        l.rules = calloc(HOST_DENY_MAX, sizeof(*l.rules));
        if (!l.rules)
                return al_err(err, -ENOMEM, "%s: out of memory", source);
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));

                if (!eol)
                        eol = end;
                line++;
                r = parse_line(p, eol, line, source, &l, err);
                if (r < 0) {
                        host_deny_list_free(&l);
                        return r;
                }
                p = eol + 1;
        }
        *ret = l;
        return 0;
}

int host_deny_load(const char *path, struct host_deny_list *ret, struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = util_read_admin_file(path, HOST_DENY_FILE_MAX, &text, &len, err);

        if (r < 0)
                return al_err_wrap(err, r, "seccomp deny-list");
        return host_deny_parse(text, len, path, ret, err);
}

void host_deny_list_free(struct host_deny_list *l)
{
        free(l->rules);
        l->rules = NULL;
        l->n = 0;
}

static void seccomp_releasep(scmp_filter_ctx *c)
{
        if (*c)
                seccomp_release(*c);
}

/* libseccomp 2.5 exports only to an fd: go through a memfd and read the program back. */
static int export_bpf(scmp_filter_ctx ctx, struct host_filter *ret, struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ struct sock_filter *insns = NULL;
        size_t max = BPF_MAXINSNS * sizeof(struct sock_filter), len = 0;
        struct stat st;
        int r;

        fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return al_err_errno(err, -errno, "memfd_create");
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return al_err_errno(err, r, "seccomp_export_bpf");
        if (fstat(fd, &st) < 0)
                return al_err_errno(err, -errno, "fstat");
        if (st.st_size <= 0 || (size_t)st.st_size > max ||
            st.st_size % (off_t)sizeof(struct sock_filter) != 0)
                return al_err(err, -EINVAL, "seccomp filter of %lld bytes is not usable",
                              (long long)st.st_size);
        insns = malloc((size_t)st.st_size);
        if (!insns)
                return al_err(err, -ENOMEM, "out of memory");
        while (len < (size_t)st.st_size) {
                ssize_t n = pread(fd, (char *)insns + len, (size_t)st.st_size - len, (off_t)len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return al_err_errno(err, n < 0 ? -errno : -EIO, "read seccomp filter");
                len += (size_t)n;
        }
        ret->len = (unsigned short)(len / sizeof(struct sock_filter));
        ret->insns = TAKE_PTR(insns);
        return 0;
}

int host_filter_build(const struct host_deny_list *l, struct host_filter *ret, struct al_error *err)
{
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return al_err(err, -ENOMEM, "seccomp_init failed");
        /* Only the native architecture: a foreign-ABI call is killed (the default bad-arch
         * action), so nobody escapes the list through int 0x80 or x32 numbers. */
        for (size_t i = 0; i < l->n; i++) {
                const struct host_deny_rule *d = &l->rules[i];
                uint32_t act = SCMP_ACT_ERRNO(d->action == HOST_DENY_ENOSYS ? ENOSYS : EPERM);

                if (d->ns_flags_only) {
                        for (size_t f = 0; f < ARRAY_SIZE(clone_ns_flags); f++) {
                                r = seccomp_rule_add(ctx, act, d->nr, 1,
                                                     SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[f],
                                                             clone_ns_flags[f]));
                                if (r < 0)
                                        return al_err_errno(err, r, "seccomp rule for '%s'",
                                                            d->name);
                        }
                        continue;
                }
                if (d->n_families > 0) {
                        if (d->action != HOST_DENY_ENOSYS)
                                act = SCMP_ACT_ERRNO(EAFNOSUPPORT);
                        for (size_t f = 0; f < d->n_families; f++) {
                                /* The kernel reads the domain as an int: compare the low 32
                                 * bits only, or junk in the upper half would slip past. */
                                r = seccomp_rule_add(ctx, act, d->nr, 1,
                                                     SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                                             (scmp_datum_t)d->families[f]));
                                if (r < 0)
                                        return al_err_errno(err, r, "seccomp rule for '%s'",
                                                            d->name);
                        }
                        continue;
                }
                r = seccomp_rule_add(ctx, act, d->nr, 0);
                /* -EDOM/-EOPNOTSUPP: a syscall this architecture does not have (e.g. umount
                 * on x86_64), nothing to deny. */
                if (r == -EDOM || r == -EOPNOTSUPP)
                        continue;
                if (r < 0)
                        return al_err_errno(err, r, "seccomp rule for '%s'", d->name);
        }
        return export_bpf(ctx, ret, err);
}

void host_filter_free(struct host_filter *f)
{
        free(f->insns);
        f->insns = NULL;
        f->len = 0;
}
