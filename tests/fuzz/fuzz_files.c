/* libFuzzer target: what the files API reads from a sandbox's files helper and from clients
 * (tests/fuzz/run.sh). */
#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        return fuzz_files_one(data, size);
}
