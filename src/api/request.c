/* POST /v1/exec bodies: parsed with jansson, every field checked before anything runs. */
#include "airlock/exec.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"

static const char *const known_fields[] = {
    "agent",     "session", "runtime",   "code",   "argv",       "command", "stdin",    "env",
    "timeout_s", "network", "untrusted", "stream", "background", "context", "language",
};

/* The field's value, or NULL when absent or null: null counts as "not given". */
static json_t *field(json_t *obj, const char *name)
{
        json_t *v = json_object_get(obj, name);

        return json_is_null(v) ? NULL : v;
}

static bool has_nul(const json_t *s)
{
        return json_string_length(s) != strlen(json_string_value(s));
}

static int get_name(json_t *obj, const char *name, char **ret, struct al_error *err)
{
        json_t *v = field(obj, name);

        if (!v)
                return 0;
        if (!json_is_string(v) || has_nul(v) ||
            !util_name_valid(json_string_value(v), EXEC_NAME_MAX))
                return al_err(err, -EINVAL,
                              "field '%s' must be a name of 1 to %d characters from "
                              "[A-Za-z0-9._-]",
                              name, EXEC_NAME_MAX);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

static int get_text(json_t *obj, const char *name, char **ret, struct al_error *err)
{
        json_t *v = field(obj, name);

        if (!v)
                return 0;
        if (!json_is_string(v) || json_string_length(v) == 0)
                return al_err(err, -EINVAL, "field '%s' must be a non-empty string", name);
        if (has_nul(v))
                return al_err(err, -EINVAL, "field '%s' must not contain NUL bytes", name);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : al_err(err, -ENOMEM, "out of memory");
}

static int get_bool(json_t *obj, const char *name, int *ret, struct al_error *err)
{
        json_t *v = field(obj, name);

        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return al_err(err, -EINVAL, "field '%s' must be true or false", name);
        *ret = json_is_true(v);
        return 0;
}

static int get_argv(json_t *obj, char ***ret, struct al_error *err)
{
        json_t *v = field(obj, "argv"), *e;
        size_t n, i;
        char **argv;

        if (!v)
                return 0;
        if (!json_is_array(v) || (n = json_array_size(v)) == 0)
                return al_err(err, -EINVAL, "field 'argv' must be a non-empty array of strings");
        if (n > EXEC_ARGV_MAX)
                return al_err(err, -EINVAL, "field 'argv' has %zu entries; at most %d are allowed",
                              n, EXEC_ARGV_MAX);
        json_array_foreach(v, i, e)
        {
                if (!json_is_string(e))
                        return al_err(err, -EINVAL,
                                      "field 'argv' must be an array of strings (entry %zu is "
                                      "not a string)",
                                      i);
                if (has_nul(e))
                        return al_err(err, -EINVAL,
                                      "field 'argv' entry %zu must not contain NUL bytes", i);
        }
        if (json_string_length(json_array_get(v, 0)) == 0)
                return al_err(err, -EINVAL, "field 'argv' must start with a non-empty program");
        argv = calloc(n + 1, sizeof(char *));
        if (!argv)
                return al_err(err, -ENOMEM, "out of memory");
        for (i = 0; i < n; i++) {
                argv[i] = strdup(json_string_value(json_array_get(v, i)));
                if (!argv[i]) {
                        util_strv_free(argv);
                        return al_err(err, -ENOMEM, "out of memory");
                }
        }
        *ret = argv;
        return 0;
}

static bool env_key_valid(const char *k)
{
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
                return false;
        for (k++; *k; k++)
                if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
                      (*k >= '0' && *k <= '9') || *k == '_'))
                        return false;
        return true;
}

static int get_env(json_t *obj, char ***ret, struct al_error *err)
{
        char q[UTIL_QUOTE_SIZE];
        json_t *v = field(obj, "env"), *val;
        const char *key;
        size_t n, i = 0;
        char **env;

        if (!v)
                return 0;
        if (!json_is_object(v))
                return al_err(err, -EINVAL,
                              "field 'env' must be an object of string values, like "
                              "{\"KEY\":\"value\"}");
        n = json_object_size(v);
        if (n > EXEC_ENV_MAX)
                return al_err(err, -EINVAL, "field 'env' has %zu entries; at most %d are allowed",
                              n, EXEC_ENV_MAX);
        json_object_foreach(v, key, val)
        {
                if (!env_key_valid(key))
                        return al_err(err, -EINVAL,
                                      "field 'env' has an invalid name '%s' (expected "
                                      "[A-Za-z_][A-Za-z0-9_]*)",
                                      util_quote(q, sizeof(q), key));
                if (!json_is_string(val))
                        return al_err(err, -EINVAL, "field 'env' value of '%s' must be a string",
                                      key);
                if (has_nul(val))
                        return al_err(err, -EINVAL,
                                      "field 'env' value of '%s' must not contain NUL bytes", key);
        }
        if (n == 0)
                return 0;
        env = calloc(n + 1, sizeof(char *));
        if (!env)
                return al_err(err, -ENOMEM, "out of memory");
        json_object_foreach(v, key, val)
        {
                if (asprintf(&env[i], "%s=%s", key, json_string_value(val)) < 0) {
                        env[i] = NULL;
                        util_strv_free(env);
                        return al_err(err, -ENOMEM, "out of memory");
                }
                i++;
        }
        *ret = env;
        return 0;
}

static int parse_fields(json_t *obj, struct exec_request *req, struct al_error *err)
{
        char q[UTIL_QUOTE_SIZE];
        const char *key;
        json_t *v;
        int given, r;

        json_object_foreach(obj, key, v)
        {
                bool known = false;

                for (size_t i = 0; i < ARRAY_SIZE(known_fields) && !known; i++)
                        known = strcmp(key, known_fields[i]) == 0;
                if (!known)
                        return al_err(err, -EINVAL, "unknown field '%s'",
                                      util_quote(q, sizeof(q), key));
        }
        if ((r = get_name(obj, "agent", &req->agent, err)) < 0 ||
            (r = get_name(obj, "session", &req->session, err)) < 0 ||
            (r = get_name(obj, "runtime", &req->runtime, err)) < 0)
                return r;
        if (!req->agent && !(req->agent = strdup("default")))
                return al_err(err, -ENOMEM, "out of memory");

        given = !!field(obj, "code") + !!field(obj, "argv") + !!field(obj, "command");
        if (given == 0)
                return al_err(err, -EINVAL,
                              "one of the fields 'code', 'argv' or 'command' is "
                              "required");
        if (given > 1)
                return al_err(err, -EINVAL,
                              "only one of the fields 'code', 'argv' and 'command' may be given");
        if ((r = get_text(obj, "code", &req->code, err)) < 0 ||
            (r = get_argv(obj, &req->argv, err)) < 0 ||
            (r = get_text(obj, "command", &req->command, err)) < 0)
                return r;

        v = field(obj, "stdin");
        if (v) {
                /* Any bytes, NUL included: the length is kept. */
                if (!json_is_string(v))
                        return al_err(err, -EINVAL, "field 'stdin' must be a string");
                req->stdin_len = json_string_length(v);
                req->stdin_data = malloc(req->stdin_len + 1);
                if (!req->stdin_data)
                        return al_err(err, -ENOMEM, "out of memory");
                memcpy(req->stdin_data, json_string_value(v), req->stdin_len);
                req->stdin_data[req->stdin_len] = '\0';
        }
        if ((r = get_env(obj, &req->env, err)) < 0)
                return r;

        v = field(obj, "timeout_s");
        if (v) {
                json_int_t t = json_is_integer(v) ? json_integer_value(v) : 0;

                if (t < 1 || t > EXEC_TIMEOUT_MAX)
                        return al_err(err, -EINVAL,
                                      "field 'timeout_s' must be an integer between 1 and %d",
                                      EXEC_TIMEOUT_MAX);
                req->timeout_s = t;
        }
        if ((r = get_bool(obj, "network", &req->network, err)) < 0)
                return r;
        {
                int untrusted = 0, stream = 0, background = 0;

                if ((r = get_bool(obj, "untrusted", &untrusted, err)) < 0 ||
                    (r = get_bool(obj, "stream", &stream, err)) < 0 ||
                    (r = get_bool(obj, "background", &background, err)) < 0)
                        return r;
                req->untrusted = untrusted;
                req->stream = stream;
                req->background = background;
        }
        /* Contexts (docs/contexts.md): code only, in the foreground. */
        if ((r = get_name(obj, "context", &req->context, err)) < 0 ||
            (r = get_name(obj, "language", &req->language, err)) < 0)
                return r;
        if (req->context && req->language)
                return al_err(err, -EINVAL,
                              "give 'context' (an id) or 'language' (its default "
                              "context), not both");
        if ((req->context || req->language) && (!req->code || req->background || req->stdin_data))
                return al_err(err, -EINVAL,
                              "a context runs 'code' in the foreground, without 'stdin'");
        return 0;
}

int request_json_object(const char *body, size_t len, bool allow_nul, json_t **ret,
                        struct al_error *err)
{
        json_t *obj;
        json_error_t jerr;

        obj = json_loadb(
            body ? body : "", body ? len : 0,
            JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | (allow_nul ? JSON_ALLOW_NUL : 0), &jerr);
        if (!obj)
                return al_err(err, -EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
                              jerr.column, jerr.text);
        if (!json_is_object(obj)) {
                json_decref(obj);
                return al_err(err, -EINVAL, "the request body must be a JSON object");
        }
        *ret = obj;
        return 0;
}

int exec_request_parse(const char *body, size_t len, struct exec_request *ret, struct al_error *err)
{
        _cleanup_(json_decrefp) json_t *obj = NULL;
        struct exec_request req = {.network = -1};
        int r;

        memset(ret, 0, sizeof(*ret));
        ret->network = -1;
        /* NUL is allowed so that stdin may carry it; other fields reject it themselves. */
        r = request_json_object(body, len, true, &obj, err);
        if (r < 0)
                return r;
        r = parse_fields(obj, &req, err);
        if (r < 0) {
                exec_request_clear(&req);
                return r;
        }
        *ret = req;
        return 0;
}
