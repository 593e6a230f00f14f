/* Every input the fuzzers ever crashed on (tests/fuzz/regressions/TARGET/) and every seed
 * (tests/fuzz/corpus/TARGET/), through the fuzz targets' own entry points: they run in every
 * build, with or without clang, and under AddressSanitizer in the sanitizer build. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/cleanup.h"
#include "airlock/util.h"
#include "fuzz_targets.h"

#define INPUT_MAX (2u << 20) /* larger than any target looks at */

static const struct {
        const char *name;
        int (*one)(const uint8_t *data, size_t size);
} targets[] = {
    {"request", fuzz_request_one}, {"policy", fuzz_policy_one}, {"tokens", fuzz_tokens_one},
    {"agent", fuzz_agent_one},     {"mcp", fuzz_mcp_one},       {"context", fuzz_context_one},
    {"files", fuzz_files_one},     {"egress", fuzz_egress_one}, {"e2b", fuzz_e2b_one},
};

static uint8_t *read_input(const char *path, size_t *ret_size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t *data;
        size_t got = 0;

        if (fd < 0)
                return NULL;
        data = malloc(INPUT_MAX);
        if (!data)
                return NULL;
        for (;;) {
                ssize_t n = read(fd, data + got, INPUT_MAX - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
                if (got == INPUT_MAX)
                        break;
        }
        *ret_size = got;
        return data;
}

/* Runs every regular file of dir through one; returns how many. */
static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char path[4096];
                struct stat st;
                uint8_t *data;
                size_t size = 0;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                data = read_input(path, &size);
                ck_assert_msg(data != NULL, "cannot read %s", path);
                ck_assert_msg(one(data, size) == 0, "%s", path);
                free(data);
                n++;
        }
        closedir(d);
        return n;
}

START_TEST(test_replay)
{
        const char *src = getenv("AIRLOCK_SOURCE_DIR");
        char dir[4096];
        int seeds, crashes;

        ck_assert_msg(src != NULL, "AIRLOCK_SOURCE_DIR is not set (run through ctest)");
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src, targets[_i].name);
        seeds = replay_dir(dir, targets[_i].one);
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", src, targets[_i].name);
        crashes = replay_dir(dir, targets[_i].one);
        /* The seeds are part of the tree: finding none means the path is wrong. */
        ck_assert_msg(seeds > 0, "no seeds under tests/fuzz/corpus/%s", targets[_i].name);
        printf("fuzz %s: %d seeds and %d regression inputs replayed\n", targets[_i].name, seeds,
               crashes);
}
END_TEST

START_TEST(test_edges)
{
        static const uint8_t nothing[1];

        /* Empty input, a NUL, and input past every cap. */
        for (size_t t = 0; t < ARRAY_SIZE(targets); t++) {
                uint8_t *big = malloc(INPUT_MAX);

                ck_assert_ptr_nonnull(big);
                memset(big, '[', INPUT_MAX);
                ck_assert_int_eq(targets[t].one(nothing, 0), 0);
                ck_assert_int_eq(targets[t].one(nothing, 1), 0);
                ck_assert_int_eq(targets[t].one(big, INPUT_MAX), 0);
                free(big);
        }
}
END_TEST

static Suite *fuzz_suite(void)
{
        Suite *s = suite_create("fuzz_regressions");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_replay, 0, (int)ARRAY_SIZE(targets));
        tcase_add_test(tc, test_edges);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(fuzz_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
