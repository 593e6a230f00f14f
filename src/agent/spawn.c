/* The held first process of an exec (spawn.h).
 *
 * With CLONE_VM the child runs in the agent's memory, beside the agent's own threads, until its
 * execve: it must not write anything the agent uses. So between clone and execve it makes raw
 * system calls only (glibc's wrappers set errno, which lives in the agent's thread-local
 * storage, shared with the child: a failed call of the child's, the PATH search's ENOENTs above
 * all, could land between one of the agent's calls and its errno check), allocates nothing, and
 * reads only what its spawn holds, which is freed when the child has been reaped, never before. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files.h"
#include "spawn.h"

#define EXIT_NO_GO   125
#define STACK_SIZE   (256u << 10) /* argv for /bin/sh (4096 pointers) and a 4 KiB path fit */
#define PATH_BUF     4096
#define DEFAULT_PATH "/bin:/usr/bin"

#if defined(__x86_64__)
#define SHARED_VM 1
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
        long ret;
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        register long r9 __asm__("r9") = f;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}
#elif defined(__aarch64__)
#define SHARED_VM 1
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;
        register long x4 __asm__("x4") = e;
        register long x5 __asm__("x5") = f;

        __asm__ volatile("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory", "cc");
        return x0;
}
#else
/* Elsewhere the child is forked (its errno is its own): libc's syscall() will do. */
#define SHARED_VM 0
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
        long r = syscall(n, a, b, c, d, e, f);

        return r < 0 ? -errno : r;
}
#endif

#define RAW(n, ...) raw_(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define raw_(n, a, b, c, d, e, f, ...)                                                             \
        raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

struct spawn {
        pid_t pid;
        json_t *j;
        struct exec_spec spec;
        struct spawn_fds fds;
        struct rlimit nofile;
        void *stack;
        struct spawn *next;
};

static struct spawn *spawns;
static unsigned long long n_shared, n_forked;

static _Noreturn void child_exit(int code)
{
        for (;;)
                RAW(SYS_exit_group, code);
}

static size_t put(char *buf, size_t at, size_t cap, const char *s, size_t max)
{
        for (size_t i = 0; s[i] && i < max && at + 1 < cap; i++)
                buf[at++] = s[i];
        return at;
}

/* "airlock: WHAT 'ARG': DESCRIPTION" on stderr. strerrordesc_np is a table lookup (strerror may
 * translate, and allocate). */
static void child_say(const char *what, const char *arg, int e)
{
        const char *desc = strerrordesc_np(e);
        char msg[640];
        size_t n = 0;

        n = put(msg, n, sizeof(msg), "airlock: ", 16);
        n = put(msg, n, sizeof(msg), what, 100);
        n = put(msg, n, sizeof(msg), " '", 2);
        n = put(msg, n, sizeof(msg), arg, 400);
        n = put(msg, n, sizeof(msg), "': ", 3);
        n = put(msg, n, sizeof(msg), desc ? desc : "error", 100);
        msg[n++] = '\n';
        RAW(SYS_write, STDERR_FILENO, msg, n);
}

/* Without close_range (gVisor's kernel before 2023): the open descriptors from /proc/self/fd,
 * read with getdents64 into the stack, instead of a close() for every possible number, which
 * under gVisor's ptrace platform takes seconds. */
static void close_from_4(void)
{
        char buf[8192];
        long dfd = RAW(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0) {
                for (int fd = 4; fd < 65536; fd++)
                        RAW(SYS_close, fd);
                return;
        }
        for (;;) {
                int fds[1024], n = 0;
                long len = RAW(SYS_getdents64, dfd, buf, sizeof(buf));

                if (len <= 0)
                        break;
                for (long off = 0; off < len && n < 1024;) {
                        struct linux_dirent64 {
                                unsigned long long d_ino;
                                long long d_off;
                                unsigned short d_reclen;
                                unsigned char d_type;
                                char d_name[];
                        } *de = (void *)(buf + off);
                        int fd = 0;

                        for (const char *p = de->d_name; *p >= '0' && *p <= '9' && fd < 1 << 20;
                             p++)
                                fd = fd * 10 + (*p - '0');
                        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd >= 4 && fd != dfd)
                                fds[n++] = fd;
                        off += de->d_reclen;
                }
                for (int i = 0; i < n; i++)
                        RAW(SYS_close, fds[i]);
        }
        RAW(SYS_close, dfd);
}

/* fd onto target, without close-on-exec (dup3 refuses the same number). */
static int move_fd(int fd, int target)
{
        if (fd == target)
                return (int)RAW(SYS_fcntl, fd, F_SETFD, 0);
        return (int)RAW(SYS_dup3, fd, target, 0);
}

/* The value of NAME= in envp, or NULL. */
static const char *env_value(const char *const *envp, const char *name, size_t len)
{
        for (size_t i = 0; envp && envp[i]; i++)
                if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
                        return envp[i] + len + 1;
        return NULL;
}

/* The outputs directory the exec's environment names (FILES_OUTPUTS_ENV), made with its
 * parents (best effort). */
static void make_outputs(const char *const *envp)
{
        const char *dir = env_value(envp, FILES_OUTPUTS_ENV, sizeof(FILES_OUTPUTS_ENV) - 1);
        char path[256];
        size_t len;

        if (!dir || (len = strlen(dir)) >= sizeof(path))
                return;
        memcpy(path, dir, len + 1);
        for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                RAW(SYS_mkdirat, AT_FDCWD, path, 0755);
                *s = '/';
        }
        RAW(SYS_mkdirat, AT_FDCWD, path, 0700);
}

/* A file that is not an executable format runs as a shell script, as execvp does. */
static int exec_script(const char *path, const char **argv, const char **envp)
{
        const char *shv[4096 + 3];
        size_t argc = 0;

        while (argv[argc])
                argc++;
        if (argc + 2 > sizeof(shv) / sizeof(shv[0]))
                return -E2BIG;
        shv[0] = "/bin/sh";
        shv[1] = path;
        for (size_t i = 1; i <= argc; i++)
                shv[i + 1] = argv[i];
        return (int)RAW(SYS_execve, "/bin/sh", shv, envp);
}

/* execvp with the PATH of the exec's own environment (not the agent's). Returns an errno. */
static int exec_search(const char **argv, const char **envp)
{
        const char *file = argv[0], *path;
        size_t flen = strlen(file);
        bool eacces = false;
        char buf[PATH_BUF];
        int r;

        if (!file[0])
                return ENOENT;
        if (strchr(file, '/')) {
                r = (int)-RAW(SYS_execve, file, argv, envp);
                return r == ENOEXEC ? -exec_script(file, argv, envp) : r;
        }
        path = env_value(envp, "PATH", 4);
        if (!path)
                path = DEFAULT_PATH;
        for (const char *p = path;; p++) {
                const char *end = strchr(p, ':');
                size_t dlen = end ? (size_t)(end - p) : strlen(p);

                if (dlen + 1 + flen < sizeof(buf)) {
                        if (dlen) {
                                memcpy(buf, p, dlen);
                                buf[dlen++] = '/';
                        }
                        memcpy(buf + dlen, file, flen + 1);
                        r = (int)-RAW(SYS_execve, buf, argv, envp);
                        if (r == ENOEXEC)
                                r = -exec_script(buf, argv, envp);
                        if (r == EACCES)
                                eacces = true;
                        else if (r != ENOENT && r != ENOTDIR && r != ESTALE && r != ENODEV &&
                                 r != ETIMEDOUT && r != ELOOP && r != ENAMETOOLONG)
                                return r;
                }
                if (!end)
                        break;
                p = end;
        }
        return eacces ? EACCES : ENOENT;
}

/* The held child: never returns. Its fds other than the three given and the GO socket are
 * closed; it waits for GO (EOF: the daemon is gone) before running anything of the code's. */
static int child_main(void *arg)
{
        const struct spawn *s = arg;
        const struct exec_spec *x = &s->spec;
        const char *fail_what = NULL, *fail_arg = NULL;
        uint64_t none = 0;
        struct {
                long handler, flags, restorer, mask;
        } dfl = {0}; /* the kernel's struct sigaction: SIG_DFL */
        int fail_errno = 0, in = s->fds.in;
        long n;
        char go;

        RAW(SYS_setsid, 0);
        RAW(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
        RAW(SYS_rt_sigaction, SIGPIPE, &dfl, NULL, sizeof(none));
        if (in < 0)
                in = (int)RAW(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0 || move_fd(in, STDIN_FILENO) < 0 || move_fd(s->fds.out, STDOUT_FILENO) < 0 ||
            move_fd(s->fds.err, STDERR_FILENO) < 0 || move_fd(s->fds.go, 3) < 0)
                child_exit(126);
        if (RAW(SYS_close_range, 4, ~0u, 0) < 0)
                close_from_4();
        /* The agent raised its own NOFILE; the code gets the sandbox's unless told otherwise. */
        RAW(SYS_prlimit64, 0, RLIMIT_NOFILE, &s->nofile, NULL);
        for (int i = 0; i < x->n_limits && !fail_what; i++) {
                struct rlimit rl = {x->limits[i].value, x->limits[i].value};
                long r = RAW(SYS_prlimit64, 0, x->limits[i].resource, &rl, NULL);

                if (r < 0) {
                        fail_what = "cannot set an rlimit of";
                        fail_arg = x->argv[0];
                        fail_errno = (int)-r;
                }
        }
        if (!fail_what && (n = RAW(SYS_chdir, x->cwd)) < 0) {
                fail_what = "cannot change directory to";
                fail_arg = x->cwd;
                fail_errno = (int)-n;
        }
        /* Ready: the agent may now tell the daemon this pid, whose group exists. */
        do
                n = RAW(SYS_write, 3, "R", 1);
        while (n == -EINTR);
        do
                n = RAW(SYS_read, 3, &go, 1);
        while (n == -EINTR);
        if (n != 1)
                child_exit(EXIT_NO_GO);
        RAW(SYS_close, 3);
        if (fail_what) {
                child_say(fail_what, fail_arg, fail_errno);
                child_exit(126);
        }
        make_outputs(x->envp);
        fail_errno = exec_search(x->argv, x->envp);
        child_say("cannot run", x->argv[0], fail_errno);
        child_exit(fail_errno == ENOENT ? 127 : 126);
}

static void spawn_free(struct spawn *s)
{
        if (s->stack)
                munmap(s->stack, STACK_SIZE);
        free(s->spec.argv);
        free(s->spec.envp);
        json_decref(s->j);
        free(s);
}

pid_t spawn_exec(json_t *j, const struct exec_spec *spec, const struct spawn_fds *fds,
                 const struct rlimit *nofile)
{
        struct spawn *s = calloc(1, sizeof(*s));
        pid_t pid = -1;

        if (!s) {
                free(spec->argv);
                free(spec->envp);
                json_decref(j);
                return -ENOMEM;
        }
        *s = (struct spawn){.j = j, .spec = *spec, .fds = *fds, .nofile = *nofile};
        if (SHARED_VM) {
                s->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
                if (s->stack == MAP_FAILED) {
                        s->stack = NULL;
                } else {
                        /* A guard page below the stack. */
                        mprotect(s->stack, 4096, PROT_NONE);
                        pid =
                            clone(child_main, (char *)s->stack + STACK_SIZE, CLONE_VM | SIGCHLD, s);
                }
        }
        if (pid > 0) {
                n_shared++;
        } else {
                /* No shared-VM clone here (another architecture, a kernel that refuses it). */
                pid = fork();
                if (pid == 0)
                        child_main(s);
                if (pid > 0)
                        n_forked++;
        }
        if (pid < 0) {
                int e = errno;

                spawn_free(s);
                return -e;
        }
        s->pid = pid;
        s->next = spawns;
        spawns = s;
        return pid;
}

void spawn_reaped(pid_t pid)
{
        for (struct spawn **ps = &spawns; *ps; ps = &(*ps)->next)
                if ((*ps)->pid == pid) {
                        struct spawn *s = *ps;

                        *ps = s->next;
                        spawn_free(s);
                        return;
                }
}

void spawn_counts(unsigned long long *shared, unsigned long long *forked)
{
        *shared = n_shared;
        *forked = n_forked;
}
