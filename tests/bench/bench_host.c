/* Benchmark of the host backend: the overhead of all its hardening over a plain fork+exec of
 * the same command, in one run. Measures `true` and `python3 -c pass`:
 *   plain   posix_spawn + waitpid, output to pipes, nothing else
 *   backend host_backend run_once in this process (every protection the host offers)
 *   daemon  POST /v1/exec to a running airlockd in mode off (--socket PATH)
 * Usage: bench_host [-n ITER] [--socket PATH] [--no-backend] [--prestart N] [--gap-ms MS]
 *                   [--no-<protection>]
 * Prints p50/p90/p99 per case and the p50 overhead; exits 1 if the backend's p50 overhead for
 * `true` exceeds --max-overhead-ms (default: no check). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "airlock/exec.h"
#include "airlock/host_backend.h"

/* The plain case gets the environment the backend gives (a login shell's PATH may start with
 * slow shims). */
static char *plain_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", NULL};

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

struct stats {
        double p50, p90, p99;
};

static struct stats summarize(double *v, int n)
{
        struct stats s;

        qsort(v, (size_t)n, sizeof(double), cmp_double);
        s.p50 = v[n / 2];
        s.p90 = v[(n * 9) / 10];
        s.p99 = v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
        return s;
}

static void drain(int fd)
{
        char buf[4096];

        while (read(fd, buf, sizeof(buf)) > 0)
                ;
}

/* Plain: what any launcher does at the least, with stdout and stderr on pipes. */
static int run_plain(char **argv)
{
        posix_spawn_file_actions_t fa;
        int out[2], errp[2], st;
        pid_t pid;

        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
                return -1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, plain_env) != 0)
                return -1;
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        close(errp[1]);
        drain(out[0]);
        drain(errp[0]);
        close(out[0]);
        close(errp[0]);
        if (waitpid(pid, &st, 0) < 0)
                return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_backend(struct backend *b, char **argv)
{
        struct sandbox_spec spec = {0};
        struct exec_spec x = {0};
        struct exec_result res;
        struct al_error err = {0};
        int r;

        spec.limits.cpu_cores = 1;
        spec.limits.memory_mb = 256;
        spec.limits.disk_mb = 64;
        spec.limits.max_processes = 64;
        spec.limits.timeout_s = 20;
        spec.limits.output_bytes = 1 << 20;
        spec.instance_id = "bench";
        x.argv = argv;
        x.timeout_ms = 20000;
        memset(&res, 0, sizeof(res));
        buf_init(&res.out, 1 << 20);
        buf_init(&res.err, 1 << 20);
        r = b->ops->run_once(b, &spec, &x, NULL, &res, &err);
        if (r < 0)
                fprintf(stderr, "run_once: %s\n", err.msg);
        else if (res.exit_code != 0)
                fprintf(stderr, "exit %d signal %d: %s\n", res.exit_code, res.signal,
                        res.err.data ? res.err.data : "");
        buf_free(&res.out);
        buf_free(&res.err);
        return r < 0 ? r : res.exit_code;
}

static size_t sink_body(char *p, size_t size, size_t n, void *ctx)
{
        (void)p;
        (void)ctx;
        return size * n;
}

static int run_daemon(CURL *c, const char *body)
{
        long code = 0;

        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (curl_easy_perform(c) != CURLE_OK)
                return -1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        return code == 200 ? 0 : -1;
}

static void report(const char *name, const char *cmd, double *v, int n, struct stats *ret)
{
        struct stats s = summarize(v, n);

        printf("%-8s %-22s p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms\n", name, cmd, s.p50, s.p90,
               s.p99);
        if (ret)
                *ret = s;
}

int main(int argc, char **argv)
{
        static char *cmd_true[] = {"true", NULL};
        static char *cmd_py[] = {"python3", "-c", "pass", NULL};
        static char *const *cmds[] = {cmd_true, cmd_py};
        static const char *names[] = {"true", "python3 -c pass"};
        static const char *bodies[] = {
            "{\"agent\":\"bench\",\"argv\":[\"true\"],\"timeout_s\":20}",
            "{\"agent\":\"bench\",\"argv\":[\"python3\",\"-c\",\"pass\"],\"timeout_s\":20}"};
        const char *sock = NULL;
        int iters = 200, prestart = -1, fail = 0, gap_ms = 0;
        double max_overhead = -1;
        bool use_backend = true;
        struct host_options o;

        host_options_default(&o);
        struct backend *b = NULL;
        CURL *c = NULL;
        double *vp, *vb, *vd, *db, *dd;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
                        iters = atoi(argv[++i]);
                else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
                        sock = argv[++i];
                else if (strcmp(argv[i], "--gap-ms") == 0 && i + 1 < argc)
                        gap_ms = atoi(argv[++i]);
                else if (strcmp(argv[i], "--no-backend") == 0)
                        use_backend = false;
                else if (strcmp(argv[i], "--prestart") == 0 && i + 1 < argc)
                        prestart = atoi(argv[++i]);
                else if (strcmp(argv[i], "--max-overhead-ms") == 0 && i + 1 < argc)
                        max_overhead = atof(argv[++i]);
                /* Turn single protections off, to see what each costs. */
                else if (strcmp(argv[i], "--no-netns") == 0)
                        o.network_namespace = HOST_OFF;
                else if (strcmp(argv[i], "--no-mountns") == 0)
                        o.mount_namespace = HOST_OFF;
                else if (strcmp(argv[i], "--no-pidns") == 0)
                        o.pid_namespace = HOST_OFF;
                else if (strcmp(argv[i], "--no-ipcns") == 0)
                        o.ipc_namespace = HOST_OFF;
                else if (strcmp(argv[i], "--no-cgroup") == 0)
                        o.cgroup = HOST_OFF;
                else if (strcmp(argv[i], "--no-seccomp") == 0)
                        o.seccomp_deny = NULL;
                else if (strcmp(argv[i], "--no-ro-root") == 0)
                        o.read_only_root = false;
                else if (strcmp(argv[i], "--no-tmp") == 0)
                        o.private_tmp = false;
                else if (strcmp(argv[i], "--no-proc") == 0)
                        o.mount_proc = false;
                else {
                        fprintf(stderr,
                                "usage: %s [-n ITER] [--socket PATH] [--no-backend] "
                                "[--prestart N] [--max-overhead-ms MS]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (iters < 10)
                iters = 10;
        /* posix_spawnp searches this process's PATH: make it the backend's default. */
        setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
        vp = calloc((size_t)iters, sizeof(double));
        vb = calloc((size_t)iters, sizeof(double));
        vd = calloc((size_t)iters, sizeof(double));
        db = calloc((size_t)iters, sizeof(double));
        dd = calloc((size_t)iters, sizeof(double));
        if (!vp || !vb || !vd || !db || !dd)
                return 1;
        if (use_backend) {
                struct al_error err = {0};
                const char *avail[16];
                size_t na;

                if (prestart >= 0)
                        o.prestart = prestart;
                b = host_backend_new(&o, &err);
                if (!b) {
                        fprintf(stderr, "host backend: %s\n", err.msg);
                        return 1;
                }
                na = host_backend_available(b, avail, 16);
                printf("host protections:");
                for (size_t i = 0; i < na; i++)
                        printf(" %s", avail[i]);
                printf("\n");
        }
        if (sock) {
                static struct curl_slist *hdrs;

                curl_global_init(CURL_GLOBAL_DEFAULT);
                c = curl_easy_init();
                hdrs = curl_slist_append(NULL, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
                curl_easy_setopt(c, CURLOPT_URL, "http://localhost/v1/exec");
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_body);
        }
        printf("%d iterations each; the cases alternate within each iteration so that they see "
               "the same load\n",
               iters);
        for (size_t k = 0; k < 2; k++) {
                struct stats plain, other;

                /* Warm-up: page cache, the spawner pool, the daemon's connection. */
                for (int i = 0; i < 10; i++) {
                        (void)run_plain((char **)cmds[k]);
                        if (b)
                                (void)run_backend(b, (char **)cmds[k]);
                        if (c)
                                (void)run_daemon(c, bodies[k]);
                }
                for (int i = 0; i < iters; i++) {
                        double t;

                        /* Requests spaced out, as agents send them, rather than back to back
                         * (which hides per-exec costs that batch, like a cgroup move). */
                        if (gap_ms > 0)
                                usleep((useconds_t)gap_ms * 1000);
                        t = now_ms();
                        if (run_plain((char **)cmds[k]) != 0)
                                fail = 1;
                        vp[i] = now_ms() - t;
                        if (b) {
                                t = now_ms();
                                if (run_backend(b, (char **)cmds[k]) != 0)
                                        fail = 1;
                                vb[i] = now_ms() - t;
                                db[i] = vb[i] - vp[i];
                        }
                        if (c) {
                                t = now_ms();
                                if (run_daemon(c, bodies[k]) != 0)
                                        fail = 1;
                                vd[i] = now_ms() - t;
                                dd[i] = vd[i] - vp[i];
                        }
                }
                report("plain", names[k], vp, iters, &plain);
                if (b) {
                        struct stats d;

                        report("backend", names[k], vb, iters, &other);
                        d = summarize(db, iters);
                        printf(
                            "         overhead: p50 of the differences %.2f ms (p50s: %.2f ms)\n",
                            d.p50, other.p50 - plain.p50);
                        if (k == 0 && max_overhead >= 0 && d.p50 > max_overhead) {
                                printf("         over the %.2f ms goal\n", max_overhead);
                                fail = 1;
                        }
                }
                if (c) {
                        struct stats d;

                        report("daemon", names[k], vd, iters, &other);
                        d = summarize(dd, iters);
                        printf(
                            "         overhead: p50 of the differences %.2f ms (p50s: %.2f ms)\n",
                            d.p50, other.p50 - plain.p50);
                }
        }
        if (c)
                curl_easy_cleanup(c);
        if (b) {
                struct al_error err = {0};

                (void)b->ops->remove_instance(b, "bench", &err);
                backend_free(b);
        }
        free(vp);
        free(vb);
        free(vd);
        free(db);
        free(dd);
        return fail;
}
