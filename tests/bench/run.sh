#!/usr/bin/env bash
# The exec speed benchmark (docs/benchmark.md): for each engine, start a private airlockd on it
# (warm pool of AIRLOCK_BENCH_POOL for the benchmarked runtime, caps raised for 100 sandboxes and
# 20 clients) and run bench_exec, which measures airlockd's exec against the raw Engine API and
# the CLI: warm execs, a new session's first exec, load, and airlockd's memory.
#
# Usage: tests/bench/run.sh [docker|podman|all] [bench_exec options, e.g. -n 50 --json]
#   With no engine (or "all"): docker, then podman.
# Environment:
#   AIRLOCK_BENCH_BUILD_DIR  build directory (default: build-bench), built when needed
#   AIRLOCKD, BENCH_EXEC     use these binaries instead of building
#   AIRLOCK_BENCH_SECCOMP    seccomp profile (default: policies/seccomp.json)
#   AIRLOCK_BENCH_POOL       airlockd's pool_size (default: 4)
#   AIRLOCK_BENCH_KEEP=1     keep the temp directory (config, airlockd log)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

ENGINES=(docker podman)
case ${1:-} in
docker | podman)
	ENGINES=("$1")
	shift
	;;
all) shift ;;
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac
BENCH_ARGS=("$@")

BUILD=${AIRLOCK_BENCH_BUILD_DIR:-$ROOT/build-bench}
SECCOMP=${AIRLOCK_BENCH_SECCOMP:-$ROOT/policies/seccomp.json}
POOL=${AIRLOCK_BENCH_POOL:-4}

# --- build -----------------------------------------------------------------------------------
if [ -z "${AIRLOCKD:-}" ] || [ -z "${BENCH_EXEC:-}" ]; then
	if [ ! -f "$BUILD/CMakeCache.txt" ]; then
		al_log "bench: configuring $BUILD"
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIRLOCK_WERROR=ON >&2
	fi
	# Up to date is a no-op; progress lines are noise.
	if ! cmake --build "$BUILD" -j2 --target airlockd airlock-agent airlock-exec bench_exec 2>&1 |
		{ grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built)' >&2 || true; }; then
		al_die "build failed"
	fi
fi
AIRLOCKD=${AIRLOCKD:-$BUILD/airlockd}
BENCH_EXEC=${BENCH_EXEC:-$BUILD/bench_exec}
[ -x "$AIRLOCKD" ] || al_die "no airlockd at $AIRLOCKD"
[ -x "$BENCH_EXEC" ] || al_die "no bench_exec at $BENCH_EXEC"
[ -r "$SECCOMP" ] || al_die "no seccomp profile at $SECCOMP (set AIRLOCK_BENCH_SECCOMP)"

engine_sock() {
	case $1 in
	docker) echo "$AIRLOCK_DOCKER_SOCK" ;;
	podman) echo "$AIRLOCK_PODMAN_SOCK" ;;
	esac
}

image_on() { # SOCK REF
	curl -sf --max-time 10 --unix-socket "$1" "http://d/v1.41/images/$2/json" >/dev/null 2>&1
}

# count_labelled SOCK LABEL : number of containers (any state) carrying LABEL.
count_labelled() {
	curl -sf --max-time 10 --unix-socket "$1" -G "http://d/v1.41/containers/json" \
		--data-urlencode all=1 --data-urlencode "filters={\"label\":[\"$2\"]}" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

TMP=""
PID=""
# shellcheck disable=SC2317 # both run from the EXIT trap
stop_airlockd() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		wait "$PID" || true
	fi
	PID=""
}
# shellcheck disable=SC2317
on_exit() {
	stop_airlockd
	if [ -n "$TMP" ] && [ "${AIRLOCK_BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$TMP"
	elif [ -n "$TMP" ]; then
		al_log "bench: kept $TMP"
	fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

STATUS=0
for engine in "${ENGINES[@]}"; do
	sock=$(engine_sock "$engine")
	# --- engine and image --------------------------------------------------------------
	if ! al_ping "$sock"; then
		al_log "bench: $engine is not answering on $sock; running contrib/setup.sh"
		AIRLOCK_SETUP_BUILD=0 "$ROOT/contrib/setup.sh"
		al_ping "$sock" || al_die "$engine still not answering on $sock"
	fi
	image=airlock/busybox:latest
	if ! image_on "$sock" "$image"; then
		al_log "bench: $image absent on $engine; importing it (images/build-local.sh busybox)"
		"$ROOT/images/build-local.sh" busybox >&2 || al_log "bench: import failed"
	fi
	if ! image_on "$sock" "$image"; then
		image=airlock/busybox:test
		image_on "$sock" "$image" || al_die "neither airlock/busybox:latest nor :test on $engine"
		al_log "bench: using $image on $engine"
	fi

	# --- a private airlockd ------------------------------------------------------------
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")
	# The limits match the raw containers bench_exec makes (LIM_* in bench_exec.c).
	cat >"$TMP/airlock.conf" <<EOF
[daemon]
log_level = info
# Room for the load phase: 100+ sandboxes of one agent, 20 clients of one uid, no rate limit.
max_connections = 1024
max_connections_per_uid = 512
rate_per_min = 0
max_concurrent = 0
max_execs = 256
queue_max = 1024
max_sandboxes = 1024
max_sandboxes_per_agent = 1024

[engine]
kind = $engine
socket = $sock
seccomp_profile = $SECCOMP

[sandbox]
mode = all
scope = session
default_runtime = sh
pool_size = $POOL
exec_user = 2000100000:2000100000
keeper_user = 2000100001:2000100001

[limits]
cpu_cores = 1
memory_mb = 256
disk_mb = 64
max_processes = 64
timeout_s = 20

[runtime "sh"]
image = $image
run = sh -c
shell = sh -c
EOF
	"$AIRLOCKD" --config "$TMP/airlock.conf" --socket "$TMP/airlock.sock" \
		--state-dir "$TMP/state" >"$TMP/airlockd.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		curl -sf --max-time 2 --unix-socket "$TMP/airlock.sock" http://d/v1/version \
			>/dev/null 2>&1 && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! curl -sf --max-time 2 --unix-socket "$TMP/airlock.sock" http://d/v1/version \
		>/dev/null 2>&1; then
		cat "$TMP/airlockd.log" >&2
		al_die "airlockd did not come up on $engine"
	fi
	instance=$(cat "$TMP/state/instance-id")

	# --- the benchmark -----------------------------------------------------------------
	al_log "bench: $engine (airlockd pid $PID, instance $instance, image $image)"
	if ! "$BENCH_EXEC" --socket "$TMP/airlock.sock" --engine "$engine" --engine-socket "$sock" \
		--image "$image" --runtime sh --seccomp "$SECCOMP" --daemon-pid "$PID" --pool "$POOL" \
		${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"}; then
		al_log "bench: bench_exec failed on $engine; airlockd log:"
		tail -n 30 "$TMP/airlockd.log" >&2
		STATUS=1
	fi

	# --- teardown: nothing may stay behind ---------------------------------------------
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=""
	[ "$rc" -eq 0 ] || {
		al_log "bench: airlockd exited $rc on SIGTERM"
		STATUS=1
	}
	left=$(count_labelled "$sock" "airlock.instance=$instance")
	if [ "$left" != 0 ]; then
		al_log "bench: $left container(s) of instance $instance remain on $engine"
		STATUS=1
	fi
	left=$(count_labelled "$sock" "airlock.bench=true")
	if [ "$left" != 0 ]; then
		al_log "bench: $left airlock.bench container(s) remain on $engine"
		STATUS=1
	fi
	if [ "${AIRLOCK_BENCH_KEEP:-0}" = 1 ]; then
		al_log "bench: kept $TMP"
	else
		rm -rf "$TMP"
	fi
	TMP=""
done
exit $STATUS
