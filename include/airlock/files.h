/* The files API and artifacts in the core (docs/files.md): file operations in a sandbox,
 * carried out by the in-sandbox agent's files helper inside the sandbox (src/agent/files.c),
 * and the pure checks they rest on (paths, tar members), which the unit tests drive. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "airlock/buf.h"
#include "airlock/error.h"
#include "airlock/types.h"

struct daemon;
struct json_t;

/* A client's path: at most FILES_PATH_MAX bytes, components at most FILES_NAME_MAX. */
#define FILES_PATH_MAX 4096
#define FILES_NAME_MAX 255

/* The file areas of a sandbox (the helper's ROOT argument) and a path beneath one. */
#define FILES_AREA_WORKSPACE "/workspace"
#define FILES_AREA_TMP       "/tmp"
#define FILES_AREA_HOME      "/home/airlock"
/* Where an exec's outputs (artifacts) go: FILES_OUTPUTS_ROOT/<execution id>. */
#define FILES_OUTPUTS_ROOT "/tmp/outputs"

struct files_path {
        const char *root;              /* one of the FILES_AREA_* strings */
        char rel[FILES_PATH_MAX + 1];  /* "." for the area itself, else a safe relative path */
        char full[FILES_PATH_MAX + 1]; /* the normalised absolute path */
};

/* Checks and splits a client's path: absolute, no NUL or control characters, no "." or ".."
 * component, within the limits, and inside one of the sandbox's file areas (the workspace
 * only when ws allows it, and for writing only when it is RW). Repeated and trailing slashes
 * are dropped. -EINVAL (bad path), -AL_E_FORBIDDEN (outside the areas, or the workspace not
 * writable) with err set. */
int files_path_parse(const char *path, size_t len, enum policy_workspace ws, bool write,
                     struct files_path *ret, struct al_error *err);

/* A tar member a client uploads: a regular file or a directory with a safe relative name
 * (file_record_path_ok, after dropping a leading "./" and a trailing "/"); links, devices,
 * FIFOs and anything else are refused with -EINVAL and err saying which member. type is the
 * member's S_IF* type. name_out (FILES_PATH_MAX + 1 bytes) gets the cleaned name. */
int files_tar_member_check(const char *name, mode_t type, char *name_out, struct al_error *err);

struct archive;

/* Appends the body of the member just read from a (size bytes by its header) to out. 0; or
 * -EINVAL with err set when the body is longer than its header says or cut short (what names
 * the archive in the message: "tar", "snapshot"); -ENOMEM with err set; -EFBIG, err not set,
 * when out reached its cap (the caller says what that means). */
int files_tar_read_body(struct archive *a, uint64_t size, struct buf *out, const char *what,
                        const char *name, struct al_error *err);

/* A client's tar (len bytes) as the helper's record stream (airlock/file_records.h) in out,
 * every member checked first: nothing is sent when one is refused. At most max_entries
 * members. -EINVAL for a bad or refused member, -AL_E_TOO_LARGE past max_entries. */
int files_tar_to_records(const void *tar, size_t len, size_t max_entries, struct buf *out,
                         struct al_error *err);

/* The helper's record stream (untrusted: every record is checked) as a tar in out (capped by
 * out's max: -AL_E_TOO_LARGE past it); -EPROTO for a malformed stream. */
int files_records_to_tar(const uint8_t *rec, size_t len, struct buf *out, struct al_error *err);

/* Writes the records (checked as above) as members of the open tar a (a struct archive of
 * libarchive), each name prefixed with prefix (NULL: none). 0, -EPROTO for a malformed
 * record, -EIO when the archive refuses one (see archive_error_string), -ENOMEM. */
struct archive;
int files_records_write(struct archive *a, const uint8_t *recs, size_t len, const char *prefix);

/* The errno of a helper's failure (its stderr, {"errno":N,"message":"..."}) as airlock's
 * error code, with the message in err; -EIO when stderr says nothing readable. */
int files_helper_error(const char *stderr_text, size_t len, struct al_error *err);

/* An artifact made from bytes that are not a file (a context's figure): name and mime as
 * given, data base64 (borrowed; untrusted), decoded here for its size and sha256. NULL when
 * data is not valid base64 or on ENOMEM. */
struct json_t *files_artifact_inline(const char *name, const char *mime, struct json_t *data);

/* Checks the helper's artifacts document (untrusted) and returns the artifacts array to put
 * in a result (new reference): every entry's fields typed and bounded, its path inside
 * outputs_dir, inline data decoded and its size and sha256 recomputed. At most max entries;
 * *ret_dropped counts the ones past it. NULL with err on a malformed document. */
struct json_t *files_artifacts_check(const char *doc, size_t len, const char *outputs_dir,
                                     size_t max, size_t *ret_dropped, struct al_error *err);

/* ---- in the core (daemon/files.c) ---- */

/* The sandbox a client means by (agent, session, runtime), made when there is none yet (as
 * an exec would): *ret_handle is a new string. -EINVAL when the scope keeps no sandbox (a
 * SESSION scope without a session). */
int daemon_files_sandbox(struct daemon *d, const char *agent, const char *session,
                         const char *runtime, char **ret_handle, struct al_error *err);

/* The workspace mode of agent (NULL: the default) under the policy in force. */
enum policy_workspace daemon_files_workspace(struct daemon *d, const char *agent);

/* Runs the files helper in sandbox handle with args (after "--files"; NULL-terminated), in
 * (may be NULL) as its stdin, its stdout collected into out (whose max is the cap: past it,
 * -AL_E_TOO_LARGE). The helper's failures come back as airlock's errors. */
int daemon_files_run(struct daemon *d, const char *handle, const char *const *args, const void *in,
                     size_t in_len, struct buf *out, struct al_error *err);
