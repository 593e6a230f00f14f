/* The fuzz targets' bodies: what a client or an admin can hand the daemon, through the same
 * functions the daemon runs it through. */
#include "fuzz_targets.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "airlock/agent_proto.h"
#include "airlock/contexts.h"
#include "airlock/classify.h"
#include "airlock/egress.h"
#include "airlock/exec.h"
#include "airlock/file_records.h"
#include "airlock/files.h"
#include "airlock/policy.h"
#include "airlock/util.h"
#include "api/auth.h"
#include "api/e2b.h"
#include "api/mcp.h"
#include "policy/shell_tokens.h"

/* Bytes of input that are looked at: the daemon caps bodies and settings files too. */
#define REQUEST_MAX (1u << 20)
#define HEADER_MAX  (32u << 10)

static char *nul_terminated(const uint8_t *data, size_t size, size_t max)
{
        char *s;

        if (size > max)
                size = max;
        s = malloc(size + 1);
        if (!s)
                return NULL;
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

static struct policy *default_policy(void)
{
        /* Made once and kept: the daemon holds its policy for its lifetime too. */
        static struct policy *p;

        if (!p)
                p = policy_new_default();
        return p;
}

int fuzz_request_one(const uint8_t *data, size_t size)
{
        struct exec_request req = {0};
        struct al_error err = {0};
        struct policy *pol = default_policy();
        char hash[SHA256_HEX_LEN];
        char *text;

        if (!pol)
                return 0;
        if (size <= REQUEST_MAX && exec_request_parse((const char *)data, size, &req, &err) == 0) {
                struct policy_effective eff;
                const struct runtime *rt =
                    policy_runtime(pol, req.runtime ? req.runtime : pol->default_runtime);

                if (exec_request_check(&req, pol, &err) == 0 && rt) {
                        char **argv = NULL;

                        if (exec_request_argv(&req, rt, &argv, &err) == 0)
                                util_strv_free(argv);
                }
                if (policy_resolve(pol, req.agent, &eff) == 0) {
                        json_t *j = policy_effective_to_json(&eff, NULL);

                        policy_effective_runtime_allowed(&eff, req.runtime ? req.runtime : "");
                        json_decref(j);
                }
                exec_request_clear(&req);
        }
        text = nul_terminated(data, size, HEADER_MAX);
        if (text) {
                auth_parse_bearer(text, hash, &err);
                if (policy_agent_pattern_valid(text))
                        fnmatch(text, "agent-0", 0);
                free(text);
        }
        return 0;
}

/* A fixed group database, so that a run does not depend on the machine's. */
static int fuzz_group(const char *name, gid_t *ret)
{
        if (strcmp(name, "staff") != 0)
                return 0;
        *ret = 50;
        return 1;
}

int fuzz_policy_one(const uint8_t *data, size_t size)
{
        struct policy_problems problems = {0};
        struct al_error err = {0};
        struct policy *p = NULL;
        char *text;
        json_t *j;

        if (size > POLICY_FILE_MAX + 1)
                return 0;
        text = nul_terminated(data, size, POLICY_FILE_MAX + 1);
        if (!text)
                return 0;
        if (policy_parse(text, "fuzz.conf", &p, &problems, &err) < 0) {
                policy_problems_free(&problems);
                free(text);
                return 0;
        }
        policy_problems_free(&problems);
        j = policy_to_json(p);
        json_decref(j);
        for (size_t i = 0; i < p->n_agents; i++) {
                struct policy_effective eff;

                if (policy_resolve(p, p->agents[i].name, &eff) == 0) {
                        j = policy_effective_to_json(&eff, NULL);
                        json_decref(j);
                }
        }
        for (size_t i = 0; i < p->n_clients; i++) {
                struct auth_identity id;
                struct auth_peer peer = {.uid = p->clients[i].n_uids ? p->clients[i].uids[0] : 1000,
                                         .gid = 50,
                                         .pid = 1};

                if (auth_resolve(p, &peer, 4242, NULL, NULL, fuzz_group, &id) < 0)
                        continue;
                for (char *const *a = p->clients[i].agents; *a; a++)
                        auth_may_act_as(&id, *a);
                auth_may_act_as(&id, "agent-0");
                auth_identity_clear(&id);
        }
        policy_unref(p);
        free(text);
        return 0;
}

/* What the tokenizer must hold to whatever it reads: its counts within their caps, every
 * command's words within the parsed words, every canonical word within the buffer it was
 * sized for. A break is a bug the classifier would build on: crash loudly. */
static void tokens_check(const struct shell_parsed *p, size_t text_len)
{
        size_t cap = 2 * text_len + CLASSIFY_WORDS_MAX + 2, used = 0;

        if (p->n_words > CLASSIFY_WORDS_MAX || p->n_cmds > CLASSIFY_CMDS_MAX)
                abort();
        for (size_t c = 0; c < p->n_cmds; c++) {
                if (p->cmds[c].first + p->cmds[c].n > p->n_words || p->cmds[c].n == 0)
                        abort();
                used += strlen(p->cmds[c].norm) + 1;
        }
        for (size_t w = 0; w < p->n_words; w++)
                if (p->words[w] < p->buf || p->words[w] >= p->buf + cap)
                        abort();
        if (used > cap)
                abort();
}

int fuzz_tokens_one(const uint8_t *data, size_t size)
{
        struct shell_parsed *p;
        char *text, *argv[CLASSIFY_WORDS_MAX + 1];
        size_t argc = 0;

        if (size > CLASSIFY_TEXT_MAX)
                size = CLASSIFY_TEXT_MAX;
        (void)shell_text_unreadable((const char *)data, size);
        /* The bytes as shell text, whether or not the classifier would read them. */
        p = shell_parsed_new(size);
        if (p && !shell_tokenize(p, (const char *)data, size)) {
                shell_norms_build(p);
                tokens_check(p, size);
        }
        shell_parsed_free(p);
        /* The same bytes as an argv, split at NULs. */
        text = nul_terminated(data, size, CLASSIFY_TEXT_MAX);
        if (!text)
                return 0;
        for (size_t i = 0; i <= size && argc < CLASSIFY_WORDS_MAX; i++)
                if (i == 0 || text[i - 1] == '\0')
                        argv[argc++] = text + i;
        argv[argc] = NULL;
        p = shell_parsed_new(size + 1);
        if (p && !shell_tokenize_argv(p, argv)) {
                shell_norms_build(p);
                tokens_check(p, size + 1);
        }
        shell_parsed_free(p);
        /* And as a command through the whole classifier, with no rules (all sandboxed). */
        {
                struct exec_request req = {.command = text};
                char reason[CLASSIFY_REASON_MAX];
                bool sandbox = false;

                if (classify_exec(NULL, &req, "bash", &sandbox, reason, sizeof(reason)) < 0 ||
                    !sandbox)
                        abort();
        }
        free(text);
        return 0;
}

/* What a decode produced, as a running digest, so that two cuts of the same bytes compare. */
struct agent_digest {
        size_t max_payload;
        unsigned frames;
        uint64_t hash;
};

static int agent_digest_frame(void *ctx, unsigned type, const uint8_t *payload, size_t len)
{
        struct agent_digest *g = ctx;

        if (len > g->max_payload || !agent_frame_type_name(type) || (len == 0) != !payload)
                abort();
        g->frames++;
        g->hash = (g->hash ^ type ^ len) * 1099511628211u;
        for (size_t i = 0; i < len; i++)
                g->hash = (g->hash ^ payload[i]) * 1099511628211u;
        if (type == AGENT_EXIT || type == AGENT_STARTED || type == AGENT_PONG ||
            type == AGENT_ERROR) {
                json_t *j = json_loadb((const char *)payload, len, 0, NULL);

                json_decref(j);
        }
        /* A frame of type KILL stops the decode, as a daemon's callback may. */
        return type == AGENT_KILL ? -ECANCELED : 0;
}

static int agent_decode(const uint8_t *data, size_t size, size_t cut, size_t max,
                        struct agent_digest *g)
{
        struct agent_decoder d;
        int r;

        *g = (struct agent_digest){.max_payload = max, .hash = 14695981039346656037u};
        agent_decoder_init(&d, max);
        r = agent_decoder_feed(&d, data, cut, agent_digest_frame, g);
        if (r == 0)
                r = agent_decoder_feed(&d, data + cut, size - cut, agent_digest_frame, g);
        else if (agent_decoder_feed(&d, data + cut, size - cut, agent_digest_frame, g) != r)
                abort(); /* errors are sticky */
        if (d.buf_cap > max)
                abort();
        agent_decoder_free(&d);
        return r;
}

int fuzz_agent_one(const uint8_t *data, size_t size)
{
        static const size_t maxes[] = {16, AGENT_PAYLOAD_MAX};
        size_t cut;

        if (size < 2)
                return 0;
        /* The first two bytes choose the cut; the rest is the stream. */
        cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
        data += 2;
        size -= 2;
        for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
                struct agent_digest whole, split;
                int a = agent_decode(data, size, size, maxes[m], &whole),
                    b = agent_decode(data, size, cut, maxes[m], &split);

                if (a != b || whole.frames != split.frames || whole.hash != split.hash)
                        abort();
        }
        return 0;
}

/* Whether msg calls a tool that the tool list names: those reach the core. */
static bool calls_a_real_tool(json_t *msg)
{
        const char *method = json_string_value(json_object_get(msg, "method"));
        const char *name =
            json_string_value(json_object_get(json_object_get(msg, "params"), "name"));
        json_t *list, *t;
        bool found = false;
        size_t i;

        if (!method || strcmp(method, "tools/call") != 0 || !name)
                return false;
        list = mcp_tools_list();
        json_array_foreach(json_object_get(list, "tools"), i, t)
        {
                if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
                        found = true;
        }
        json_decref(list);
        return found;
}

int fuzz_mcp_one(const uint8_t *data, size_t size)
{
        static const struct mcp_caller caller = {.agent = "default", .watch_fd = -1};
        json_t *msg = size <= REQUEST_MAX ? json_loadb((const char *)data, size, 0, NULL) : NULL;
        json_t *res;

        if (!msg || !json_is_object(msg) || calls_a_real_tool(msg)) {
                json_decref(msg);
                return 0;
        }
        res = mcp_handle(&caller, msg);
        if (res) {
                const char *v = json_string_value(json_object_get(res, "jsonrpc"));

                if (!v || strcmp(v, "2.0") != 0 ||
                    !!json_object_get(res, "result") == !!json_object_get(res, "error"))
                        abort();
        }
        json_decref(res);
        json_decref(msg);
        return 0;
}

/* ---- context drivers' frames ---- */

static int context_frame(void *ctx, unsigned type, const uint8_t *payload, size_t len)
{
        json_t *o, *v;
        const char *k;

        (void)ctx;
        if (type == AGENT_CTX_RESULT && (o = context_result_parse(payload, len))) {
                const char *kind = json_string_value(json_object_get(o, "kind"));

                if (!kind || (strcmp(kind, "result") && strcmp(kind, "display")) ||
                    json_object_size(json_object_get(o, "data")) == 0)
                        abort();
                json_object_foreach(json_object_get(o, "data"), k,
                                    v) if (!json_is_string(v) || !strchr(k, '/')) abort();
                json_decref(o);
        }
        if (type == AGENT_CTX_DONE && (o = context_done_parse(payload, len))) {
                json_t *e = json_object_get(o, "error");

                if (!json_is_string(json_object_get(o, "status")) ||
                    (e && (!json_is_string(json_object_get(e, "name")) ||
                           json_string_length(json_object_get(e, "traceback")) > 65536)))
                        abort();
                json_decref(o);
        }
        return 0;
}

int fuzz_context_one(const uint8_t *data, size_t size)
{
        struct agent_decoder dec;

        agent_decoder_init(&dec, AGENT_PAYLOAD_MAX);
        agent_decoder_feed(&dec, data, size, context_frame, NULL);
        agent_decoder_free(&dec);
        /* The same bytes as one payload of each kind. */
        context_frame(NULL, AGENT_CTX_RESULT, data, size);
        context_frame(NULL, AGENT_CTX_DONE, data, size);
        return 0;
}

int fuzz_files_one(const uint8_t *data, size_t size)
{
        struct al_error err = {0};
        struct file_record rec;
        struct files_path p;
        struct buf out;
        size_t off = 0, dropped = 0;
        json_t *arts;
        int r;

        if (size > REQUEST_MAX)
                size = REQUEST_MAX;
        /* Every record a stream yields is whole, in bounds and safely named. */
        while ((r = file_record_next(data, size, &off, &rec)) > 0) {
                if (off > size || rec.data < data || rec.data + rec.size > data + size ||
                    !file_record_path_ok(rec.path, strlen(rec.path)))
                        abort();
        }
        buf_init(&out, 64u << 10);
        files_records_to_tar(data, size, &out, &err);
        if (out.len > out.max)
                abort();
        buf_free(&out);
        arts = files_artifacts_check((const char *)data, size, "/tmp/outputs/x", 8, &dropped, &err);
        if (arts && json_array_size(arts) > 8)
                abort();
        json_decref(arts);
        files_helper_error((const char *)data, size, &err);
        if (files_path_parse((const char *)data, size, WORKSPACE_RW, true, &p, &err) == 0 &&
            (p.full[0] != '/' || strstr(p.full, "/../") || strlen(p.full) > FILES_PATH_MAX))
                abort();
        buf_init(&out, 256u << 10);
        files_tar_to_records(data, size, 64, &out, &err);
        buf_free(&out);
        return 0;
}

int fuzz_egress_one(const uint8_t *data, size_t size)
{
        struct egress_http h;
        const char *why = NULL;
        char sni[NETRULE_NAME_SIZE], norm[NETRULE_NAME_SIZE];
        size_t cut = size ? data[0] % (size + 1) : 0;
        int r;

        /* Partial heads answer "more" or a verdict, never read past what they hold. */
        r = egress_http_parse((const char *)data, cut, &h, &why);
        if (r == 1 && (h.head_len > cut || h.line_len > h.head_len || !h.host[0]))
                abort();
        r = egress_http_parse((const char *)data, size, &h, &why);
        if (r == 1) {
                if (h.head_len > size || h.port < 1 || h.port > 65535)
                        abort();
                if (h.path && (h.path < (const char *)data ||
                               h.path + h.path_len > (const char *)data + size))
                        abort();
                (void)netrule_name_normalize(h.host, norm);
        } else if (r < 0 && !why) {
                abort();
        }
        r = egress_sni_parse(data, size, sni);
        if (r == 1) {
                if (strlen(sni) == 0 || strlen(sni) >= sizeof(sni))
                        abort();
                (void)netrule_name_normalize(sni, norm);
        }
        (void)egress_sni_parse(data, cut, sni);
        return 0;
}

int fuzz_e2b_one(const uint8_t *data, size_t size)
{
        const char *body = (const char *)data, *msg, *nl = memchr(data, '\n', size);
        struct e2b_part parts[8];
        struct al_error err = {0};
        char boundary[71], *command = NULL, **argv = NULL;
        size_t len, n = 0;
        json_t *o;

        if (e2b_envelope_single(body, size, &msg, &len, &err) == 0 &&
            (msg != body + E2B_ENVELOPE_HEADER || len != size - E2B_ENVELOPE_HEADER))
                abort();
        /* "boundary\nbody": the first line names the boundary. */
        if (nl && (size_t)(nl - body) <= 70) {
                memcpy(boundary, body, (size_t)(nl - body));
                boundary[nl - body] = '\0';
                if (e2b_multipart_parse(nl + 1, size - (size_t)(nl - body) - 1, boundary, parts, 8,
                                        &n, &err) == 0)
                        for (size_t i = 0; i < n; i++)
                                if (parts[i].data < nl + 1 ||
                                    parts[i].data + parts[i].len > body + size ||
                                    (parts[i].filename &&
                                     parts[i].filename + parts[i].filename_len > body + size))
                                        abort();
        }
        o = json_loadb(body, size, 0, NULL);
        if (json_is_object(o) && e2b_process_command(o, &command, &argv, &err) == 0 && !command &&
            (!argv || !argv[0]))
                abort();
        free(command);
        util_strv_free(argv);
        json_decref(o);
        return 0;
}
