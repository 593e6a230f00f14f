/* The container backend: Docker, or Podman through its Docker-compatible API. */
#pragma once
#include "airlock/backend.h"
#include "airlock/engine.h"

/* New backend over engine (borrowed; must outlive the backend). seccomp_path names the
 * Docker-format profile applied to every container; run_root is where each sandbox's agent
 * directory is made (created when missing; e.g. <state_dir>/run). Caller frees with
 * backend_free. */
struct backend *docker_backend_new(struct engine *engine, const char *seccomp_path,
                                   const char *run_root, struct al_error *err);
