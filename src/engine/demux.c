/* Demultiplexer for the Engine API's stream framing: an 8-byte header {stream, 0, 0, 0,
 * big-endian payload size} then the payload. Reads split frames anywhere, headers included,
 * so the state machine keeps partial headers rather than assuming a read holds a whole one. */
#include "airlock/engine.h"

#include <errno.h>
#include <string.h>

void demux_init(struct demux *d)
{
        memset(d, 0, sizeof(*d));
}

int demux_feed(struct demux *d, const char *data, size_t len,
               int (*out)(void *ctx, int stream, const char *data, size_t len), void *ctx)
{
        while (len > 0) {
                if (d->remaining == 0) {
                        size_t take = sizeof(d->hdr) - d->hdr_len;

                        if (take > len)
                                take = len;
                        memcpy(d->hdr + d->hdr_len, data, take);
                        d->hdr_len += take;
                        data += take;
                        len -= take;
                        if (d->hdr_len < sizeof(d->hdr))
                                return 0;
                        /* 0 is the stdin echo of a TTY-less attach; it carries output. */
                        if (d->hdr[0] > 2)
                                return -EPROTO;
                        d->stream = d->hdr[0] == 0 ? 1 : d->hdr[0];
                        d->remaining = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                                       (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
                        d->hdr_len = 0;
                        continue;
                }
                size_t n = d->remaining < len ? d->remaining : len;

                d->remaining -= (uint32_t)n;
                if (out) {
                        int r = out(ctx, d->stream, data, n);

                        if (r < 0)
                                return r;
                }
                data += n;
                len -= n;
        }
        return 0;
}

bool demux_partial(const struct demux *d)
{
        return d->hdr_len > 0 || d->remaining > 0;
}
