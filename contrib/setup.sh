#!/usr/bin/env bash
# Prepares a Debian 12 machine to build, test and run airlock: packages, the airlock group, the
# Docker and Podman engines, the build, and the local runtime images. Idempotent; a second run
# on a ready machine only checks and takes a few seconds. Run as root from anywhere.
#
# Environment:
#   AIRLOCK_SETUP_ENGINES=0  do not start dockerd / the Podman service
#   AIRLOCK_SETUP_BUILD=0    do not configure and build
#   AIRLOCK_SETUP_IMAGES=0   do not build/import the runtime images
#   AIRLOCK_WERROR=1|0       warnings as errors (default: 1 when CI=true)
#   AIRLOCK_BUILD_DIR        build directory (default: build)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
cd "$ROOT"

START=$SECONDS
[ "$(id -u)" -eq 0 ] || al_die "setup.sh must run as root"

PACKAGES=(
	build-essential cmake pkg-config clang clang-format
	libcurl4-openssl-dev libjansson-dev libseccomp-dev libcap-dev libsqlite3-dev check
	libmicrohttpd-dev libinih-dev sqlite3
	libarchive-dev # tar uploads and downloads of the files API
	python3-dev # tests: a native extension built on the host (tests/integration/native_pkg.py)
	libidn2-dev # IDNA: domain names of the network policy (docs/egress.md)
	e2fsprogs # mkfs.ext4, e2fsck, resize2fs: the per-agent workspace images (workspace_mb)
	docker.io podman runc catatonit uidmap
	runsc # gVisor: the gvisor isolation tier (docs/isolation.md), registered by contrib/runsc.sh
	busybox-static debootstrap
	python3 python3-pytest python3-pytest-xdist curl ca-certificates iproute2 procps
	prometheus # for promtool: the metrics tests check /metrics with Prometheus' own parser
	nodejs     # the MCP SDK client tests (tests/mcp) and the JavaScript client (clients/js)
)

# --- 1. packages ------------------------------------------------------------------------------
install_packages() {
	local missing=() pkg status
	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		[ "$status" = installed ] || missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		al_log "packages: all ${#PACKAGES[@]} present"
		return
	fi
	al_log "packages: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	al_log "packages: installed ${#missing[@]}"
}

# npm comes with some nodejs packages (NodeSource's) and is a package of its own in Debian's.
ensure_npm() {
	if command -v npm >/dev/null; then
		return
	fi
	al_log "packages: installing npm"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
}

# The npm packages the tests use, exactly as locked (npm ci), from npm's cache when it has them:
# the official MCP SDK client (tests/mcp), the E2B SDKs (tests/e2b). Reinstalled only when the
# lock file changed.
npm_deps() {
	local dir
	for dir in tests/mcp tests/e2b clients/js; do
		[ -f "$dir/package-lock.json" ] || continue
		if [ -f "$dir/node_modules/.package-lock.json" ] &&
			[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
			al_log "npm: $dir up to date"
			continue
		fi
		al_log "npm: installing $dir (npm ci)"
		(cd "$dir" && npm ci --prefer-offline --no-audit --no-fund >/dev/null) ||
			al_die "npm ci failed in $dir"
	done
}

# --- 2. group ---------------------------------------------------------------------------------
ensure_group() {
	if getent group airlock >/dev/null; then
		al_log "group airlock: present"
	else
		groupadd --system airlock
		al_log "group airlock: created"
	fi
}

# --- 3. engines -------------------------------------------------------------------------------
start_docker() {
	if al_docker_up; then
		al_log "docker: answering on $AIRLOCK_DOCKER_SOCK"
		return
	fi
	al_log "docker: starting dockerd (log /var/log/airlock-dockerd.log)"
	setsid nohup dockerd >/var/log/airlock-dockerd.log 2>&1 </dev/null &
	al_wait_ping "$AIRLOCK_DOCKER_SOCK" 60 ||
		al_die "dockerd did not answer within 60 s; see /var/log/airlock-dockerd.log"
	al_log "docker: up"
}

start_podman() {
	if al_podman_up; then
		al_log "podman: answering on $AIRLOCK_PODMAN_SOCK"
		return
	fi
	# crun fails on this host's cgroup layout and the compat API ignores HostConfig.Runtime,
	# so the whole service runs with runc. The socket's directory must exist before binding.
	mkdir -p "$(dirname "$AIRLOCK_PODMAN_SOCK")"
	rm -f "$AIRLOCK_PODMAN_SOCK"
	al_log "podman: starting the API service (log /var/log/airlock-podman.log)"
	setsid nohup podman --runtime runc system service --time=0 "unix://$AIRLOCK_PODMAN_SOCK" \
		>/var/log/airlock-podman.log 2>&1 </dev/null &
	al_wait_ping "$AIRLOCK_PODMAN_SOCK" 60 ||
		al_die "podman service did not answer within 60 s; see /var/log/airlock-podman.log"
	al_log "podman: up"
}

# --- 4. build ---------------------------------------------------------------------------------
build() {
	local dir=${AIRLOCK_BUILD_DIR:-build} werror=OFF
	if [ -n "${AIRLOCK_WERROR:-}" ]; then
		case $AIRLOCK_WERROR in 1 | ON | on | true | yes) werror=ON ;; esac
	elif [ "${CI:-}" = true ]; then
		werror=ON
	fi
	al_log "build: configuring $dir (RelWithDebInfo, WERROR=$werror)"
	# Called as `build || ...`, so errexit is off in here: every failure returns explicitly.
	if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIRLOCK_WERROR="$werror" >/dev/null; then
		al_log "build: configure FAILED"
		return 1
	fi
	al_log "build: compiling"
	# Progress lines are noise; warnings and errors stay visible. pipefail keeps cmake's status.
	if ! cmake --build "$dir" -j2 2>&1 | { grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built)' || true; }; then
		al_log "build: FAILED"
		return 1
	fi
	al_log "build: ok"
}

install_packages
ensure_npm
npm_deps
ensure_group
if [ "${AIRLOCK_SETUP_ENGINES:-1}" != 0 ]; then
	start_docker
	"$ROOT/contrib/runsc.sh"
	start_podman
else
	al_log "engines: skipped (AIRLOCK_SETUP_ENGINES=0)"
fi
# A failed build does not stop the image step; setup still fails at the end.
BUILD_FAILED=0
if [ "${AIRLOCK_SETUP_BUILD:-1}" != 0 ]; then
	build || BUILD_FAILED=1
else
	al_log "build: skipped (AIRLOCK_SETUP_BUILD=0)"
fi
if [ "${AIRLOCK_SETUP_IMAGES:-1}" != 0 ]; then
	"$ROOT/images/build-local.sh"
else
	al_log "images: skipped (AIRLOCK_SETUP_IMAGES=0)"
fi
[ "$BUILD_FAILED" = 0 ] || al_die "setup finished in $((SECONDS - START)) s, but the build failed"
al_log "setup done in $((SECONDS - START)) s"
