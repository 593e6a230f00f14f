#include "airlock/workspace.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

static int mkdir_parents(const char *path)
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
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int workspace_prepare(const char *root, const char *agent, uint32_t uid, uint32_t gid,
                      char **ret_path, struct al_error *err)
{
        _cleanup_free_ char *real_root = NULL;
        _cleanup_close_ int rootfd = -1, dirfd = -1;
        struct stat st;
        char *path;
        int r;

        if (!util_name_valid(agent, 64))
                return al_err(err, -EINVAL, "invalid agent name for a workspace");
        r = mkdir_parents(root);
        if (r < 0)
                return al_err_errno(err, r, "cannot create workspace root '%s'", root);
        real_root = realpath(root, NULL);
        if (!real_root)
                return al_err_errno(err, -errno, "cannot resolve workspace root '%s'", root);
        rootfd = open(real_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rootfd < 0)
                return al_err_errno(err, -errno, "cannot open workspace root '%s'", real_root);
        if (mkdirat(rootfd, agent, 0700) < 0 && errno != EEXIST)
                return al_err_errno(err, -errno, "cannot create workspace '%s/%s'", real_root,
                                    agent);
        /* O_NOFOLLOW: a symlink planted in place of the directory is refused, never followed. */
        dirfd = openat(rootfd, agent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dirfd < 0)
                return al_err_errno(err, -errno, "workspace '%s/%s' is not a plain directory",
                                    real_root, agent);
        if (fstat(dirfd, &st) < 0)
                return al_err_errno(err, -errno, "cannot stat workspace '%s/%s'", real_root, agent);
        if ((st.st_uid != uid || st.st_gid != gid) && fchown(dirfd, uid, gid) < 0)
                return al_err_errno(err, -errno, "cannot give workspace '%s/%s' to %u:%u",
                                    real_root, agent, uid, gid);
        if ((st.st_mode & 07777) != 0700 && fchmod(dirfd, 0700) < 0)
                return al_err_errno(err, -errno, "cannot chmod workspace '%s/%s'", real_root,
                                    agent);
        if (asprintf(&path, "%s/%s", real_root, agent) < 0)
                return al_err(err, -ENOMEM, "out of memory");
        *ret_path = path;
        return 0;
}
