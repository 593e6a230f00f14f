/* SHA-256 (FIPS 180-4), for the audit log's code hashes, policy revision hashes and token
 * hashes. Not for secrets that need constant-time handling beyond hashing. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN    65 /* 64 lowercase hex characters and a NUL */

struct sha256_ctx {
        uint32_t state[8];
        uint64_t bytes;    /* message length so far */
        uint8_t block[64]; /* pending partial block */
        size_t fill;       /* bytes in block */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Write the digest; the context must be initialised again before reuse. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);
/* Digest of data as lowercase hex into out (SHA256_HEX_LEN bytes). */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN]);
/* Lowercase hex of a digest into out (SHA256_HEX_LEN bytes). */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN]);
