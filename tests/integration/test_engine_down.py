"""The engine goes away and comes back: 503 with a clear message, then recovery by itself.

Uses a private Podman API service on its own socket, so the shared engines keep running."""
import os
import signal
import subprocess
import time

import pytest

from conftest import UnixHTTPConnection, labelled_containers


def start_podman_service(sock):
    proc = subprocess.Popen(["podman", "--runtime", "runc", "system", "service", "--time=0",
                             f"unix://{sock}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = UnixHTTPConnection(sock, timeout=2)
            c.request("GET", "/_ping")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("podman service did not come up")


def stop_service(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


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
        r = d.client.exec(agent="t", session="s", runtime="bash", command="echo up")
        assert r["stdout"] == "up\n"
        stop_service(svc)
        svc = None
        # A live sandbox keeps serving through its agent: the engine is off the exec path.
        r = d.client.exec(agent="t", session="s", runtime="bash", command="echo still up")
        assert r["stdout"] == "still up\n" and r["transport"] == "agent", r
        # A new sandbox needs the engine: 503, with the reason.
        st, doc = d.client.json("POST", "/v1/exec", {"agent": "t", "session": "new", "runtime": "bash",
                                                      "command": "echo up"})
        assert st == 503, doc
        assert doc["error"]["code"] == "engine_unavailable"
        assert sock in doc["error"]["message"] and "not answering" in doc["error"]["message"]
        st, doc = d.client.json("POST", "/v1/exec", {"agent": "t", "runtime": "bash", "command": "echo up"})
        assert st == 503
        # the daemon itself keeps serving
        assert d.client.json("GET", "/v1/version")[0] == 200
        svc = start_podman_service(sock)
        r = d.client.exec(agent="t", session="s", runtime="bash", command="echo back")
        assert r["stdout"] == "back\n"
        r = d.client.exec(agent="t", runtime="bash", command="echo fresh")
        assert r["stdout"] == "fresh\n"
        assert d.stop() == 0
    finally:
        if svc:
            stop_service(svc)


def test_crashed_daemon_leftovers_removed_on_restart(make_daemon):
    d = make_daemon(engine="docker")
    d.client.exec(agent="t", session="s", runtime="bash", command="true")
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    assert len(labelled_containers("docker", f"airlock.instance={inst}")) == 1
    d.kill()
    assert len(labelled_containers("docker", f"airlock.instance={inst}")) == 1
    d.start()  # same state dir: same instance id, leftovers removed at start
    assert d.client.json("GET", "/v1/version")[1]["instance"] == inst
    assert labelled_containers("docker", f"airlock.instance={inst}") == []
