/* The record stream of many files (include/airlock/file_records.h): pure, libc only, shared
 * by the agent's files helper and the daemon, which reads what the helper writes as
 * untrusted. */
#include <errno.h>
#include <string.h>

#include "airlock/file_records.h"

bool file_record_path_ok(const char *path, size_t len)
{
        size_t comp = 0;

        if (len == 0 || len > FILE_RECORD_PATH_MAX || path[0] == '/')
                return false;
        for (size_t i = 0; i <= len; i++) {
                if (i == len || path[i] == '/') {
                        const char *c = path + i - comp;

                        if (comp == 0 || comp > FILE_RECORD_NAME_MAX)
                                return false;
                        if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
                                return false;
                        comp = 0;
                        continue;
                }
                if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
                        return false;
                comp++;
        }
        return true;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
        for (int i = n - 1; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)(v & 0xff);
}

static uint64_t get_be(const uint8_t *p, int n)
{
        uint64_t v = 0;

        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

size_t file_record_header(const struct file_record *rec, uint8_t *out)
{
        size_t plen = strlen(rec->path);

        out[0] = (uint8_t)rec->kind;
        put_be(out + 1, rec->mode, 4);
        put_be(out + 5, (uint64_t)rec->mtime, 8);
        put_be(out + 13, rec->size, 8);
        put_be(out + 21, plen, 2);
        memcpy(out + FILE_RECORD_HEADER, rec->path, plen);
        return FILE_RECORD_HEADER + plen;
}

int file_record_next(const uint8_t *buf, size_t len, size_t *off, struct file_record *ret)
{
        size_t at = *off, plen;
        uint64_t size;

        if (at >= len)
                return 0;
        if (len - at < FILE_RECORD_HEADER)
                return -EPROTO;
        ret->kind = (char)buf[at];
        if (ret->kind != 'F' && ret->kind != 'D' && ret->kind != 'L')
                return -EPROTO;
        ret->mode = (uint32_t)get_be(buf + at + 1, 4) & 07777;
        ret->mtime = (int64_t)get_be(buf + at + 5, 8);
        size = get_be(buf + at + 13, 8);
        plen = (size_t)get_be(buf + at + 21, 2);
        at += FILE_RECORD_HEADER;
        if (plen > len - at || plen > FILE_RECORD_PATH_MAX)
                return -EPROTO;
        if (memchr(buf + at, '\0', plen) || !file_record_path_ok((const char *)buf + at, plen))
                return -EPROTO;
        memcpy(ret->path, buf + at, plen);
        ret->path[plen] = '\0';
        at += plen;
        if (size > len - at)
                return -EPROTO;
        if ((ret->kind == 'D' && size != 0) ||
            (ret->kind == 'L' &&
             (size == 0 || size > FILE_RECORD_LINK_MAX || memchr(buf + at, '\0', (size_t)size))))
                return -EPROTO;
        ret->size = size;
        ret->data = buf + at;
        *off = at + (size_t)size;
        return 1;
}
