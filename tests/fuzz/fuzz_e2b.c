/* libFuzzer target: E2B clients' bytes through the E2B front end's parsers (tests/fuzz/run.sh). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        return fuzz_e2b_one(data, size);
}
