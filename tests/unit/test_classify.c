/* The SELECTIVE classifier: a table of execs and their decisions under the shipped
 * policies/selective.rules, the fixed checks, the rules parser's problems with their lines,
 * and concurrent use of one rule set. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/classify.h"
#include "airlock/cleanup.h"

#define MAX_ARGS 8
#define MAX_ENV  4

struct ccase {
        const char *command; /* exactly one of command, argv, code */
        const char *argv[MAX_ARGS];
        const char *code;
        const char *runtime; /* NULL means "bash"; "-" means no runtime at all */
        int network;         /* as in exec_request: -1 not given */
        bool untrusted;
        const char *env[MAX_ENV];
        bool sandbox;       /* expected decision */
        const char *reason; /* a fragment of the expected reason */
};

#define CMD(c, sb, why)                                                                            \
        {                                                                                          \
                .command = (c), .network = -1, .sandbox = (sb), .reason = (why)                    \
        }
#define ARGV(sb, why, ...)                                                                         \
        {                                                                                          \
                .argv = {__VA_ARGS__}, .network = -1, .sandbox = (sb), .reason = (why)             \
        }
#define CODE(c, rt, sb, why)                                                                       \
        {                                                                                          \
                .code = (c), .runtime = (rt), .network = -1, .sandbox = (sb), .reason = (why)      \
        }
#define HOST    false
#define SANDBOX true

static const struct ccase cases[] = {
    /* the low-risk list, alone and in pipes */
    CMD("ls", HOST, "rule readonly (selective.rules:"),
    CMD("ls -la", HOST, "ls is on the low-risk list"),
    CMD("ls -la /etc", HOST, "ls is on the low-risk list"),
    CMD("  ls  -la  ", HOST, "ls is on the low-risk list"),
    CMD("ls\t-la", HOST, "ls is on the low-risk list"),
    CMD("pwd", HOST, "pwd is on"),
    CMD("echo hello world", HOST, "echo is on"),
    CMD("date +%s", HOST, "date is on"),
    CMD("wc -l *.py", HOST, "wc is on"),
    CMD("stat -c %s notes.txt", HOST, "stat is on"),
    CMD("cat f | wc -l", HOST, "cat, wc are on the low-risk list"),
    CMD("grep -r TODO src | sort | head -n 5", HOST, "grep, sort, head are on"),
    CMD("find . -name '*.c'", HOST, "find is on"),
    CMD("find . -name \"*.c\" -type f", HOST, "find is on"),
    CMD("sort -n data.txt | head", HOST, "sort, head are on"),
    CMD("/bin/ls -la", HOST, "ls is on"),
    CMD("/usr/bin/wc -c f", HOST, "wc is on"),
    CMD("ls \303\274n\303\257code.txt", HOST, "ls is on"), /* "ls ünïcode.txt" */
    ARGV(HOST, "ls is on the low-risk list", "ls", "-la"),
    ARGV(HOST, "ls is on", "/bin/ls", "-la"),
    ARGV(HOST, "wc is on", "/usr/bin/wc", "-l", "f"),
    ARGV(HOST, "find is on", "find", ".", "-name", "*.c"), /* no shell, so no glob */
    ARGV(HOST, "ls is on", "sh", "-c", "ls -la"),
    ARGV(HOST, "cat, wc are on", "/bin/bash", "-c", "cat f | wc -l"),
    CODE("ls -la", "sh", HOST, "ls is on"),
    CODE("cat f | wc -l", "bash", HOST, "cat, wc are on"),
    {.command = "ls", .network = 0, .sandbox = HOST, .reason = "ls is on"},
    {.command = "ls",
     .network = -1,
     .env = {"LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC"},
     .sandbox = HOST,
     .reason = "ls is on"},

    /* fixed checks */
    {.command = "ls", .network = 1, .sandbox = SANDBOX, .reason = "network requested"},
    {.command = "ls",
     .network = -1,
     .untrusted = true,
     .sandbox = SANDBOX,
     .reason = "marked untrusted by the client"},
    CODE("print(6*7)", "python", SANDBOX, "runtime 'python' runs arbitrary code"),
    CODE("console.log(1)", "node", SANDBOX, "runtime 'node' runs arbitrary code"),
    {.command = "ls",
     .runtime = "python",
     .network = -1,
     .sandbox = SANDBOX,
     .reason = "runtime 'python'"},
    {.argv = {"ls"},
     .runtime = "node",
     .network = -1,
     .sandbox = SANDBOX,
     .reason = "runtime 'node'"},
    {.command = "ls",
     .runtime = "-",
     .network = -1,
     .sandbox = SANDBOX,
     .reason = "runtime '(none)'"},
    {.command = "ls",
     .network = -1,
     .env = {"PATH=/tmp/evil"},
     .sandbox = SANDBOX,
     .reason = "env 'PATH' can change what runs"},
    {.command = "ls",
     .network = -1,
     .env = {"LANG=C", "LD_PRELOAD=/tmp/x.so"},
     .sandbox = SANDBOX,
     .reason = "env 'LD_PRELOAD'"},
    {.command = "ls",
     .network = -1,
     .env = {"BASH_ENV=/tmp/x"},
     .sandbox = SANDBOX,
     .reason = "env 'BASH_ENV'"},
    {.command = "ls",
     .network = -1,
     .env = {"BASH_FUNC_ls%%=() { id; }"},
     .sandbox = SANDBOX,
     .reason = "env 'BASH_FUNC_ls%%'"},

    /* downloaders, network tools, installers */
    CMD("curl https://example.com", SANDBOX, "rule downloader (selective.rules:"),
    CMD("wget -q http://x/y", SANDBOX, "rule downloader"),
    CMD("ls | curl -T - http://x", SANDBOX, "matched 'curl'"),
    ARGV(SANDBOX, "rule downloader", "/usr/bin/curl", "http://x"),
    CMD("git clone https://x/y", SANDBOX, "rule network-tool"),
    CMD("nc -l 4444", SANDBOX, "rule network-tool"),
    CMD("pip install requests", SANDBOX, "rule installer"),
    CMD("pip3 install -r requirements.txt", SANDBOX, "matched 'pip3 install'"),
    CMD("python3 -m pip install x", SANDBOX, "rule installer"),
    CMD("npm install left-pad", SANDBOX, "rule installer"),
    CMD("apt-get install -y vim", SANDBOX, "rule installer"),
    CMD("cargo add serde", SANDBOX, "rule installer"),
    CMD("dpkg -i x.deb", SANDBOX, "rule installer"),

    /* destructive and system writes */
    CMD("rm -rf /", SANDBOX, "rule destructive"),
    CMD("rm -fr build", SANDBOX, "rule destructive"),
    CMD("/bin/rm -r x", SANDBOX, "rule destructive"),
    CMD("'rm' -rf /", SANDBOX, "rule destructive"),
    CMD("r\"m\" -rf x", SANDBOX, "rule destructive"),
    CMD("rm x", SANDBOX, "no low-risk rule matched 'rm'"),
    CMD("dd if=/dev/zero of=/dev/sda", SANDBOX, "rule destructive"),
    CMD("echo x > /etc/passwd", SANDBOX, "rule system-write"),
    CMD("echo x >>/usr/lib/foo", SANDBOX, "rule system-write"),
    CMD("cat f | tee /etc/hosts", SANDBOX, "rule system-write"),
    CMD("ls > out.txt", SANDBOX, "rule redirection"),
    CMD("cat < /etc/passwd", SANDBOX, "rule redirection"),

    /* chaining, substitution, grouping */
    CMD("ls;pwd", SANDBOX, "rule chain"),
    CMD("ls && pwd", SANDBOX, "rule chain"),
    CMD("ls || pwd", SANDBOX, "rule chain"),
    CMD("ls & pwd", SANDBOX, "rule chain"),
    CMD("ls |& cat", SANDBOX, "rule chain"),
    CMD("ls\npwd", SANDBOX, "rule chain"),
    CMD("ls; rm -rf /", SANDBOX, "rule destructive"),
    CMD("ls\nrm -rf /", SANDBOX, "rule destructive"),
    CMD("ls # ; rm -rf /", SANDBOX, "rule destructive"),
    CMD("echo 'hello; world'", SANDBOX, "rule chain"), /* conservative: even inside quotes */
    CMD("ls $(curl x)", SANDBOX, "rule expansion"),
    CMD("ls `id`", SANDBOX, "rule expansion"),
    CMD("echo $HOME", SANDBOX, "rule expansion"),
    CMD("(ls)", SANDBOX, "rule grouping"),
    CMD("{ ls; }", SANDBOX, "rule chain"),
    CMD("ls | sh", SANDBOX, "rule shell"),
    CMD("cat script | python3", SANDBOX, "rule interpreter"),
    CMD("awk '{print $1}' f", SANDBOX, "rule interpreter"),
    CMD("xargs rm < list", SANDBOX, "rule launcher"),
    CMD("sudo ls", SANDBOX, "rule privilege"),
    CMD("make", SANDBOX, "rule build"),
    CMD("bash script.sh", SANDBOX, "rule shell"),
    CMD("sh -c 'ls'", SANDBOX, "rule shell"),

    /* risky options of low-risk programs */
    CMD("find . -delete", SANDBOX, "rule find-action"),
    CMD("find . -name x -exec rm {} +", SANDBOX, "rule find-action"),
    CMD("find *", SANDBOX, "rule find-glob"),
    CMD("find . -name *.c", SANDBOX, "rule find-glob"),
    CMD("sort -o out data", SANDBOX, "rule sort-write"),
    CMD("sort --compress-program=x f", SANDBOX, "rule sort-write"),
    CMD("date -s 2020-01-01", SANDBOX, "rule clock"),

    /* quoting tricks and programs the host cannot vouch for */
    CMD("\"l\"\"s\"", SANDBOX, "command word 'ls' is quoted or escaped"),
    CMD("l''s -la", SANDBOX, "is quoted or escaped"),
    CMD("l\\s", SANDBOX, "is quoted or escaped"),
    CMD("'ls' -la", SANDBOX, "is quoted or escaped"),
    CMD("./build.sh", SANDBOX, "'./build.sh' is not a program from /bin or /usr/bin"),
    CMD("/tmp/ls -la", SANDBOX, "not a program from /bin or /usr/bin"),
    CMD("/usr/local/bin/ls", SANDBOX, "not a program from /bin or /usr/bin"),
    CMD("/bin/../tmp/ls", SANDBOX, "not a program from"),
    CMD("l* -la", SANDBOX, "not a program from"),
    CMD("LANG=C ls", SANDBOX, "no low-risk rule matched 'LANG=C'"),
    CMD("ls\xef\xbc\x9brm", SANDBOX, "no low-risk rule matched 'ls???rm'"),
    CMD("frobnicate --all", SANDBOX,
        "no low-risk rule matched 'frobnicate'; sandboxed by "
        "default"),
    ARGV(SANDBOX, "not a program from", "./ls"),
    ARGV(SANDBOX, "rule shell", "/tmp/sh", "-c", "ls"),
    ARGV(SANDBOX, "rule shell", "bash", "-lc", "ls"),
    ARGV(SANDBOX, "rule downloader", "sh", "-c", "curl x"),
    ARGV(SANDBOX, "rule chain", "sh", "-c", "ls; pwd"),
    ARGV(SANDBOX, "rule chain", "ls", "a;b"), /* conservative: metachar anywhere */
    CODE("curl x", "sh", SANDBOX, "rule downloader"),

    /* unreadable input */
    CMD("ls 'unterminated", SANDBOX, "a quote is not closed"),
    CMD("ls \"unterminated", SANDBOX, "a quote is not closed"),
    CMD("ls \\", SANDBOX, "ends with a backslash"),
    CMD("", SANDBOX, "empty command"),
    CMD("   \t ", SANDBOX, "empty command"),
    CMD("ls \xff", SANDBOX, "not valid UTF-8"),
    CMD("ls \xc0\xaf", SANDBOX, "not valid UTF-8"),     /* overlong '/' */
    CMD("ls \xed\xa0\x80", SANDBOX, "not valid UTF-8"), /* surrogate */
    CMD("ls \x01", SANDBOX, "control characters"),
    CMD("ls\r", SANDBOX, "control characters"),
    ARGV(SANDBOX, "argv[1] is not valid UTF-8", "ls", "\xfe"),
};

static struct classify_rules *shipped;

static void load_shipped(void)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        const char *dir = getenv("AIRLOCK_SOURCE_DIR");
        char path[4096];

        ck_assert_msg(dir != NULL, "AIRLOCK_SOURCE_DIR is not set (run through ctest)");
        snprintf(path, sizeof(path), "%s/policies/selective.rules", dir);
        if (classify_rules_load(path, &shipped, &probs, &err) < 0) {
                for (size_t i = 0; i < probs.n; i++)
                        fprintf(stderr, "%s:%d: %s\n", path, probs.items[i].line,
                                probs.items[i].msg);
                ck_abort_msg("shipped rules: %s", err.msg);
        }
        ck_assert_uint_eq(probs.n, 0);
        policy_problems_free(&probs);
}

static void free_shipped(void)
{
        classify_rules_free(shipped);
        shipped = NULL;
}

static void fill_request(const struct ccase *c, struct exec_request *req)
{
        memset(req, 0, sizeof(*req));
        req->command = (char *)c->command;
        req->code = (char *)c->code;
        req->argv = c->argv[0] ? (char **)c->argv : NULL;
        req->env = c->env[0] ? (char **)c->env : NULL;
        req->network = c->network;
        req->untrusted = c->untrusted;
}

static const char *case_runtime(const struct ccase *c)
{
        if (!c->runtime)
                return "bash";
        return strcmp(c->runtime, "-") == 0 ? NULL : c->runtime;
}

static bool printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

START_TEST(test_table)
{
        const struct ccase *c = &cases[_i];
        struct exec_request req;
        char reason[CLASSIFY_REASON_MAX];
        bool sb = !c->sandbox;

        fill_request(c, &req);
        ck_assert_int_eq(classify_exec(shipped, &req, case_runtime(c), &sb, reason, sizeof(reason)),
                         0);
        ck_assert_msg(sb == c->sandbox && strstr(reason, c->reason),
                      "case %d (%s): expected %s with '%s', got %s: '%s'", _i,
                      c->command ? c->command
                      : c->code  ? c->code
                                 : c->argv[0],
                      c->sandbox ? "sandbox" : "host", c->reason, sb ? "sandbox" : "host", reason);
        ck_assert_msg(printable(reason), "reason not printable ASCII: %s", reason);
        ck_assert_uint_lt(strlen(reason), sizeof(reason) - 1);
}
END_TEST

START_TEST(test_shipped_counts)
{
        size_t host = 0, n = classify_rules_count(shipped, &host);

        ck_assert_uint_gt(n, 20);
        ck_assert_uint_ge(host, 1);
        ck_assert_uint_lt(host, n);
        ck_assert_uint_eq(classify_rules_count(NULL, &host), 0);
        ck_assert_uint_eq(host, 0);
}
END_TEST

START_TEST(test_too_long)
{
        size_t n = CLASSIFY_TEXT_MAX + 10;
        _cleanup_free_ char *s = malloc(n + 1);
        const char *argv[3] = {"ls", NULL, NULL};
        struct exec_request req = {.network = -1};
        char reason[CLASSIFY_REASON_MAX];
        bool sb = false;

        ck_assert_ptr_nonnull(s);
        memcpy(s, "ls ", 3);
        memset(s + 3, 'a', n - 3);
        s[n] = '\0';
        req.command = s;
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_ptr_nonnull(strstr(reason, "longer than the classifier reads"));

        /* The same through argv, and just under the cap it is read. */
        req.command = NULL;
        argv[1] = s + 3;
        req.argv = (char **)argv;
        sb = false;
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_ptr_nonnull(strstr(reason, "longer than the classifier reads"));
        s[CLASSIFY_TEXT_MAX - 100] = '\0';
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert_msg(!sb, "%s", reason);
}
END_TEST

START_TEST(test_too_many_words)
{
        size_t n = 2 * (CLASSIFY_WORDS_MAX + 5);
        _cleanup_free_ char *s = malloc(n + 4);
        struct exec_request req = {.network = -1};
        char reason[CLASSIFY_REASON_MAX];
        bool sb = false;

        ck_assert_ptr_nonnull(s);
        memcpy(s, "ls", 2);
        for (size_t i = 2; i < n; i += 2)
                memcpy(s + i, " a", 2);
        s[n] = '\0';
        req.command = s;
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_ptr_nonnull(strstr(reason, "more words than the classifier reads"));

        /* Many pipes: more simple commands than it reads. */
        for (size_t i = 0; i + 4 <= n; i += 4)
                memcpy(s + i, "ls |", 4);
        memcpy(s + n - 2, "ls", 2);
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_ptr_nonnull(strstr(reason, "more commands than the classifier reads"));
}
END_TEST

START_TEST(test_no_rules_and_bad_args)
{
        struct exec_request req = {.command = (char *)"ls", .network = -1};
        struct exec_request none = {.network = -1};
        char reason[CLASSIFY_REASON_MAX];
        bool sb = false;

        ck_assert_int_eq(classify_exec(NULL, &req, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_str_eq(reason, "no low-risk rule matched 'ls'; sandboxed by default");
        ck_assert_int_eq(classify_exec(shipped, &none, "bash", &sb, reason, sizeof(reason)), 0);
        ck_assert(sb);
        ck_assert_ptr_nonnull(strstr(reason, "no code, argv or command"));
        ck_assert_int_eq(classify_exec(shipped, NULL, "bash", &sb, reason, sizeof(reason)),
                         -EINVAL);
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", NULL, reason, sizeof(reason)),
                         -EINVAL);
        /* No reason buffer, or a tiny one, is fine. */
        sb = true;
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, NULL, 0), 0);
        ck_assert(!sb);
        ck_assert_int_eq(classify_exec(shipped, &req, "bash", &sb, reason, 8), 0);
        ck_assert_str_eq(reason, "rule re");
}
END_TEST

static struct classify_rules *parse_ok(const char *text)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct classify_rules *r = NULL;

        if (classify_rules_parse(text, "/etc/airlock/my.rules", &r, &probs, &err) < 0)
                ck_abort_msg("unexpected failure: %s\n--- text:\n%s", err.msg, text);
        ck_assert_uint_eq(probs.n, 0);
        ck_assert_ptr_nonnull(r);
        policy_problems_free(&probs);
        return r;
}

static void expect(const struct classify_rules *r, const char *command, bool sandbox,
                   const char *frag)
{
        struct exec_request req = {.command = (char *)command, .network = -1};
        char reason[CLASSIFY_REASON_MAX];
        bool sb = !sandbox;

        ck_assert_int_eq(classify_exec(r, &req, "sh", &sb, reason, sizeof(reason)), 0);
        ck_assert_msg(sb == sandbox && strstr(reason, frag), "'%s': got %s '%s', want %s '%s'",
                      command, sb ? "sandbox" : "host", reason, sandbox ? "sandbox" : "host", frag);
}

START_TEST(test_custom_rules)
{
        struct classify_rules *r = parse_ok("# a comment\r\n"
                                            "\n"
                                            "   # an indented comment\n"
                                            "sandbox first regex ^ls -R\n"
                                            "sandbox second word ls\t\r\n"
                                            "host ok word ls\n");

        /* First match in file order wins, and the reason names file (basename) and line. */
        expect(r, "ls -R /", true, "rule first (my.rules:4): matched 'ls -R'");
        expect(r, "ls -la", true, "rule second (my.rules:5): matched 'ls'");
        classify_rules_free(r);

        r = parse_ok("sandbox spaces metachar \\s\\s \\n \\\\ \\`\n"
                     "host git-status regex ^git (status|log --oneline)$\n"
                     "host listing word ls cat\n");
        expect(r, "git status", false, "rule git-status (my.rules:2): git is on");
        expect(r, "git log --oneline", false, "git is on");
        expect(r, "git log -p", true, "no low-risk rule matched 'git'");
        expect(r, "git status | cat", false, "rule git-status (my.rules:2): git, cat are on");
        expect(r, "ls  -la", true, "rule spaces (my.rules:1): matched '  '");
        expect(r, "ls\n", true, "rule spaces");
        expect(r, "ls a\\\\b", true, "matched '\\'");
        expect(r, "ls `x`", true, "matched '`'");
        /* Without metachar rules the tokenizer still refuses what it cannot see through. */
        expect(r, "ls $(rm x)", true, "substitution, redirection or grouping");
        expect(r, "ls >/etc/x", true, "substitution, redirection or grouping");
        expect(r, "ls; cat x", false, "ls, cat are on");
        expect(r, "ls; rm x", true, "no low-risk rule matched 'rm'");
        expect(r, "ls && rm x", true, "no low-risk rule matched 'rm'");
        expect(r, "ls \"$(rm x)\"", true, "substitution");
        expect(r, "ls '$(rm x)'", false, "ls is on");
        classify_rules_free(r);

        /* An empty file is valid: nothing is low-risk. */
        r = parse_ok("# nothing\n");
        ck_assert_uint_eq(classify_rules_count(r, NULL), 0);
        expect(r, "ls", true, "no low-risk rule matched 'ls'");
        classify_rules_free(r);
}
END_TEST

struct bad_rules {
        const char *text;
        int line;
        const char *frag;
};

static const struct bad_rules bad_rules[] = {
    {"allow x word ls\n", 1,
     "unknown action 'allow' (expected sandbox, host, gvisor or provider:NAME)"},
    {"sandbox x flag untrusted\n", 1, "flag rules can only raise the tier"},
    {"gvisor x flag sometimes\n", 1, "unknown flag 'sometimes'"},
    {"sandbox\n", 1, "a name is missing"},
    {"sandbox x\n", 1, "a kind is missing"},
    {"sandbox x word\n", 1, "the word rule has no pattern"},
    {"sandbox x word    \n", 1, "the word rule has no pattern"},
    {"sandbox x glob *.sh\n", 1, "unknown kind 'glob'"},
    {"sandbox bad/name word ls\n", 1, "rule name 'bad/name'"},
    {"sandbox "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa word ls\n",
     1, "1-32 characters"},
    {"\n\nsandbox x regex (unclosed\n", 3, "bad regex '(unclosed':"},
    {"sandbox x regex a{1\n", 1, "bad regex"},
    {"host x metachar ;\n", 1, "metachar rules can only sandbox"},
    {"sandbox x metachar ; \\\n", 1, "lone backslash"},
    {"sandbox x word /bin/ls\n", 1, "word '/bin/ls' is not a plain program name"},
    {"sandbox x word ls 'cat'\n", 1, "word ''cat'' is not a plain"},
};

/* gvisor rules raise the tier and leave the sandbox-or-host decision to the other rules. */
START_TEST(test_gvisor_rules)
{
        struct classify_rules *r = parse_ok("host ro word ls cat\n"
                                            "gvisor untrusted-code flag untrusted\n"
                                            "gvisor fetchers word curl wget\n"
                                            "gvisor evals regex eval\\(\n");
        struct exec_request req = {.command = "ls -la", .network = -1};
        char reason[CLASSIFY_REASON_MAX];
        bool g = true;

        ck_assert_uint_eq(classify_rules_gvisor(r), 3);
        ck_assert_int_eq(classify_isolation(r, &req, &g, reason, sizeof(reason)), 0);
        ck_assert(!g);
        expect(r, "ls -la", false, "rule ro");
        req.untrusted = true;
        ck_assert_int_eq(classify_isolation(r, &req, &g, reason, sizeof(reason)), 0);
        ck_assert(g);
        ck_assert_msg(strstr(reason, "rule untrusted-code (my.rules:2): marked untrusted"), "%s",
                      reason);
        req = (struct exec_request){.command = "cat f | /usr/bin/curl -s x", .network = -1};
        ck_assert_int_eq(classify_isolation(r, &req, &g, reason, sizeof(reason)), 0);
        ck_assert_msg(g && strstr(reason, "rule fetchers (my.rules:3): matched 'curl'"), "%s",
                      reason);
        req = (struct exec_request){.code = "x = eval('1+1')", .network = -1};
        ck_assert_int_eq(classify_isolation(r, &req, &g, reason, sizeof(reason)), 0);
        ck_assert_msg(g && strstr(reason, "rule evals"), "%s", reason);
        ck_assert_int_eq(classify_isolation(NULL, &req, &g, NULL, 0), 0);
        ck_assert(!g);
        ck_assert_int_eq(classify_isolation(r, NULL, &g, NULL, 0), -EINVAL);
        classify_rules_free(r);
}
END_TEST

START_TEST(test_bad_rules)
{
        const struct bad_rules *b = &bad_rules[_i];
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct classify_rules *r = NULL;

        ck_assert_int_eq(classify_rules_parse(b->text, "t.rules", &r, &probs, &err), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_uint_eq(probs.n, 1);
        ck_assert_int_eq(probs.items[0].line, b->line);
        ck_assert_msg(strstr(probs.items[0].msg, b->frag), "got '%s', want '%s'",
                      probs.items[0].msg, b->frag);
        ck_assert_msg(strncmp(err.msg, "t.rules:", 8) == 0, "err: %s", err.msg);
        policy_problems_free(&probs);
}
END_TEST

START_TEST(test_every_problem_reported)
{
        const char *text = "# header\n"
                           "sandbox good word curl\n"
                           "nope x word y\n"
                           "host ok word ls\n"
                           "sandbox y regex [z\n"
                           "host z metachar |\n"
                           "sandbox w word\n";
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct classify_rules *r = NULL;
        static const int lines[] = {3, 5, 6, 7};

        ck_assert_int_eq(classify_rules_parse(text, "x.rules", &r, &probs, &err), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_uint_eq(probs.n, ARRAY_SIZE(lines));
        for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
                ck_assert_int_eq(probs.items[i].line, lines[i]);
        ck_assert_msg(strncmp(err.msg, "x.rules:3: unknown action 'nope'", 32) == 0, "%s", err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, "(4 problems)"));
        policy_problems_free(&probs);

        /* problems may be NULL; the error still names the line. */
        ck_assert_int_eq(classify_rules_parse(text, "x.rules", &r, NULL, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "x.rules:3:"));
}
END_TEST

START_TEST(test_limits)
{
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct classify_rules *r = NULL;
        size_t n = CLASSIFY_LINE_MAX + 100;
        _cleanup_free_ char *text = malloc(40 * (CLASSIFY_RULES_MAX + 10));
        size_t o = 0;

        /* A line too long. */
        ck_assert_ptr_nonnull(text);
        memcpy(text, "sandbox a word ", 15);
        memset(text + 15, 'x', n - 15);
        memcpy(text + n, "\nhost b word ls\n", 17);
        ck_assert_int_eq(classify_rules_parse(text, "t", &r, &probs, &err), -EINVAL);
        ck_assert_uint_eq(probs.n, 1);
        ck_assert_int_eq(probs.items[0].line, 1);
        ck_assert_ptr_nonnull(strstr(probs.items[0].msg, "longer than"));
        policy_problems_free(&probs);

        /* Too many rules. */
        for (int i = 0; i < CLASSIFY_RULES_MAX + 5; i++)
                o += (size_t)sprintf(text + o, "sandbox r%d word x%d\n", i, i);
        ck_assert_int_eq(classify_rules_parse(text, "t", &r, &probs, &err), -EINVAL);
        ck_assert_uint_eq(probs.n, 1);
        ck_assert_int_eq(probs.items[0].line, CLASSIFY_RULES_MAX + 1);
        ck_assert_ptr_nonnull(strstr(probs.items[0].msg, "more than 1000 rules"));
        policy_problems_free(&probs);

        /* A file of garbage stops at POLICY_PROBLEMS_MAX. */
        o = 0;
        for (int i = 0; i < 300; i++)
                o += (size_t)sprintf(text + o, "garbage %d\n", i);
        ck_assert_int_eq(classify_rules_parse(text, "t", &r, &probs, &err), -EINVAL);
        ck_assert_uint_eq(probs.n, POLICY_PROBLEMS_MAX);
        ck_assert_ptr_nonnull(strstr(probs.items[POLICY_PROBLEMS_MAX - 1].msg, "too many"));
        policy_problems_free(&probs);
}
END_TEST

START_TEST(test_load)
{
        char path[] = "/tmp/test_classify_XXXXXX";
        struct policy_problems probs = {0};
        struct al_error err = {0};
        struct classify_rules *r = NULL;
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "host a word ls\n", 15), 15);
        ck_assert_int_eq(fchmod(fd, 0644), 0);
        ck_assert_int_eq(classify_rules_load(path, &r, &probs, &err), 0);
        expect(r, "ls", false, "rule a (test_classify_");
        classify_rules_free(r);
        r = NULL;

        ck_assert_int_eq(fchmod(fd, 0666), 0);
        ck_assert_int_eq(classify_rules_load(path, &r, &probs, &err), -EPERM);
        ck_assert_ptr_nonnull(strstr(err.msg, "writable by every user"));
        ck_assert_int_eq(fchmod(fd, 0644), 0);

        ck_assert_int_eq(write(fd, "\nhost b word c\0at\n", 18), 18);
        ck_assert_int_eq(classify_rules_load(path, &r, &probs, &err), -EINVAL);
        ck_assert_uint_eq(probs.n, 1);
        ck_assert_int_eq(probs.items[0].line, 3);
        ck_assert_ptr_nonnull(strstr(err.msg, ":3: contains a NUL byte"));
        policy_problems_free(&probs);
        close(fd);
        unlink(path);

        ck_assert_int_eq(classify_rules_load(path, &r, &probs, &err), -ENOENT);
        ck_assert_int_eq(classify_rules_load("/tmp", &r, &probs, &err), -EINVAL);
        ck_assert_ptr_null(r);
        classify_rules_free(NULL);
}
END_TEST

/* One rule set, many threads: the same decisions as one thread makes. */
static void *classify_many(void *arg)
{
        (void)arg;
        for (int round = 0; round < 20; round++)
                for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                        struct exec_request req;
                        char reason[CLASSIFY_REASON_MAX];
                        bool sb;

                        fill_request(&cases[i], &req);
                        if (classify_exec(shipped, &req, case_runtime(&cases[i]), &sb, reason,
                                          sizeof(reason)) != 0 ||
                            sb != cases[i].sandbox || !strstr(reason, cases[i].reason))
                                return (void *)1;
                }
        return NULL;
}

START_TEST(test_threads)
{
        pthread_t t[4];

        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, classify_many, NULL), 0);
        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                void *ret = (void *)1;

                ck_assert_int_eq(pthread_join(t[i], &ret), 0);
                ck_assert_ptr_null(ret);
        }
}
END_TEST

static Suite *classify_suite(void)
{
        Suite *s = suite_create("classify");
        TCase *tc = tcase_create("core");

        tcase_add_unchecked_fixture(tc, load_shipped, free_shipped);
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, test_table, 0, (int)ARRAY_SIZE(cases));
        tcase_add_test(tc, test_shipped_counts);
        tcase_add_test(tc, test_too_long);
        tcase_add_test(tc, test_too_many_words);
        tcase_add_test(tc, test_no_rules_and_bad_args);
        tcase_add_test(tc, test_custom_rules);
        tcase_add_test(tc, test_gvisor_rules);
        tcase_add_loop_test(tc, test_bad_rules, 0, (int)ARRAY_SIZE(bad_rules));
        tcase_add_test(tc, test_every_problem_reported);
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_load);
        tcase_add_test(tc, test_threads);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(classify_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
