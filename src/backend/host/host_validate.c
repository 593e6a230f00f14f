#include "backend/host/host_validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/exec.h"
#include "airlock/util.h"

static void strv_freep(char ***v)
{
        util_strv_free(*v);
}

int host_path_normalize(const char *path, char **ret, struct al_error *err)
{
        _cleanup_free_ char *out = NULL;
        const char *p = path;
        size_t n = 0, len;

        if (!path || path[0] != '/')
                return al_err(err, -EINVAL, "'%s' is not an absolute path", path ? path : "");
        len = strlen(path);
        if (len >= 4096)
                return al_err(err, -EINVAL, "path longer than 4095 bytes");
        out = malloc(len + 2);
        if (!out)
                return al_err(err, -ENOMEM, "out of memory");
        while (*p) {
                const char *s;
                size_t cl;

                while (*p == '/')
                        p++;
                s = p;
                while (*p && *p != '/')
                        p++;
                cl = (size_t)(p - s);
                if (cl == 0 || (cl == 1 && s[0] == '.'))
                        continue;
                if (cl == 2 && s[0] == '.' && s[1] == '.')
                        return al_err(err, -EINVAL, "path '%s' must not contain '..'", path);
                out[n++] = '/';
                memcpy(out + n, s, cl);
                n += cl;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

bool host_path_within(const char *path, const char *dir)
{
        _cleanup_free_ char *np = NULL, *nd = NULL;
        size_t dl;

        if (host_path_normalize(path, &np, NULL) < 0 || host_path_normalize(dir, &nd, NULL) < 0)
                return false;
        if (strcmp(nd, "/") == 0)
                return true;
        dl = strlen(nd);
        return strncmp(np, nd, dl) == 0 && (np[dl] == '\0' || np[dl] == '/');
}

int host_argv_check(char *const *argv, struct al_error *err)
{
        size_t n;

        if (!argv || !argv[0])
                return al_err(err, -EINVAL, "argv is empty");
        if (argv[0][0] == '\0')
                return al_err(err, -EINVAL, "argv[0] is empty");
        n = util_strv_len(argv);
        if (n > EXEC_ARGV_MAX)
                return al_err(err, -EINVAL, "argv has %zu entries, more than %d", n, EXEC_ARGV_MAX);
        for (size_t i = 0; i < n; i++)
                if (strlen(argv[i]) >= HOST_ENV_ENTRY_MAX)
                        return al_err(err, -EINVAL, "argv[%zu] is longer than %d bytes", i,
                                      HOST_ENV_ENTRY_MAX - 1);
        return 0;
}

static int path_check(const char *value, char *const *protected_dirs, const char *allowed,
                      struct al_error *err)
{
        const char *p = value;
        size_t count = 0;

        for (;;) {
                const char *colon = strchr(p, ':');
                size_t n = colon ? (size_t)(colon - p) : strlen(p);
                char entry[4096];

                if (++count > HOST_PATH_ENTRIES)
                        return al_err(err, -EINVAL, "env PATH has more than %d entries",
                                      HOST_PATH_ENTRIES);
                /* Relative entries resolve against the working directory, which is in the
                 * workspace or the private /tmp: nothing of the daemon's. */
                if (n > 0 && p[0] == '/') {
                        if (n >= sizeof(entry))
                                return al_err(err, -EINVAL, "env PATH entry too long");
                        memcpy(entry, p, n);
                        entry[n] = '\0';
                        for (size_t i = 0; protected_dirs && protected_dirs[i]; i++) {
                                if (!host_path_within(entry, protected_dirs[i]))
                                        continue;
                                if (allowed && host_path_within(entry, allowed))
                                        continue;
                                return al_err(err, -EINVAL,
                                              "env PATH entry '%s' is inside the daemon's own "
                                              "directory '%s'",
                                              entry, protected_dirs[i]);
                        }
                }
                if (!colon)
                        return 0;
                p = colon + 1;
        }
}

int host_env_check(char *const *env, char *const *protected_dirs, const char *allowed,
                   struct al_error *err)
{
        size_t n = util_strv_len(env);

        if (n > EXEC_ENV_MAX)
                return al_err(err, -EINVAL, "env has %zu entries, more than %d", n, EXEC_ENV_MAX);
        for (size_t i = 0; i < n; i++) {
                const char *e = env[i], *eq = strchr(e, '=');
                size_t nl;

                if (!eq || eq == e)
                        return al_err(err, -EINVAL, "env entry %zu is not NAME=VALUE", i);
                if (strlen(e) >= HOST_ENV_ENTRY_MAX)
                        return al_err(err, -EINVAL, "env entry %zu is longer than %d bytes", i,
                                      HOST_ENV_ENTRY_MAX - 1);
                nl = (size_t)(eq - e);
                /* Every LD_* variable steers the dynamic loader (LD_PRELOAD, LD_LIBRARY_PATH,
                 * LD_AUDIT, ...): the daemon decides what gets loaded, not the request. */
                if (nl >= 3 && strncmp(e, "LD_", 3) == 0)
                        return al_err(err, -EINVAL, "env may not set '%.*s' (dynamic loader)",
                                      (int)(nl > 64 ? 64 : nl), e);
                if (nl == 4 && strncmp(e, "PATH", 4) == 0) {
                        int r = path_check(eq + 1, protected_dirs, allowed, err);

                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

const char *host_env_get(char *const *env, const char *name)
{
        size_t nl = strlen(name);

        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=')
                        return env[i] + nl + 1;
        return NULL;
}

int host_env_build(char *const *env, const char *default_path, const char *home, char ***ret,
                   struct al_error *err)
{
        _cleanup_(strv_freep) char **out = NULL;
        size_t n = util_strv_len(env), k = 0;

        out = calloc(n + 3, sizeof(char *));
        if (!out)
                return al_err(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                out[k] = strdup(env[i]);
                if (!out[k++])
                        return al_err(err, -ENOMEM, "out of memory");
        }
        if (!host_env_get(env, "PATH") && default_path) {
                if (asprintf(&out[k], "PATH=%s", default_path) < 0) {
                        out[k] = NULL;
                        return al_err(err, -ENOMEM, "out of memory");
                }
                k++;
        }
        if (!host_env_get(env, "HOME") && home) {
                if (asprintf(&out[k], "HOME=%s", home) < 0) {
                        out[k] = NULL;
                        return al_err(err, -ENOMEM, "out of memory");
                }
                k++;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int host_workdir_resolve(const char *workdir, const char *workspace_dir, const char *fallback,
                         char **ret, struct al_error *err)
{
        _cleanup_free_ char *joined = NULL, *norm = NULL;
        int r;

        if (!workdir || !workdir[0]) {
                const char *d = workspace_dir ? workspace_dir : fallback;

                return host_path_normalize(d, ret, err);
        }
        if (!workspace_dir)
                return al_err(err, -EINVAL,
                              "workdir '%s' given, but the policy gives this exec no workspace",
                              workdir);
        if (workdir[0] != '/') {
                if (asprintf(&joined, "%s/%s", workspace_dir, workdir) < 0)
                        return al_err(err, -ENOMEM, "out of memory");
                workdir = joined;
        }
        r = host_path_normalize(workdir, &norm, err);
        if (r < 0)
                return al_err_wrap(err, r, "workdir");
        if (!host_path_within(norm, workspace_dir))
                return al_err(err, -EINVAL, "workdir '%s' is outside the workspace '%s'", norm,
                              workspace_dir);
        *ret = TAKE_PTR(norm);
        return 0;
}

int host_exec_candidates(const char *argv0, const char *path, char ***ret, struct al_error *err)
{
        _cleanup_(strv_freep) char **out = NULL;
        size_t n = 1, k = 0;
        const char *p;

        if (strchr(argv0, '/')) {
                out = calloc(2, sizeof(char *));
                if (!out || !(out[0] = strdup(argv0)))
                        return al_err(err, -ENOMEM, "out of memory");
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (!path)
                path = "";
        for (p = path; *p; p++)
                if (*p == ':')
                        n++;
        if (n > HOST_PATH_ENTRIES)
                return al_err(err, -EINVAL, "PATH has more than %d entries", HOST_PATH_ENTRIES);
        out = calloc(n + 1, sizeof(char *));
        if (!out)
                return al_err(err, -ENOMEM, "out of memory");
        p = path;
        for (;;) {
                const char *colon = strchr(p, ':');
                int len = colon ? (int)(colon - p) : (int)strlen(p);
                int r;

                if (len == 0)
                        r = asprintf(&out[k], "%s", argv0);
                else
                        r = asprintf(&out[k], "%.*s%s%s", len, p, p[len - 1] == '/' ? "" : "/",
                                     argv0);
                if (r < 0) {
                        out[k] = NULL;
                        return al_err(err, -ENOMEM, "out of memory");
                }
                k++;
                if (!colon)
                        break;
                p = colon + 1;
        }
        *ret = TAKE_PTR(out);
        return 0;
}
