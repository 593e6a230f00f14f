#include "airlock/util.h"

#include "airlock/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t util_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int util_random_hex(char *out, size_t nbytes)
{
        static const char hex[] = "0123456789abcdef";
        unsigned char raw[64];
        size_t got = 0;

        if (nbytes > sizeof(raw))
                return -EINVAL;
        while (got < nbytes) {
                ssize_t n = getrandom(raw + got, nbytes - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t)n;
        }
        for (size_t i = 0; i < nbytes; i++) {
                out[2 * i] = hex[raw[i] >> 4];
                out[2 * i + 1] = hex[raw[i] & 15];
        }
        out[2 * nbytes] = '\0';
        return 0;
}

bool util_name_valid(const char *s, size_t max)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid, -1 if truncated by end. */
static int utf8_seq(const unsigned char *s, size_t avail)
{
        unsigned char c = s[0];
        int need;
        unsigned cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                need = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                need = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                need = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        for (int i = 1; i < need; i++) {
                if ((size_t)i >= avail)
                        return -1;
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return need;
}

bool util_utf8_valid(const char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                int n = utf8_seq((const unsigned char *)s + i, len - i);

                if (n <= 0)
                        return false;
                i += (size_t)n;
        }
        return true;
}

char *util_utf8_sanitize_n(const char *in, size_t len, char *carry, size_t *carry_len,
                           size_t *ret_len)
{
        size_t pre = carry_len ? *carry_len : 0, total = pre + len, i = 0;
        unsigned char *joined = NULL;
        const unsigned char *s = (const unsigned char *)in;
        char *out, *o;

        /* Join a carried partial sequence with this chunk. */
        if (pre > 0) {
                joined = malloc(total);
                if (!joined)
                        return NULL;
                memcpy(joined, carry, pre);
                memcpy(joined + pre, in, len);
                s = joined;
        }
        out = malloc(total * 3 + 1);
        if (!out) {
                free(joined);
                return NULL;
        }
        o = out;
        if (carry_len)
                *carry_len = 0;
        while (i < total) {
                int n = utf8_seq(s + i, total - i);

                if (n == -1 && carry) {
                        memcpy(carry, s + i, total - i);
                        *carry_len = total - i;
                        break;
                }
                if (n <= 0) {
                        *o++ = (char)0xef;
                        *o++ = (char)0xbf;
                        *o++ = (char)0xbd;
                        i++;
                        continue;
                }
                memcpy(o, s + i, (size_t)n);
                o += n;
                i += (size_t)n;
        }
        *o = '\0';
        free(joined);
        if (ret_len)
                *ret_len = (size_t)(o - out);
        return out;
}

char *util_utf8_sanitize(const char *in, size_t len, char *carry, size_t *carry_len)
{
        return util_utf8_sanitize_n(in, len, carry, carry_len, NULL);
}

int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        char *end;
        long long v;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

char **util_split_words(const char *s)
{
        size_t n = 0, cap = 4;
        char **v = calloc(cap, sizeof(char *));
        const char *p = s;

        if (!v)
                return NULL;
        while (*p) {
                const char *start;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
                if (n + 2 > cap) {
                        char **nv = realloc(v, (cap *= 2) * sizeof(char *));

                        if (!nv)
                                goto fail;
                        v = nv;
                }
                v[n] = strndup(start, (size_t)(p - start));
                if (!v[n])
                        goto fail;
                v[++n] = NULL;
        }
        return v;
fail:
        util_strv_free(v);
        return NULL;
}

void util_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t util_strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len, unsigned *ret_mode,
                   struct al_error *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t got = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return al_err_errno(err, -errno, "cannot open %s", path);
        if (fstat(fd, &st) < 0)
                return al_err_errno(err, -errno, "cannot stat %s", path);
        if (!S_ISREG(st.st_mode))
                return al_err(err, -EINVAL, "%s: not a regular file", path);
        text = malloc(max + 2);
        if (!text)
                return al_err(err, -ENOMEM, "%s: out of memory", path);
        for (;;) {
                ssize_t n = read(fd, text + got, max + 1 - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return al_err_errno(err, -errno, "cannot read %s", path);
                if (n == 0)
                        break;
                got += (size_t)n;
                if (got > max)
                        return al_err(err, -AL_E_TOO_LARGE, "%s: larger than %zu bytes", path, max);
        }
        text[got] = '\0';
        if (ret_len)
                *ret_len = got;
        if (ret_mode)
                *ret_mode = st.st_mode;
        *ret = TAKE_PTR(text);
        return 0;
}

const char *util_quote(char *dst, size_t size, const char *s)
{
        size_t o = 0, i;

        for (i = 0; i < UTIL_QUOTE_MAX && s[i] && o + 5 < size; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch < 0x20 || ch == 0x7f || ch == '\'' || ch == '\\')
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

int util_mkdir_p(const char *path, unsigned mode)
{
        char tmp[PATH_MAX];

        if (strlen(path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        strcpy(tmp, path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int util_read_admin_file(const char *path, size_t max, char **ret, size_t *ret_len,
                         struct al_error *err)
{
        _cleanup_free_ char *text = NULL;
        unsigned mode = 0;
        size_t len = 0;
        int r = util_read_file(path, max, &text, &len, &mode, err);

        if (r < 0)
                return r;
        if (mode & S_IWOTH)
                return al_err(err, -EPERM, "%s: writable by every user, refused (chmod o-w)", path);
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(text);
        return 0;
}

char *util_program_file(const char *name)
{
        char exe[4096], *slash, *path = NULL;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        const char *env = getenv("AIRLOCK_LIBEXEC_DIR");

        if (env && *env)
                return asprintf(&path, "%s/%s", env, name) < 0 ? NULL : path;
        if (n <= 0)
                return NULL;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        /* The build tree keeps programs side by side; an install puts them in libexec. */
        if (asprintf(&path, "%s/%s", exe, name) < 0)
                return NULL;
        if (access(path, X_OK) == 0)
                return path;
        free(path);
        return asprintf(&path, "%s/../libexec/airlock/%s", exe, name) < 0 ? NULL : path;
}

char *util_policy_file(const char *configured, const char *name)
{
        const char *const dirs[] = {getenv("AIRLOCK_POLICY_DIR"), "/etc/airlock",
                                    AIRLOCK_POLICY_DIR, AIRLOCK_SOURCE_POLICY_DIR};
        char *path = NULL;

        if (configured && *configured)
                return strdup(configured);
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                if (!dirs[i] || !*dirs[i])
                        continue;
                free(path);
                if (asprintf(&path, "%s/%s", dirs[i], name) < 0)
                        return NULL;
                if (access(path, R_OK) == 0)
                        return path;
        }
        return path;
}
