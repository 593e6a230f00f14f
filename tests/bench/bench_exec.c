/* bench_exec: what an exec through airlockd costs, measured against the engine it drives, in one
 * run on one engine (docs/benchmark.md). Four phases:
 *
 *   1 warm     interleaved round-robin (the order rotating each round), so drift on the machine
 *              hits every variant alike:
 *                airlockd-warm            POST /v1/exec in a kept session sandbox, new connection
 *                airlockd-warm-keepalive  the same on a kept-alive connection
 *                raw-exec                 Engine API exec create + start (hijacked) + inspect
 *                cli-exec                 docker exec / podman exec
 *                agent-direct             the warm sandbox's agent spoken to directly (EXEC,
 *                                         STARTED, GO, EXIT): what airlockd adds is the rest
 *                host-fork-exec           fork + exec of /bin/true on the host
 *                host-spawn-exec          posix_spawn (vfork) of /bin/true on the host: the floor
 *   2 first    the first exec of a new session with the warm pool full (paced: each airlockd
 *              call waits, untimed, until the pool is full again; a hit or miss is read from
 *              /metrics around each call), interleaved with:
 *                airlockd-fresh           a one-off exec (no session)
 *                raw-create-start-wait    Engine API create + start + wait (+ remove)
 *   3 load     S session sandboxes made, then C client threads run warm execs round-robin over
 *              them for T seconds: execs/s, p50/p99, errors. Then the same C threads on the raw
 *              Engine API exec, in the benchmark's one container, for a same-run baseline.
 *   4 rss      airlockd's VmRSS (and fds) at the start and after each phase.
 *
 * The raw client is written here on libcurl and a raw socket, not on airlock's engine module,
 * so the baseline does not share code with what it measures. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

extern char **environ;

#define API          "http://localhost/v1.41"
#define AL           "http://localhost"
#define BODY_MAX     (4 * 1024 * 1024)
#define HDR_MAX      (16 * 1024)
#define WARMUP       3
#define SECCOMP_MAX  (512 * 1024)
#define BENCH_LABEL  "airlock.bench"
#define IO_TIMEOUT_S 60
#define POOL_WAIT_MS 30000
#define AGENT_NAME   "bench"

/* The goals of issue 11. */
#define GOAL_WARM_MS       5.0
#define GOAL_WARM_SPEEDUP  10.0
#define GOAL_FIRST_MS      30.0
#define GOAL_LOAD_PER_S    300.0
#define GOAL_LOAD_P99_MS   100.0
#define GOAL_RSS_GROWTH_KB (4 * 1024)

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
        V_AGENT,        /* the sandbox's agent spoken to directly, no airlockd */
        V_HOST_FORK,    /* fork + exec of /bin/true on the host */
        V_HOST_SPAWN,   /* posix_spawn (vfork) + exec of /bin/true on the host */
        V_AL_NEW,       /* first exec of a new session */
        V_AL_FRESH,     /* one-off exec */
        V_RAW_FRESH,    /* create + start + wait */
        V_RAW_FRESH_RM, /* create + start + wait + remove */
        V_AL_LOAD,      /* phase 3, through airlockd */
        V_RAW_LOAD,     /* phase 3, raw Engine API exec */
        V_COUNT,
};

static const char *const variant_names[V_COUNT] = {
    [V_AL_WARM] = "airlockd-warm",
    [V_AL_WARM_KA] = "airlockd-warm-keepalive",
    [V_RAW_EXEC] = "raw-exec",
    [V_CLI_EXEC] = "cli-exec",
    [V_AGENT] = "agent-direct",
    [V_HOST_FORK] = "host-fork-exec",
    [V_HOST_SPAWN] = "host-spawn-exec",
    [V_AL_NEW] = "airlockd-new-session",
    [V_AL_FRESH] = "airlockd-fresh",
    [V_RAW_FRESH] = "raw-create-start-wait",
    [V_RAW_FRESH_RM] = "raw-create-start-wait-remove",
    [V_AL_LOAD] = "airlockd-load",
    [V_RAW_LOAD] = "raw-exec-load",
};

static const char *const variant_desc[V_COUNT] = {
    [V_AL_WARM] = "airlockd exec, session sandbox, new connection",
    [V_AL_WARM_KA] = "airlockd exec, session sandbox, kept-alive connection",
    [V_RAW_EXEC] = "Engine API exec create+start+inspect",
    [V_CLI_EXEC] = "CLI exec",
    [V_AGENT] = "the session sandbox's agent socket, EXEC/STARTED/GO/EXIT, no airlockd",
    [V_HOST_FORK] = "fork + exec /bin/true + wait on the host",
    [V_HOST_SPAWN] = "posix_spawn (vfork) of /bin/true + wait on the host, the machine's floor",
    [V_AL_NEW] = "airlockd first exec of a new session, pool full before",
    [V_AL_FRESH] = "airlockd one-off exec, pool full before",
    [V_RAW_FRESH] = "Engine API create+start+wait",
    [V_RAW_FRESH_RM] = "Engine API create+start+wait+remove",
    [V_AL_LOAD] = "airlockd warm execs, concurrent clients over the sandboxes",
    [V_RAW_LOAD] = "Engine API execs, concurrent clients, one container",
};

struct opts {
        const char *socket;
        const char *engine_socket;
        const char *engine;
        const char *image;
        const char *runtime;
        const char *cli;
        const char *seccomp;
        int n;       /* phase 1 rounds */
        int reps;    /* airlockd execs per variant per round in phase 1 */
        int n_first; /* phase 2 rounds */
        int pool;    /* airlockd's pool size for the runtime */
        int sandboxes;
        int clients;
        double seconds;
        double raw_seconds;
        int make_parallel;
        int daemon_pid;
        const char *phases; /* a subset of "wfl" */
        bool json;
};

struct samples {
        double *v;
        int n, cap;
};

struct resp {
        long status;
        char *data;
        size_t len;
        bool toobig;
};

struct rss_point {
        const char *phase;
        long rss_kb, hwm_kb;
        int fds;
        double cpu_ms; /* airlockd's user + system CPU time so far */
};

struct load_result {
        bool done;
        int clients, sandboxes;
        double seconds;
        long ok, errors;
        char first_error[400];
};

struct bench {
        struct opts o;
        char *seccomp_text;
        CURL *engine; /* kept-alive connection to the engine, like airlockd's pool */
        CURL *al_ka;  /* kept-alive connection to airlockd */
        CURL *al_aux; /* /metrics, session ends: untimed */
        char warm_id[128];
        char agent_sock[4200]; /* the airlockd-warm session sandbox's agent socket */
        char fresh_id[128];    /* a raw fresh container in flight, removed on the way out */
        struct samples s[V_COUNT];
        struct samples hit[V_COUNT]; /* phase 2: the samples that claimed a pooled sandbox */
        int hits[V_COUNT], misses[V_COUNT], pool_not_full;
        int inspect_retries;
        int engine_transport; /* airlockd results that said "transport":"engine" */
        int new_seq;
        struct rss_point rss[8];
        int n_rss;
        struct load_result load, raw_load;
        double make_s; /* phase 3: making the sandboxes */
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

static void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size);

        if (!p)
                die("out of memory");
        return p;
}

static void add(struct samples *s, double v)
{
        if (!s)
                return;
        if (s->n == s->cap) {
                int cap = s->cap ? s->cap * 2 : 64;
                double *nv = realloc(s->v, sizeof(double) * (size_t)cap);

                if (!nv)
                        die("out of memory");
                s->v = nv;
                s->cap = cap;
        }
        s->v[s->n++] = v;
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

/* One request on handle c (its connection is kept unless fresh). Fills r; returns the curl
 * result (a body over BODY_MAX is CURLE_WRITE_ERROR with r->toobig). */
static CURLcode http_try(CURL *c, const char *sock, const char *method, const char *url,
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
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        return cc;
}

/* http_try that dies on transport errors: a benchmark with a failed request measures nothing. */
static void http_call(CURL *c, const char *sock, const char *method, const char *url,
                      const char *body, bool fresh, struct resp *r)
{
        CURLcode cc = http_try(c, sock, method, url, body, fresh, r);

        if (r->toobig)
                die("%s %s via %s: response larger than %d bytes", method, url, sock, BODY_MAX);
        if (cc != CURLE_OK)
                die("%s %s via %s: %s", method, url, sock, curl_easy_strerror(cc));
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

        snprintf(url, sizeof(url), API "/containers/%.128s/start", id);
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
 * close our side (stdin EOF), then read the multiplexed output until the engine closes.
 * Returns 0, or -1 with a message in err. */
static int raw_exec_start(const char *engine_socket, const char *exec_id, char *err,
                          size_t err_size)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        static const char body[] = "{\"Detach\":false,\"Tty\":false}";
        char req[512], buf[HDR_MAX];
        size_t got = 0, len;
        char *end = NULL;
        int fd, n, status, ret = -1;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", engine_socket);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                snprintf(err, err_size, "connect %s: %s", engine_socket, strerror(errno));
                goto out;
        }
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
                if (k <= 0) {
                        snprintf(err, err_size, "exec start: send: %s", strerror(errno));
                        goto out;
                }
                len += (size_t)k;
        }
        while (!end) {
                ssize_t k;

                if (got >= sizeof(buf) - 1) {
                        snprintf(err, err_size, "exec start: response header too large");
                        goto out;
                }
                k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        snprintf(err, err_size,
                                 "exec start: connection closed before the response header");
                        goto out;
                }
                got += (size_t)k;
                buf[got] = '\0';
                end = strstr(buf, "\r\n\r\n");
        }
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || (status != 101 && status != 200)) {
                snprintf(err, err_size, "exec start: %.150s", buf);
                goto out;
        }
        shutdown(fd, SHUT_WR);
        for (;;) {
                ssize_t k = recv(fd, buf, sizeof(buf), 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno != ECONNRESET) {
                        snprintf(err, err_size, "exec start: reading the stream: %s",
                                 strerror(errno));
                        goto out;
                }
                if (k <= 0)
                        break;
        }
        ret = 0;
out:
        if (fd >= 0)
                close(fd);
        return ret;
}

/* Exec create + start + inspect in container cid on handle c; returns the exit code, or -1000
 * with a message in err when a call failed. *retries counts inspects that still said Running. */
static long raw_exec(CURL *c, const char *engine_socket, const char *cid, int *retries, char *err,
                     size_t err_size)
{
        char url[256], exec_id[128];
        struct resp r = {0};
        json_t *j;
        long code = -1000;
        CURLcode cc;

        snprintf(url, sizeof(url), API "/containers/%s/exec", cid);
        cc = http_try(c, engine_socket, "POST", url,
                      "{\"User\":\"" EXEC_USER "\",\"Cmd\":[\"true\"],\"AttachStdin\":true,"
                      "\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false}",
                      false, &r);
        if (cc != CURLE_OK || r.status != 201) {
                snprintf(err, err_size, "exec create: %s, HTTP %ld: %.100s", curl_easy_strerror(cc),
                         r.status, r.data ? r.data : "");
                goto out;
        }
        j = json_loadb(r.data, r.len, 0, NULL);
        snprintf(exec_id, sizeof(exec_id), "%s",
                 j && json_is_string(json_object_get(j, "Id"))
                     ? json_string_value(json_object_get(j, "Id"))
                     : "");
        json_decref(j);
        if (!exec_id[0]) {
                snprintf(err, err_size, "exec create: no Id");
                goto out;
        }
        if (raw_exec_start(engine_socket, exec_id, err, err_size) < 0)
                goto out;
        snprintf(url, sizeof(url), API "/exec/%s/json", exec_id);
        for (int tries = 0; tries < 1000; tries++) {
                cc = http_try(c, engine_socket, "GET", url, NULL, false, &r);
                j = cc == CURLE_OK && r.status == 200 ? json_loadb(r.data, r.len, 0, NULL) : NULL;
                if (!j) {
                        snprintf(err, err_size, "exec inspect: %s, HTTP %ld",
                                 curl_easy_strerror(cc), r.status);
                        goto out;
                }
                if (!json_is_true(json_object_get(j, "Running"))) {
                        code = (long)json_integer_value(json_object_get(j, "ExitCode"));
                        json_decref(j);
                        break;
                }
                /* Not seen with Docker 20.10 or Podman 4.3; counted if it happens. */
                json_decref(j);
                (*retries)++;
                usleep(1000);
        }
out:
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

/* POST /v1/exec of `true` in session (NULL: a one-off sandbox) on handle c. Returns the exit
 * code, or -1000 with a message in err when the request failed. *ret_engine is set when the
 * result says the exec went through the engine instead of the sandbox's agent. */
static long airlockd_try(const char *sock, const char *runtime, CURL *c, bool fresh_conn,
                         const char *session, bool *ret_engine, char *err, size_t err_size)
{
        char body[512];
        struct resp r = {0};
        json_t *j = NULL;
        long code = -1000;
        CURLcode cc;
        const char *tr;

        snprintf(body, sizeof(body),
                 "{\"agent\":\"" AGENT_NAME "\",%s%s%s\"runtime\":\"%s\",\"argv\":[\"true\"]}",
                 session ? "\"session\":\"" : "", session ? session : "", session ? "\"," : "",
                 runtime);
        cc = http_try(c, sock, "POST", AL "/v1/exec", body, fresh_conn, &r);
        if (cc == CURLE_OK && r.status == 200)
                j = json_loadb(r.data, r.len, 0, NULL);
        if (!j) {
                snprintf(err, err_size, "airlockd exec: %s, HTTP %ld: %.120s",
                         curl_easy_strerror(cc), r.status, r.data ? r.data : "");
                goto out;
        }
        code = (long)json_integer_value(json_object_get(j, "exit_code"));
        tr = json_string_value(json_object_get(j, "transport"));
        *ret_engine = tr && strcmp(tr, "engine") == 0;
        if (code != 0)
                snprintf(err, err_size,
                         "airlockd exec: `true` exited %ld (timed_out %d, aborted %d, transport "
                         "%s, sandbox_lost '%.200s', duration_ms %lld, stderr '%.100s')",
                         code, json_is_true(json_object_get(j, "timed_out")),
                         json_is_true(json_object_get(j, "aborted")), tr ? tr : "-",
                         json_string_value(json_object_get(j, "sandbox_lost"))
                             ? json_string_value(json_object_get(j, "sandbox_lost"))
                             : "",
                         (long long)json_integer_value(json_object_get(j, "duration_ms")),
                         json_string_value(json_object_get(j, "stderr"))
                             ? json_string_value(json_object_get(j, "stderr"))
                             : "");
out:
        json_decref(j);
        resp_clear(&r);
        return code;
}

static void airlockd_exec(struct bench *b, CURL *c, bool fresh_conn, const char *session,
                          const char *what)
{
        char err[300];
        bool engine = false;

        if (airlockd_try(b->o.socket, b->o.runtime, c, fresh_conn, session, &engine, err,
                         sizeof(err)) != 0)
                die("%s: %s", what, err);
        b->engine_transport += engine;
}

/* Untimed: GET /metrics and read the pool's gauge and claim counters. */
static void pool_metrics(struct bench *b, long *ret_ready, long *ret_hit, long *ret_miss)
{
        struct resp r = {0};
        const char *line;

        *ret_ready = *ret_hit = *ret_miss = -1;
        http_call(b->al_aux, b->o.socket, "GET", AL "/metrics", NULL, false, &r);
        expect_status(&r, 200, "GET /metrics");
        for (line = r.data; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                sscanf(line, "airlock_pool_ready %ld", ret_ready);
                sscanf(line, "airlock_pool_claims_total{result=\"hit\"} %ld", ret_hit);
                sscanf(line, "airlock_pool_claims_total{result=\"miss\"} %ld", ret_miss);
        }
        resp_clear(&r);
        if (*ret_ready < 0 || *ret_hit < 0 || *ret_miss < 0)
                die("/metrics has no airlock_pool_ready or airlock_pool_claims_total");
}

/* Untimed: wait until the pool holds o.pool sandboxes again (or POOL_WAIT_MS passed). */
static void pool_wait_full(struct bench *b)
{
        double t0 = now_ms();
        long ready, hit, miss;

        for (;;) {
                pool_metrics(b, &ready, &hit, &miss);
                if (ready >= b->o.pool)
                        return;
                if (now_ms() - t0 > POOL_WAIT_MS || interrupted) {
                        b->pool_not_full++;
                        return;
                }
                usleep(20 * 1000);
        }
}

static void session_end(struct bench *b, CURL *c, const char *session)
{
        char url[256];
        struct resp r = {0};

        snprintf(url, sizeof(url), AL "/v1/sessions/%s/end", session);
        http_call(c, b->o.socket, "POST", url, "{\"agent\":\"" AGENT_NAME "\"}", false, &r);
        expect_status(&r, 200, "session end");
        resp_clear(&r);
}

/* ---- airlockd's memory -------------------------------------------------------------------- */

static void rss_mark(struct bench *b, const char *phase)
{
        struct rss_point *p;
        char path[64], line[256];
        FILE *f;
        DIR *d;

        if (b->o.daemon_pid <= 0 || b->n_rss >= (int)(sizeof(b->rss) / sizeof(b->rss[0])))
                return;
        p = &b->rss[b->n_rss++];
        p->phase = phase;
        snprintf(path, sizeof(path), "/proc/%d/status", b->o.daemon_pid);
        f = fopen(path, "re");
        if (!f)
                die("cannot read %s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                sscanf(line, "VmRSS: %ld", &p->rss_kb);
                sscanf(line, "VmHWM: %ld", &p->hwm_kb);
        }
        fclose(f);
        snprintf(path, sizeof(path), "/proc/%d/stat", b->o.daemon_pid);
        f = fopen(path, "re");
        if (f) {
                unsigned long ut = 0, st = 0;
                char *close_paren;

                if (fgets(line, sizeof(line), f) && (close_paren = strrchr(line, ')')) &&
                    sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                           &ut, &st) == 2)
                        p->cpu_ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
                fclose(f);
        }
        snprintf(path, sizeof(path), "/proc/%d/fd", b->o.daemon_pid);
        d = opendir(path);
        if (d) {
                for (struct dirent *e; (e = readdir(d));)
                        p->fds += e->d_name[0] != '.';
                closedir(d);
        }
}

static const struct rss_point *rss_at(const struct bench *b, const char *phase)
{
        for (int i = 0; i < b->n_rss; i++)
                if (strcmp(b->rss[i].phase, phase) == 0)
                        return &b->rss[i];
        return NULL;
}

/* ---- the sandbox's agent, spoken to directly ------------------------------------------------ */

/* Find the agent socket of session "warm": its container's mount at /.airlock/run. */
static void agent_find(struct bench *b)
{
        struct resp r = {0};
        json_t *j, *sb, *m;
        const char *cid = NULL;
        char url[512];
        size_t i;

        http_call(b->al_aux, b->o.socket, "GET", AL "/v1/sandboxes", NULL, false, &r);
        expect_status(&r, 200, "GET /v1/sandboxes");
        j = resp_json(&r, "GET /v1/sandboxes");
        json_array_foreach(json_object_get(j, "sandboxes"), i, sb)
        {
                const char *sess = json_string_value(json_object_get(sb, "session"));

                if (sess && strcmp(sess, "warm") == 0)
                        cid = json_string_value(json_object_get(sb, "id"));
        }
        if (!cid)
                die("no sandbox for session warm in GET /v1/sandboxes");
        snprintf(url, sizeof(url), API "/containers/%s/json", cid);
        json_decref(j);
        resp_clear(&r);
        http_call(b->engine, b->o.engine_socket, "GET", url, NULL, false, &r);
        expect_status(&r, 200, "inspect the warm sandbox");
        j = resp_json(&r, "inspect the warm sandbox");
        json_array_foreach(json_object_get(j, "Mounts"), i, m)
        {
                const char *dst = json_string_value(json_object_get(m, "Destination"));
                const char *src = json_string_value(json_object_get(m, "Source"));

                if (dst && src && strcmp(dst, "/.airlock/run") == 0)
                        snprintf(b->agent_sock, sizeof(b->agent_sock), "%s/agent.sock", src);
        }
        json_decref(j);
        resp_clear(&r);
        if (!b->agent_sock[0])
                die("the warm sandbox has no /.airlock/run mount (no agent?)");
}

static void send_all(int fd, const void *p, size_t n)
{
        for (size_t k = 0; k < n;) {
                ssize_t w = send(fd, (const char *)p + k, n - k, MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        die("agent: send: %s", strerror(errno));
                k += (size_t)w;
        }
}

static void send_frame(int fd, int type, const char *payload)
{
        size_t n = payload ? strlen(payload) : 0;
        unsigned char h[5] = {(unsigned char)((n + 1) >> 24), (unsigned char)((n + 1) >> 16),
                              (unsigned char)((n + 1) >> 8), (unsigned char)(n + 1),
                              (unsigned char)type};

        send_all(fd, h, sizeof(h));
        if (n)
                send_all(fd, payload, n);
}

/* Read one frame's type (its payload, at most 64 KiB + a little, is skipped). */
static int recv_frame(int fd)
{
        unsigned char h[5];
        char skip[4096];
        size_t got = 0, len;

        while (got < sizeof(h)) {
                ssize_t k = recv(fd, h + got, sizeof(h) - got, 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        die("agent: connection closed mid-exec");
                got += (size_t)k;
        }
        len = ((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]) - 1;
        if (len > 70000)
                die("agent: frame of %zu bytes", len);
        while (len) {
                ssize_t k = recv(fd, skip, len < sizeof(skip) ? len : sizeof(skip), 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        die("agent: connection closed mid-frame");
                len -= (size_t)k;
        }
        return h[4];
}

/* One exec of `true` through the agent, as airlockd sends it (less the cgroup placement). */
static void agent_exec(struct bench *b)
{
        static const char exec[] =
            "{\"argv\":[\"true\"],\"env\":[\"HOME=/tmp\",\"PATH=/usr/local/sbin:/usr/local/bin:"
            "/usr/sbin:/usr/bin:/sbin:/bin\",\"LANG=C.UTF-8\"],\"cwd\":\"/tmp\",\"rlimits\":"
            "{\"nofile\":1024,\"core\":0},\"stdin\":false}";
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        int fd, t;

        if (strlen(b->agent_sock) >= sizeof(sa.sun_path))
                die("agent socket path too long: %s", b->agent_sock);
        memcpy(sa.sun_path, b->agent_sock, strlen(b->agent_sock) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect %s: %s", b->agent_sock, strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        send_frame(fd, 0x02, exec);
        if ((t = recv_frame(fd)) != 0x82)
                die("agent: frame 0x%02x instead of STARTED", t);
        send_frame(fd, 0x03, NULL);
        while ((t = recv_frame(fd)) != 0x85)
                if (t == 0x86)
                        die("agent: ERROR frame");
        close(fd);
}

/* fork + exec, or (spawn) posix_spawn, which glibc makes with clone(CLONE_VM | CLONE_VFORK):
 * no copy of the address space, as the agent's own spawn. */
static void host_fork_exec(bool spawn)
{
        char *const argv[] = {"true", NULL};
        int status;
        pid_t pid;

        if (spawn) {
                int e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);

                if (e != 0)
                        die("posix_spawn: %s", strerror(e));
        } else {
                pid = fork();
                if (pid < 0)
                        die("fork: %s", strerror(errno));
                if (pid == 0) {
                        execv("/bin/true", argv);
                        _exit(127);
                }
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        die("waitpid: %s", strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("/bin/true failed on the host");
}

/* ---- phase 1: warm execs ------------------------------------------------------------------- */

static void check_code(long code, const char *what)
{
        if (code != 0)
                die("%s: `true` exited %ld", what, code);
}

static void warm_variant(struct bench *b, int v, bool record)
{
        struct samples *s = record ? &b->s[v] : NULL;
        char err[300];
        double t0;
        long code;

        switch (v) {
        case V_AL_WARM:
        case V_AL_WARM_KA:
                for (int i = 0; i < b->o.reps; i++) {
                        CURL *own = v == V_AL_WARM ? curl_easy_init() : NULL;

                        if (v == V_AL_WARM && !own)
                                die("out of memory");
                        t0 = now_ms();
                        airlockd_exec(b, own ? own : b->al_ka, own != NULL, "warm",
                                      variant_names[v]);
                        /* A new connection's whole life, as a client that connects per exec. */
                        curl_easy_cleanup(own);
                        add(s, now_ms() - t0);
                }
                break;
        case V_RAW_EXEC:
                t0 = now_ms();
                code = raw_exec(b->engine, b->o.engine_socket, b->warm_id, &b->inspect_retries, err,
                                sizeof(err));
                if (code == -1000)
                        die("raw exec: %s", err);
                check_code(code, "raw exec");
                add(s, now_ms() - t0);
                break;
        case V_CLI_EXEC:
                t0 = now_ms();
                check_code(cli_exec(b), "cli exec");
                add(s, now_ms() - t0);
                break;
        case V_AGENT:
        case V_HOST_FORK:
        case V_HOST_SPAWN:
                for (int i = 0; i < b->o.reps; i++) {
                        t0 = now_ms();
                        if (v == V_AGENT)
                                agent_exec(b);
                        else
                                host_fork_exec(v == V_HOST_SPAWN);
                        add(s, now_ms() - t0);
                }
                break;
        default:
                break;
        }
}

static void phase_warm(struct bench *b)
{
        static const int order[] = {V_AL_WARM,    V_AL_WARM_KA, V_AGENT,   V_HOST_FORK,
                                    V_HOST_SPAWN, V_RAW_EXEC,   V_CLI_EXEC};
        const int n_order = (int)(sizeof(order) / sizeof(order[0]));

        /* The session's sandbox first, to find its agent. */
        airlockd_exec(b, b->al_ka, false, "warm", "airlockd warm");
        agent_find(b);

        /* Warm-up rounds first (the first airlockd call makes the session's sandbox), then the
         * measured ones; each round starts one further along so no variant always follows
         * the same one. */
        for (int it = 0; it < WARMUP + b->o.n && !interrupted; it++) {
                bool record = it >= WARMUP;

                for (int k = 0; k < n_order && !interrupted; k++)
                        warm_variant(b, order[(it + k) % n_order], record);
                if (!b->o.json && record && (it - WARMUP + 1) % 10 == 0)
                        fprintf(stderr, "bench_exec: warm %d/%d\n", it - WARMUP + 1, b->o.n);
        }
}

/* ---- phase 2: first exec of a new session ------------------------------------------------- */

static void first_variant(struct bench *b, int v, bool record)
{
        struct samples *s = record ? &b->s[v] : NULL;
        char session[64];
        long ready, hit0, miss0, hit1, miss1;
        double t0, t1, t2;

        switch (v) {
        case V_AL_NEW:
        case V_AL_FRESH:
                pool_wait_full(b);
                pool_metrics(b, &ready, &hit0, &miss0);
                snprintf(session, sizeof(session), "new-%d", b->new_seq++);
                t0 = now_ms();
                airlockd_exec(b, b->al_ka, false, v == V_AL_NEW ? session : NULL, variant_names[v]);
                t1 = now_ms();
                pool_metrics(b, &ready, &hit1, &miss1);
                if (v == V_AL_NEW)
                        session_end(b, b->al_aux, session);
                if (!record)
                        break;
                add(s, t1 - t0);
                if (hit1 > hit0) {
                        b->hits[v]++;
                        add(&b->hit[v], t1 - t0);
                } else {
                        b->misses[v] += miss1 > miss0;
                }
                break;
        case V_RAW_FRESH:
                t0 = now_ms();
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

static void phase_first(struct bench *b)
{
        static const int order[] = {V_AL_NEW, V_AL_FRESH, V_RAW_FRESH};
        const int n_order = (int)(sizeof(order) / sizeof(order[0]));

        for (int it = 0; it < WARMUP + b->o.n_first && !interrupted; it++) {
                bool record = it >= WARMUP;

                for (int k = 0; k < n_order && !interrupted; k++)
                        first_variant(b, order[(it + k) % n_order], record);
                if (!b->o.json && record && (it - WARMUP + 1) % 10 == 0)
                        fprintf(stderr, "bench_exec: first exec %d/%d\n", it - WARMUP + 1,
                                b->o.n_first);
        }
}

/* ---- phase 3: load ------------------------------------------------------------------------ */

struct worker {
        struct bench *b;
        pthread_t tid;
        int index;
        bool raw;  /* raw Engine API execs instead of airlockd's */
        bool make; /* make sandboxes index, index + stride, ... instead */
        int stride;
        double until; /* now_ms() deadline */
        struct samples s;
        long ok, errors;
        int retries;
        char first_error[400];
};

static void worker_error(struct worker *w, const char *err)
{
        if (!w->errors++)
                snprintf(w->first_error, sizeof(w->first_error), "%s", err);
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        struct bench *b = w->b;
        CURL *c = curl_easy_init();
        char session[64], err[400];
        bool engine = false;
        long code;

        if (!c)
                die("out of memory");
        if (w->make) {
                for (int i = w->index; i < b->o.sandboxes && !interrupted; i += w->stride) {
                        snprintf(session, sizeof(session), "load-%d", i);
                        if (airlockd_try(b->o.socket, b->o.runtime, c, false, session, &engine, err,
                                         sizeof(err)) != 0)
                                worker_error(w, err);
                        else
                                w->ok++;
                }
                curl_easy_cleanup(c);
                return NULL;
        }
        /* Round-robin over the sandboxes, each client starting at its own. */
        for (int i = w->index; now_ms() < w->until && !interrupted; i += w->stride) {
                double t0 = now_ms();

                if (w->raw) {
                        code = raw_exec(c, b->o.engine_socket, b->warm_id, &w->retries, err,
                                        sizeof(err));
                        if (code != 0 && code != -1000)
                                snprintf(err, sizeof(err), "raw exec: `true` exited %ld", code);
                } else {
                        snprintf(session, sizeof(session), "load-%d", i % b->o.sandboxes);
                        code = airlockd_try(b->o.socket, b->o.runtime, c, false, session, &engine,
                                            err, sizeof(err));
                        if (engine)
                                worker_error(w, "an exec went through the engine, not the agent");
                }
                if (code != 0) {
                        worker_error(w, err);
                        continue;
                }
                add(&w->s, now_ms() - t0);
                w->ok++;
        }
        curl_easy_cleanup(c);
        return NULL;
}

/* Run n workers (each filled in by the caller), join them, merge their samples into s. With
 * mid_ms > 0, airlockd's memory is read that long after the start, as "mid load". */
static void run_workers(struct bench *b, struct worker *w, int n, struct samples *s,
                        struct load_result *res, double mid_ms)
{
        for (int i = 0; i < n; i++)
                if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
                        die("pthread_create failed");
        if (mid_ms > 0) {
                usleep((useconds_t)(mid_ms * 1000));
                rss_mark(b, "mid load");
        }
        for (int i = 0; i < n; i++) {
                pthread_join(w[i].tid, NULL);
                for (int k = 0; k < w[i].s.n; k++)
                        add(s, w[i].s.v[k]);
                free(w[i].s.v);
                b->inspect_retries += w[i].retries;
                if (res) {
                        res->ok += w[i].ok;
                        res->errors += w[i].errors;
                        if (w[i].errors && !res->first_error[0])
                                snprintf(res->first_error, sizeof(res->first_error), "%s",
                                         w[i].first_error);
                }
        }
}

static void load_run(struct bench *b, bool raw, double seconds, int v, struct load_result *res)
{
        struct worker *w = xcalloc((size_t)b->o.clients, sizeof(*w));
        double t0, until;

        t0 = now_ms();
        until = t0 + seconds * 1000;
        for (int i = 0; i < b->o.clients; i++)
                w[i] = (struct worker){.b = b, .index = i, .raw = raw, .stride = 1, .until = until};
        run_workers(b, w, b->o.clients, &b->s[v], res, raw ? 0 : seconds * 500);
        res->seconds = (now_ms() - t0) / 1000;
        res->clients = b->o.clients;
        res->sandboxes = raw ? 1 : b->o.sandboxes;
        res->done = true;
        free(w);
}

static void phase_load(struct bench *b)
{
        struct worker *w = xcalloc((size_t)b->o.make_parallel, sizeof(*w));
        struct load_result made = {0};
        double t0 = now_ms();

        /* Make the sandboxes: one exec in each new session, make_parallel at a time. */
        for (int i = 0; i < b->o.make_parallel; i++)
                w[i] =
                    (struct worker){.b = b, .index = i, .make = true, .stride = b->o.make_parallel};
        run_workers(b, w, b->o.make_parallel, NULL, &made, 0);
        free(w);
        b->make_s = (now_ms() - t0) / 1000;
        if (made.errors)
                die("making %d sandboxes: %ld failed, first: %s", b->o.sandboxes, made.errors,
                    made.first_error);
        if (!b->o.json)
                fprintf(stderr, "bench_exec: %d sandboxes made in %.1f s; load for %.0f s\n",
                        b->o.sandboxes, b->make_s, b->o.seconds);
        rss_mark(b, "sandboxes made");
        if (interrupted)
                return;
        load_run(b, false, b->o.seconds, V_AL_LOAD, &b->load);
        rss_mark(b, "after load");
        if (interrupted || b->o.raw_seconds <= 0)
                return;
        if (!b->o.json)
                fprintf(stderr, "bench_exec: raw Engine API load for %.0f s\n", b->o.raw_seconds);
        load_run(b, true, b->o.raw_seconds, V_RAW_LOAD, &b->raw_load);
}

/* ---- statistics and report -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Percentile q (0..1) of s by linear interpolation between closest ranks; NAN when empty. */
static double pct(const struct samples *s, double q)
{
        double pos;
        int i;

        if (s->n == 0)
                return NAN;
        qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
        pos = q * (s->n - 1);
        i = (int)pos;
        return i + 1 < s->n ? s->v[i] + (s->v[i + 1] - s->v[i]) * (pos - i) : s->v[i];
}

/* Rounded for the JSON: 0.01 ms and 0.001 are below what a run on a shared machine resolves. */
static json_t *jnum(double x, double unit)
{
        return isnan(x) ? json_null() : json_real(round(x / unit) * unit);
}

struct ratio {
        const char *name;
        int num, den;
};

/* Each "how many times faster than the baseline": the baseline's figure over airlockd's. */
static const struct ratio ratios[] = {
    {"raw-exec / airlockd-warm", V_RAW_EXEC, V_AL_WARM},
    {"raw-exec / airlockd-warm-keepalive", V_RAW_EXEC, V_AL_WARM_KA},
    {"cli-exec / airlockd-warm", V_CLI_EXEC, V_AL_WARM},
    {"agent-direct / airlockd-warm", V_AGENT, V_AL_WARM},
    {"host-fork-exec / airlockd-warm", V_HOST_FORK, V_AL_WARM},
    {"host-spawn-exec / airlockd-warm", V_HOST_SPAWN, V_AL_WARM},
    {"raw-create-start-wait / airlockd-new-session", V_RAW_FRESH, V_AL_NEW},
    {"raw-create-start-wait-remove / airlockd-fresh", V_RAW_FRESH_RM, V_AL_FRESH},
    {"raw-exec-load / airlockd-load", V_RAW_LOAD, V_AL_LOAD},
};

static double ratio_at(struct bench *b, const struct ratio *r, double q)
{
        return pct(&b->s[r->num], q) / pct(&b->s[r->den], q);
}

static double per_s(const struct load_result *l)
{
        return l->seconds > 0 ? (double)l->ok / l->seconds : NAN;
}

/* airlockd's CPU time per exec over the load phase, or NAN. */
static double load_cpu_per_exec(const struct bench *b)
{
        const struct rss_point *made = rss_at(b, "sandboxes made"),
                               *after = rss_at(b, "after load");

        if (!made || !after || b->load.ok == 0)
                return NAN;
        return (after->cpu_ms - made->cpu_ms) / (double)b->load.ok;
}

struct goal {
        const char *name;
        double value, target;
        bool at_most, met, measured;
        const char *unit;
};

static int goals_eval(struct bench *b, struct goal *g)
{
        int n = 0;
        const struct rss_point *made = rss_at(b, "mid load"), *after = rss_at(b, "after load");
        const struct rss_point *s0 = rss_at(b, "start"), *s1 = rss_at(b, "after warm");

        g[n++] = (struct goal){"warm exec p50 (airlockd-warm)",
                               pct(&b->s[V_AL_WARM], 0.5),
                               GOAL_WARM_MS,
                               true,
                               false,
                               false,
                               "ms"};
        g[n++] = (struct goal){"raw-exec / airlockd-warm at p50",
                               ratio_at(b, &ratios[0], 0.5),
                               GOAL_WARM_SPEEDUP,
                               false,
                               false,
                               false,
                               "x"};
        g[n++] = (struct goal){"new session first exec p50",
                               pct(&b->s[V_AL_NEW], 0.5),
                               GOAL_FIRST_MS,
                               true,
                               false,
                               false,
                               "ms"};
        g[n++] = (struct goal){"load execs/s",
                               b->load.done ? per_s(&b->load) : NAN,
                               GOAL_LOAD_PER_S,
                               false,
                               false,
                               false,
                               "/s"};
        g[n++] = (struct goal){
            "load p99", pct(&b->s[V_AL_LOAD], 0.99), GOAL_LOAD_P99_MS, true, false, false, "ms"};
        g[n++] = (struct goal){
            "load errors", b->load.done ? (double)b->load.errors : NAN, 0, true, false, false, ""};
        g[n++] = (struct goal){"RSS growth over the warm phase",
                               s0 && s1 ? (double)(s1->rss_kb - s0->rss_kb) : NAN,
                               GOAL_RSS_GROWTH_KB,
                               true,
                               false,
                               false,
                               "KiB"};
        g[n++] = (struct goal){"RSS growth, 2nd half of the load",
                               made && after ? (double)(after->rss_kb - made->rss_kb) : NAN,
                               GOAL_RSS_GROWTH_KB,
                               true,
                               false,
                               false,
                               "KiB"};
        for (int i = 0; i < n; i++) {
                g[i].measured = !isnan(g[i].value);
                g[i].met = g[i].measured &&
                           (g[i].at_most ? g[i].value <= g[i].target : g[i].value >= g[i].target);
        }
        return n;
}

static json_t *load_json(struct bench *b, const struct load_result *l, int v)
{
        return json_pack("{s:i, s:i, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:s}", "clients",
                         l->clients, "sandboxes", l->sandboxes, "seconds", jnum(l->seconds, 0.01),
                         "execs", (json_int_t)l->ok, "errors", (json_int_t)l->errors, "execs_per_s",
                         jnum(per_s(l), 0.1), "p50_ms", jnum(pct(&b->s[v], 0.5), 0.01), "p90_ms",
                         jnum(pct(&b->s[v], 0.9), 0.01), "p99_ms", jnum(pct(&b->s[v], 0.99), 0.01),
                         "first_error", l->first_error);
}

static void report_json(struct bench *b, struct goal *g, int n_goals, bool all_met)
{
        json_t *out, *vars, *rats, *rss, *goals;

        out = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i}", "engine", b->o.engine, "image",
                        b->o.image, "cli", b->o.cli, "rounds", b->o.n, "reps", b->o.reps,
                        "first_rounds", b->o.n_first, "warmup", WARMUP, "pool", b->o.pool);
        vars = json_object();
        for (int v = 0; v < V_COUNT; v++) {
                json_t *o;

                if (b->s[v].n == 0)
                        continue;
                o = json_pack("{s:s, s:i, s:o, s:o, s:o}", "what", variant_desc[v], "n", b->s[v].n,
                              "p50_ms", jnum(pct(&b->s[v], 0.5), 0.01), "p90_ms",
                              jnum(pct(&b->s[v], 0.9), 0.01), "p99_ms",
                              jnum(pct(&b->s[v], 0.99), 0.01));
                if (v == V_AL_NEW || v == V_AL_FRESH) {
                        json_object_set_new(o, "pool_hits", json_integer(b->hits[v]));
                        json_object_set_new(o, "pool_misses", json_integer(b->misses[v]));
                        json_object_set_new(o, "p50_ms_hits", jnum(pct(&b->hit[v], 0.5), 0.01));
                }
                json_object_set_new(vars, variant_names[v], o);
        }
        json_object_set_new(out, "variants", vars);
        rats = json_object();
        for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
                const struct ratio *r = &ratios[i];

                if (b->s[r->num].n == 0 || b->s[r->den].n == 0)
                        continue;
                json_object_set_new(rats, r->name,
                                    json_pack("{s:o, s:o}", "p50", jnum(ratio_at(b, r, 0.5), 0.01),
                                              "p90", jnum(ratio_at(b, r, 0.9), 0.01)));
        }
        if (b->load.done && b->raw_load.done)
                json_object_set_new(rats, "airlockd-load / raw-exec-load execs/s",
                                    jnum(per_s(&b->load) / per_s(&b->raw_load), 0.01));
        json_object_set_new(out, "ratios", rats);
        if (b->s[V_AGENT].n && b->s[V_AL_WARM].n)
                json_object_set_new(
                    out, "airlockd_share_p50_ms",
                    jnum(pct(&b->s[V_AL_WARM], 0.5) - pct(&b->s[V_AGENT], 0.5), 0.01));
        if (b->load.done) {
                json_object_set_new(out, "load", load_json(b, &b->load, V_AL_LOAD));
                json_object_set_new(out, "make_sandboxes_s", jnum(b->make_s, 0.01));
                json_object_set_new(out, "load_airlockd_cpu_ms_per_exec",
                                    jnum(load_cpu_per_exec(b), 0.01));
        }
        if (b->raw_load.done)
                json_object_set_new(out, "raw_load", load_json(b, &b->raw_load, V_RAW_LOAD));
        rss = json_array();
        for (int i = 0; i < b->n_rss; i++)
                json_array_append_new(
                    rss,
                    json_pack("{s:s, s:I, s:I, s:i, s:o}", "phase", b->rss[i].phase, "rss_kib",
                              (json_int_t)b->rss[i].rss_kb, "hwm_kib", (json_int_t)b->rss[i].hwm_kb,
                              "fds", b->rss[i].fds, "cpu_ms", jnum(b->rss[i].cpu_ms, 1)));
        json_object_set_new(out, "daemon_memory", rss);
        goals = json_object();
        for (int i = 0; i < n_goals; i++)
                json_object_set_new(goals, g[i].name,
                                    json_pack("{s:o, s:f, s:b, s:b}", "value",
                                              jnum(g[i].value, 0.01), "target", g[i].target,
                                              "at_most", g[i].at_most, "met", g[i].met));
        json_object_set_new(out, "goals", goals);
        json_object_set_new(out, "goal_met", json_boolean(all_met));
        json_object_set_new(out, "pool_not_full", json_integer(b->pool_not_full));
        json_object_set_new(out, "engine_transport", json_integer(b->engine_transport));
        json_object_set_new(out, "inspect_retries", json_integer(b->inspect_retries));
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(out);
}

static void report_load(struct bench *b, const char *name, const struct load_result *l, int v)
{
        printf("%-16s %3d clients, %3d sandbox(es), %5.1f s: %6ld execs, %7.1f execs/s, "
               "p50 %6.2f ms, p99 %7.2f ms, %ld error(s)%s%s\n",
               name, l->clients, l->sandboxes, l->seconds, l->ok, per_s(l), pct(&b->s[v], 0.5),
               pct(&b->s[v], 0.99), l->errors, l->errors ? ": " : "", l->first_error);
}

static void report(struct bench *b)
{
        struct goal g[16];
        int n_goals = goals_eval(b, g);
        bool all_met = true;

        for (int i = 0; i < n_goals; i++)
                all_met = all_met && g[i].met;
        if (b->o.json) {
                report_json(b, g, n_goals, all_met);
                return;
        }
        printf("engine %s (%s), image %s, CLI %s\n", b->o.engine, b->o.engine_socket, b->o.image,
               b->o.cli);
        printf("warm: %d rounds x %d airlockd execs + %d warm-up; first exec: %d rounds + %d "
               "warm-up, pool %d; interleaved\n\n",
               b->o.n, b->o.reps, WARMUP, b->o.n_first, WARMUP, b->o.pool);
        printf("%-30s %5s %9s %9s %9s  %s\n", "variant", "n", "p50 ms", "p90 ms", "p99 ms", "what");
        for (int v = 0; v < V_COUNT; v++) {
                if (b->s[v].n == 0)
                        continue;
                printf("%-30s %5d %9.2f %9.2f %9.2f  %s", variant_names[v], b->s[v].n,
                       pct(&b->s[v], 0.5), pct(&b->s[v], 0.9), pct(&b->s[v], 0.99),
                       variant_desc[v]);
                if (v == V_AL_NEW || v == V_AL_FRESH)
                        printf(" (pool hits %d, misses %d; p50 of hits %.2f ms)", b->hits[v],
                               b->misses[v], pct(&b->hit[v], 0.5));
                printf("\n");
        }
        if (b->load.done) {
                printf("\n%d sandboxes made in %.1f s (%d at a time)\n", b->o.sandboxes, b->make_s,
                       b->o.make_parallel);
                report_load(b, "airlockd-load", &b->load, V_AL_LOAD);
                if (!isnan(load_cpu_per_exec(b)))
                        printf("airlockd CPU time per exec under load: %.2f ms\n",
                               load_cpu_per_exec(b));
        }
        if (b->raw_load.done)
                report_load(b, "raw-exec-load", &b->raw_load, V_RAW_LOAD);
        printf("\n%-48s %8s %8s\n", "ratio (baseline / airlockd)", "p50", "p90");
        for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
                const struct ratio *r = &ratios[i];

                if (b->s[r->num].n == 0 || b->s[r->den].n == 0)
                        continue;
                printf("%-48s %7.1fx %7.1fx\n", r->name, ratio_at(b, r, 0.5), ratio_at(b, r, 0.9));
        }
        if (b->s[V_AGENT].n && b->s[V_AL_WARM].n)
                printf("%-48s %7.2f ms\n", "airlockd's share: airlockd-warm - agent-direct",
                       pct(&b->s[V_AL_WARM], 0.5) - pct(&b->s[V_AGENT], 0.5));
        if (b->load.done && b->raw_load.done)
                printf("%-48s %7.1fx\n", "airlockd-load / raw-exec-load, execs/s",
                       per_s(&b->load) / per_s(&b->raw_load));
        if (b->n_rss) {
                printf("\nairlockd memory (pid %d):\n", b->o.daemon_pid);
                for (int i = 0; i < b->n_rss; i++)
                        printf("  %-16s VmRSS %7ld KiB  VmHWM %7ld KiB  fds %4d  CPU %8.0f ms\n",
                               b->rss[i].phase, b->rss[i].rss_kb, b->rss[i].hwm_kb, b->rss[i].fds,
                               b->rss[i].cpu_ms);
        }
        printf("\ngoals:\n");
        for (int i = 0; i < n_goals; i++)
                printf("  %-36s %10.2f %-4s %s %8.1f  %s\n", g[i].name, g[i].value, g[i].unit,
                       g[i].at_most ? "<=" : ">=", g[i].target,
                       !g[i].measured ? "not measured"
                       : g[i].met     ? "met"
                                      : "NOT MET");
        if (b->pool_not_full)
                printf("note: the pool was not full after %d s %d time(s)\n", POOL_WAIT_MS / 1000,
                       b->pool_not_full);
        if (b->engine_transport)
                printf("note: %d airlockd exec(s) went through the engine, not the agent\n",
                       b->engine_transport);
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
                   "         [--engine-socket PATH] [--image REF] [--runtime NAME] [--cli PATH]\n"
                   "         [--seccomp PROFILE.json] [--daemon-pid PID] [--phases wfl]\n"
                   "         [-n ROUNDS] [--reps N] [--first N] [--pool N]\n"
                   "         [--sandboxes N] [--clients N] [--seconds S] [--raw-seconds S]\n"
                   "         [--make-parallel N] [--json]\n"
                   "Measures airlockd's exec against the raw Engine API and the engine CLI:\n"
                   "  w  warm execs, ROUNDS rounds (30) of N airlockd execs (10) per variant\n"
                   "  f  first exec of a new session, N rounds (20), pool of N (4) kept full\n"
                   "  l  load: N sandboxes (100), N clients (20) for S seconds (10), then the raw\n"
                   "     Engine API for S seconds (5; 0 skips it)\n"
                   "--image defaults to airlock/busybox:latest (airlock/busybox:test if absent);\n"
                   "it must be the image of airlockd's runtime NAME (default sh), and NAME its\n"
                   "default_runtime with pool_size N. --seccomp gives the raw containers the\n"
                   "profile airlockd uses. --daemon-pid: airlockd's pid, for its VmRSS.\n");
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
            {"daemon-pid", required_argument, NULL, 'P'},
            {"phases", required_argument, NULL, 'p'},
            {"reps", required_argument, NULL, 'R'},
            {"first", required_argument, NULL, 'F'},
            {"pool", required_argument, NULL, 'O'},
            {"sandboxes", required_argument, NULL, 'B'},
            {"clients", required_argument, NULL, 'C'},
            {"seconds", required_argument, NULL, 'T'},
            {"raw-seconds", required_argument, NULL, 'W'},
            {"make-parallel", required_argument, NULL, 'M'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int ch;

        o->engine = "docker";
        o->runtime = "sh";
        o->n = 30;
        o->reps = 10;
        o->n_first = 20;
        o->pool = 4;
        o->sandboxes = 100;
        o->clients = 20;
        o->seconds = 10;
        o->raw_seconds = 5;
        o->make_parallel = 4;
        o->phases = "wfl";
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
                case 'P':
                        o->daemon_pid = atoi(optarg);
                        break;
                case 'p':
                        o->phases = optarg;
                        break;
                case 'R':
                        o->reps = atoi(optarg);
                        break;
                case 'F':
                        o->n_first = atoi(optarg);
                        break;
                case 'O':
                        o->pool = atoi(optarg);
                        break;
                case 'B':
                        o->sandboxes = atoi(optarg);
                        break;
                case 'C':
                        o->clients = atoi(optarg);
                        break;
                case 'T':
                        o->seconds = atof(optarg);
                        break;
                case 'W':
                        o->raw_seconds = atof(optarg);
                        break;
                case 'M':
                        o->make_parallel = atoi(optarg);
                        break;
                case 'j':
                        o->json = true;
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
        if (optind != argc || !o->socket || o->n < 1 || o->n > 100000 || o->reps < 1 ||
            o->reps > 1000 || o->n_first < 1 || o->n_first > 100000 || o->pool < 0 ||
            o->sandboxes < 1 || o->sandboxes > 10000 || o->clients < 1 || o->clients > 1000 ||
            !(o->seconds > 0) || o->raw_seconds < 0 || o->make_parallel < 1 ||
            o->make_parallel > 64 || strspn(o->phases, "wfl") != strlen(o->phases) ||
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

        parse_opts(argc, argv, &b->o);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                die("curl_global_init failed");
        json_object_seed(0); /* before any thread makes an object */
        b->engine = curl_easy_init();
        b->al_ka = curl_easy_init();
        b->al_aux = curl_easy_init();
        if (!b->engine || !b->al_ka || !b->al_aux)
                die("out of memory");
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

        rss_mark(b, "start");
        if (strchr(b->o.phases, 'w')) {
                phase_warm(b);
                rss_mark(b, "after warm");
        }
        if (strchr(b->o.phases, 'f') && !interrupted) {
                phase_first(b);
                rss_mark(b, "after first");
        }
        if (strchr(b->o.phases, 'l') && !interrupted)
                phase_load(b);
        cleanup(b);
        if (interrupted)
                die("interrupted");
        report(b);
        for (int v = 0; v < V_COUNT; v++) {
                free(b->s[v].v);
                free(b->hit[v].v);
        }
        free(b->seccomp_text);
        curl_easy_cleanup(b->engine);
        curl_easy_cleanup(b->al_ka);
        curl_easy_cleanup(b->al_aux);
        curl_global_cleanup();
        return 0;
}
