/* libFuzzer target: POST /mcp bodies through MCP's JSON-RPC layer (tests/fuzz/run.sh). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        return fuzz_mcp_one(data, size);
}
