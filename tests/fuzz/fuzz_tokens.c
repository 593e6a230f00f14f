/* libFuzzer target: the SELECTIVE classifier's shell tokenizer (tests/fuzz/run.sh). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        return fuzz_tokens_one(data, size);
}
