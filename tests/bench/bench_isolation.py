#!/usr/bin/env python3
"""Isolation tiers benchmark (docs/benchmark.md, "Isolation tiers"): warm execs (a kept
session sandbox, through its agent) in the gvisor tier against the container tier (runc), in
one run, interleaved round by round so that the machine's load falls on both alike; and a new
session's first exec (sandbox made on demand) in each. Docker only: Podman has no gvisor tier.

Usage: tests/bench/bench_isolation.py [-n ROUNDS] [--json]
Environment: AIRLOCK_BUILD_DIR (default: build), as for the integration tests.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import DEFAULT_CONF, ENGINE_SOCKETS, Daemon  # noqa: E402

TIERS = ("container", "gvisor")
EXECS = {"bash": ("bash", "true"), "python": ("python", "print(6*7)")}


def ms(t0):
    return (time.perf_counter() - t0) * 1000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    base = DEFAULT_CONF.format(engine="docker", engine_socket=ENGINE_SOCKETS["docker"])
    with tempfile.TemporaryDirectory() as tmp:
        ds = {t: Daemon(Path(tmp) / t, conf=base.replace("[sandbox]\n",
                                                           f"[sandbox]\nisolation = {t}\n"))
              for t in TIERS}
        for d in ds.values():
            d.start()
        try:
            warm = {(t, k): [] for t in TIERS for k in EXECS}
            first = {t: [] for t in TIERS}
            for t, d in ds.items():
                for k, (rt, code) in EXECS.items():  # the sandboxes made, and warmed
                    assert d.client.exec(session="bench", runtime=rt, command=code
                                         if rt == "bash" else None, code=None if rt == "bash"
                                         else code)["isolation"] == t
            for i in range(a.n):
                for t, d in ds.items():
                    for k, (rt, code) in EXECS.items():
                        body = {"command": code} if rt == "bash" else {"code": code}
                        t0 = time.perf_counter()
                        r = d.client.exec(session="bench", runtime=rt, **body)
                        warm[(t, k)].append(ms(t0))
                        assert r["exit_code"] == 0 and r["transport"] == "agent", r
                    if i < 5:
                        t0 = time.perf_counter()
                        d.client.exec(session=f"new{i}", runtime="bash", command="true")
                        first[t].append(ms(t0))
                        d.client.json("POST", f"/v1/sessions/new{i}/end", {"agent": "default"})
        finally:
            for d in ds.values():
                d.stop()
    out = {"rounds": a.n, "warm": {}, "first_exec": {}}
    for k in EXECS:
        p50 = {t: statistics.median(warm[(t, k)]) for t in TIERS}
        out["warm"][k] = {t: {"p50_ms": round(p50[t], 1), "p90_ms": round(pct(warm[(t, k)], 90), 1)}
                          for t in TIERS}
        out["warm"][k]["ratio_p50"] = round(p50["gvisor"] / p50["container"], 2)
    p50 = {t: statistics.median(first[t]) for t in TIERS}
    out["first_exec"] = {t: {"p50_ms": round(p50[t], 1)} for t in TIERS}
    out["first_exec"]["ratio_p50"] = round(p50["gvisor"] / p50["container"], 2)
    if a.json:
        print(json.dumps(out, indent=2))
        return
    for k in EXECS:
        w = out["warm"][k]
        print(f"warm exec ({k}): container p50 {w['container']['p50_ms']} ms, gvisor p50 "
              f"{w['gvisor']['p50_ms']} ms: x{w['ratio_p50']}")
    f = out["first_exec"]
    print(f"first exec of a new session: container p50 {f['container']['p50_ms']} ms, gvisor "
          f"p50 {f['gvisor']['p50_ms']} ms: x{f['ratio_p50']}")


if __name__ == "__main__":
    main()
