/* The fuzz targets' entry points, shared by the libFuzzer programs (fuzz_request.c,
 * fuzz_policy.c, fuzz_tokens.c,
 * fuzz_agent.c, fuzz_files.c) and by the unit test that replays tests/fuzz/regressions in every
 * build. Each takes any bytes, must neither crash nor leak, and returns 0. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* A POST /v1/exec body through the request parser and validator (exec_request_parse,
 * exec_request_check, exec_request_argv, the effective policy of its agent), and the same
 * bytes as an Authorization header (auth_parse_bearer) and an agent pattern. */
int fuzz_request_one(const uint8_t *data, size_t size);

/* Settings text through the parser (policy_parse), and what reads a parsed policy: its JSON
 * view, each agent's effective policy, each client's role. */
int fuzz_policy_one(const uint8_t *data, size_t size);

/* Bytes through the SELECTIVE classifier's shell tokenizer (shell_tokenize, and split at NULs,
 * shell_tokenize_argv), then as a command through classify_exec without rules. */
int fuzz_tokens_one(const uint8_t *data, size_t size);

/* Bytes from an agent through the frame decoder (agent_decoder_feed), whole and cut at a point
 * the input chooses, with small and full payload caps: the same frames in both cuts, payloads
 * within the cap, and a frame's JSON through jansson as the daemon reads it. */
int fuzz_agent_one(const uint8_t *data, size_t size);

/* A POST /mcp body through MCP's JSON-RPC layer (mcp_handle): every answer must be JSON-RPC
 * 2.0. Calls of the tools that reach the daemon core are left out (there is no core here;
 * tests/integration/test_mcp.py drives those); unknown tools and every other method are fed. */
int fuzz_mcp_one(const uint8_t *data, size_t size);

/* Bytes from a context driver through the frame decoder, each CTX_RESULT and CTX_DONE payload
 * through the checks the daemon applies (context_result_parse, context_done_parse): what they
 * accept has the promised shape. */
int fuzz_context_one(const uint8_t *data, size_t size);

/* Bytes from a sandbox's files helper and from a client through the files API's decoders: as
 * a record stream (file_record_next, and files_records_to_tar under a small cap), as the
 * artifacts document (files_artifacts_check), as the helper's error (files_helper_error), as
 * a client's path (files_path_parse) and as a client's tar (files_tar_to_records). */
int fuzz_files_one(const uint8_t *data, size_t size);
/* Bytes from a sandbox through the egress proxy's parsers: the HTTP proxy request head
 * (egress_http_parse, at every cut the input chooses), the TLS ClientHello's SNI
 * (egress_sni_parse) and host normalisation of what they yield. */
int fuzz_egress_one(const uint8_t *data, size_t size);
/* Bytes from an E2B client through the E2B front end's parsers: a Connect envelope
 * (e2b_envelope_single), a multipart upload under a boundary the input's first line names
 * (e2b_multipart_parse: parts within the input), and a Start request's process as JSON
 * (e2b_process_command). */
int fuzz_e2b_one(const uint8_t *data, size_t size);
