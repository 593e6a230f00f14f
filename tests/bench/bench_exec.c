/* bench_exec: how much airlockd adds to an exec, measured against the engine it drives.
 *
 * In one run, on one engine, with the variants interleaved round-robin (the order rotating
 * each iteration) so that drift on the machine hits all of them alike:
 *   A  airlockd warm      POST /v1/exec with a session: an exec in a running sandbox
 *   A' the same on a kept-alive connection
 *   B  raw Engine API     exec create + start (hijacked) + inspect in a container made here
 *   C  engine CLI         docker exec / podman exec in that container
 *   D  airlockd fresh     POST /v1/exec without a session: a one-off sandbox
 *   E  raw Engine API     create + start + wait, and + remove
 * The raw client is written here on libcurl and a raw socket, not on airlock's engine module,
 * so the baseline does not share code with what it measures. See docs/benchmark.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define API          "http://localhost/v1.41"
#define BODY_MAX     (4 * 1024 * 1024)
#define HDR_MAX      (16 * 1024)
#define WARMUP       3
#define GOAL         1.2
#define SECCOMP_MAX  (512 * 1024)
#define BENCH_LABEL  "airlock.bench"
#define IO_TIMEOUT_S 60

/* The limits given to the raw containers; tests/bench/run.sh gives airlockd the same. */
#define LIM_MEMORY_MB 256
#define LIM_DISK_MB   64
#define LIM_PROCESSES 64
#define LIM_NANO_CPUS 1000000000LL
#define EXEC_USER     "2000100000:2000100000"
#define KEEPER_USER   "2000100001:2000100001"

enum variant {
        V_AL_WARM,
        V_AL_WARM_KA,
        V_RAW_EXEC,
        V_CLI_EXEC,
        V_AL_FRESH,
        V_RAW_FRESH,    /* create + start + wait */
        V_RAW_FRESH_RM, /* create + start + wait + remove */
        V_COUNT,
};

static const char *const variant_names[V_COUNT] = {
    [V_AL_WARM] = "airlockd-warm",
    [V_AL_WARM_KA] = "airlockd-warm-keepalive",
    [V_RAW_EXEC] = "raw-exec",
    [V_CLI_EXEC] = "cli-exec",
    [V_AL_FRESH] = "airlockd-fresh",
    [V_RAW_FRESH] = "raw-create-start-wait",
    [V_RAW_FRESH_RM] = "raw-create-start-wait-remove",
};

static const char *const variant_desc[V_COUNT] = {
    [V_AL_WARM] = "airlockd exec, session sandbox, new connection",
    [V_AL_WARM_KA] = "airlockd exec, session sandbox, kept-alive connection",
    [V_RAW_EXEC] = "Engine API exec create+start+inspect",
    [V_CLI_EXEC] = "CLI exec",
    [V_AL_FRESH] = "airlockd exec, one-off sandbox",
    [V_RAW_FRESH] = "Engine API create+start+wait",
    [V_RAW_FRESH_RM] = "Engine API create+start+wait+remove",
};

struct opts {
        const char *socket;
        const char *engine_socket;
        const char *engine;
        const char *image;
        const char *runtime;
        const char *cli;
        const char *seccomp;
        int n;
        bool json;
        bool no_keepalive;
};

struct samples {
        double *v;
        int n;
        /* For airlockd: the request's time minus the duration_ms airlockd reports (its engine
         * calls), i.e. what its API, scope lookup and connection handling add. */
        double *over;
        int n_over;
};

struct resp {
        long status;
        char *data;
        size_t len;
        bool toobig;
};

struct bench {
        struct opts o;
        char *seccomp_text;
        CURL *engine; /* kept-alive connection to the engine, like airlockd's pool */
        CURL *al_ka;  /* kept-alive connection to airlockd */
        char warm_id[128];
        char fresh_id[128]; /* a raw fresh container in flight, removed on the way out */
        struct samples s[V_COUNT];
        int inspect_retries;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        (void)sig;
        interrupted = 1;
}

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static struct bench *g_bench;
static void cleanup(struct bench *b);

static void die(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "bench_exec: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (g_bench)
                cleanup(g_bench);
        exit(1);
}

/* ---- HTTP over a UNIX socket with libcurl ------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
        struct resp *r = ud;
        size_t n = size * nmemb;
        char *d;

        if (r->len + n > BODY_MAX) {
                r->toobig = true;
                return 0;
        }
        d = realloc(r->data, r->len + n + 1);
        if (!d)
                return 0;
        memcpy(d + r->len, p, n);
        r->len += n;
        d[r->len] = '\0';
        r->data = d;
        return n;
}

static void resp_clear(struct resp *r)
{
        free(r->data);
        memset(r, 0, sizeof(*r));
}

/* One request on handle c (its connection is kept unless fresh). Fills r; dies on transport
 * errors, since a benchmark with a failed request measures nothing. */
static void http_call(CURL *c, const char *sock, const char *method, const char *url,
                      const char *body, bool fresh, struct resp *r)
{
        struct curl_slist *h = NULL;
        CURLcode cc;

        resp_clear(r);
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)IO_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (fresh) {
                curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        }
        /* No 100-continue round trip on larger bodies (the seccomp profile). */
        h = curl_slist_append(h, "Expect:");
        if (body) {
                h = curl_slist_append(h, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (strcmp(method, "GET") != 0 && !(body && strcmp(method, "POST") == 0))
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0 && !body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        cc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(h);
        if (r->toobig)
                die("%s %s via %s: response larger than %d bytes", method, url, sock, BODY_MAX);
        if (cc != CURLE_OK)
                die("%s %s via %s: %s", method, url, sock, curl_easy_strerror(cc));
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
}

static json_t *resp_json(const struct resp *r, const char *what)
{
        json_error_t je;
        json_t *j = json_loadb(r->data ? r->data : "", r->len, 0, &je);

        if (!j)
                die("%s: HTTP %ld, not JSON: %.300s", what, r->status, r->data ? r->data : "");
        return j;
}

static void expect_status(const struct resp *r, long want, const char *what)
{
        if (r->status != want)
                die("%s: HTTP %ld (want %ld): %.500s", what, r->status, want,
                    r->data ? r->data : "");
}

/* ---- the raw Engine API client ------------------------------------------------------------ */

static json_t *raw_container_body(struct bench *b, bool sandbox)
{
        char tmpfs[96], seccomp_opt[64 + 4096];
        json_t *secopt = json_pack("[s]", "no-new-privileges");
        json_t *hc, *body;

        /* The hardening airlockd gives its sandboxes, so the engine does the same work. */
        if (b->o.seccomp) {
                if (strcmp(b->o.engine, "podman") == 0) {
                        snprintf(seccomp_opt, sizeof(seccomp_opt), "seccomp=%s", b->o.seccomp);
                        json_array_append_new(secopt, json_string(seccomp_opt));
                } else {
                        json_array_append_new(secopt,
                                              json_pack("s++", "seccomp=", b->seccomp_text, ""));
                }
        }
        snprintf(tmpfs, sizeof(tmpfs), "rw,nosuid,nodev,size=%dm,mode=1777", LIM_DISK_MB);
        hc = json_pack("{s:b, s:[s], s:o, s:b, s:{s:s}, s:s, s:s, s:I, s:I, s:I, s:I,"
                       " s:[{s:s,s:i,s:i},{s:s,s:i,s:i},{s:s,s:i,s:i}], s:{s:s}, s:I, s:I}",
                       "Init", 1, "CapDrop", "ALL", "SecurityOpt", secopt, "ReadonlyRootfs", 1,
                       "Tmpfs", "/tmp", tmpfs, "NetworkMode", "none", "IpcMode", "private",
                       "Memory", (json_int_t)LIM_MEMORY_MB << 20, "MemorySwap",
                       (json_int_t)LIM_MEMORY_MB << 20, "NanoCpus", (json_int_t)LIM_NANO_CPUS,
                       "PidsLimit", (json_int_t)LIM_PROCESSES, "Ulimits", "Name", "nofile", "Soft",
                       1024, "Hard", 1024, "Name", "nproc", "Soft", 4096, "Hard", 4096, "Name",
                       "core", "Soft", 0, "Hard", 0, "LogConfig", "Type", "none", "ShmSize",
                       (json_int_t)LIM_DISK_MB << 20, "OomScoreAdj", (json_int_t)500);
        body = json_pack("{s:s, s:s, s:[s,s,s], s:s, s:{s:s}, s:b, s:o}", "Image", b->o.image,
                         "User", sandbox ? KEEPER_USER : EXEC_USER, "Env", "HOME=/tmp",
                         "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "LANG=C.UTF-8", "WorkingDir", "/tmp", "Labels", BENCH_LABEL, "true",
                         "NetworkDisabled", 1, "HostConfig", hc);
        if (!body)
                die("cannot build the container body");
        json_object_set_new(body, "Cmd",
                            sandbox ? json_pack("[s,s]", "sleep", "2147483647")
                                    : json_pack("[s]", "true"));
        return body;
}

static void raw_create(struct bench *b, bool sandbox, char *id, size_t id_size)
{
        struct resp r = {0};
        json_t *body = raw_container_body(b, sandbox), *j;
        char *text = json_dumps(body, JSON_COMPACT);

        json_decref(body);
        http_call(b->engine, b->o.engine_socket, "POST", API "/containers/create", text, false, &r);
        free(text);
        expect_status(&r, 201, "container create");
        j = resp_json(&r, "container create");
        snprintf(id, id_size, "%s", json_string_value(json_object_get(j, "Id")));
        json_decref(j);
        resp_clear(&r);
        if (!id[0])
                die("container create: no Id");
}

static void raw_start(struct bench *b, const char *id)
{
        char url[256];
        struct resp r = {0};

        snprintf(url, sizeof(url), API "/containers/%s/start", id);
        http_call(b->engine, b->o.engine_socket, "POST", url, NULL, false, &r);
        expect_status(&r, 204, "container start");
        resp_clear(&r);
}

static long raw_wait(struct bench *b, const char *id)
{
        char url[256];
        struct resp r = {0};
        json_t *j;
        long code;

        snprintf(url, sizeof(url), API "/containers/%s/wait", id);
        http_call(b->engine, b->o.engine_socket, "POST", url, NULL, false, &r);
        expect_status(&r, 200, "container wait");
        j = resp_json(&r, "container wait");
        code = (long)json_integer_value(json_object_get(j, "StatusCode"));
        json_decref(j);
        resp_clear(&r);
        return code;
}

static void raw_remove(struct bench *b, const char *id)
{
        char url[256];
        struct resp r = {0};

        snprintf(url, sizeof(url), API "/containers/%s?force=1", id);
        http_call(b->engine, b->o.engine_socket, "DELETE", url, NULL, false, &r);
        if (r.status != 204 && r.status != 200 && r.status != 404)
                fprintf(stderr, "bench_exec: remove %.12s: HTTP %ld\n", id, r.status);
        resp_clear(&r);
}

/* Exec start on a hijacked connection: send the upgrade request, read the response header,
 * close our side (stdin EOF), then read the multiplexed output until the engine closes. */
static void raw_exec_start(struct bench *b, const char *exec_id)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        static const char body[] = "{\"Detach\":false,\"Tty\":false}";
        char req[512], buf[HDR_MAX];
        size_t got = 0, len;
        char *end = NULL;
        int fd, n, status;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", b->o.engine_socket);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect %s: %s", b->o.engine_socket, strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = snprintf(req, sizeof(req),
                     "POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     exec_id, sizeof(body) - 1, body);
        for (len = 0; len < (size_t)n;) {
                ssize_t k = send(fd, req + len, (size_t)n - len, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        die("exec start: send: %s", strerror(errno));
                len += (size_t)k;
        }
        while (!end) {
                ssize_t k;

                if (got >= sizeof(buf) - 1)
                        die("exec start: response header too large");
                k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        die("exec start: connection closed before the response header");
                got += (size_t)k;
                buf[got] = '\0';
                end = strstr(buf, "\r\n\r\n");
        }
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || (status != 101 && status != 200))
                die("exec start: %.200s", buf);
        shutdown(fd, SHUT_WR);
        for (;;) {
                ssize_t k = recv(fd, buf, sizeof(buf), 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno != ECONNRESET)
                        die("exec start: reading the stream: %s", strerror(errno));
                if (k <= 0)
                        break;
        }
        close(fd);
}

/* B: exec create + start + inspect; returns the exit code. */
static long raw_exec(struct bench *b)
{
        char url[256], exec_id[128];
        struct resp r = {0};
        json_t *j;
        long code = -1;

        snprintf(url, sizeof(url), API "/containers/%s/exec", b->warm_id);
        http_call(b->engine, b->o.engine_socket, "POST", url,
                  "{\"User\":\"" EXEC_USER "\",\"Cmd\":[\"true\"],\"AttachStdin\":true,"
                  "\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false}",
                  false, &r);
        expect_status(&r, 201, "exec create");
        j = resp_json(&r, "exec create");
        snprintf(exec_id, sizeof(exec_id), "%s", json_string_value(json_object_get(j, "Id")));
        json_decref(j);
        raw_exec_start(b, exec_id);
        snprintf(url, sizeof(url), API "/exec/%s/json", exec_id);
        for (int tries = 0; tries < 1000; tries++) {
                http_call(b->engine, b->o.engine_socket, "GET", url, NULL, false, &r);
                expect_status(&r, 200, "exec inspect");
                j = resp_json(&r, "exec inspect");
                if (!json_is_true(json_object_get(j, "Running"))) {
                        code = (long)json_integer_value(json_object_get(j, "ExitCode"));
                        json_decref(j);
                        break;
                }
                /* Not seen with Docker 20.10 or Podman 4.3; counted if it happens. */
                json_decref(j);
                b->inspect_retries++;
                usleep(1000);
        }
        resp_clear(&r);
        return code;
}

/* ---- the engine CLI ----------------------------------------------------------------------- */

static int cli_exec(struct bench *b)
{
        int status, devnull;
        pid_t pid = fork();

        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0) {
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (devnull >= 0) {
                        dup2(devnull, 0);
                        dup2(devnull, 1);
                }
                execl(b->o.cli, b->o.cli, "exec", "-u", EXEC_USER, b->warm_id, "true",
                      (char *)NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        die("waitpid: %s", strerror(errno));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- airlockd ----------------------------------------------------------------------------- */

/* POST /v1/exec; returns the exit code and sets *ret_dur to airlockd's duration_ms. */
static long airlockd_exec(struct bench *b, CURL *c, bool fresh_conn, bool session, double *ret_dur)
{
        char body[512];
        struct resp r = {0};
        json_t *j;
        long code;

        snprintf(body, sizeof(body),
                 "{\"agent\":\"bench\",%s\"runtime\":\"%s\",\"argv\":[\"true\"]}",
                 session ? "\"session\":\"warm\"," : "", b->o.runtime);
        http_call(c, b->o.socket, "POST", "http://localhost/v1/exec", body, fresh_conn, &r);
        expect_status(&r, 200, "airlockd exec");
        j = resp_json(&r, "airlockd exec");
        code = (long)json_integer_value(json_object_get(j, "exit_code"));
        *ret_dur = (double)json_integer_value(json_object_get(j, "duration_ms"));
        json_decref(j);
        resp_clear(&r);
        return code;
}

/* ---- one round -------------------------------------------------------------------------- */

static void add(struct samples *s, double v)
{
        if (s)
                s->v[s->n++] = v;
}

static void check_code(long code, const char *what)
{
        if (code != 0)
                die("%s: `true` exited %ld", what, code);
}

/* One exec through airlockd, timed; a new connection unless c is the kept-alive handle. */
static void run_airlockd(struct bench *b, CURL *c, bool session, struct samples *s,
                         const char *what)
{
        CURL *own = c ? NULL : curl_easy_init();
        double t0 = now_ms(), dur = 0, t;

        if (!c && !own)
                die("out of memory");
        check_code(airlockd_exec(b, c ? c : own, !c, session, &dur), what);
        t = now_ms() - t0;
        curl_easy_cleanup(own);
        if (s) {
                add(s, t);
                s->over[s->n_over++] = t - dur;
        }
}

/* Run variant v once; record it unless warm-up. */
static void run_variant(struct bench *b, int v, bool record)
{
        struct samples *s = record ? &b->s[v] : NULL;
        double t0, t1, t2;

        t0 = now_ms();
        switch (v) {
        case V_AL_WARM:
                run_airlockd(b, NULL, true, s, "airlockd warm");
                break;
        case V_AL_WARM_KA:
                run_airlockd(b, b->al_ka, true, s, "airlockd warm keep-alive");
                break;
        case V_RAW_EXEC:
                check_code(raw_exec(b), "raw exec");
                add(s, now_ms() - t0);
                break;
        case V_CLI_EXEC:
                check_code(cli_exec(b), "cli exec");
                add(s, now_ms() - t0);
                break;
        case V_AL_FRESH:
                run_airlockd(b, NULL, false, s, "airlockd fresh");
                break;
        case V_RAW_FRESH:
                raw_create(b, false, b->fresh_id, sizeof(b->fresh_id));
                raw_start(b, b->fresh_id);
                check_code(raw_wait(b, b->fresh_id), "raw fresh");
                t1 = now_ms();
                raw_remove(b, b->fresh_id);
                b->fresh_id[0] = '\0';
                t2 = now_ms();
                add(s, t1 - t0);
                add(record ? &b->s[V_RAW_FRESH_RM] : NULL, t2 - t0);
                break;
        default:
                break;
        }
}

/* ---- statistics and report -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Percentile q (0..1) of v[0..n) by linear interpolation between closest ranks. */
static double pct_of(const double *values, int n, double q)
{
        double *v, pos, r;
        int i;

        if (n == 0)
                return 0;
        v = malloc(sizeof(double) * (size_t)n);
        if (!v)
                die("out of memory");
        memcpy(v, values, sizeof(double) * (size_t)n);
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        pos = q * (n - 1);
        i = (int)pos;
        r = i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (pos - i) : v[i];
        free(v);
        return r;
}

static double pct(const struct samples *s, double q)
{
        return pct_of(s->v, s->n, q);
}

/* Rounded for the JSON: 0.1 ms and 0.001 are below what a run on a shared machine resolves. */
static double r1(double x)
{
        return round(x * 10) / 10;
}

static double r3(double x)
{
        return round(x * 1000) / 1000;
}

static bool active(const struct bench *b, int v)
{
        if (v == V_AL_WARM_KA)
                return !b->o.no_keepalive;
        return v != V_RAW_FRESH_RM; /* measured within V_RAW_FRESH */
}

struct ratio {
        const char *name;
        int num, den;
        bool goal;
};

static const struct ratio ratios[] = {
    {"airlockd-warm / raw-exec", V_AL_WARM, V_RAW_EXEC, true},
    {"airlockd-warm-keepalive / raw-exec", V_AL_WARM_KA, V_RAW_EXEC, false},
    {"airlockd-warm / cli-exec", V_AL_WARM, V_CLI_EXEC, false},
    {"airlockd-fresh / raw-create-start-wait-remove", V_AL_FRESH, V_RAW_FRESH_RM, true},
    {"airlockd-fresh / raw-create-start-wait", V_AL_FRESH, V_RAW_FRESH, false},
};

static double ratio_at(const struct bench *b, const struct ratio *r, double q)
{
        return pct(&b->s[r->num], q) / pct(&b->s[r->den], q);
}

static void report(struct bench *b)
{
        bool p50_ok = true, p90_ok = true;
        const char *verdict;
        json_t *out, *vars, *rats;

        for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
                const struct ratio *r = &ratios[i];
                double p50, p90;

                if (!r->goal)
                        continue;
                p50 = ratio_at(b, r, 0.5);
                p90 = ratio_at(b, r, 0.9);
                p50_ok = p50_ok && p50 <= GOAL;
                p90_ok = p90_ok && p90 <= GOAL;
        }
        verdict = p50_ok && p90_ok ? "met" : p50_ok ? "met at p50, not at p90" : "not met";
        if (b->o.json) {
                out = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f}", "engine", b->o.engine, "image",
                                b->o.image, "cli", b->o.cli, "n", b->o.n, "warmup", WARMUP,
                                "goal_ratio", GOAL);
                vars = json_object();
                for (int v = 0; v < V_COUNT; v++) {
                        json_t *o;

                        if (b->s[v].n == 0)
                                continue;
                        o = json_pack("{s:s, s:i, s:f, s:f}", "what", variant_desc[v], "n",
                                      b->s[v].n, "p50_ms", r1(pct(&b->s[v], 0.5)), "p90_ms",
                                      r1(pct(&b->s[v], 0.9)));
                        if (b->s[v].n_over)
                                json_object_set_new(
                                    o, "outside_engine_p50_ms",
                                    json_real(r1(pct_of(b->s[v].over, b->s[v].n_over, 0.5))));
                        json_object_set_new(vars, variant_names[v], o);
                }
                rats = json_object();
                for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
                        const struct ratio *r = &ratios[i];

                        if (b->s[r->num].n == 0 || b->s[r->den].n == 0)
                                continue;
                        json_object_set_new(rats, r->name,
                                            json_pack("{s:f, s:f, s:b}", "p50",
                                                      r3(ratio_at(b, r, 0.5)), "p90",
                                                      r3(ratio_at(b, r, 0.9)), "goal", r->goal));
                }
                json_object_set_new(out, "variants", vars);
                json_object_set_new(out, "ratios", rats);
                json_object_set_new(out, "goal", json_string(verdict));
                json_object_set_new(out, "goal_met", json_boolean(p50_ok && p90_ok));
                json_object_set_new(out, "inspect_retries", json_integer(b->inspect_retries));
                json_dumpf(out, stdout, JSON_INDENT(2));
                fputc('\n', stdout);
                json_decref(out);
                return;
        }
        printf("engine %s (%s), image %s, CLI %s, %d iterations + %d warm-up, interleaved\n\n",
               b->o.engine, b->o.engine_socket, b->o.image, b->o.cli, b->o.n, WARMUP);
        printf("%-30s %4s %9s %9s  %s\n", "variant", "n", "p50 ms", "p90 ms", "what");
        for (int v = 0; v < V_COUNT; v++) {
                if (b->s[v].n == 0)
                        continue;
                printf("%-30s %4d %9.1f %9.1f  %s", variant_names[v], b->s[v].n, pct(&b->s[v], 0.5),
                       pct(&b->s[v], 0.9), variant_desc[v]);
                printf("\n");
        }
        printf("\nairlockd outside its engine calls (request time - its duration_ms), p50:");
        for (int v = 0; v < V_COUNT; v++)
                if (b->s[v].n_over)
                        printf(" %s %.1f ms;", variant_names[v],
                               pct_of(b->s[v].over, b->s[v].n_over, 0.5));
        printf("\n");
        printf("\n%-48s %6s %6s\n", "ratio", "p50", "p90");
        for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
                const struct ratio *r = &ratios[i];

                if (b->s[r->num].n == 0 || b->s[r->den].n == 0)
                        continue;
                printf("%-48s %5.2fx %5.2fx%s\n", r->name, ratio_at(b, r, 0.5), ratio_at(b, r, 0.9),
                       r->goal ? "  (goal)" : "");
        }
        printf("\ngoal %.1fx (airlockd-warm / raw-exec and airlockd-fresh / "
               "raw-create-start-wait-remove, p50 and p90): %s\n",
               GOAL, verdict);
        if (b->inspect_retries)
                printf("note: exec inspect still showed Running %d time(s) after the stream "
                       "ended\n",
                       b->inspect_retries);
}

/* ---- setup and teardown ----------------------------------------------------------------- */

static bool image_present(struct bench *b, const char *ref)
{
        char url[512];
        struct resp r = {0};
        bool ok;

        snprintf(url, sizeof(url), API "/images/%s/json", ref);
        http_call(b->engine, b->o.engine_socket, "GET", url, NULL, false, &r);
        ok = r.status == 200;
        resp_clear(&r);
        return ok;
}

static char *read_text(const char *path)
{
        FILE *f = fopen(path, "re");
        char *data;
        size_t n;

        if (!f)
                die("cannot open '%s': %s", path, strerror(errno));
        data = malloc(SECCOMP_MAX + 1);
        if (!data)
                die("out of memory");
        n = fread(data, 1, SECCOMP_MAX + 1, f);
        fclose(f);
        if (n > SECCOMP_MAX)
                die("'%s' is larger than %d bytes", path, SECCOMP_MAX);
        data[n] = '\0';
        return data;
}

static void cleanup(struct bench *b)
{
        g_bench = NULL;
        if (b->fresh_id[0])
                raw_remove(b, b->fresh_id);
        if (b->warm_id[0])
                raw_remove(b, b->warm_id);
        b->fresh_id[0] = b->warm_id[0] = '\0';
}

static void usage(FILE *f)
{
        fprintf(f, "usage: bench_exec --socket AIRLOCK_SOCK [--engine docker|podman]\n"
                   "                  [--engine-socket PATH] [--image REF] [--runtime NAME]\n"
                   "                  [--cli PATH] [--seccomp PROFILE.json] [-n N] [--json]\n"
                   "                  [--no-keepalive]\n"
                   "Measures airlockd's exec against the raw Engine API and the engine CLI.\n"
                   "--image defaults to airlock/busybox:latest (airlock/busybox:test if absent);\n"
                   "it must be the image of airlockd's runtime NAME (default sh). --seccomp gives\n"
                   "the raw containers the profile airlockd uses. Default N is 30.\n");
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
        static const struct option longs[] = {
            {"socket", required_argument, NULL, 's'},
            {"engine-socket", required_argument, NULL, 'e'},
            {"engine", required_argument, NULL, 'E'},
            {"image", required_argument, NULL, 'i'},
            {"runtime", required_argument, NULL, 'r'},
            {"cli", required_argument, NULL, 'c'},
            {"seccomp", required_argument, NULL, 'S'},
            {"json", no_argument, NULL, 'j'},
            {"no-keepalive", no_argument, NULL, 'K'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int ch;

        o->engine = "docker";
        o->runtime = "sh";
        o->n = 30;
        while ((ch = getopt_long(argc, argv, "n:h", longs, NULL)) != -1) {
                switch (ch) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'e':
                        o->engine_socket = optarg;
                        break;
                case 'E':
                        o->engine = optarg;
                        break;
                case 'i':
                        o->image = optarg;
                        break;
                case 'r':
                        o->runtime = optarg;
                        break;
                case 'c':
                        o->cli = optarg;
                        break;
                case 'S':
                        o->seccomp = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'K':
                        o->no_keepalive = true;
                        break;
                case 'n':
                        o->n = atoi(optarg);
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        exit(2);
                }
        }
        if (optind != argc || !o->socket || o->n < 1 || o->n > 100000 ||
            (strcmp(o->engine, "docker") != 0 && strcmp(o->engine, "podman") != 0)) {
                usage(stderr);
                exit(2);
        }
        if (!o->engine_socket)
                o->engine_socket = strcmp(o->engine, "podman") == 0 ? "/run/podman/podman.sock"
                                                                    : "/var/run/docker.sock";
        if (!o->cli)
                o->cli = strcmp(o->engine, "podman") == 0 ? "/usr/bin/podman" : "/usr/bin/docker";
}

int main(int argc, char **argv)
{
        static struct bench bench;
        struct bench *b = &bench;
        struct sigaction sa = {.sa_handler = on_signal};
        int order[V_COUNT], n_order = 0;

        parse_opts(argc, argv, &b->o);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                die("curl_global_init failed");
        b->engine = curl_easy_init();
        b->al_ka = curl_easy_init();
        if (!b->engine || !b->al_ka)
                die("out of memory");
        for (int v = 0; v < V_COUNT; v++) {
                b->s[v].v = calloc((size_t)b->o.n, sizeof(double));
                b->s[v].over = calloc((size_t)b->o.n, sizeof(double));
                if (!b->s[v].v || !b->s[v].over)
                        die("out of memory");
                if (active(b, v))
                        order[n_order++] = v;
        }
        if (!b->o.image) {
                b->o.image = "airlock/busybox:latest";
                if (!image_present(b, b->o.image)) {
                        b->o.image = "airlock/busybox:test";
                        fprintf(stderr,
                                "bench_exec: airlock/busybox:latest is absent on %s; "
                                "using airlock/busybox:test\n",
                                b->o.engine);
                }
        }
        if (!image_present(b, b->o.image))
                die("image %s is not on the engine at %s", b->o.image, b->o.engine_socket);
        if (b->o.seccomp)
                b->seccomp_text = read_text(b->o.seccomp);

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        g_bench = b;
        raw_create(b, true, b->warm_id, sizeof(b->warm_id));
        raw_start(b, b->warm_id);

        /* Warm-up rounds first (the first airlockd-warm call makes the session's sandbox),
         * then the measured ones; each round runs every variant once, starting one further
         * along each time so no variant always follows the same one. */
        for (int it = 0; it < WARMUP + b->o.n && !interrupted; it++) {
                bool record = it >= WARMUP;

                for (int k = 0; k < n_order && !interrupted; k++)
                        run_variant(b, order[(it + k) % n_order], record);
                if (!b->o.json && record && (it - WARMUP + 1) % 10 == 0)
                        fprintf(stderr, "bench_exec: %d/%d\n", it - WARMUP + 1, b->o.n);
        }
        cleanup(b);
        if (interrupted)
                die("interrupted");
        report(b);
        for (int v = 0; v < V_COUNT; v++) {
                free(b->s[v].v);
                free(b->s[v].over);
        }
        free(b->seccomp_text);
        curl_easy_cleanup(b->engine);
        curl_easy_cleanup(b->al_ka);
        curl_global_cleanup();
        return 0;
}
