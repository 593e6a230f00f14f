/* The real airlock-agent ($AIRLOCK_AGENT), started as PID 1 of a new PID namespace the way a
 * sandbox starts it, driven over its socket as the daemon would: this test process stays outside
 * the namespace (a helper process makes it), so the agent sees its pid as 0 and serves it; a
 * process that joins the namespace is refused. Needs root (unshare, setns); without it the tests
 * say so and pass. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock/agent_proto.h"

#define TEST_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static char dir[64], sock_path[128];
static pid_t agent_pid;

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

static int conn_open(void)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {10, 0};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(sock_path), sizeof(sa.sun_path));
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
}

static bool read_full(int fd, void *buf, size_t len)
{
        for (size_t got = 0; got < len;) {
                ssize_t n = read(fd, (char *)buf + got, len - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                got += (size_t)n;
        }
        return true;
}

/* One frame: its type, or -1 at EOF, error or timeout; the payload NUL-terminated in *ret. */
static int frame_read(int fd, char **ret, size_t *ret_len)
{
        uint8_t h[AGENT_HEADER_LEN];
        uint32_t n;
        char *p;

        *ret = NULL;
        if (!read_full(fd, h, sizeof(h)))
                return -1;
        n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, AGENT_FRAME_MAX);
        ck_assert_ptr_nonnull(agent_frame_type_name(h[4]));
        p = malloc(n);
        ck_assert(read_full(fd, p, n - 1));
        p[n - 1] = '\0';
        *ret = p;
        if (ret_len)
                *ret_len = n - 1;
        return h[4];
}

static json_t *frame_json(int fd, int want)
{
        char *p;
        int t = frame_read(fd, &p, NULL);
        json_t *j;

        ck_assert_msg(t == want, "frame %d (%s), wanted %d", t, p ? p : "", want);
        j = json_loads(p, 0, NULL);
        ck_assert_ptr_nonnull(j);
        free(p);
        return j;
}

static json_t *ping(void)
{
        int fd = conn_open();
        json_t *j;
        char *p;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(agent_frame_write(fd, AGENT_PING, NULL, 0), 0);
        j = frame_json(fd, AGENT_PONG);
        ck_assert_int_eq(frame_read(fd, &p, NULL), -1); /* then it closes */
        close(fd);
        return j;
}

/* The agent as PID 1 of a new PID namespace, listening in a fresh directory; false without
 * the privilege to make one. */
static bool agent_start(void)
{
        const char *bin = getenv("AIRLOCK_AGENT");
        long long until;

        int p[2], st;
        pid_t helper;

        ck_assert_msg(bin != NULL, "AIRLOCK_AGENT is not set (run through ctest)");
        snprintf(dir, sizeof(dir), "/tmp/airlock-agent-test.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", dir);
        /* The helper's next child is PID 1 of its new namespace; orphaned, it comes back here.
         * This process stays in its namespace (LeakSanitizer forks at exit). */
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        helper = fork();
        ck_assert_int_ge(helper, 0);
        if (helper == 0) {
                pid_t a;

                if (unshare(CLONE_NEWPID) < 0)
                        _exit(errno == EPERM ? 77 : 1);
                a = fork();
                if (a == 0) {
                        execl(bin, "airlock-agent", sock_path, (char *)NULL);
                        _exit(99);
                }
                _exit(a > 0 && write(p[1], &a, sizeof(a)) == sizeof(a) ? 0 : 1);
        }
        close(p[1]);
        ck_assert_int_eq(waitpid(helper, &st, 0), helper);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
                close(p[0]);
                rmdir(dir);
                printf("test_agent: not root, the agent is not tested\n");
                return false;
        }
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "helper status %d", st);
        ck_assert_int_eq(read(p[0], &agent_pid, sizeof(agent_pid)), sizeof(agent_pid));
        close(p[0]);
        until = now_ms() + 5000;
        for (;;) {
                int fd = conn_open();

                if (fd >= 0) {
                        close(fd);
                        break;
                }
                ck_assert_msg(now_ms() < until, "the agent does not listen");
                sleep_ms(10);
        }
        return true;
}

static void agent_stop(void)
{
        int st;

        /* Still alive: whatever was thrown at it did not kill it. */
        ck_assert_int_eq(waitpid(agent_pid, &st, WNOHANG), 0);
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, &st, 0);
        unlink(sock_path);
        rmdir(dir);
}

struct result {
        char out[1 << 16], err[1 << 16];
        size_t out_len, err_len, total_out;
        int exit_code, signal;
};

/* A connection with EXEC spec (taken) sent and STARTED read; then GO when go. */
static int exec_begin(json_t *spec, bool go)
{
        char *s = json_dumps(spec, JSON_COMPACT);
        int fd = conn_open();
        json_t *j;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(agent_frame_write(fd, AGENT_EXEC, s, strlen(s)), 0);
        free(s);
        json_decref(spec);
        j = frame_json(fd, AGENT_STARTED);
        ck_assert_int_gt(json_integer_value(json_object_get(j, "pid")), 1);
        json_decref(j);
        if (go)
                ck_assert_int_eq(agent_frame_write(fd, AGENT_GO, NULL, 0), 0);
        return fd;
}

/* EXEC spec, GO, optional stdin, then frames until EXIT; the connection must then close. With
 * slow_ms, waits that long after GO before reading anything. */
static void run_exec(json_t *spec, const char *in, int slow_ms, struct result *r)
{
        int fd, t;
        json_t *j;
        size_t n;
        char *p;

        memset(r, 0, sizeof(*r));
        r->exit_code = r->signal = -1;
        fd = exec_begin(spec, true);
        if (in) {
                ck_assert_int_eq(agent_frame_write(fd, AGENT_STDIN, in, strlen(in)), 0);
                ck_assert_int_eq(agent_frame_write(fd, AGENT_STDIN_EOF, NULL, 0), 0);
        }
        if (slow_ms)
                sleep_ms(slow_ms);
        while ((t = frame_read(fd, &p, &n)) == AGENT_STDOUT || t == AGENT_STDERR) {
                char *buf = t == AGENT_STDOUT ? r->out : r->err;
                size_t *len = t == AGENT_STDOUT ? &r->out_len : &r->err_len;

                ck_assert_uint_le(n, AGENT_CHUNK_MAX);
                if (t == AGENT_STDOUT)
                        r->total_out += n;
                if (*len + n < sizeof(r->out)) {
                        memcpy(buf + *len, p, n);
                        *len += n;
                        buf[*len] = '\0';
                }
                free(p);
        }
        ck_assert_msg(t == AGENT_EXIT, "frame %d (%s), wanted EXIT", t, p ? p : "");
        j = json_loads(p, 0, NULL);
        free(p);
        ck_assert_ptr_nonnull(j);
        if (json_object_get(j, "exit_code"))
                r->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
        if (json_object_get(j, "signal"))
                r->signal = (int)json_integer_value(json_object_get(j, "signal"));
        json_decref(j);
        ck_assert_int_eq(frame_read(fd, &p, NULL), -1);
        close(fd);
}

static json_t *cmd(const char *a0, const char *a1, const char *a2)
{
        return json_pack("{s:[s,s*,s*],s:[s]}", "argv", a0, a1, a2, "env", TEST_PATH);
}

START_TEST(test_ping)
{
        json_t *j;

        if (!agent_start())
                return;
        j = ping();
        ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "pid")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "execs")), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "refused")), 0);
        json_decref(j);
        agent_stop();
}
END_TEST

START_TEST(test_echo)
{
        static struct result r;

        if (!agent_start())
                return;
        run_exec(cmd("echo", "hi", NULL), NULL, 0, &r);
        ck_assert_str_eq(r.out, "hi\n");
        ck_assert_str_eq(r.err, "");
        ck_assert_int_eq(r.exit_code, 0);
        ck_assert_int_eq(r.signal, -1);
#if defined(__x86_64__) || defined(__aarch64__)
        /* The exec's process was made without a copy of the agent (spawn.c), not by fork(). */
        {
                json_t *j = ping(), *sp = json_object_get(j, "spawns");

                ck_assert_int_eq(json_integer_value(json_object_get(sp, "shared_vm")), 1);
                ck_assert_int_eq(json_integer_value(json_object_get(sp, "fork")), 0);
                json_decref(j);
        }
#endif
        agent_stop();
}
END_TEST

START_TEST(test_stdin)
{
        static struct result r;
        json_t *spec = cmd("cat", NULL, NULL);

        if (!agent_start())
                return;
        json_object_set_new(spec, "stdin", json_true());
        run_exec(spec, "one\ntwo\n", 0, &r);
        ck_assert_str_eq(r.out, "one\ntwo\n");
        ck_assert_int_eq(r.exit_code, 0);
        /* Without "stdin", stdin is /dev/null: cat ends at once. */
        run_exec(cmd("cat", NULL, NULL), NULL, 0, &r);
        ck_assert_str_eq(r.out, "");
        ck_assert_int_eq(r.exit_code, 0);
        agent_stop();
}
END_TEST

START_TEST(test_exit_code_env_cwd)
{
        static struct result r;
        json_t *spec;

        if (!agent_start())
                return;
        run_exec(cmd("sh", "-c", "echo oops >&2; exit 3"), NULL, 0, &r);
        ck_assert_int_eq(r.exit_code, 3);
        ck_assert_str_eq(r.err, "oops\n");
        spec = json_pack("{s:[s,s,s],s:[s,s],s:s,s:{s:i,s:i}}", "argv", "sh", "-c",
                         "echo $FOO; pwd; ulimit -n", "env", TEST_PATH, "FOO=bar", "cwd", "/",
                         "rlimits", "nofile", 77, "core", 0);
        run_exec(spec, NULL, 0, &r);
        ck_assert_str_eq(r.out, "bar\n/\n77\n");
        ck_assert_int_eq(r.exit_code, 0);
        agent_stop();
}
END_TEST

START_TEST(test_signal)
{
        static struct result r;

        if (!agent_start())
                return;
        run_exec(cmd("sh", "-c", "kill -9 $$"), NULL, 0, &r);
        ck_assert_int_eq(r.signal, 9);
        ck_assert_int_eq(r.exit_code, -1);
        agent_stop();
}
END_TEST

START_TEST(test_not_found)
{
        static struct result r;
        json_t *spec;

        if (!agent_start())
                return;
        run_exec(cmd("airlock-no-such-program", NULL, NULL), NULL, 0, &r);
        ck_assert_int_eq(r.exit_code, 127);
        ck_assert_msg(strstr(r.err, "airlock: cannot run 'airlock-no-such-program'"), "%s", r.err);
        /* argv[0] is looked up in the exec's PATH, not the agent's. */
        spec = json_pack("{s:[s],s:[s]}", "argv", "true", "env", "PATH=/nonexistent");
        run_exec(spec, NULL, 0, &r);
        ck_assert_int_eq(r.exit_code, 127);
        /* A cwd that is not there: 126 and why. */
        spec = json_pack("{s:[s],s:[s],s:s}", "argv", "true", "env", TEST_PATH, "cwd", "/nope");
        run_exec(spec, NULL, 0, &r);
        ck_assert_int_eq(r.exit_code, 126);
        ck_assert_msg(strstr(r.err, "cannot change directory to '/nope'"), "%s", r.err);
        agent_stop();
}
END_TEST

/* A background child holding the pipes does not keep the exec open. */
START_TEST(test_background)
{
        static struct result r;
        long long t0;

        if (!agent_start())
                return;
        t0 = now_ms();
        run_exec(cmd("sh", "-c", "echo started; sleep 100 &"), NULL, 0, &r);
        ck_assert_int_lt(now_ms() - t0, 2000);
        ck_assert_str_eq(r.out, "started\n");
        ck_assert_int_eq(r.exit_code, 0);
        agent_stop();
}
END_TEST

/* Output far beyond the agent's queue, read late: all of it arrives (the agent stopped reading
 * the pipe meanwhile), in chunks of at most 64 KiB. */
START_TEST(test_backpressure)
{
        static struct result r;

        if (!agent_start())
                return;
        run_exec(cmd("sh", "-c", "head -c 3000000 /dev/zero"), NULL, 1500, &r);
        ck_assert_uint_eq(r.total_out, 3000000);
        ck_assert_int_eq(r.exit_code, 0);
        agent_stop();
}
END_TEST

/* Processes of the agent's namespace, the agent included (zombies too, until reaped). */
static int ns_processes(void)
{
        char want[64] = "", path[300], got[64];
        DIR *d = opendir("/proc");
        struct dirent *de;
        ssize_t n;
        int count = 0;

        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)agent_pid);
        n = readlink(path, want, sizeof(want) - 1);
        ck_assert_int_gt(n, 0);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
                n = readlink(path, got, sizeof(got) - 1);
                if (n > 0) {
                        got[n] = '\0';
                        count += strcmp(got, want) == 0;
                }
        }
        closedir(d);
        return count;
}

static void wait_processes(int want, int ms)
{
        long long until = now_ms() + ms;

        while (ns_processes() != want) {
                ck_assert_msg(now_ms() < until, "%d processes in the namespace, wanted %d",
                              ns_processes(), want);
                sleep_ms(20);
        }
}

/* The daemon hangs up mid-exec: the exec's whole process group is killed, and reaped. */
START_TEST(test_hangup_kills)
{
        char *p;
        int fd;
        json_t *j;

        if (!agent_start())
                return;
        fd = exec_begin(cmd("sh", "-c", "sleep 100 & sleep 100"), true);
        wait_processes(4, 3000); /* agent, sh, two sleeps */
        j = ping();
        ck_assert_int_eq(json_integer_value(json_object_get(j, "execs")), 1);
        json_decref(j);
        close(fd);
        wait_processes(1, 3000);
        /* Held and never released: a hang-up ends it too. */
        fd = exec_begin(cmd("true", NULL, NULL), false);
        wait_processes(2, 3000);
        close(fd);
        wait_processes(1, 3000);
        /* KILL: a signal to the group, then EXIT says so. */
        fd = exec_begin(cmd("sleep", "100", NULL), true);
        ck_assert_int_eq(agent_frame_write(fd, AGENT_KILL, "\x0f", 1), 0);
        j = frame_json(fd, AGENT_EXIT);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "signal")), SIGTERM);
        json_decref(j);
        ck_assert_int_eq(frame_read(fd, &p, NULL), -1);
        close(fd);
        agent_stop();
}
END_TEST

/* A child of this process born inside the agent's namespace (as code is); -1 in it. */
static pid_t fork_inside(void)
{
        char path[64];
        pid_t pid;
        int fd, st;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid > 0)
                return pid;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)agent_pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
                _exit(3);
        pid = fork();
        if (pid == 0)
                return -1;
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
                _exit(3);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 4);
}

/* A process inside the namespace (the code's side) is closed on at once, and counted. */
START_TEST(test_inside_refused)
{
        pid_t pid;
        int st;
        json_t *j;

        if (!agent_start())
                return;
        pid = fork_inside();
        if (pid < 0) {
                int fd = conn_open(), ok = 1;
                char *p;

                if (fd < 0)
                        _exit(2);
                agent_frame_write(fd, AGENT_PING, NULL, 0); /* may fail: already closed */
                if (frame_read(fd, &p, NULL) != -1)
                        ok = 0;
                /* And a flood of them. */
                for (int i = 0; i < 300; i++) {
                        int f = conn_open();

                        if (f >= 0) {
                                agent_frame_write(f, AGENT_PING, NULL, 0);
                                close(f);
                        }
                }
                _exit(ok ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
        j = ping();
        ck_assert_int_ge(json_integer_value(json_object_get(j, "refused")), 301);
        json_decref(j);
        agent_stop();
}
END_TEST

/* Garbage from the daemon's side: each connection is ended, the agent goes on. */
START_TEST(test_junk)
{
        static const uint8_t zero_len[] = {0, 0, 0, 0, AGENT_PING},
                             too_long[] = {0x7f, 0, 0, 0, AGENT_STDIN},
                             bad_type[] = {0, 0, 0, 1, 0x42}, go_first[] = {0, 0, 0, 1, AGENT_GO};
        static const struct {
                const void *b;
                size_t n;
        } junk[] = {{zero_len, 5}, {too_long, 5}, {bad_type, 5}, {go_first, 5}, {"junk!", 5}};
        int fds[300];
        json_t *j;
        char *p;

        if (!agent_start())
                return;
        for (int i = 0; i < 300; i++) {
                fds[i] = conn_open();
                ck_assert_int_ge(fds[i], 0);
                if (i % 3 == 0) /* the rest stay silent: up to 256 are held, the others wait */
                        ck_assert_int_eq(write(fds[i], junk[i % 5].b, junk[i % 5].n),
                                         (ssize_t)junk[i % 5].n);
        }
        for (int i = 0; i < 300; i += 3) {
                int t = frame_read(fds[i], &p, NULL);

                /* An ERROR ("junk!": its length is 0x6a756e6b, too long), or a close at once */
                ck_assert_msg(t == AGENT_ERROR || t == -1, "frame %d", t);
                free(p);
        }
        for (int i = 0; i < 300; i++)
                close(fds[i]);
        j = ping();
        ck_assert_int_eq(json_integer_value(json_object_get(j, "execs")), 0);
        json_decref(j);
        /* A bad EXEC is an ERROR. */
        {
                int fd = conn_open();

                ck_assert_int_eq(agent_frame_write(fd, AGENT_EXEC, "{\"argv\":[]}", 11), 0);
                j = frame_json(fd, AGENT_ERROR);
                ck_assert_ptr_nonnull(
                    strstr(json_string_value(json_object_get(j, "message")), "argv"));
                json_decref(j);
                close(fd);
        }
        agent_stop();
}
END_TEST

/* The socket deleted by the code: connections in progress go on, new ones cannot be made. */
START_TEST(test_socket_deleted)
{
        if (!agent_start())
                return;
        {
                int fd = exec_begin(cmd("sh", "-c", "sleep 0.3; echo late"), false);
                char *s;

                ck_assert_int_eq(unlink(sock_path), 0);
                ck_assert_int_eq(agent_frame_write(fd, AGENT_GO, NULL, 0), 0);
                ck_assert_int_eq(frame_read(fd, &s, NULL), AGENT_STDOUT);
                ck_assert_str_eq(s, "late\n");
                free(s);
                json_decref(frame_json(fd, AGENT_EXIT));
                close(fd);
        }
        ck_assert_int_lt(conn_open(), 0);
        agent_stop();
}
END_TEST

static Suite *agent_suite(void)
{
        Suite *s = suite_create("agent");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_ping);
        tcase_add_test(tc, test_echo);
        tcase_add_test(tc, test_stdin);
        tcase_add_test(tc, test_exit_code_env_cwd);
        tcase_add_test(tc, test_signal);
        tcase_add_test(tc, test_not_found);
        tcase_add_test(tc, test_background);
        tcase_add_test(tc, test_backpressure);
        tcase_add_test(tc, test_hangup_kills);
        tcase_add_test(tc, test_inside_refused);
        tcase_add_test(tc, test_junk);
        tcase_add_test(tc, test_socket_deleted);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(agent_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
