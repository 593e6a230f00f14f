/* The frames spoken between airlockd and the in-sandbox agent (docs/agent-protocol.md): a pure
 * codec, shared by the agent (src/agent/agent.c) and the daemon's client. A frame is
 *
 *     length: u32 big-endian | type: u8 | payload (length - 1 bytes)
 *
 * where length counts the type byte and the payload, 1 .. AGENT_FRAME_MAX. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define AGENT_PROTO_VERSION 1
#define AGENT_HEADER_LEN    5
/* The largest payload of any frame, and the largest length field (type byte included). */
#define AGENT_PAYLOAD_MAX (1u << 20)
#define AGENT_FRAME_MAX   (AGENT_PAYLOAD_MAX + 1)
/* The agent's limits (documented in the protocol): connections served at once, how long the
 * output of an exec whose main process has ended is still drained, the largest STDOUT or
 * STDERR payload it sends. */
#define AGENT_CONN_MAX  256
#define AGENT_DRAIN_MS  100
#define AGENT_CHUNK_MAX (64u << 10)

enum agent_frame_type {
        /* daemon -> agent */
        AGENT_PING = 0x01,
        AGENT_EXEC = 0x02,
        AGENT_GO = 0x03,
        AGENT_STDIN = 0x04,
        AGENT_STDIN_EOF = 0x05,
        AGENT_KILL = 0x06,
        /* daemon -> agent, on a connection of its own: signal an exec by its pid (answered
         * with PONG, or ERROR when no running exec has that pid) */
        AGENT_SIGNAL = 0x50,
        /* daemon -> context driver (docs/contexts.md): run a cell */
        AGENT_CTX_RUN = 0x40,
        /* agent -> daemon */
        AGENT_PONG = 0x81,
        AGENT_STARTED = 0x82,
        AGENT_STDOUT = 0x83,
        AGENT_STDERR = 0x84,
        AGENT_EXIT = 0x85,
        AGENT_ERROR = 0x86,
        /* context driver -> daemon: a result (value or display), the cell's end */
        AGENT_CTX_RESULT = 0xC0,
        AGENT_CTX_DONE = 0xC1,
};

/* The frame type's name ("PING", ...), or NULL when type is not one of the protocol's. */
const char *agent_frame_type_name(unsigned type);

/* Fills out with the header of a frame of type and payload_len bytes of payload. The caller
 * keeps payload_len <= AGENT_PAYLOAD_MAX. */
void agent_frame_header(uint8_t out[AGENT_HEADER_LEN], unsigned type, size_t payload_len);

/* Writes one whole frame to fd, retrying on EINTR and short writes; on a socket with
 * MSG_NOSIGNAL (no SIGPIPE). For blocking descriptors: EAGAIN (a non-blocking fd, or a send
 * timeout) is returned as -EAGAIN and the stream is then unusable, part of the frame may have
 * been written. Returns 0, -EMSGSIZE when len > AGENT_PAYLOAD_MAX, -EINVAL for an unknown
 * type, or -errno. Borrows payload (NULL when len is 0). */
int agent_frame_write(int fd, unsigned type, const void *payload, size_t len);

/* Called once per complete frame; payload (NULL when len is 0) is valid only during the call.
 * A negative return stops agent_decoder_feed, which returns that value. */
typedef int (*agent_frame_cb)(void *ctx, unsigned type, const uint8_t *payload, size_t len);

/* An incremental decoder: bytes go in however they were cut, whole frames come out. It holds
 * at most one frame's payload (never more than max_payload bytes) and the header. */
struct agent_decoder {
        uint8_t hdr[AGENT_HEADER_LEN];
        size_t hdr_len; /* header bytes held for the frame in progress */
        uint8_t *buf;   /* its payload so far (owned), capacity buf_cap */
        size_t buf_cap, buf_len, need;
        size_t max_payload;
        int error; /* sticky: once set, every feed returns it */
};

/* max_payload: the largest payload accepted, at most AGENT_PAYLOAD_MAX (larger is clamped). */
void agent_decoder_init(struct agent_decoder *d, size_t max_payload);

/* Decodes data, calling cb for each frame completed by it. Returns 0 when all of data was
 * consumed; -EPROTO on a length of 0 or a payload over max_payload or an unknown type; -ENOMEM;
 * or cb's negative value. After an error the decoder stays failed (every feed returns it). */
int agent_decoder_feed(struct agent_decoder *d, const void *data, size_t len, agent_frame_cb cb,
                       void *ctx);

/* Nonzero when part of a frame is held: the stream ended mid-frame if it ends now. */
int agent_decoder_pending(const struct agent_decoder *d);

/* Frees what the decoder holds; it can be initialized again. */
void agent_decoder_free(struct agent_decoder *d);
