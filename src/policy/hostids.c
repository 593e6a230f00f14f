/* The sandbox users must be nobody on the host: checked against the host's users, groups and
 * subordinate id ranges when the daemon starts and on every reload. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/policy.h"

/* getpwuid_r and getgrgid_r want a buffer; entries with huge member lists need a larger one. */
#define ID_BUF_MIN 1024
#define ID_BUF_MAX (1024 * 1024)

/* What a getpwuid_r/getgrgid_r call said: 1 found (its name copied), 0 not found, 2 try a
 * larger buffer, < 0 an error. */
static int nss_result(int r, bool found, const char *found_name, char *name, size_t size)
{
        if (r == ERANGE)
                return 2;
        /* "Not found" comes as 0 or as one of these, depending on the NSS module. */
        if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
                return 0;
        if (r != 0)
                return -r;
        if (!found)
                return 0;
        snprintf(name, size, "%s", found_name);
        return 1;
}

static int sys_user_of_uid(uint32_t uid, char *name, size_t size)
{
        for (size_t len = ID_BUF_MIN; len <= ID_BUF_MAX; len *= 4) {
                _cleanup_free_ char *buf = malloc(len);
                struct passwd pw, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r((uid_t)uid, &pw, buf, len, &res);
                r = nss_result(r, res != NULL, res ? pw.pw_name : NULL, name, size);
                if (r != 2)
                        return r;
        }
        return -ERANGE;
}

static int sys_group_of_gid(uint32_t gid, char *name, size_t size)
{
        for (size_t len = ID_BUF_MIN; len <= ID_BUF_MAX; len *= 4) {
                _cleanup_free_ char *buf = malloc(len);
                struct group gr, *res = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                r = getgrgid_r((gid_t)gid, &gr, buf, len, &res);
                r = nss_result(r, res != NULL, res ? gr.gr_name : NULL, name, size);
                if (r != 2)
                        return r;
        }
        return -ERANGE;
}

/* Whether id falls in a range of a subordinate id file ("owner:start:count" lines). 1 with the
 * owner and the range filled in, 0 when not (or when there is no such file), -errno. */
static int sub_range_of(const char *path, uint32_t id, char *owner, size_t size,
                        uint64_t *ret_start, uint64_t *ret_count)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[512];

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                char *start_s, *count_s, *end;
                unsigned long long start, count;

                if (line[0] == '#' || line[0] == '\n')
                        continue;
                start_s = strchr(line, ':');
                if (!start_s)
                        continue;
                *start_s++ = '\0';
                count_s = strchr(start_s, ':');
                if (!count_s)
                        continue;
                *count_s++ = '\0';
                errno = 0;
                start = strtoull(start_s, &end, 10);
                if (errno || end == start_s || *end)
                        continue;
                count = strtoull(count_s, &end, 10);
                if (errno || end == count_s || (*end && *end != '\n'))
                        continue;
                if (id >= start && id - start < count) {
                        snprintf(owner, size, "%.200s", line);
                        *ret_start = start;
                        *ret_count = count;
                        return 1;
                }
        }
        return ferror(f) ? -EIO : 0;
}

/* One id of one setting: the account database, then the subordinate ranges. */
static int check_id(const char *setting, const char *kind, uint32_t id,
                    int (*lookup)(uint32_t, char *, size_t), const char *sub_path,
                    struct al_error *err)
{
        char name[256];
        uint64_t start = 0, count = 0;
        int r;

        r = lookup(id, name, sizeof(name));
        if (r < 0)
                return al_err_errno(
                    err, r, "[sandbox] %s: cannot check whether %s %" PRIu32 " is a host account",
                    setting, kind, id);
        if (r > 0)
                return al_err(err, -EEXIST,
                              "[sandbox] %s: %s %" PRIu32 " is the host's %s '%s'; sandbox code "
                              "running as it would share that account's processes and files. "
                              "Pick an id no host account has (the default is %u)",
                              setting, kind, id, strcmp(kind, "uid") == 0 ? "user" : "group", name,
                              strcmp(setting, "exec_user") == 0 ? POLICY_EXEC_ID_DEFAULT
                                                                : POLICY_KEEPER_ID_DEFAULT);
        r = sub_range_of(sub_path, id, name, sizeof(name), &start, &count);
        if (r < 0)
                return al_err_errno(err, r, "[sandbox] %s: cannot read '%s'", setting, sub_path);
        if (r > 0)
                return al_err(err, -EEXIST,
                              "[sandbox] %s: %s %" PRIu32 " is in the subordinate range %" PRIu64
                              "-%" PRIu64 " that %s gives to '%s', who can become it in a user "
                              "namespace. Pick an id outside every range there (the default is "
                              "%u)",
                              setting, kind, id, start, start + count - 1, sub_path, name,
                              strcmp(setting, "exec_user") == 0 ? POLICY_EXEC_ID_DEFAULT
                                                                : POLICY_KEEPER_ID_DEFAULT);
        return 0;
}

int policy_check_host_ids(const struct policy *p, const struct policy_id_db *db,
                          struct al_error *err)
{
        int (*user_of)(uint32_t, char *, size_t) =
            db && db->user_of_uid ? db->user_of_uid : sys_user_of_uid;
        int (*group_of)(uint32_t, char *, size_t) =
            db && db->group_of_gid ? db->group_of_gid : sys_group_of_gid;
        const char *subuid = db && db->subuid_path ? db->subuid_path : "/etc/subuid";
        const char *subgid = db && db->subgid_path ? db->subgid_path : "/etc/subgid";
        int r;

        /* Code of one uid may signal and trace every process of that uid. */
        if (p->exec_uid == p->keeper_uid)
                return al_err(err, -EEXIST,
                              "[sandbox] exec_user and keeper_user share uid %" PRIu32
                              "; the code could signal the sandbox's keeper",
                              p->exec_uid);
        if ((r = check_id("exec_user", "uid", p->exec_uid, user_of, subuid, err)) < 0 ||
            (r = check_id("exec_user", "gid", p->exec_gid, group_of, subgid, err)) < 0 ||
            (r = check_id("keeper_user", "uid", p->keeper_uid, user_of, subuid, err)) < 0 ||
            (r = check_id("keeper_user", "gid", p->keeper_gid, group_of, subgid, err)) < 0)
                return r;
        return 0;
}
