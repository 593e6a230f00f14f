#!/usr/bin/env bash
# Registers gVisor's runsc (Debian package runsc) with Docker as the runtime airlock's gvisor
# isolation tier asks for (docs/isolation.md). Idempotent: merges one entry into
# /etc/docker/daemon.json (other keys and runtimes are kept), reloads dockerd with SIGHUP only
# when the file changed, and waits until `docker info` lists the runtime. Run as root, with
# dockerd up. Podman is not registered: its compat API ignores the runtime a container asks
# for, and airlockd refuses the gvisor tier on it.
#
# The runtime arguments are part of the tier's protection, not tuning:
#   --network=none   no network stack in the sandbox at all (egress goes through the agent)
#   --oci-seccomp    apply the container's seccomp profile inside (silently ignored without)
#   --host-uds=all   UNIX sockets on bind mounts cross the boundary (the agent's socket, the
#                    egress relay's)
# and never --platform=kvm (hangs on hosts whose /dev/kvm is no VMX: the default ptrace
# platform works).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

RUNTIME=airlock-runsc
RUNSC=${AIRLOCK_RUNSC:-/usr/bin/runsc}
DAEMON_JSON=${AIRLOCK_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}

[ -x "$RUNSC" ] || al_die "runsc: $RUNSC is missing (apt-get install runsc)"
mkdir -p "$(dirname "$DAEMON_JSON")"

# Merge our entry; prints "changed" when the file had to be rewritten (atomically).
state=$(RUNSC="$RUNSC" RUNTIME="$RUNTIME" DAEMON_JSON="$DAEMON_JSON" python3 - <<'PY'
import json, os, sys, tempfile
path, name = os.environ["DAEMON_JSON"], os.environ["RUNTIME"]
want = {"path": os.environ["RUNSC"],
        "runtimeArgs": ["--network=none", "--oci-seccomp", "--host-uds=all"]}
conf = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        conf = json.load(f)
    if not isinstance(conf, dict):
        sys.exit(f"{path} is not a JSON object")
runtimes = conf.setdefault("runtimes", {})
if runtimes.get(name) == want:
    print("same")
    sys.exit(0)
runtimes[name] = want
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".daemon.json.")
with os.fdopen(fd, "w") as f:
    json.dump(conf, f, indent=2)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, path)
print("changed")
PY
)

listed() { "$AIRLOCK_DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"$RUNTIME\""; }

if [ "$state" = same ] && listed; then
	al_log "runsc: registered with Docker as $RUNTIME"
	exit 0
fi
pid=$(pidof dockerd || true)
[ -n "$pid" ] || al_die "runsc: dockerd is not running"
al_log "runsc: registering with Docker as $RUNTIME (SIGHUP to dockerd $pid)"
kill -HUP "$pid"
for _ in $(seq 1 60); do
	listed && {
		al_log "runsc: $RUNTIME listed by docker info"
		exit 0
	}
	sleep 0.5
done
al_die "runsc: docker info does not list $RUNTIME 30 s after the reload (see the dockerd log)"
