/* The host backend's seccomp deny-list: the parser accepts the shipped file and reports every
 * mistake with its line, and the compiled program really denies (checked in a child). */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/seccomp.h>
#include <seccomp.h>

#include "airlock/cleanup.h"
#include "backend/host/host_seccomp.h"

static const struct host_deny_rule *find(const struct host_deny_list *l, const char *name)
{
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->rules[i].name, name) == 0)
                        return &l->rules[i];
        return NULL;
}

START_TEST(test_parse_basic)
{
        static const char text[] = "# comment\n"
                                   "\n"
                                   "mount\n"
                                   "  ptrace   # trailing comment\n"
                                   "clone if-ns-flags\n"
                                   "clone3 enosys\n"
                                   "\tbpf\t\r\n"
                                   "keyctl";
        struct host_deny_list l = {0};
        struct al_error err = {0};
        const struct host_deny_rule *r;

        ck_assert_int_eq(host_deny_parse(text, strlen(text), "t", &l, &err), 0);
        ck_assert_uint_eq(l.n, 6);
        r = find(&l, "mount");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->line, 3);
        ck_assert_int_eq(r->action, HOST_DENY_EPERM);
        ck_assert(!r->ns_flags_only);
        r = find(&l, "ptrace");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->line, 4);
        r = find(&l, "clone");
        ck_assert(r && r->ns_flags_only && r->action == HOST_DENY_EPERM);
        r = find(&l, "clone3");
        ck_assert(r && r->action == HOST_DENY_ENOSYS && !r->ns_flags_only);
        ck_assert_ptr_nonnull(find(&l, "bpf"));
        ck_assert_ptr_nonnull(find(&l, "keyctl"));
        host_deny_list_free(&l);
        ck_assert_ptr_null(l.rules);
}
END_TEST

static const struct {
        const char *text;
        const char *want; /* in the message */
} bad[] = {
    {"mount\nno_such_syscall_x\n", "t:2: unknown syscall 'no_such_syscall_x'"},
    {"mount\nptrace\nmount\n", "t:3: 'mount' listed twice (first on line 1)"},
    {"mount enoent\n", "t:1: unknown modifier 'enoent'"},
    {"ptrace if-ns-flags\n", "t:1: 'if-ns-flags' applies to clone only"},
    {"socket if-family=vsock,nope\n", "t:1: unknown address family 'nope'"},
    {"socket if-family=\n", "t:1: unknown address family ''"},
    {"connect if-family=vsock\n", "t:1: 'if-family' applies to socket and socketpair only"},
    {"socket if-family=can,can,can,can,can,can,can,can,can\n", "t:1: more than 8"},
    {"Mount\n", "t:1: 'Mount' is not a syscall name"},
    {"mo-unt\n", "t:1: 'mo-unt' is not a syscall name"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "t:1: syscall name too long"},
};

START_TEST(test_parse_bad)
{
        struct host_deny_list l = {0};
        struct al_error err = {0};

        ck_assert_int_eq(host_deny_parse(bad[_i].text, strlen(bad[_i].text), "t", &l, &err),
                         -EINVAL);
        ck_assert_msg(strstr(err.msg, bad[_i].want), "got '%s', want '%s'", err.msg, bad[_i].want);
        ck_assert_ptr_null(l.rules);
}
END_TEST

START_TEST(test_parse_limits)
{
        struct host_deny_list l = {0};
        struct al_error err = {0};
        char *big;
        size_t n = 0;

        ck_assert_int_eq(host_deny_parse("mount\0ptrace", 12, "t", &l, &err), -EINVAL);
        ck_assert(strstr(err.msg, "NUL"));
        big = malloc(HOST_DENY_FILE_MAX + 2);
        ck_assert_ptr_nonnull(big);
        memset(big, '#', HOST_DENY_FILE_MAX + 1);
        ck_assert_int_eq(host_deny_parse(big, HOST_DENY_FILE_MAX + 1, "t", &l, &err),
                         -AL_E_TOO_LARGE);
        /* More rules than allowed, all real syscall names. */
        for (int nr = 0, k = 0; nr < 1024 && k <= HOST_DENY_MAX; nr++) {
                char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

                if (name) {
                        n += (size_t)snprintf(big + n, 64, "%s\n", name);
                        k++;
                        free(name);
                }
        }
        ck_assert_int_eq(host_deny_parse(big, n, "t", &l, &err), -AL_E_TOO_LARGE);
        ck_assert_msg(strstr(err.msg, "more than 256 rules"), "%s", err.msg);
        free(big);
        ck_assert_int_eq(host_deny_load("/nonexistent/deny", &l, &err), -ENOENT);
}
END_TEST

/* The deny-list is an admin-edited file: one every user may write is refused, like the
 * settings; the same file with o-w loads. */
START_TEST(test_world_writable_refused)
{
        char path[] = "/tmp/airlock-deny-XXXXXX";
        struct host_deny_list l = {0};
        struct al_error err = {0};
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "reboot\n", 7), 7);
        close(fd);
        ck_assert_int_eq(chmod(path, 0666), 0);
        ck_assert_int_eq(host_deny_load(path, &l, &err), -EPERM);
        ck_assert_msg(strstr(err.msg, "writable by every user"), "%s", err.msg);
        ck_assert_uint_eq(l.n, 0);
        ck_assert_int_eq(chmod(path, 0644), 0);
        ck_assert_msg(host_deny_load(path, &l, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(l.n, 1);
        host_deny_list_free(&l);
        unlink(path);
}
END_TEST

START_TEST(test_shipped_file)
{
        const char *src = getenv("AIRLOCK_SOURCE_DIR");
        static const char *const must[] = {
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "sethostname",
            "settimeofday",
        };
        char path[4096];
        struct host_deny_list l = {0};
        struct host_filter f = {0};
        struct al_error err = {0};

        snprintf(path, sizeof(path), "%s/policies/host-seccomp.deny", src ? src : "..");
        ck_assert_msg(host_deny_load(path, &l, &err) == 0, "%s", err.msg);
        for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
                ck_assert_msg(find(&l, must[i]), "'%s' missing from the shipped list", must[i]);
        ck_assert(find(&l, "clone")->ns_flags_only);
        ck_assert_int_eq(find(&l, "clone3")->action, HOST_DENY_ENOSYS);
        /* vsock reaches the hypervisor: refused like containers do */
        for (size_t i = 0; i < 2; i++) {
                const struct host_deny_rule *r = find(&l, i ? "socketpair" : "socket");

                ck_assert_ptr_nonnull(r);
                ck_assert_uint_eq(r->n_families, 1);
                ck_assert_int_eq(r->families[0], AF_VSOCK);
        }
        ck_assert_msg(host_filter_build(&l, &f, &err) == 0, "%s", err.msg);
        ck_assert_uint_gt(f.len, 10);
        host_filter_free(&f);
        host_deny_list_free(&l);
}
END_TEST

START_TEST(test_parse_families)
{
        static const char text[] = "socket if-family=vsock,packet\nsocketpair if-family=vsock\n";
        struct host_deny_list l = {0};
        struct al_error err = {0};
        const struct host_deny_rule *r;

        ck_assert_msg(host_deny_parse(text, strlen(text), "t", &l, &err) == 0, "%s", err.msg);
        r = find(&l, "socket");
        ck_assert(r && r->n_families == 2 && r->families[0] == AF_VSOCK &&
                  r->families[1] == AF_PACKET);
        r = find(&l, "socketpair");
        ck_assert(r && r->n_families == 1 && r->families[0] == AF_VSOCK);
        ck_assert_int_eq(host_deny_family("inet6", 5), AF_INET6);
        ck_assert_int_eq(host_deny_family("vsockx", 6), -1);
        host_deny_list_free(&l);
}
END_TEST

/* socket(AF_VSOCK) and socketpair(AF_VSOCK) fail with EAFNOSUPPORT, also with junk in the
 * upper half of the argument (the kernel reads an int); other families still work. */
START_TEST(test_filter_families)
{
        static const char text[] = "socket if-family=vsock\nsocketpair if-family=vsock\n";
        struct host_deny_list l = {0};
        struct host_filter f = {0};
        struct al_error err = {0};
        pid_t pid;
        int st;

        ck_assert_int_eq(host_deny_parse(text, strlen(text), "t", &l, &err), 0);
        ck_assert_int_eq(host_filter_build(&l, &f, &err), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sock_fprog prog = {.len = f.len, .filter = f.insns};
                int sv[2], fd, code = 0;

                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                        _exit(100);
                if (socket(AF_VSOCK, SOCK_STREAM, 0) != -1 || errno != EAFNOSUPPORT)
                        code |= 1;
                if (syscall(SYS_socket, 0xdead00000000UL | AF_VSOCK, SOCK_STREAM, 0) != -1 ||
                    errno != EAFNOSUPPORT)
                        code |= 2;
                if (socketpair(AF_VSOCK, SOCK_STREAM, 0, sv) != -1 || errno != EAFNOSUPPORT)
                        code |= 4;
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (fd < 0)
                        code |= 8;
                if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
                        code |= 16;
                _exit(code);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
        host_filter_free(&f);
        host_deny_list_free(&l);
}
END_TEST

/* In a child: install the program, then check what is denied and what is not. */
START_TEST(test_filter_denies)
{
        static const char text[] = "chroot\nclone if-ns-flags\nclone3 enosys\nkeyctl\n";
        struct host_deny_list l = {0};
        struct host_filter f = {0};
        struct al_error err = {0};
        pid_t pid;
        int st;

        ck_assert_int_eq(host_deny_parse(text, strlen(text), "t", &l, &err), 0);
        ck_assert_int_eq(host_filter_build(&l, &f, &err), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sock_fprog prog = {.len = f.len, .filter = f.insns};
                pid_t c;
                int code = 0;

                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                        _exit(10);
                if (chroot("/nonexistent-x") != -1 || errno != EPERM)
                        code |= 1;
                if (syscall(SYS_keyctl, -1, 0, 0, 0, 0) != -1 || errno != EPERM)
                        code |= 2;
                if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
                        code |= 4;
                c = (pid_t)syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
                if (c == 0)
                        _exit(0);
                if (c != -1 || errno != EPERM)
                        code |= 8;
                /* A plain fork is still allowed. */
                c = fork();
                if (c == 0)
                        _exit(0);
                if (c < 0 || waitpid(c, NULL, 0) != c)
                        code |= 16;
                if (getpid() <= 0)
                        code |= 32;
                _exit(code);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
        host_filter_free(&f);
        host_deny_list_free(&l);
}
END_TEST

static Suite *host_seccomp_suite(void)
{
        Suite *s = suite_create("host_seccomp");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_parse_basic);
        tcase_add_loop_test(tc, test_parse_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
        tcase_add_test(tc, test_parse_limits);
        tcase_add_test(tc, test_shipped_file);
        tcase_add_test(tc, test_world_writable_refused);
        tcase_add_test(tc, test_filter_denies);
        tcase_add_test(tc, test_parse_families);
        tcase_add_test(tc, test_filter_families);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(host_seccomp_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
