/* Client for the Docker Engine API (Docker and Podman's compatible service) over a UNIX socket.
 * Plain requests go through libcurl with a small pool of keep-alive handles; attach and exec
 * streams are hijacked connections read with a deadline. Thread-safe: one engine object serves
 * every thread. Errors: -AL_E_ENGINE_DOWN when the socket does not answer, -ENOENT for 404,
 * -AL_E_CONFLICT for 409, -AL_E_ENGINE for other engine errors (message from the engine). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/error.h"
#include "airlock/types.h"

struct engine;

/* New client for the engine at socket_path; does not connect yet. Caller frees. */
struct engine *engine_new(const char *socket_path, enum engine_kind kind, struct al_error *err);
void engine_free(struct engine *e);
enum engine_kind engine_kind(const struct engine *e);
const char *engine_socket(const struct engine *e);

struct engine_version {
        char version[64];     /* "20.10.24" */
        char api_version[16]; /* the engine's API version */
        char used_api[16];    /* the version airlock speaks to it (negotiated) */
        char os[32];
        bool is_podman;
};

/* GET /_ping: 0 when the engine answers. */
int engine_ping(struct engine *e, struct al_error *err);
/* GET /version and negotiate: use min(engine API, ours = 1.41), at least 1.40. */
int engine_version(struct engine *e, struct engine_version *ret, struct al_error *err);
/* GET /info; *ret is a new reference. */
int engine_info(struct engine *e, json_t **ret, struct al_error *err);
/* GET /images/{name}/json; -ENOENT when absent. *ret may be NULL if not wanted. */
int engine_image_inspect(struct engine *e, const char *image, json_t **ret, struct al_error *err);

/* The same four calls bounded by timeout_ms for the whole request (connecting included), for
 * probes that must answer fast whatever the engine does (health checks). */
int engine_ping_within(struct engine *e, long timeout_ms, struct al_error *err);
int engine_version_within(struct engine *e, long timeout_ms, struct engine_version *ret,
                          struct al_error *err);
int engine_info_within(struct engine *e, long timeout_ms, json_t **ret, struct al_error *err);
int engine_image_inspect_within(struct engine *e, const char *image, long timeout_ms, json_t **ret,
                                struct al_error *err);

/* POST /containers/create; body is borrowed. *ret_id is a new string. name may be NULL. */
int engine_container_create(struct engine *e, const char *name, json_t *body, char **ret_id,
                            struct al_error *err);
int engine_container_start(struct engine *e, const char *id, struct al_error *err);
/* GET /containers/{id}/json; *ret is a new reference. */
int engine_container_inspect(struct engine *e, const char *id, json_t **ret, struct al_error *err);
/* POST /containers/{id}/wait; blocks until the container stops. */
int engine_container_wait(struct engine *e, const char *id, int64_t *ret_status,
                          struct al_error *err);
/* POST /containers/{id}/kill with a signal name ("KILL"); a stopped container is not an error. */
int engine_container_kill(struct engine *e, const char *id, const char *signal,
                          struct al_error *err);
/* DELETE /containers/{id}?force=1&v=1; an absent container is not an error. */
int engine_container_remove(struct engine *e, const char *id, struct al_error *err);
/* GET /containers/json?all=1&filters={"label":[label]}; *ret is a new JSON array. */
int engine_container_list(struct engine *e, const char *label, json_t **ret, struct al_error *err);

/* POST /containers/{id}/exec; body borrowed; *ret_id new string. */
int engine_exec_create(struct engine *e, const char *container_id, json_t *body, char **ret_id,
                       struct al_error *err);
/* GET /exec/{id}/json; *ret new reference. */
int engine_exec_inspect(struct engine *e, const char *exec_id, json_t **ret, struct al_error *err);

/* GET /containers/{id}/archive?path=P: the tar stream into *ret (malloc'd), capped at max. */
int engine_archive_get(struct engine *e, const char *id, const char *path, size_t max, char **ret,
                       size_t *ret_len, struct al_error *err);
/* PUT /containers/{id}/archive?path=P with a tar body. */
int engine_archive_put(struct engine *e, const char *id, const char *path, const void *tar,
                       size_t len, struct al_error *err);

/* A hijacked, multiplexed stream (exec start or container attach). */
struct engine_stream_io {
        const char *stdin_data; /* written after the upgrade, then the write side is closed */
        size_t stdin_len;
        /* Called per demultiplexed chunk; stream is 1 (stdout) or 2 (stderr). < 0 aborts. */
        int (*output)(void *ctx, int stream, const char *data, size_t len);
        void *ctx;
        int64_t deadline_ms; /* monotonic ms; 0 = none */
        int watch_fd;        /* >= 0: give up when this fd hangs up (client gone) */
        /* Called once when the deadline passes (e.g. to kill the process tree); the stream is
         * then drained for up to drain_ms more before giving up. */
        void (*on_deadline)(void *ctx);
        int64_t drain_ms;
        /* > 0: when this fd turns readable (the daemon is shutting down), act as at the
         * deadline (on_deadline, drain) and end with STREAM_CANCELLED. 0 means none. */
        int cancel_fd;
        /* Called once the stream is established, before stdin is sent and output read (e.g.
         * to place the exec's process in its cgroup); < 0 ends the stream with that error. */
        int (*on_open)(void *ctx, struct al_error *err);
};

enum engine_stream_end {
        STREAM_EOF = 0,       /* the process closed its output */
        STREAM_DEADLINE = 1,  /* the deadline passed (on_deadline was called) */
        STREAM_WATCH_HUP = 2, /* watch_fd hung up */
        STREAM_ABORTED = 3,   /* output callback asked to stop */
        STREAM_CANCELLED = 4, /* cancel_fd fired */
};

/* POST /exec/{id}/start with Detach=false, Tty=false, hijacked; blocks until the stream ends.
 * *ret_end says why it ended. */
int engine_exec_start(struct engine *e, const char *exec_id, struct engine_stream_io *io,
                      enum engine_stream_end *ret_end, struct al_error *err);
/* POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1, hijacked; then start_cb
 * is called (to start the container) before stdin is sent and output read. */
int engine_container_attach(struct engine *e, const char *id, struct engine_stream_io *io,
                            int (*start_cb)(void *ctx, struct al_error *err), void *start_ctx,
                            enum engine_stream_end *ret_end, struct al_error *err);

/* Stream demultiplexer for the 8-byte-header framing, robust to frames split anywhere. */
struct demux {
        unsigned char hdr[8];
        size_t hdr_len;
        uint32_t remaining; /* payload bytes left in the current frame */
        int stream;         /* current frame's stream */
};

void demux_init(struct demux *d);
/* Feed bytes; calls out(ctx, stream, data, len) for each payload piece. Returns 0, the first
 * negative value out returned, or -EPROTO on a malformed header (unknown stream type). */
int demux_feed(struct demux *d, const char *data, size_t len,
               int (*out)(void *ctx, int stream, const char *data, size_t len), void *ctx);
/* True when the demuxer stopped in the middle of a header or frame. */
bool demux_partial(const struct demux *d);
