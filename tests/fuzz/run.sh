#!/usr/bin/env bash
# Build the libFuzzer targets with clang in build-fuzz, run each for a fixed time from its seed
# corpus, then replay every recorded crash input. A new crash is copied to
# tests/fuzz/regressions/TARGET/ (commit it with the fix: the unit test test_fuzz_regressions
# replays that directory in every build) and fails the run.
#
# Environment: FUZZ_SECONDS (default 30) per target; FUZZ_TARGETS (default "request policy tokens agent mcp context files egress e2b");
# FUZZ_BUILD_DIR (default build-fuzz). Needs clang with libFuzzer (Debian: clang).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-"request policy tokens agent mcp context files egress e2b"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang)" >&2; exit 1; }

# Warnings are the gcc build's business (CI builds it with -Werror); clang's differ.
CC=clang cmake -S "$ROOT" -B "$BUILD" -DAIRLOCK_FUZZ=ON -DAIRLOCK_WERROR=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086 # TARGETS is a list of words
cmake --build "$BUILD" -j2 --target $(printf 'fuzz_%s ' $TARGETS) 2>&1 |
	{ grep -E '(error|Error)' || true; }
for t in $TARGETS; do
	[ -x "$BUILD/fuzz_$t" ] || { echo "fuzz: fuzz_$t did not build" >&2; exit 1; }
done

failed=0
for t in $TARGETS; do
	bin="$BUILD/fuzz_$t"
	work="$BUILD/corpus-$t"
	artifacts="$BUILD/artifacts-$t/"
	regressions="$ROOT/tests/fuzz/regressions/$t"
	mkdir -p "$work" "$artifacts" "$regressions"
	# The seeds go in read-only; what the fuzzer finds grows in the work corpus.
	echo "=== fuzz_$t: ${SECONDS_PER_TARGET}s" >&2
	rc=0
	"$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$artifacts" -print_final_stats=1 \
		"$work" "$ROOT/tests/fuzz/corpus/$t" 2>"$BUILD/fuzz_$t.log" || rc=$?
	tail -n 12 "$BUILD/fuzz_$t.log" >&2
	if [ "$rc" -ne 0 ]; then
		failed=1
		for a in "$artifacts"*; do
			[ -f "$a" ] || continue
			cp "$a" "$regressions/"
			echo "fuzz_$t: crash input saved as $regressions/$(basename "$a")" >&2
		done
	fi
	# Every recorded crash must stay fixed: libFuzzer runs files given as arguments once.
	mapfile -t inputs < <(find "$regressions" -type f ! -name '.*' | sort)
	if [ "${#inputs[@]}" -gt 0 ]; then
		echo "=== fuzz_$t: replaying ${#inputs[@]} regression input(s)" >&2
		"$bin" "${inputs[@]}" >/dev/null 2>"$BUILD/fuzz_$t.replay.log" || {
			failed=1
			tail -n 30 "$BUILD/fuzz_$t.replay.log" >&2
		}
	fi
done
if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED" >&2
	exit 1
fi
echo "fuzz: ok" >&2
