#!/usr/bin/env python3
"""Egress proxy benchmark (docs/egress.md, "Speed"): a 100 MiB download through the proxy from
inside a sandbox vs the same download direct on the host, in one run; and the connection
set-up the proxy adds (p50 of small fetches through it, less p50 direct).

It also reports the CPU time the download costs per MiB on each path (the client, the upstream
server and, through the proxy, the agent's relay and airlockd): a figure the other load on the
machine moves far less than throughput.

Run as root (it makes a network namespace for the upstream):
    AIRLOCK_BUILD_DIR=/tmp/b python3 tests/bench/egress_bench.py [--engine docker] [--mib 100]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from egress_net import TEST_CIDR, unique_name, upstream  # noqa: E402

BUILD = Path(os.environ.get("AIRLOCK_BUILD_DIR", ROOT / "build"))
SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}

# Inside the sandbox: through the proxy (http_proxy is set for the exec).
INSIDE = r'''
import json, resource, socket, sys, time
host, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def get(path, want):
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(f"GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    got, first = 0, None
    buf = bytearray(1 << 20)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        if first is None:
            first = time.perf_counter()
        got += k
    s.close()
    return got, first
setup = []
for _ in range(n):
    t = time.perf_counter(); _, first = get("/small", 0); setup.append((first - t) * 1000)
if size == 0:
    print(json.dumps({"setup_ms": setup}))
    sys.exit(0)
c = cpu(); t = time.perf_counter(); got, _ = get(f"/big/{size}", size)
secs, c = time.perf_counter() - t, cpu() - c
print(json.dumps({"bytes": got, "secs": secs, "client_cpu_s": c}))
'''


def direct(addr, host, path):
    s = socket.create_connection((addr, 80))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    got, first = 0, None
    buf = bytearray(1 << 20)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        if first is None:
            first = time.perf_counter()
        got += k
    s.close()
    return got, first


def proc_cpu(pid):
    """User + system CPU seconds of a process (all its threads)."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def sandbox_pid(engine, sandbox_id):
    """The sandbox's first process (the agent: its relay hands connections to the proxy and
    moves bytes only where it cannot, so its share should be about nothing)."""
    out = subprocess.run([engine, "inspect", "-f", "{{.State.Pid}}", sandbox_id], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip())


def api(sock, method, path, body=None):
    import http.client

    class C(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)
    c = C("localhost", timeout=300)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="docker")
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--cpus", type=float, default=2)
    a = ap.parse_args()
    size = a.mib << 20
    name = unique_name("bench")
    work = Path(tempfile.mkdtemp(prefix="airlock-egress-bench-"))
    conf = work / "airlock.conf"
    conf.write_text(f"""[engine]
kind = {a.engine}
socket = {SOCKETS[a.engine]}
[sandbox]
pool_size = 0
scope = session
[limits]
timeout_s = 300
memory_mb = 512
cpu_cores = {a.cpus}
[network]
tier = standard
allowed_domains = {name}
allowed_cidrs = {TEST_CIDR}
""")
    sock = str(work / "airlock.sock")
    with upstream([name]) as u:
        (u.www / "small").write_text("x")
        d = subprocess.Popen([str(BUILD / "airlockd"), "--config", str(conf), "--socket", sock,
                              "--state-dir", str(work / "state"), "--log-level", "warn"],
                             stdout=open(work / "log", "wb"), stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                try:
                    api(sock, "GET", "/v1/version")
                    break
                except OSError:
                    time.sleep(0.05)
            def inside_run(big, n):
                req = {"agent": "bench", "session": "b", "runtime": "python", "network": True,
                       "argv": ["python3", "-c", INSIDE, name, str(big), str(n)]}
                st, res = api(sock, "POST", "/v1/exec", req)
                assert st == 200 and res["exit_code"] == 0, res
                return json.loads(res["stdout"])

            def direct_big():
                c, s0, t = time.process_time(), proc_cpu(u.proc.pid), time.perf_counter()
                direct(u.addr, name, f"/big/{size}")
                d_secs.append(time.perf_counter() - t)
                d_cpu.append(time.process_time() - c + proc_cpu(u.proc.pid) - s0)

            st, res = api(sock, "POST", "/v1/exec", {"agent": "bench", "session": "b",
                                                     "runtime": "python", "argv": ["true"]})
            assert st == 200, res  # the sandbox, made
            agent_pid = sandbox_pid(a.engine, res["sandbox_id"])
            # Direct on the host, then through the proxy, then direct again: one run.
            d_setup, d_secs, d_cpu = [], [], []
            for _ in range(a.n):
                t = time.perf_counter()
                _, first = direct(u.addr, name, "/small")
                d_setup.append((first - t) * 1000)
            direct_big()
            inside = inside_run(0, a.n)
            parts = {"server": u.proc.pid, "agent": agent_pid, "airlockd": d.pid}
            cpu0 = {k: proc_cpu(pid) for k, pid in parts.items()}
            inside.update(inside_run(size, 0))
            p_cpu = {k: proc_cpu(pid) - cpu0[k] for k, pid in parts.items()}
            p_cpu["client"] = inside["client_cpu_s"]
            direct_big()
        finally:
            d.terminate()
            d.wait()
            shutil.rmtree(work, ignore_errors=True)
    direct_mibs = a.mib / min(d_secs)
    proxy_mibs = inside["bytes"] / (1 << 20) / inside["secs"]
    p50_direct = statistics.median(d_setup)
    p50_proxy = statistics.median(inside["setup_ms"])
    print(f"engine {a.engine}: {a.mib} MiB download")
    print(f"  direct on the host      {direct_mibs:8.1f} MiB/s (best of 2)")
    print(f"  sandbox through proxy   {proxy_mibs:8.1f} MiB/s")
    print(f"  ratio                   {proxy_mibs / direct_mibs * 100:8.1f} %  (goal >= 80 %)")
    print(f"  CPU per MiB direct      {min(d_cpu) * 1000 / a.mib:8.3f} ms (best of 2)")
    print(f"  CPU per MiB proxied     {sum(p_cpu.values()) * 1000 / a.mib:8.3f} ms ("
          + ", ".join(f"{k} {v * 1000 / a.mib:.3f}" for k, v in p_cpu.items()) + ")")
    print(f"  first byte p50 direct   {p50_direct:8.3f} ms")
    print(f"  first byte p50 proxied  {p50_proxy:8.3f} ms")
    print(f"  added set-up p50        {p50_proxy - p50_direct:8.3f} ms  (goal <= 2 ms)")


if __name__ == "__main__":
    main()
