#!/usr/bin/env python3
"""Provider benchmark (docs/benchmark.md, "One airlock in front of another"): the same exec
through a front airlockd to a remote airlockd's E2B-compatible API ([provider] kind = e2b over
loopback TCP), against the exec directly on the remote (its own /v1/exec), in one run, both in
warm kept sandboxes. Reports each side's p50 and mean and the hop's cost as a ratio.

Usage: tests/bench/provider_bench.py [docker|podman] [-n ROUNDS] [--json]
Environment: AIRLOCK_BUILD_DIR (default: build), as for the integration tests.
"""
import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import Daemon  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        res = fn()
        out.append((time.perf_counter() - t0) * 1000)
        assert res["exit_code"] == 0 and res["stdout"] == "x\n", res
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", nargs="?", default="docker", choices=["docker", "podman"])
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        port = free_port()
        remote = Daemon(tmp / "remote", engine=a.engine,
                        conf_extra=f"[e2b]\nlisten = 127.0.0.1:{port}\n").start()
        front = None
        try:
            status, doc = remote.client.json("POST", "/v1/tokens", {"agent": "hosted"})
            assert status == 201, doc
            key = tmp / "key"
            key.write_text(doc["token"])
            key.chmod(0o600)
            url = f"http://127.0.0.1:{port}"
            front = Daemon(tmp / "front", engine=a.engine, conf_extra=f"""
[provider "remote"]
kind = e2b
api_url = {url}
api_key_file = {key}
template = base
[agent "far"]
backend = provider:remote
""").start()
            via = lambda: front.client.exec(agent="far", session="b", command="echo x")  # noqa
            direct = lambda: remote.client.exec(agent="hosted", session="b",  # noqa
                                                command="echo x")
            timed(via, 3)  # warm both sandboxes
            timed(direct, 3)
            # Interleaved, so that load on the machine falls on both sides alike.
            v, d = [], []
            for _ in range(a.n):
                v += timed(via, 1)
                d += timed(direct, 1)
        finally:
            if front:
                front.stop()
            remote.stop()
    out = {
        "engine": a.engine, "rounds": a.n,
        "front_to_remote_ms": {"p50": round(statistics.median(v), 2),
                               "mean": round(statistics.mean(v), 2)},
        "direct_on_remote_ms": {"p50": round(statistics.median(d), 2),
                                "mean": round(statistics.mean(d), 2)},
        "ratio_p50": round(statistics.median(v) / statistics.median(d), 2),
        "hop_ms_p50": round(statistics.median(v) - statistics.median(d), 2),
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{a.engine}: front->remote p50 {out['front_to_remote_ms']['p50']} ms, direct p50 "
              f"{out['direct_on_remote_ms']['p50']} ms, ratio {out['ratio_p50']}x "
              f"(+{out['hop_ms_p50']} ms per exec), {a.n} rounds")


if __name__ == "__main__":
    main()
