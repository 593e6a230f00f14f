# shellcheck shell=bash
# Shell functions shared by contrib/setup.sh, images/build-local.sh and tests/run.sh.
# Source it; it defines functions and a few variables and has no side effects.

# The Debian CLI matches the engine (20.10, API 1.41); /usr/local/bin/docker may be a newer
# client that the old engine refuses.
AIRLOCK_DOCKER=${AIRLOCK_DOCKER:-/usr/bin/docker}
AIRLOCK_PODMAN=${AIRLOCK_PODMAN:-podman}
AIRLOCK_DOCKER_SOCK=${AIRLOCK_DOCKER_SOCK:-/var/run/docker.sock}
AIRLOCK_PODMAN_SOCK=${AIRLOCK_PODMAN_SOCK:-/run/podman/podman.sock}

# al_log MSG... : one short progress line on stderr.
al_log() { printf '[airlock] %s\n' "$*" >&2; }

# al_die MSG... : log and exit 1.
al_die() {
	al_log "error: $*"
	exit 1
}

# al_ping SOCKET : true when an Engine API answers _ping on SOCKET.
al_ping() {
	[ -S "$1" ] || return 1
	curl -sf --max-time 3 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

al_docker_up() { al_ping "$AIRLOCK_DOCKER_SOCK"; }
al_podman_up() { al_ping "$AIRLOCK_PODMAN_SOCK"; }

# al_wait_ping SOCKET SECONDS : wait until SOCKET answers _ping; false on timeout.
al_wait_ping() {
	local sock=$1 deadline=$((SECONDS + $2))
	while ((SECONDS < deadline)); do
		al_ping "$sock" && return 0
		sleep 0.5
	done
	al_ping "$sock"
}

# al_repo_root : absolute path of the source tree (the parent of contrib/).
al_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }
