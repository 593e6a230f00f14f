"""Health, metrics and the monitor listener, against the real engines.

GET /v1/health says ok, degraded or down with a reason per subsystem; `airlock health` turns
that into exit statuses; GET /metrics passes Prometheus' own parser and its counters move; the
monitor listener on loopback TCP serves those two routes and nothing else. The engine-down test
runs its own Podman service so that the shared engines keep running."""
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import AIRLOCK, AIRLOCKD
from test_engine_down import start_podman_service, stop_service

CHECKS = {"engine", "images", "oci_runtimes", "database", "disk", "policy", "host_backend", "workspaces",
          "sandboxes", "snapshots", "isolation"}


def health(d):
    status, doc = d.client.json("GET", "/v1/health", timeout=30)
    assert doc is not None
    return status, doc


def wait_health(d, want, timeout):
    """Poll until the overall status is want; returns (seconds it took, document)."""
    t0 = time.time()
    doc = None
    while time.time() - t0 < timeout:
        _, doc = health(d)
        if doc["status"] == want:
            return time.time() - t0, doc
        time.sleep(0.2)
    raise AssertionError(f"health did not turn {want} within {timeout}s: {json.dumps(doc, indent=1)}")


def cli_health(d, *args):
    return subprocess.run([str(AIRLOCK), "--socket", d.sock, "health", *args],
                          capture_output=True, text=True, timeout=60)


def metrics(d):
    status, headers, data = d.client.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return data.decode()


def sample(text, prefix):
    """The value of the sample whose name and labels are prefix, or None."""
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split(" ")[-1])
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tcp(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def test_health_ok(daemon, engine):
    status, doc = health(daemon)
    assert status == 200, doc
    assert doc["status"] == "ok", json.dumps(doc, indent=1)
    assert set(doc["checks"]) == CHECKS
    for name, c in doc["checks"].items():
        assert c["status"] == "ok" and c["message"], (name, c)
    e = doc["checks"]["engine"]
    assert e["reachable"] is True and e["kind"] == engine and e["socket"]
    assert e["version"] and e["api_version"] and e["rtt_ms"] >= 0
    assert e["podman"] is (engine == "podman")
    assert {r["name"] for r in doc["checks"]["images"]["runtimes"]} >= {"python", "bash"}
    assert all(r["present"] for r in doc["checks"]["images"]["runtimes"])
    assert "runc" in {r["name"] for r in doc["checks"]["oci_runtimes"]["runtimes"]}
    db = doc["checks"]["database"]
    assert db["open"] and db["writable"] and db["schema_version"] == 5 and db["size_bytes"] > 0
    assert {p["name"] for p in doc["checks"]["disk"]["paths"]} == {"state", "workspace"}
    assert all(p["free_bytes"] > 0 for p in doc["checks"]["disk"]["paths"])
    pol = doc["checks"]["policy"]
    assert pol["revision"] >= 1 and pol["last_reload_error"] is None
    assert set(doc["checks"]["sandboxes"]["live"]) == {"session", "agent", "shared"}

    r = cli_health(daemon)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Status: ok")
    for name in CHECKS:
        assert f"\n{name} " in r.stdout
    r = cli_health(daemon, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "ok"


def test_sandboxes_counted_by_scope(daemon):
    daemon.client.exec(agent="h", session="s1", runtime="bash", command="true")
    _, doc = wait_health(daemon, "ok", 5)
    time.sleep(1.1)  # past the health cache
    _, doc = health(daemon)
    assert doc["checks"]["sandboxes"]["live"]["session"] >= 1
    m = metrics(daemon)
    assert sample(m, 'airlock_sandboxes_live{scope="session"}') >= 1
    assert sample(m, 'airlock_sandboxes_created_total{scope="session"}') >= 1
    daemon.client.request("POST", "/v1/sessions/s1/end", {"agent": "h"})


def test_engine_down_then_back(tmp_path, make_daemon):
    sock = str(tmp_path / "podman.sock")
    svc = start_podman_service(sock)
    conf = f"""
[engine]
kind = podman
socket = {sock}
[sandbox]
pool_size = 0
[limits]
timeout_s = 20
"""
    try:
        d = make_daemon(conf=conf)
        status, doc = health(d)
        assert status == 200 and doc["status"] == "ok", json.dumps(doc, indent=1)

        stop_service(svc)
        svc = None
        took, doc = wait_health(d, "down", 5)
        e = doc["checks"]["engine"]
        assert e["status"] == "down" and e["reachable"] is False
        assert sock in e["message"] and "not answering" in e["message"], e
        assert doc["message"].startswith("engine: ")
        # what depends on the engine says it could not be checked, not that it is broken
        assert doc["checks"]["images"]["status"] == "unknown"
        assert doc["checks"]["database"]["status"] == "ok"
        status, _ = health(d)
        assert status == 503
        # the daemon itself keeps answering, and quickly
        t0 = time.time()
        assert d.client.json("GET", "/v1/version")[0] == 200
        time.sleep(1.1)
        health(d)
        assert time.time() - t0 < 4
        r = cli_health(d)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "down" in r.stdout and sock in r.stdout
        m = metrics(d)
        st, _ = d.client.json("POST", "/v1/exec", {"agent": "t", "runtime": "bash",
                                                   "command": "echo x"})
        assert st == 503
        m2 = metrics(d)
        assert (sample(m2, 'airlock_engine_errors_total{kind="unavailable"}') or 0) == \
            (sample(m, 'airlock_engine_errors_total{kind="unavailable"}') or 0) + 1
        assert (sample(m2, 'airlock_requests_rejected_total{reason="engine_unavailable"}') or 0) \
            >= 1

        svc = start_podman_service(sock)
        wait_health(d, "ok", 10)
        assert d.client.exec(agent="t", runtime="bash", command="echo back")["stdout"] == "back\n"
        assert d.stop() == 0
    finally:
        if svc:
            stop_service(svc)


def test_hung_engine_is_down_within_seconds(tmp_path, make_daemon):
    """A socket that accepts connections but never answers costs a few seconds, not 30."""
    sock = str(tmp_path / "podman.sock")
    svc = start_podman_service(sock)
    hung = None
    try:
        d = make_daemon(conf=f"[engine]\nkind = podman\nsocket = {sock}\n[sandbox]\npool_size = 0\n")
        assert health(d)[1]["status"] == "ok"
        stop_service(svc)
        svc = None
        if os.path.exists(sock):
            os.unlink(sock)
        hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hung.bind(sock)
        hung.listen(64)  # never accepted, never answered
        time.sleep(1.1)
        t0 = time.time()
        status, doc = health(d)
        took = time.time() - t0
        assert status == 503 and doc["checks"]["engine"]["status"] == "down", doc
        assert sock in doc["checks"]["engine"]["message"]
        assert took < 3.5, took
        assert d.client.json("GET", "/v1/version", timeout=5)[0] == 200
    finally:
        if hung:
            hung.close()
        if svc:
            stop_service(svc)


@pytest.mark.parametrize("engine_name", ["docker", "podman"])
def test_missing_image_is_degraded(make_daemon, engine_name):
    d = make_daemon(engine=engine_name, conf_extra="""
[runtime "ghost"]
image = airlock/does-not-exist:1
run = sh -c
shell = sh -c
""")
    status, doc = health(d)
    assert status == 200
    assert doc["status"] == "degraded", json.dumps(doc, indent=1)
    img = doc["checks"]["images"]
    assert img["status"] == "degraded"
    assert "airlock/does-not-exist:1" in img["message"] and "ghost" in img["message"]
    ghost = [r for r in img["runtimes"] if r["name"] == "ghost"]
    assert ghost == [{"name": "ghost", "image": "airlock/does-not-exist:1", "present": False}]
    assert doc["checks"]["engine"]["status"] == "ok"
    assert "airlock/does-not-exist:1" in doc["message"]
    r = cli_health(d)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "airlock/does-not-exist:1" in r.stdout
    assert d.stop() == 0, d.log()


def test_reload_failure_is_degraded_until_fixed(make_daemon):
    d = make_daemon()
    good = d.conf_path.read_text()
    assert "memory_mb = 256" in good
    d.conf_path.write_text(good.replace("memory_mb = 256", "memory_mb = lots"))
    st, _ = d.client.json("POST", "/v1/policy/reload")
    assert st == 400
    time.sleep(1.1)
    _, doc = health(d)
    pol = doc["checks"]["policy"]
    assert doc["status"] == "degraded" and pol["status"] == "degraded"
    assert "memory_mb" in pol["last_reload_error"] and "memory_mb" in pol["message"]
    assert pol["reload_failures"] == 1
    m = metrics(d)
    assert sample(m, "airlock_policy_reload_failures_total") == 1
    d.conf_path.write_text(good)
    assert d.client.json("POST", "/v1/policy/reload")[0] == 200
    _, doc = wait_health(d, "ok", 5)
    assert doc["checks"]["policy"]["last_reload_error"] is None
    assert sample(metrics(d), "airlock_policy_reloads_total") == 1
    assert d.stop() == 0, d.log()


def test_database_locked_is_down(make_daemon):
    d = make_daemon()
    db = sqlite3.connect(str(d.state / "airlock.db"), timeout=1, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        time.sleep(1.1)
        status, doc = health(d)
        assert status == 503 and doc["status"] == "down", json.dumps(doc, indent=1)
        c = doc["checks"]["database"]
        assert c["status"] == "down" and c["writable"] is False
        assert "not writable" in c["message"] and str(d.state / "airlock.db") in c["message"]
    finally:
        db.execute("ROLLBACK")
        db.close()
    wait_health(d, "ok", 5)
    assert d.stop() == 0, d.log()


def promtool_check(text):
    if not shutil.which("promtool"):
        pytest.skip("promtool is missing: contrib/setup.sh installs it (package prometheus)")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_metrics_parse_and_move(daemon, engine):
    before = metrics(daemon)
    rc, out = promtool_check(before)
    assert rc == 0 and out.strip() == "", out
    key = ('airlock_executions_total{outcome="ok",mode="all",backend="%s",'
           'runtime="python"}' % engine)
    hist = 'airlock_exec_duration_seconds_count{backend="%s"}' % engine
    daemon.client.exec(agent="m", runtime="python", code="print(1)")
    daemon.client.exec(agent="m", runtime="python", code="print(2)")
    daemon.client.exec(agent="m", runtime="python", code="import sys; sys.exit(3)")
    st, _ = daemon.client.json("POST", "/v1/exec", {"agent": "m", "runtime": "nope",
                                                   "code": "1"})
    assert st == 400
    after = metrics(daemon)
    rc, out = promtool_check(after)
    assert rc == 0 and out.strip() == "", out
    assert (sample(after, key) or 0) == (sample(before, key) or 0) + 2
    err_key = key.replace('outcome="ok"', 'outcome="error"')
    assert (sample(after, err_key) or 0) == (sample(before, err_key) or 0) + 1
    assert (sample(after, hist) or 0) == (sample(before, hist) or 0) + 3
    inf = 'airlock_exec_duration_seconds_bucket{backend="%s",le="+Inf"}' % engine
    assert sample(after, inf) == sample(after, hist)
    rej = 'airlock_requests_rejected_total{reason="invalid_request"}'
    assert (sample(after, rej) or 0) == (sample(before, rej) or 0) + 1
    assert sample(after, 'airlock_build_info{version="0.1.0"}') == 1


def test_monitor_listener(make_daemon, tmp_path):
    port = free_port()
    d = make_daemon(conf_extra=f"\n[monitor]\nlisten = 127.0.0.1:{port}\n")
    st, hdrs, data = tcp(port, "GET", "/v1/health")
    assert st == 200 and json.loads(data)["status"] == "ok"
    st, hdrs, data = tcp(port, "GET", "/metrics")
    assert st == 200 and hdrs["Content-Type"].startswith("text/plain")
    rc, out = promtool_check(data.decode())
    assert rc == 0, out
    execs = 'airlock_executions_total{outcome="ok",mode="all",backend="docker",runtime="bash"}'
    before = sample(data.decode(), execs)

    marker = tmp_path / "ran"
    body = json.dumps({"agent": "x", "runtime": "bash", "command": f"touch {marker}"})
    st, _, data = tcp(port, "POST", "/v1/exec", body)
    assert st in (404, 405), data
    for method, path in [("POST", "/metrics"), ("DELETE", "/v1/health"),
                         ("POST", "/v1/policy/reload"), ("GET", "/v1/executions"),
                         ("GET", "/v1/policy"), ("GET", "/v1/sandboxes")]:
        st, _, _ = tcp(port, method, path, "{}" if method != "GET" else None)
        assert st in (404, 405), (method, path, st)
    assert not marker.exists()
    assert d.client.json("GET", "/v1/executions")[1]["executions"] == []
    st, _, data = tcp(port, "GET", "/metrics")
    assert sample(data.decode(), execs) == before
    # the UNIX socket serves both routes too
    assert d.client.json("GET", "/v1/health")[0] == 200
    assert d.stop() == 0, d.log()


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "192.0.2.1:9464", "localhost:9464"])
def test_monitor_refuses_non_loopback(tmp_path, listen):
    conf = tmp_path / "airlock.conf"
    conf.write_text(f"[engine]\nkind = docker\n\n[monitor]\nlisten = {listen}\n")
    r = subprocess.run([str(AIRLOCKD), "--config", str(conf), "--socket",
                        str(tmp_path / "a.sock"), "--state-dir", str(tmp_path / "state")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert f"{conf}:5:" in r.stderr and "listen" in r.stderr, r.stderr
    assert not (tmp_path / "a.sock").exists()


def test_monitor_port_taken_fails_start(make_daemon, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        d = make_daemon(conf_extra=f"\n[monitor]\nlisten = 127.0.0.1:{port}\n", start=False)
        d.start(wait=False)
        d.expect_exit = 1
        assert d.proc.wait(timeout=30) == 1, d.log()
        assert "monitor" in d.log() and str(port) in d.log()
        assert not os.path.exists(d.sock)
    finally:
        s.close()
