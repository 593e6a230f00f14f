/* SELECTIVE mode's risk classifier: decides whether one exec may run on the (hardened) host or
 * goes to a sandbox, and names the reason. Fixed checks come first (network, untrusted, runtime,
 * environment, unreadable input), then the admin's rules from policies/selective.rules: every
 * "sandbox" rule in file order, then the "host" rules, which must vouch for every simple command.
 * Anything not positively recognised as low-risk is sandboxed. See docs/selective.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "airlock/error.h"
#include "airlock/exec.h"
#include "airlock/policy.h"

#define CLASSIFY_FILE_MAX   (256 * 1024) /* rules files larger than this are refused */
#define CLASSIFY_LINE_MAX   4096         /* characters on one rules line */
#define CLASSIFY_RULES_MAX  1000         /* rules in one file */
#define CLASSIFY_NAME_MAX   32           /* characters of a rule name */
#define CLASSIFY_TEXT_MAX   (64 * 1024)  /* command text classified; longer is sandboxed */
#define CLASSIFY_WORDS_MAX  4096         /* words in one command; more is sandboxed */
#define CLASSIFY_CMDS_MAX   1024         /* simple commands in one command; more is sandboxed */
#define CLASSIFY_REASON_MAX 160          /* a reason always fits this (exec_result's buffer) */

struct classify_rules;

/* Parse rules text ("<action> <name> <kind> <pattern>" lines, # comments). On success *ret
 * gets a new immutable rule set (caller frees with classify_rules_free). Every problem found
 * goes to problems with its line (overwritten, may be NULL; caller frees with
 * policy_problems_free); any problem means -EINVAL, nothing is returned and err says
 * "<source>:<line>: <first problem> (N problems)". source names the file in messages; its
 * last path component names it in decision reasons. */
int classify_rules_parse(const char *text, const char *source, struct classify_rules **ret,
                         struct policy_problems *problems, struct al_error *err);

/* Read and parse a rules file: a regular file of at most CLASSIFY_FILE_MAX bytes, without NUL
 * bytes, not writable by every user (whoever writes it decides what runs on the host). */
int classify_rules_load(const char *path, struct classify_rules **ret,
                        struct policy_problems *problems, struct al_error *err);

/* classify_rules_free(NULL) is a no-op. */
void classify_rules_free(struct classify_rules *r);
static inline void classify_rules_freep(struct classify_rules **r)
{
        classify_rules_free(*r);
}

/* Number of "gvisor" rules (the tier they raise to is checked at start when there are any). */
size_t classify_rules_gvisor(const struct classify_rules *r);

/* Number of rules, and of them "host" rules (for a startup log line). */
size_t classify_rules_count(const struct classify_rules *r, size_t *ret_host);

/* Classify one validated exec request. runtime_name is the effective runtime (the request's or
 * the policy default); only "bash" and "sh" count as plain shell. r may be NULL: then nothing
 * is low-risk and everything is sandboxed. Sets *ret_sandbox and writes a NUL-terminated,
 * printable-ASCII reason to reason (truncated to reason_len; CLASSIFY_REASON_MAX always
 * suffices). Never fails on what the request contains: anything it cannot read, or running
 * out of memory, decides "sandbox". Returns -EINVAL only for a NULL req or ret_sandbox.
 * Pure and thread-safe: many threads may classify against one rule set at once. */
int classify_exec(const struct classify_rules *r, const struct exec_request *req,
                  const char *runtime_name, bool *ret_sandbox, char *reason, size_t reason_len);

/* classify_exec, and when a "provider:NAME" rule sandboxed the exec, NAME into provider
 * (POLICY_NAME_LEN_MAX + 1 bytes; "" otherwise, or when provider is NULL). */
int classify_exec_route(const struct classify_rules *r, const struct exec_request *req,
                        const char *runtime_name, bool *ret_sandbox, char *provider, char *reason,
                        size_t reason_len);

/* The "gvisor" rules: whether one, in file order, raises this exec to the gvisor isolation
 * tier (docs/isolation.md); reason names it ("rule NAME (FILE:LINE): ..."). Text kinds match
 * what the shell would read; flag rules the request's untrusted or network flags. r may be
 * NULL (nothing raises). -EINVAL only for a NULL req or ret_gvisor. Pure and thread-safe. */
int classify_isolation(const struct classify_rules *r, const struct exec_request *req,
                       bool *ret_gvisor, char *reason, size_t reason_len);
