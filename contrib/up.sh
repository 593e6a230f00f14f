#!/usr/bin/env bash
# Bring up airlockd on this machine: set up (packages, engines, build, runtime images), install
# the binaries, the default settings and the seccomp profile, then start airlockd in the
# background on /run/airlock/airlock.sock and wait until it answers. Run as root.
#
#   contrib/up.sh               start (or restart) airlockd in the background
#   contrib/up.sh --foreground  run airlockd in the foreground (for a terminal or a supervisor)
#   contrib/up.sh --stop        stop the airlockd this script started
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

CONF=/etc/airlock/airlock.conf
SOCK=/run/airlock/airlock.sock
PIDFILE=/run/airlock/airlockd.pid
LOG=/var/log/airlock/airlockd.log

stop_running() {
	if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
		local pid
		pid=$(cat "$PIDFILE")
		al_log "stopping airlockd (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
	fi
	rm -f "$PIDFILE"
}

case "${1:-}" in
--stop)
	stop_running
	exit 0
	;;
--foreground | "") ;;
*)
	echo "usage: contrib/up.sh [--foreground | --stop]" >&2
	exit 2
	;;
esac

[ "$(id -u)" -eq 0 ] || al_die "up.sh must run as root (it installs packages and starts engines)"
"$ROOT/contrib/setup.sh"
cmake --install "$ROOT/build" --prefix /usr/local >/dev/null
install -d -m 0755 /etc/airlock /run/airlock /var/log/airlock
install -d -m 0700 /var/lib/airlock
if [ ! -f "$CONF" ]; then
	install -m 0644 "$ROOT/policies/airlock.conf" "$CONF"
	al_log "settings: installed the default $CONF"
else
	al_log "settings: keeping the existing $CONF"
fi

stop_running
if [ "${1:-}" = "--foreground" ]; then
	exec /usr/local/sbin/airlockd --config "$CONF" --socket "$SOCK"
fi
setsid /usr/local/sbin/airlockd --config "$CONF" --socket "$SOCK" >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"
for _ in $(seq 1 100); do
	if curl -sf --unix-socket "$SOCK" http://localhost/v1/version >/dev/null 2>&1; then
		al_log "airlockd is serving on $SOCK (pid $(cat "$PIDFILE"), log $LOG)"
		al_log "try: airlock exec --runtime python -c 'print(6*7)'"
		exit 0
	fi
	kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
	sleep 0.1
done
tail -n 20 "$LOG" >&2 || true
al_die "airlockd did not come up; see $LOG"
