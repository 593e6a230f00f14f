/* The agent protocol's frame codec (include/airlock/agent_proto.h): pure, no logging, shared by
 * the in-sandbox agent and the daemon. */
#include "airlock/agent_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* A decoder keeps a payload buffer this large between frames; a larger one is freed once its
 * frame is delivered, so that an idle connection holds little. */
#define DECODER_KEEP (64u << 10)

const char *agent_frame_type_name(unsigned type)
{
        switch (type) {
        case AGENT_PING:
                return "PING";
        case AGENT_EXEC:
                return "EXEC";
        case AGENT_GO:
                return "GO";
        case AGENT_STDIN:
                return "STDIN";
        case AGENT_STDIN_EOF:
                return "STDIN_EOF";
        case AGENT_KILL:
                return "KILL";
        case AGENT_SIGNAL:
                return "SIGNAL";
        case AGENT_PONG:
                return "PONG";
        case AGENT_STARTED:
                return "STARTED";
        case AGENT_STDOUT:
                return "STDOUT";
        case AGENT_STDERR:
                return "STDERR";
        case AGENT_EXIT:
                return "EXIT";
        case AGENT_ERROR:
                return "ERROR";
        case AGENT_CTX_RUN:
                return "CTX_RUN";
        case AGENT_CTX_RESULT:
                return "CTX_RESULT";
        case AGENT_CTX_DONE:
                return "CTX_DONE";
        default:
                return NULL;
        }
}

void agent_frame_header(uint8_t out[AGENT_HEADER_LEN], unsigned type, size_t payload_len)
{
        uint32_t n = (uint32_t)payload_len + 1;

        out[0] = (uint8_t)(n >> 24);
        out[1] = (uint8_t)(n >> 16);
        out[2] = (uint8_t)(n >> 8);
        out[3] = (uint8_t)n;
        out[4] = (uint8_t)type;
}

int agent_frame_write(int fd, unsigned type, const void *payload, size_t len)
{
        uint8_t hdr[AGENT_HEADER_LEN];
        struct iovec iov[2];
        struct iovec *v = iov;
        int n_iov = len ? 2 : 1;
        bool sock = true;

        if (len > AGENT_PAYLOAD_MAX)
                return -EMSGSIZE;
        if (type > 0xff || !agent_frame_type_name(type))
                return -EINVAL;
        agent_frame_header(hdr, type, len);
        iov[0] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
        iov[1] = (struct iovec){.iov_base = (void *)payload, .iov_len = len};
        while (n_iov > 0) {
                struct msghdr msg = {.msg_iov = v, .msg_iovlen = (size_t)n_iov};
                ssize_t w;

                if (sock) {
                        w = sendmsg(fd, &msg, MSG_NOSIGNAL);
                        if (w < 0 && errno == ENOTSOCK) {
                                sock = false;
                                continue;
                        }
                } else {
                        w = writev(fd, v, n_iov);
                }
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                if (w == 0)
                        return -EIO;
                while (n_iov > 0 && (size_t)w >= v->iov_len) {
                        w -= (ssize_t)v->iov_len;
                        v++;
                        n_iov--;
                }
                if (n_iov > 0) {
                        v->iov_base = (uint8_t *)v->iov_base + w;
                        v->iov_len -= (size_t)w;
                }
        }
        return 0;
}

void agent_decoder_init(struct agent_decoder *d, size_t max_payload)
{
        *d = (struct agent_decoder){
            .max_payload = max_payload > AGENT_PAYLOAD_MAX ? AGENT_PAYLOAD_MAX : max_payload};
}

void agent_decoder_free(struct agent_decoder *d)
{
        free(d->buf);
        *d = (struct agent_decoder){.max_payload = d->max_payload};
}

int agent_decoder_pending(const struct agent_decoder *d)
{
        return d->hdr_len > 0;
}

/* The frame in progress is done: ready for the next header. */
static void decoder_next(struct agent_decoder *d)
{
        d->hdr_len = 0;
        d->buf_len = 0;
        d->need = 0;
        if (d->buf_cap > DECODER_KEEP) {
                free(d->buf);
                d->buf = NULL;
                d->buf_cap = 0;
        }
}

static int decoder_fail(struct agent_decoder *d, int r)
{
        d->error = r;
        return r;
}

/* The header is complete: check it and learn the payload's length. */
static int decoder_header(struct agent_decoder *d)
{
        uint32_t n = (uint32_t)d->hdr[0] << 24 | (uint32_t)d->hdr[1] << 16 |
                     (uint32_t)d->hdr[2] << 8 | (uint32_t)d->hdr[3];

        if (n == 0 || n - 1 > d->max_payload || !agent_frame_type_name(d->hdr[4]))
                return -EPROTO;
        d->need = n - 1;
        d->buf_len = 0;
        return 0;
}

int agent_decoder_feed(struct agent_decoder *d, const void *data, size_t len, agent_frame_cb cb,
                       void *ctx)
{
        const uint8_t *p = data;
        int r;

        if (d->error)
                return d->error;
        while (len > 0) {
                size_t take;

                if (d->hdr_len < AGENT_HEADER_LEN) {
                        take = AGENT_HEADER_LEN - d->hdr_len;
                        if (take > len)
                                take = len;
                        memcpy(d->hdr + d->hdr_len, p, take);
                        d->hdr_len += take;
                        p += take;
                        len -= take;
                        if (d->hdr_len < AGENT_HEADER_LEN)
                                break;
                        r = decoder_header(d);
                        if (r < 0)
                                return decoder_fail(d, r);
                        if (d->need > 0 && len >= d->need) {
                                /* The whole payload is here: no copy. */
                                unsigned type = d->hdr[4];
                                size_t n = d->need;

                                decoder_next(d);
                                r = cb(ctx, type, p, n);
                                if (r < 0)
                                        return decoder_fail(d, r);
                                p += n;
                                len -= n;
                                continue;
                        }
                } else {
                        if (d->buf_cap < d->need) {
                                /* Exactly this frame's payload, never over max_payload. */
                                uint8_t *nb = realloc(d->buf, d->need);

                                if (!nb)
                                        return decoder_fail(d, -ENOMEM);
                                d->buf = nb;
                                d->buf_cap = d->need;
                        }
                        take = d->need - d->buf_len;
                        if (take > len)
                                take = len;
                        memcpy(d->buf + d->buf_len, p, take);
                        d->buf_len += take;
                        p += take;
                        len -= take;
                }
                if (d->buf_len == d->need) {
                        unsigned type = d->hdr[4];
                        size_t n = d->need;

                        /* The buffer outlives decoder_next only when it is kept. */
                        if (n > DECODER_KEEP) {
                                uint8_t *b = d->buf;

                                d->buf = NULL;
                                d->buf_cap = 0;
                                decoder_next(d);
                                r = cb(ctx, type, b, n);
                                free(b);
                        } else {
                                decoder_next(d);
                                r = cb(ctx, type, n ? d->buf : NULL, n);
                        }
                        if (r < 0)
                                return decoder_fail(d, r);
                }
        }
        return 0;
}
