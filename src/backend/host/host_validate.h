/* Checks and preparation of an exec's inputs for the host backend, done in the daemon before
 * anything is forked: pure functions over strings, unit-tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "airlock/error.h"

#define HOST_ENV_ENTRY_MAX (128 * 1024) /* the kernel's MAX_ARG_STRLEN */
#define HOST_PATH_ENTRIES  64

/* True when path equals dir or lies below it, comparing normalized absolute paths. */
bool host_path_within(const char *path, const char *dir);

/* Normalize an absolute path: collapse "//" and "/./", drop a trailing '/'. ".." is refused
 * (-EINVAL). *ret is a new string. */
int host_path_normalize(const char *path, char **ret, struct al_error *err);

/* argv: present, argv[0] non-empty, at most EXEC_ARGV_MAX entries. */
int host_argv_check(char *const *argv, struct al_error *err);

/* env: "NAME=VALUE" entries with a non-empty name, no dynamic-loader variable (LD_*), and a
 * PATH none of whose entries is inside a protected directory (the daemon's own) unless also
 * inside the exec's workspace (allowed may be NULL). protected is NULL-terminated. */
int host_env_check(char *const *env, char *const *protected_dirs, const char *allowed,
                   struct al_error *err);

/* The environment the command gets: the request's entries, then PATH=default_path and
 * HOME=home when the request sets none. Nothing comes from the daemon's own environment.
 * *ret is a new NULL-terminated vector (util_strv_free). */
int host_env_build(char *const *env, const char *default_path, const char *home, char ***ret,
                   struct al_error *err);

/* The value of name in env, or NULL. */
const char *host_env_get(char *const *env, const char *name);

/* The working directory: NULL gives fallback; a relative path is taken from the workspace; an
 * absolute one must lie within it. No workspace (NULL) and a workdir given is -EINVAL.
 * *ret is a new string. */
int host_workdir_resolve(const char *workdir, const char *workspace_dir, const char *fallback,
                         char **ret, struct al_error *err);

/* The paths execve tries for argv0, in order: argv0 itself when it contains a '/', otherwise
 * each PATH entry joined with it (an empty entry meaning the working directory).
 * *ret is a new NULL-terminated vector (util_strv_free). */
int host_exec_candidates(const char *argv0, const char *path, char ***ret, struct al_error *err);
