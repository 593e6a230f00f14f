#!/usr/bin/env bash
# airlockd's own cost per warm exec, in counts that the machine's noise does not move
# (docs/benchmark.md, "The hot-path round"): user-space instructions (valgrind's callgrind)
# and system calls (strace -c -f), over N execs of `true` in one session's sandbox.
#
# Usage: tests/bench/count.sh [docker|podman] [N]        (default: docker 40)
# Environment:
#   AIRLOCKD               the airlockd to count (default: build-bench/airlockd)
#   AIRLOCK_LIBEXEC_DIR    where airlock-agent and airlock-exec are (default: beside airlockd)
#   AIRLOCK_BENCH_SECCOMP  seccomp profile (default: policies/seccomp.json)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

ENGINE=${1:-docker}
N=${2:-40}
AIRLOCKD=${AIRLOCKD:-$ROOT/build-bench/airlockd}
export AIRLOCK_LIBEXEC_DIR=${AIRLOCK_LIBEXEC_DIR:-$(dirname "$AIRLOCKD")}
SECCOMP=${AIRLOCK_BENCH_SECCOMP:-$ROOT/policies/seccomp.json}
case $ENGINE in
docker) SOCK=$AIRLOCK_DOCKER_SOCK ;;
podman) SOCK=$AIRLOCK_PODMAN_SOCK ;;
*) al_die "engine must be docker or podman" ;;
esac
command -v valgrind >/dev/null || al_die "valgrind is not installed"
command -v strace >/dev/null || al_die "strace is not installed"
[ -x "$AIRLOCKD" ] || al_die "no airlockd at $AIRLOCKD"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/airlock-count.XXXXXX")
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		wait "$PID" || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

cat >"$TMP/airlock.conf" <<EOF
[daemon]
log_level = warn
[engine]
kind = $ENGINE
socket = $SOCK
seccomp_profile = $SECCOMP
[sandbox]
mode = all
scope = session
default_runtime = sh
pool_size = 0
exec_user = 2000100000:2000100000
keeper_user = 2000100001:2000100001
[runtime "sh"]
image = airlock/busybox:latest
run = sh -c
shell = sh -c
EOF

exec_true() {
	curl -sf --max-time 120 --unix-socket "$TMP/airlock.sock" -H 'Content-Type: application/json' \
		-d '{"agent":"count","session":"s","runtime":"sh","argv":["true"]}' http://d/v1/exec
}

# start [WRAPPER...]: airlockd under the wrapper, up and with its session's sandbox made.
start() {
	rm -rf "$TMP/state"
	"$@" "$AIRLOCKD" --config "$TMP/airlock.conf" --socket "$TMP/airlock.sock" \
		--state-dir "$TMP/state" >"$TMP/log" 2>&1 &
	PID=$!
	for _ in $(seq 1 600); do
		curl -sf --max-time 2 --unix-socket "$TMP/airlock.sock" http://d/v1/version >/dev/null 2>&1 &&
			break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.2
	done
	exec_true >/dev/null || {
		cat "$TMP/log" >&2
		al_die "airlockd did not run an exec"
	}
	exec_true >/dev/null
}

stop() {
	curl -sf --unix-socket "$TMP/airlock.sock" -X DELETE http://d/v1/sessions/count/s >/dev/null || true
	kill -TERM "$PID"
	wait "$PID" || al_die "airlockd did not exit cleanly (log: $TMP/log)"
	PID=""
}

# 1. Instructions: counters zeroed after the warm-up, dumped after N execs.
start valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out"
callgrind_control -z "$PID" >/dev/null
for _ in $(seq 1 "$N"); do exec_true >/dev/null; done
callgrind_control -d "$PID" >/dev/null
stop
ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$TMP"/cg.out.1)
echo "instructions (user space) per exec: $((ir / N))"
if command -v callgrind_annotate >/dev/null; then
	echo "of which, inclusive, per exec:"
	callgrind_annotate --inclusive=yes --auto=no "$TMP"/cg.out.1 2>/dev/null |
		grep -E ':(sqlite3_prepare_v2|sqlite3_step|json_dumps|audit_begin|audit_finish|dagent_pump) ' |
		awk -v n="$N" '{gsub(",", "", $1); sub(/.*:/, "", $3); printf "  %-10d %s\n", $1 / n, $3}' |
		sort -rn
fi

# 2. System calls.
start
strace -c -f -p "$PID" -o "$TMP/strace.txt" 2>/dev/null &
TP=$!
sleep 1
for _ in $(seq 1 "$N"); do exec_true >/dev/null; done
kill -INT "$TP"
wait "$TP" || true
stop
echo "system calls per exec (strace -c -f):"
awk -v n="$N" '$1 ~ /^[0-9.]+$/ {printf "  %-18s %7.2f\n", $NF, $4 / n}' "$TMP/strace.txt" |
	sort -k2 -rn | head -20
