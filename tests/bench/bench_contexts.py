#!/usr/bin/env python3
"""Contexts benchmark (docs/benchmark.md, "Contexts"): the second df.describe() on a loaded
50 MB CSV in a context, against re-running the whole script (import pandas, read the CSV,
describe) as a plain exec, in one run, in the same sandbox, on a real airlockd and engine.

Usage: tests/bench/bench_contexts.py [docker|podman] [-n ROUNDS] [--json]
Environment: AIRLOCK_BUILD_DIR (default: build), as for the integration tests.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import DEFAULT_CONF, ENGINE_SOCKETS, Daemon  # noqa: E402

CONF = (DEFAULT_CONF.replace("memory_mb = 256", "memory_mb = 1536")
        .replace("disk_mb = 64", "disk_mb = 256").replace("timeout_s = 20", "timeout_s = 600"))
MAKE_CSV = """
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
n = 310_000
df = pd.DataFrame({c: rng.normal(size=n) for c in "abcdefgh"})
df["k"] = rng.integers(0, 1000, size=n)
df.to_csv("/tmp/data.csv", index=False)
import os; print(os.path.getsize("/tmp/data.csv"))
"""
SCRIPT = "import pandas as pd\ndf = pd.read_csv('/tmp/data.csv')\nprint(df.describe())\n"


def ms(t0):
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine", nargs="?", default="docker", choices=["docker", "podman"])
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(tmp, engine=a.engine,
                   conf=CONF.format(engine=a.engine, engine_socket=ENGINE_SOCKETS[a.engine]))
        d.start()
        try:
            c = d.client
            size = int(c.exec(session="bench", runtime="python", code=MAKE_CSV)["stdout"])
            status, ctx = c.json("POST", "/v1/contexts",
                                 {"session": "bench", "language": "python"})
            assert status == 201, ctx
            t0 = time.perf_counter()
            r = c.exec(context=ctx["id"], code=SCRIPT)
            load_ms = ms(t0)
            assert r["exit_code"] == 0, r
            plain, second, trivial = [], [], []
            for _ in range(a.n):
                t0 = time.perf_counter()
                c.exec(context=ctx["id"], code="1")
                trivial.append(ms(t0))
                t0 = time.perf_counter()
                r = c.exec(session="bench", runtime="python", code=SCRIPT)
                plain.append(ms(t0))
                assert r["exit_code"] == 0 and "mean" in r["stdout"], r
                t0 = time.perf_counter()
                r = c.exec(context=ctx["id"], code="df.describe()")
                second.append(ms(t0))
                assert r["results"] and "text/html" in r["results"][0]["data"], r
            out = {"engine": a.engine, "csv_bytes": size, "rounds": a.n,
                   "context_first_ms": round(load_ms, 1),
                   "context_describe_ms_p50": round(statistics.median(second), 1),
                   "plain_exec_ms_p50": round(statistics.median(plain), 1),
                   "context_trivial_cell_ms_p50": round(statistics.median(trivial), 1),
                   "speedup": round(statistics.median(plain) / statistics.median(second), 1)}
        finally:
            d.stop()
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{a.engine}: {size / 1e6:.1f} MB CSV, {a.n} rounds (p50)\n"
              f"  context, first cell (import + read + describe): {out['context_first_ms']} ms\n"
              f"  context, df.describe() again:                   "
              f"{out['context_describe_ms_p50']} ms\n"
              f"  context, a trivial cell (1):                    "
              f"{out['context_trivial_cell_ms_p50']} ms\n"
              f"  plain exec of the whole script:                 {out['plain_exec_ms_p50']} ms\n"
              f"  ratio: {out['speedup']}x")


if __name__ == "__main__":
    main()
