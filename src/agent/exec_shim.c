/* airlock-exec: the first process of every exec in a container sandbox. Bind-mounted read-only
 * into each sandbox at /.airlock/exec (images need nothing added) and run by the engine as the
 * code's user:
 *
 *     /.airlock/exec TOKEN PROGRAM [ARG...]
 *
 * 1. It waits until the daemon has moved it into the exec's own cgroup (a cgroup whose last
 *    path component is TOKEN): every process the code starts is born inside it, so the daemon
 *    can end the whole tree — setsid, nohup and double forks included — and nothing else.
 * 2. It runs PROGRAM as a child with fresh pipes for stdout and stderr and relays them to its
 *    own, which the engine reads. When PROGRAM exits the relay stops and the shim exits with
 *    PROGRAM's status (128+N for a signal, as engines report it): the exec ends with its main
 *    process even when escaped children still hold the pipes, and the daemon then ends those.
 *
 * Static and self-contained: it runs in any image. It trusts nothing it is given beyond what
 * any code of the sandbox's user could do itself, and holds no privilege. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define PLACE_WAIT_MS   10000
#define RELAY_BUF       65536
#define EXIT_NOT_PLACED 125
#define DRAIN_MS        100

/* True when a line of /proc/self/cgroup ends in "/TOKEN". */
static bool placed(const char *token)
{
        char buf[8192];
        size_t tl = strlen(token);
        ssize_t n;
        int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                size_t len;

                nl = strchr(line, '\n');
                len = nl ? (size_t)(nl - line) : strlen(line);
                if (len > tl && line[len - tl - 1] == '/' &&
                    memcmp(line + len - tl, token, tl) == 0)
                        return true;
        }
        return false;
}

static bool wait_placed(const char *token)
{
        long long until = now_ms() + PLACE_WAIT_MS;
        struct timespec pause = {0, 200 * 1000};

        while (!placed(token)) {
                if (now_ms() >= until)
                        return false;
                nanosleep(&pause, NULL);
                if (pause.tv_nsec < 5 * 1000 * 1000)
                        pause.tv_nsec *= 2;
        }
        return true;
}

/* Copy what is readable from in to out; false at EOF or error. A writer that is gone (the
 * daemon stopped reading) makes the bytes go nowhere, but the relay keeps draining the child. */
static bool relay(int in, int out, bool *out_ok)
{
        static char buf[RELAY_BUF];
        ssize_t n = read(in, buf, sizeof(buf));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return true;
        if (n <= 0)
                return false;
        for (ssize_t off = 0; *out_ok && off < n;) {
                ssize_t w = write(out, buf + off, (size_t)(n - off));

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        *out_ok = false;
                        break;
                }
                off += w;
        }
        return true;
}

/* Reap every child that is done; true when the main one was among them. */
static bool reap(pid_t child, int *status)
{
        bool found = false;
        int st;
        pid_t w;

        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                if (w == child) {
                        *status = st;
                        found = true;
                }
        return found;
}

int main(int argc, char **argv)
{
        int outp[2], errp[2], status = 0, sfd;
        long long drain_until = 0;
        sigset_t chld;
        bool out_ok = true, err_ok = true, out_open = true, err_open = true, exited = false;
        pid_t child;

        if (argc < 3 || !argv[1][0] || strchr(argv[1], '/')) {
                say("usage: airlock-exec TOKEN PROGRAM [ARG...]\n");
                return EXIT_NOT_PLACED;
        }
        if (!wait_placed(argv[1])) {
                say("airlock: this exec was not placed in its cgroup in time\n");
                return EXIT_NOT_PLACED;
        }
        signal(SIGPIPE, SIG_IGN);
        /* SIGCHLD through a descriptor, so the relay notices the exit without polling. */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                say("airlock: cannot make a signalfd\n");
                return 126;
        }
        /* Orphans of the code come back to the shim rather than the sandbox's init, so that
         * they are reaped here while the exec runs. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
                say("airlock: cannot make pipes\n");
                return 126;
        }
        child = fork();
        if (child < 0) {
                say("airlock: cannot fork\n");
                return 126;
        }
        if (child == 0) {
                signal(SIGPIPE, SIG_DFL);
                sigprocmask(SIG_UNBLOCK, &chld, NULL);
                if (dup2(outp[1], STDOUT_FILENO) < 0 || dup2(errp[1], STDERR_FILENO) < 0)
                        _exit(126);
                execvp(argv[2], argv + 2);
                {
                        int e = errno;
                        char msg[512];

                        snprintf(msg, sizeof(msg), "airlock: cannot run '%.400s': %s\n", argv[2],
                                 strerror(e));
                        say(msg);
                        _exit(e == ENOENT ? 127 : 126);
                }
        }
        close(outp[1]);
        close(errp[1]);
        fcntl(outp[0], F_SETFL, O_NONBLOCK);
        fcntl(errp[0], F_SETFL, O_NONBLOCK);
        /* Relay until the main process has exited and its output is drained: after the exit,
         * only what comes within DRAIN_MS is taken, so escaped children holding the pipes do
         * not keep the exec open. */
        while (out_open || err_open) {
                struct pollfd pfd[3] = {{.fd = out_open ? outp[0] : -1, .events = POLLIN},
                                        {.fd = err_open ? errp[0] : -1, .events = POLLIN},
                                        {.fd = exited ? -1 : sfd, .events = POLLIN}};
                int r, timeout = -1;

                if (exited) {
                        long long left = drain_until - now_ms();

                        if (left <= 0)
                                break;
                        timeout = (int)left;
                }
                r = poll(pfd, 3, timeout);
                if (r < 0 && errno != EINTR)
                        break;
                if (pfd[2].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        ssize_t k = read(sfd, &si, sizeof(si));

                        (void)k;
                        if (reap(child, &status)) {
                                exited = true;
                                drain_until = now_ms() + DRAIN_MS;
                        }
                }
                if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
                        out_open = relay(outp[0], STDOUT_FILENO, &out_ok);
                if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
                        err_open = relay(errp[0], STDERR_FILENO, &err_ok);
        }
        while (!exited) {
                pid_t w = waitpid(-1, &status, 0);

                if (w == child)
                        exited = true;
                else if (w < 0 && errno != EINTR)
                        break;
        }
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 126;
}
