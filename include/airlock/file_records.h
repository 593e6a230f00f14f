/* The record stream of many files between airlockd and the in-sandbox files helper
 * (docs/agent-protocol.md, "Files"): a directory tree downloaded (`pack`, the helper writes it)
 * or uploaded (`unpack`, the daemon writes it, from a client's tar). A pure codec, compiled into
 * the agent and into the daemon. Each record is
 *
 *     kind: u8 ('F' file, 'D' directory, 'L' symbolic link)
 *     mode: u32 BE (permission bits) | mtime: i64 BE (seconds) | size: u64 BE
 *     path_len: u16 BE | path (relative, checked by file_record_path_ok)
 *     size bytes: the file's contents, or the link's target; none for a directory
 *
 * and the stream is records back to back. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FILE_RECORD_HEADER   23
#define FILE_RECORD_PATH_MAX 4096
#define FILE_RECORD_NAME_MAX 255
#define FILE_RECORD_LINK_MAX 4096

struct file_record {
        char kind; /* 'F', 'D' or 'L' */
        uint32_t mode;
        int64_t mtime;
        uint64_t size;
        char path[FILE_RECORD_PATH_MAX + 1]; /* NUL-terminated */
        const uint8_t *data;                 /* size bytes (points into the stream) */
};

/* True when path is a safe relative path: 1..FILE_RECORD_PATH_MAX bytes, components of
 * 1..FILE_RECORD_NAME_MAX bytes separated by single slashes, none "." or "..", no leading
 * slash, no NUL or control character. */
bool file_record_path_ok(const char *path, size_t len);

/* Writes the header of rec (its kind, mode, mtime, size and path) to out, which has room for
 * FILE_RECORD_HEADER + strlen(rec->path) bytes; returns the bytes written. */
size_t file_record_header(const struct file_record *rec, uint8_t *out);

/* Reads the record at *off of buf[0..len) into ret (ret->data points into buf) and advances
 * *off past it. Returns 1 for a record, 0 at the end of the stream, -EPROTO for a malformed
 * one (a kind not known, a path not safe, a size past the end of buf, a directory with a size,
 * a link target over FILE_RECORD_LINK_MAX or holding a NUL). */
int file_record_next(const uint8_t *buf, size_t len, size_t *off, struct file_record *ret);
