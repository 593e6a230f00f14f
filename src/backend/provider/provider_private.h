/* Private to backend/provider/: the provider backends the router holds. */
#pragma once
#include "airlock/backend.h"
#include "airlock/policy.h"

/* An E2B provider backend for [provider] pr (its settings are copied: a reload does not change
 * a provider in use). NULL with err on ENOMEM. */
struct backend *e2b_backend_new(const struct policy_provider *pr, struct al_error *err);
/* e2b_backend.c, for e2b_ctx.c: the client, the provider's name, and where sandbox handle's
 * port (E2B_ENVD_PORT, E2B_CODE_PORT) is reached (-ENOENT when it is not held). */
struct e2b_client;
struct e2b_target;
const struct e2b_client *e2b_backend_client(struct backend *b);
const char *e2b_backend_name(struct backend *b);
int e2b_backend_target(struct backend *b, const char *handle, int port, struct e2b_target *ret,
                       struct al_error *err);
/* e2b_ctx.c: the code interpreter's contexts (backend_ops ctx_remote_*). */
int e2b_ctx_create(struct backend *b, const char *handle, const char *language, char *ret_id,
                   struct al_error *err);
int e2b_ctx_run(struct backend *b, const char *handle, const char *id, const char *code,
                const struct exec_spec *x, const struct exec_sink *sink, struct exec_result *res,
                json_t **ret_results, json_t **ret_done, struct al_error *err);
/* "e2b:NAME", valid while the backend lives. */
const char *e2b_backend_label(struct backend *b);
