/* The per-agent workspace directory on the host, under the policy's workspace root.
 *
 * With a cap ([limits] workspace_mb > 0) the directory is the mount point of an ext4 file
 * system in a sparse image file, <state>/workspace-images/<agent>.img, attached to a loop
 * device: the kernel answers ENOSPC past the cap for Docker, Podman and the host backend
 * alike, and the image never takes more of the host's disk than the cap. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/error.h"

/* Make sure <root>/<agent> exists as a real directory (never through a symlink), owned by
 * uid:gid with mode 0700, and return its resolved path in *ret_path (caller frees). The root
 * is created (0755) when missing. agent must already be a validated name. No cap. */
int workspace_prepare(const char *root, const char *agent, uint32_t uid, uint32_t gid,
                      char **ret_path, struct al_error *err);

/* The capped workspaces this daemon has mounted: made at start, freed (every mount undone) at
 * shutdown. Thread-safe. */
struct workspace_set;

/* images_dir: where the images live (made 0700 when missing). Mounts and loop devices of these
 * images left by an earlier run that crashed are undone first. NULL on failure (err set). */
struct workspace_set *workspace_set_new(const char *images_dir, struct al_error *err);

/* As workspace_prepare, with the directory mounted on the agent's image of size_mb MiB (made,
 * holding what the directory held, on first use; grown when size_mb grew). size_mb 0 is
 * workspace_prepare. Returns 0, or 1 when the workspace is ready but larger than asked (a
 * shrink is refused: the data is kept) with the reason in err, the first time only; < 0 on
 * failure. */
int workspace_set_prepare(struct workspace_set *s, const char *root, const char *agent,
                          uint32_t uid, uint32_t gid, int64_t size_mb, char **ret_path,
                          struct al_error *err);

struct workspace_usage {
        char agent[65];
        int64_t limit_bytes; /* the image's size: the cap */
        int64_t free_bytes;  /* what the agent can still write */
        int64_t used_bytes;  /* limit - free: its files and ext4's own metadata */
};

/* The usage of every mounted workspace, in *ret (caller frees), their number in *ret_n. */
int workspace_set_usage(struct workspace_set *s, struct workspace_usage **ret, size_t *ret_n);

/* Unmount every workspace (their loop devices detach with the last user) and free the set.
 * NULL is a no-op. Returns the number of mounts that could only be detached lazily. */
int workspace_set_free(struct workspace_set *s);

/* Pure helpers, for the tests. */

/* What the image must do to go from cur_bytes to want_mb: 1 grow, 0 nothing, -1 shrink
 * (refused). */
int workspace_size_plan(int64_t cur_bytes, int64_t want_mb);

/* In one line of /proc/self/mountinfo, the mount point (octal escapes undone) into out and the
 * device's "major:minor" into dev. -EINVAL when the line is not one. */
int workspace_mountinfo_line(const char *line, char *out, size_t out_size, char *dev,
                             size_t dev_size);
