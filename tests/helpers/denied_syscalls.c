/* Calls each system call on the host backend's deny-list and prints "name=ERRNO" per line;
 * exits 0 only when every one failed with the errno the list gives (EPERM, ENOSYS for clone3)
 * and the controls (a plain fork, a thread, which glibc makes with clone3 first and clone
 * after ENOSYS) still work. The arguments are invalid on purpose, so that run without the
 * filter, even as root, no call changes anything. Built by CMake as airlock_denied_syscalls. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOPE "/nonexistent-airlock-test"

static int failures;

static void check(const char *name, long ret, int want)
{
        int e = errno;
        const char *got = ret == -1 ? strerrorname_np(e) : "success";

        if (ret == -1 && e == want) {
                printf("%s=%s\n", name, got ? got : "?");
                return;
        }
        failures++;
        printf("%s=%s (want %s) FAIL\n", name, got ? got : "?", strerrorname_np(want));
}

#define DENY(name, ...)                                                                            \
        do {                                                                                       \
                errno = 0;                                                                         \
                check(#name, syscall(SYS_##name, __VA_ARGS__), EPERM);                             \
        } while (0)

static void *thread_fn(void *arg)
{
        return arg;
}

int main(void)
{
        pid_t pid;
        long r;
        pthread_t t;
        int st;

        setvbuf(stdout, NULL, _IOLBF, 0);
        /* Mount table */
        DENY(mount, NULL, NOPE, NULL, 0, NULL);
        DENY(umount2, NOPE, 0);
        DENY(pivot_root, NOPE, NOPE);
        DENY(chroot, NOPE);
        DENY(fsopen, NULL, 0xffffffff);
        DENY(fsconfig, -1, 0, NULL, NULL, 0);
        DENY(fsmount, -1, 0xffffffff, 0);
        DENY(fspick, -1, NULL, 0xffffffff);
        DENY(move_mount, -1, NULL, -1, NULL, 0xffffffff);
        DENY(open_tree, -1, NULL, 0xffffffff);
        DENY(mount_setattr, -1, NULL, 0xffffffff, NULL, 0);
        /* Other processes' memory */
        DENY(ptrace, 0x4206 /* PTRACE_SEIZE */, 0x7fffffff, 0, 0);
        DENY(process_vm_readv, 0x7fffffff, NULL, 1, NULL, 1, 0xffffffff);
        DENY(process_vm_writev, 0x7fffffff, NULL, 1, NULL, 1, 0xffffffff);
        /* Kernel code */
        DENY(kexec_load, 0, 0, NULL, 0xdead0000UL);
        DENY(kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL);
        DENY(init_module, NULL, 0, "");
        DENY(finit_module, -1, "", 0xffffffff);
        DENY(delete_module, "airlock_no_such_module", O_NONBLOCK);
        /* Attack surfaces */
        DENY(bpf, -1, NULL, 0);
        DENY(perf_event_open, NULL, 0, -1, -1, 0xffffffffUL);
        DENY(userfaultfd, 0xffffffff);
        DENY(io_uring_setup, 0, NULL);
        DENY(io_uring_enter, -1, 0, 0, 0xffffffff, NULL, 0);
        DENY(io_uring_register, -1, 0xffffffff, NULL, 0);
        /* Keyring */
        DENY(keyctl, -1, 0, 0, 0, 0);
        DENY(add_key, NULL, NULL, NULL, 0, 0);
        DENY(request_key, NULL, NULL, NULL, 0);
        /* Namespaces */
        DENY(unshare, -1);
        DENY(setns, -1, 0);
        errno = 0;
        /* CLONE_FS with CLONE_NEWNS is invalid: unfiltered, the kernel says EINVAL. */
        pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
                _exit(0);
        check("clone_newns", pid, EPERM);
        errno = 0;
        pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
                _exit(0);
        check("clone_newuser", pid, EPERM);
        errno = 0;
        check("clone3", syscall(SYS_clone3, NULL, 0), ENOSYS);
        /* Whole machine */
        DENY(reboot, 0, 0, 0, NULL);
        DENY(swapon, NOPE, 0);
        DENY(swapoff, NOPE);
        DENY(acct, NOPE "/x");
        DENY(sethostname, NULL, -1);
        DENY(setdomainname, NULL, -1);
        DENY(settimeofday, NULL, NULL);
        DENY(clock_settime, 0xffff, NULL);
        DENY(clock_adjtime, 0xffff, NULL);
        DENY(adjtimex, NULL);
        /* Old calls */
        DENY(open_by_handle_at, -1, NULL, 0);
        DENY(name_to_handle_at, -1, NULL, NULL, NULL, 0xffffffff);
        DENY(lookup_dcookie, 0, NULL, 0);
        DENY(quotactl, 0, NULL, 0, NULL);
        DENY(uselib, NULL);
        DENY(iopl, 4);
        DENY(ioperm, 0x10000, 1, 1);
        DENY(syslog, 99, NULL, 0);
        /* Unprivileged, vhangup fails anyway; as root unfiltered it would hang up the tty. */
        if (getuid() != 0)
                DENY(vhangup, 0);

        /* Controls: what must keep working. */
        pid = fork();
        if (pid == 0)
                _exit(7);
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
                printf("fork=%s FAIL\n", strerrorname_np(errno));
                failures++;
        } else {
                printf("fork=ok\n");
        }
        r = pthread_create(&t, NULL, thread_fn, NULL);
        if (r != 0 || pthread_join(t, NULL) != 0) {
                printf("pthread_create=%s FAIL\n", strerrorname_np((int)r));
                failures++;
        } else {
                printf("pthread_create=ok\n");
        }
        printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
        return failures ? 1 : 0;
}
