/* The egress proxy (docs/egress.md): the only way out of a sandbox. Each sandbox with network
 * gets a UNIX socket, egress.sock, in its run directory (seen inside as /.airlock/run/); the
 * in-sandbox agent relays 127.0.0.1:EGRESS_SANDBOX_PORT to it. On each connection the proxy
 * speaks HTTP (forward proxy and CONNECT) or SOCKS5 (elevated tier), checks the destination
 * against the sandbox's rules, resolves the name once, checks every address, and connects to
 * the checked address. Every attempt is reported through the record callback.
 *
 * The proxy runs on its own threads: one accepts for every sandbox, each connection has its
 * own (blocking, with timeouts), with caps per sandbox and in all. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "airlock/egress_port.h"
#include "airlock/error.h"
#include "airlock/netrule.h"
#include "airlock/types.h"

/* Connections open at once: per sandbox, and in all. */
#define EGRESS_CONN_PER_SANDBOX 64
#define EGRESS_CONN_MAX         1024
/* Refusals remembered per exec for its result. */
#define EGRESS_DENIED_MAX 32
/* A request head (HTTP) or greeting (SOCKS5) larger than this is refused. */
#define EGRESS_HEAD_MAX (16u << 10)

/* The rules of one sandbox: borrowed by egress_bind, which copies them. */
struct egress_rules {
        enum policy_network_tier tier;
        char *const *allowed; /* normalised patterns */
        char *const *blocked;
        char *const *cidrs; /* "10.9.0.0/16" */
};

/* One connection attempt, when it ends (or is refused). Valid during the callback only. */
struct egress_record {
        const char *execution_id; /* "" when no exec was running */
        const char *sandbox;      /* the run directory's name */
        const char *host;         /* as asked (normalised name or literal) */
        int port;
        const char *address;  /* the address connected to, "" when none */
        const char *protocol; /* "http", "connect", "socks5" */
        bool allowed;
        const char *reason; /* why refused or cut; "" when allowed and ended normally */
        int64_t bytes_out, bytes_in;
        int64_t started_ms, duration_ms;
};

typedef void (*egress_record_fn)(void *ctx, const struct egress_record *rec);

struct egress;

/* Start the proxy's accepting thread. record is called from the proxy's threads. */
int egress_new(egress_record_fn record, void *ctx, struct egress **ret, struct al_error *err);
/* Stop accepting, cut every connection, wait for their threads; NULL is a no-op. */
void egress_free(struct egress *eg);

/* Make sure run_dir has a listening egress.sock (made again after a restart or when removed),
 * owned by uid:gid, take rules for that sandbox (agent: whose it is, for egress_reload), and
 * note execution_id as running there: connections are accepted only while an exec that asked
 * for the network runs, and are recorded under the newest of them. */
int egress_bind(struct egress *eg, const char *run_dir, unsigned uid, unsigned gid,
                const char *agent, const struct egress_rules *rules, const char *execution_id,
                struct al_error *err);
/* The exec ended: forget it and return what was refused during it as a JSON array of
 * {host, port, reason} (new reference, maybe empty), NULL when out of memory. */
json_t *egress_unbind(struct egress *eg, const char *run_dir, const char *execution_id);

/* For code that runs on the host (the host backend): a fresh network namespace with only its
 * loopback (up), where the proxy itself listens on 127.0.0.1:EGRESS_SANDBOX_PORT, bound to
 * execution_id with rules as egress_bind does. Returns a new fd of the namespace (O_CLOEXEC)
 * for the exec to setns() into; egress_netns_close(execution_id) ends it (and returns what was
 * refused, as egress_unbind). */
int egress_netns_open(struct egress *eg, const char *agent, const struct egress_rules *rules,
                      const char *execution_id, int *ret_fd, struct al_error *err);
json_t *egress_netns_close(struct egress *eg, const char *execution_id);

/* New rules for every sandbox: rules_for(ctx, agent, &rules) fills them (borrowed until the
 * call returns); connections now refused are cut. */
typedef int (*egress_rules_fn)(void *ctx, const char *agent, struct egress_rules *ret);
void egress_reload(struct egress *eg, egress_rules_fn rules_for, void *ctx);

/* Counters since start. */
struct egress_stats {
        uint64_t allowed, denied, cut, bytes_out, bytes_in;
        unsigned open;
};
void egress_stats(struct egress *eg, struct egress_stats *ret);

/* ---- the pure parts, for tests and the fuzz target ---- */

/* Why an address may not be reached whatever the tier (loopback, private, link-local, ...), or
 * NULL when it is public; cidrs (parsed) make an exception. family AF_INET (4 bytes) or
 * AF_INET6 (16). */
const char *egress_addr_refused(int family, const uint8_t *addr, const struct netrule_cidr *cidrs,
                                size_t n_cidrs);

/* The decision for a name: NULL when the tier and lists allow host (normalised), else the
 * reason ("tier_restricted", "not_allowed", "blocked"). */
const char *egress_name_refused(const struct egress_rules *rules, const char *host);

/* A parsed HTTP proxy request head. */
struct egress_http {
        bool connect;
        char method[16];
        char host[NETRULE_NAME_SIZE + 2]; /* as written (may be a literal, brackets dropped) */
        int port;
        const char *path; /* absolute-form: where the origin-form starts in the head */
        size_t path_len;
        size_t line_len; /* the request line with its CRLF */
        size_t head_len; /* through the blank line */
};

/* Parse head (len bytes, the start of the stream). Returns 1 with *ret filled when the head is
 * complete, 0 when more bytes are needed, -EINVAL when it is not a request we serve (with
 * *ret_why), -E2BIG when no end was found within EGRESS_HEAD_MAX. */
int egress_http_parse(const char *head, size_t len, struct egress_http *ret, const char **ret_why);

/* The server name of a TLS ClientHello record (the stream's first bytes). Returns 1 with the
 * name in out, 0 when there is none (not TLS, or no SNI), -EAGAIN when more bytes are needed. */
int egress_sni_parse(const uint8_t *data, size_t len, char out[NETRULE_NAME_SIZE]);
