/* Snapshots of a suspended sandbox's writable state (docs/suspend.md): the pure parts, which
 * the unit tests drive. A snapshot is one tar file in the state directory's snapshots/ whose
 * members are the sandbox's file areas, each under its own top directory ("tmp/...",
 * "home/..."), made from the records the sandbox's own files helper packed inside it (the
 * daemon never follows a path of the sandbox on the host). It is written to a temporary file,
 * synced and renamed into place, and named with its size and SHA-256 in the store, so that a
 * row always describes a whole file and a changed file is noticed before anything of it is
 * put back. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airlock/backend.h"
#include "airlock/buf.h"
#include "airlock/error.h"
#include "airlock/sha256.h"

/* The areas a snapshot carries: the scratch space (with the outputs) and the install home.
 * The workspace stays on the host and is not part of it. */
#define SNAPSHOT_AREAS 2
struct snapshot_area {
        const char *root; /* the area in the sandbox */
        const char *top;  /* its top directory in the tar */
};
extern const struct snapshot_area snapshot_areas[SNAPSHOT_AREAS];

/* The snapshot's file name for a sandbox id: "<id>.tar" (the id is hex). NULL when id is not
 * 12..64 hex characters. Caller frees. */
char *snapshot_file_name(const char *id);

/* Writes recs[0..n) (the helper's pack output of each area: untrusted, every record checked)
 * as one tar named name in directory dirfd: a temporary file first, synced, then
 * renamed over name and the directory synced, so that name is either absent, the old file, or
 * the whole new one. Past max bytes: -AL_E_TOO_LARGE and nothing is left. *ret_bytes and
 * ret_sha (SHA256_HEX_LEN) describe the file written. */
int snapshot_write(int dirfd, const char *name, const struct buf *recs, size_t n, int64_t max,
                   int64_t *ret_bytes, char ret_sha[SHA256_HEX_LEN], struct al_error *err);

/* Reads snapshot name of dirfd into out (whose max caps it) and checks it against bytes and
 * sha: -ENOENT when the file is missing, -EBADMSG when its size or digest differ (corrupt),
 * else an I/O error. */
int snapshot_read(int dirfd, const char *name, int64_t bytes, const char *sha, struct buf *out,
                  struct al_error *err);

/* True when a link at rel (a safe relative path beneath area root) with target stays inside
 * that area: an absolute target beneath root, or a relative one that, resolved from rel's
 * directory by its names alone, never climbs above root. */
bool snapshot_link_inside(const char *root, const char *rel, const char *target);

/* A snapshot's tar (untrusted: it is read back from disk) as the files helper's record
 * streams, one per area (outs[i] for snapshot_areas[i], initialised by the caller), each
 * member checked as an upload's are (a safe relative name under a known top directory, a
 * regular file, a directory, or a link that stays inside its area; no hard links, devices,
 * FIFOs). Links that would leave their area are dropped and counted in *ret_skipped. At most
 * max_entries members. -EINVAL for a malformed tar or a refused member. */
int snapshot_tar_to_records(const void *tar, size_t len, size_t max_entries,
                            struct buf outs[SNAPSHOT_AREAS], size_t *ret_skipped,
                            struct al_error *err);

/* True when a snapshot made at created_ms is past retention_s at now_ms (0: kept forever). */
bool snapshot_expired(int64_t created_ms, int64_t now_ms, int64_t retention_s);

/* The manifest recorded with a snapshot (a new JSON text, caller frees; NULL on ENOMEM):
 * format version, image, tier, the limits and the areas it holds. */
char *snapshot_manifest(const struct sandbox_spec *spec, const char *tier);
