/* The per-agent workspace directory on the host, under the policy's workspace root. */
#pragma once
#include <stdint.h>

#include "airlock/error.h"

/* Make sure <root>/<agent> exists as a real directory (never through a symlink), owned by
 * uid:gid with mode 0700, and return its resolved path in *ret_path (caller frees). The root
 * is created (0755) when missing. agent must already be a validated name. */
int workspace_prepare(const char *root, const char *agent, uint32_t uid, uint32_t gid,
                      char **ret_path, struct al_error *err);
