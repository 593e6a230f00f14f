/* Small pure helpers shared by every module. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"

/* Monotonic clock in milliseconds. */
int64_t util_now_ms(void);
/* Wall clock, milliseconds since the epoch. */
int64_t util_wall_ms(void);
/* Fill out with 2*nbytes lowercase hex characters of kernel randomness plus a NUL. */
int util_random_hex(char *out, size_t nbytes);
/* True when s is a name from the safe alphabet [A-Za-z0-9._-], 1..max chars, not "." or "..". */
bool util_name_valid(const char *s, size_t max);
/* Copy len bytes of possibly invalid UTF-8 into a new NUL-terminated string, replacing each
 * invalid sequence by U+FFFD. If carry is not NULL, an incomplete sequence at the end is not
 * emitted but stored in carry[0..*carry_len) (at most 3 bytes) for the next call. Caller frees. */
char *util_utf8_sanitize(const char *s, size_t len, char *carry, size_t *carry_len);
/* The same, and *ret_len (when not NULL) is the result's length: output may hold NUL bytes,
 * which a JSON string carries as \u0000 (json_stringn), never cut at. */
char *util_utf8_sanitize_n(const char *s, size_t len, char *carry, size_t *carry_len,
                           size_t *ret_len);
/* True when s[0..len) is strict UTF-8: no overlong forms, surrogates, code points past
 * U+10FFFF or a sequence cut short by the end. */
bool util_utf8_valid(const char *s, size_t len);
/* A user's or client's string repeated in a message, inside '...': at most UTIL_QUOTE_MAX bytes
 * of s copied into dst (UTIL_QUOTE_SIZE bytes fit any s), control bytes, DEL, the single quote
 * and the backslash written as \xNN, "..." when cut. Returns dst. */
#define UTIL_QUOTE_MAX  64
#define UTIL_QUOTE_SIZE (4 * UTIL_QUOTE_MAX + 8)
const char *util_quote(char *dst, size_t size, const char *s);
/* Parse a strict non-negative decimal integer within [min,max]; returns < 0 on anything else. */
int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
/* Read a whole regular file of at most max bytes into a new NUL-terminated buffer (caller
 * frees). ret_len and ret_mode (the file's st_mode) may be NULL. -AL_E_TOO_LARGE past max. */
int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len, unsigned *ret_mode,
                   struct al_error *err);
/* util_read_file for a file an administrator edits (the settings, the SELECTIVE rules, the
 * seccomp profile, the host deny-list): one that every user may write is refused (-EPERM),
 * since what it says is trusted. ret_len may be NULL. */
int util_read_admin_file(const char *path, size_t max, char **ret, size_t *ret_len,
                         struct al_error *err);
/* mkdir -p: make path and its missing parents (0755), path itself with mode; an existing
 * directory is fine. Returns 0 or -errno (-ENAMETOOLONG past PATH_MAX). */
int util_mkdir_p(const char *path, unsigned mode);
/* Where a shipped policy file NAME is: configured when not empty, else the first readable of
 * $AIRLOCK_POLICY_DIR (a developer's or the tests' override), /etc/airlock, the installed
 * policies directory, the source tree's policies. Caller frees; NULL when out of memory. */
char *util_policy_file(const char *configured, const char *name);
/* Where a program of airlock's NAME (e.g. the in-sandbox "airlock-exec") is: in
 * $AIRLOCK_LIBEXEC_DIR when set, else beside the running executable (the build tree), else in
 * ../libexec/airlock/ from it (an install). Caller frees; NULL when out of memory. */
char *util_program_file(const char *name);
/* Split a command-line-ish string on spaces (no quoting) into a NULL-terminated vector. */
char **util_split_words(const char *s);
void util_strv_free(char **v);
size_t util_strv_len(char *const *v);
