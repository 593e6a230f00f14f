#!/usr/bin/env python3
"""Suspend and resume benchmark (docs/benchmark.md, "Suspend and resume"): the first exec of a
suspended sandbox holding 50 MiB of state (which resumes it: a fresh sandbox, the snapshot read,
checked and unpacked, then the exec) against the first exec of a new session (a fresh sandbox,
no pool), alternated, in one run on a real airlockd and engine. Also how long the suspends took.

Usage: tests/bench/bench_suspend.py [docker|podman] [-n ROUNDS] [--mib N] [--json]
Environment: AIRLOCK_BUILD_DIR (default: build), as for the integration tests.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import DEFAULT_CONF, ENGINE_SOCKETS, Daemon  # noqa: E402

CONF = (DEFAULT_CONF.replace("memory_mb = 256", "memory_mb = 512")
        .replace("disk_mb = 64", "disk_mb = 256").replace("timeout_s = 20", "timeout_s = 300"))


def ms(t0):
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", nargs="?", default="docker", choices=["docker", "podman"])
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--mib", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(tmp, engine=a.engine,
                   conf=CONF.format(engine=a.engine, engine_socket=ENGINE_SOCKETS[a.engine]))
        d.start()
        try:
            c = d.client
            fresh, resume, suspend, snap_bytes = [], [], [], 0
            for _ in range(a.n):
                s = "b-" + uuid.uuid4().hex[:10]
                r = c.exec(session=s, runtime="python",
                           command=f"head -c {a.mib << 20} /dev/urandom > /tmp/state.bin")
                assert r["exit_code"] == 0, r
                t0 = time.perf_counter()
                st, doc = c.json("POST", f"/v1/sandboxes/{r['sandbox_id']}/suspend")
                suspend.append(ms(t0))
                assert st == 200, doc
                snap_bytes = doc["snapshot_bytes"]
                # Alternated, so that load on the machine falls on both alike.
                t0 = time.perf_counter()
                r = c.exec(session=s, runtime="python", command="test -s /tmp/state.bin")
                resume.append(ms(t0))
                assert r.get("resumed") is True and r["exit_code"] == 0, r
                f = "f-" + uuid.uuid4().hex[:10]
                t0 = time.perf_counter()
                r = c.exec(session=f, runtime="python", command="true")
                fresh.append(ms(t0))
                assert r["exit_code"] == 0 and "resumed" not in r, r
                for sess in (s, f):
                    c.json("POST", f"/v1/sessions/{sess}/end", {"agent": "default"})
            out = {"engine": a.engine, "state_mib": a.mib, "snapshot_bytes": snap_bytes,
                   "rounds": a.n,
                   "resume_first_exec_ms_p50": round(statistics.median(resume), 1),
                   "fresh_first_exec_ms_p50": round(statistics.median(fresh), 1),
                   "suspend_ms_p50": round(statistics.median(suspend), 1),
                   "ratio": round(statistics.median(resume) / statistics.median(fresh), 2)}
        finally:
            d.stop()
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{a.engine}: {a.mib} MiB of state, {a.n} rounds (p50)\n"
              f"  suspend (pack, write, sync, record, remove): {out['suspend_ms_p50']} ms\n"
              f"  first exec of the suspended sandbox (resume): "
              f"{out['resume_first_exec_ms_p50']} ms\n"
              f"  first exec of a new session (fresh sandbox):   "
              f"{out['fresh_first_exec_ms_p50']} ms\n"
              f"  ratio resume / fresh: {out['ratio']}x")


if __name__ == "__main__":
    main()
