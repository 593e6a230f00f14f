/* The host backend's seccomp deny-list: parsed from a text file the admin can read
 * (policies/host-seccomp.deny) and compiled once into a classic BPF program that the launcher
 * installs with a bare system call, so that the forked child never allocates. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <linux/filter.h>

#include "airlock/error.h"

#define HOST_DENY_MAX      256         /* rules in one file */
#define HOST_DENY_FILE_MAX (64 * 1024) /* bytes of one file */
#define HOST_DENY_NAME_MAX 48
#define HOST_DENY_FAMILIES 8 /* address families on one if-family= line */

enum host_deny_action {
        HOST_DENY_EPERM = 0,  /* the call fails with EPERM */
        HOST_DENY_ENOSYS = 1, /* the call fails with ENOSYS (libc then falls back) */
};

struct host_deny_rule {
        char name[HOST_DENY_NAME_MAX];
        int nr; /* libseccomp's number (negative for pseudo-syscalls) */
        enum host_deny_action action;
        bool ns_flags_only; /* clone: denied only when asking for a new namespace */
        /* socket, socketpair: denied only for these address families (first argument), with
         * EAFNOSUPPORT, as on a kernel built without them; none: the call itself. */
        int families[HOST_DENY_FAMILIES];
        size_t n_families;
        int line;
};

struct host_deny_list {
        struct host_deny_rule *rules;
        size_t n;
};

/* Parse deny-list text: one syscall name per line, optional modifiers "enosys",
 * "if-ns-flags" and "if-family=NAME[,NAME...]", '#' comments. Every name must be known to
 * libseccomp. source names the file in messages ("file:line: ..."). On success *ret owns new
 * storage (host_deny_list_free). */
int host_deny_parse(const char *text, size_t len, const char *source, struct host_deny_list *ret,
                    struct al_error *err);
/* Read (at most HOST_DENY_FILE_MAX bytes) and parse a deny-list file. */
/* The number of an address family name of if-family= ("vsock", "packet", ...), or -1. */
int host_deny_family(const char *name, size_t len);
int host_deny_load(const char *path, struct host_deny_list *ret, struct al_error *err);
void host_deny_list_free(struct host_deny_list *l);

/* A compiled filter for the native architecture: default allow, each rule its errno. Other
 * architectures' system calls (e.g. int 0x80 on x86_64) kill the process. */
struct host_filter {
        struct sock_filter *insns;
        unsigned short len;
};

int host_filter_build(const struct host_deny_list *l, struct host_filter *ret,
                      struct al_error *err);
void host_filter_free(struct host_filter *f);
