"""The E2B-compatible API (docs/e2b.md) against the real airlockd: the unmodified `e2b` and
`@e2b/code-interpreter` SDKs from npm (tests/e2b) pointed at the [e2b] listen loopback listener,
and what bad input gets: E2B's and Connect's error shapes, the daemon serving on."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ROOT, labelled_containers

E2B_TESTS = ROOT / "tests" / "e2b"
NODE = shutil.which("node")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sdk():
    """The SDKs from tests/e2b/package-lock.json: installed by contrib/setup.sh (npm ci), or
    here when a developer has not run it (from npm's cache when warm)."""
    assert NODE, "node is not installed (contrib/setup.sh installs nodejs and npm)"
    if not (E2B_TESTS / "node_modules" / "@e2b" / "code-interpreter").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
                       cwd=E2B_TESTS, check=True, capture_output=True, timeout=600)
    return E2B_TESTS / "sdk_e2b.mjs"


@pytest.fixture(scope="module", params=["docker", "podman"])
def e2b(request, tmp_path_factory):
    from conftest import Daemon
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp(f"airlockd-e2b-{request.param}"), engine=request.param,
               conf_extra=f'[e2b]\nlisten = 127.0.0.1:{port}\n\n'
                          '[files]\nupload_mb = 1\n').start()
    d.port = port
    d.url = f"http://127.0.0.1:{port}"
    status, doc = d.client.json("POST", "/v1/tokens", {"agent": "e2b-agent"})
    assert status == 201, doc
    d.key = doc["token"]
    yield d
    d.stop()


def run_sdk(d, sdk, scenario, key=None):
    env = dict(os.environ, E2B_API_URL=d.url, E2B_SANDBOX_URL=d.url,
               E2B_API_KEY=key or d.key)
    p = subprocess.run([NODE, str(sdk), scenario], capture_output=True, text=True, timeout=300,
                       cwd=E2B_TESTS, env=env)
    assert p.returncode == 0, f"SDK failed:\n{p.stdout}\n{p.stderr}\n{d.log()[-5000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def http_json(d, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def audit_rows(d, agent):
    status, doc = d.client.json("GET", f"/v1/executions?agent={agent}&limit=500")
    assert status == 200, doc
    return doc["executions"]


def test_commands_files_and_control_plane(e2b, sdk):
    out = run_sdk(e2b, sdk, "basics")
    assert out["fg"] == {"exitCode": 0, "stdout": "hello yes x1\n", "stderr": "oops\n"}
    assert out["fail"] == 3
    assert out["streamed"] == "line1\nline2\nline3\n"
    assert "ping-from-stdin" in out["bgEcho"]
    assert out["bgPid"] in out["listed"] and out["connected"] == out["bgPid"]
    assert out["killed"] is True and out["bgExit"] == -1
    assert out["bgPid"] not in out["listedAfter"]
    assert out["wc"] == "4"
    assert out["made"] is True and out["madeAgain"] is False
    assert out["written"] == "/home/airlock/e2bdir/a.txt"
    assert out["read"] == "alpha\n" and out["readRel"] == "relative"
    assert out["list"] == ["a.txt:file"] and out["exists"] is True
    assert out["afterRename"] == ["b.txt"] and out["existsAfter"] is False
    assert out["catWritten"] == "0"
    assert out["sandboxId"] in out["listedSandboxes"]
    assert out["info"] == {"templateId": "python", "metadata": {"suite": "e2b"},
                           "state": "running"}
    assert out["viaConnect"] == "via-connect"
    assert out["running"] is True
    assert out["sandboxId"] not in out["afterKill"]
    assert out["deadRun"] != "ran"
    # Every command is an exec of the key's agent in the audit log, in the sandbox's session.
    rows = [r for r in audit_rows(e2b, "e2b-agent") if r["session"] == out["sandboxId"]]
    previews = " ".join(r["code_preview"] or "" for r in rows)
    assert "echo hello" in previews and "cat" in previews, rows
    # Killed: no container of the session is left.
    status, doc = e2b.client.json("GET", "/v1/sandboxes?agent=e2b-agent")
    assert all(s["session"] != out["sandboxId"] for s in doc["sandboxes"]), doc


def test_code_interpreter(e2b, sdk):
    out = run_sdk(e2b, sdk, "code")
    assert out["text"] == "21"
    assert out["logs"] == "hi from cell\n" and out["onStdout"] == "hi from cell\n"
    assert out["contextValue"] == "35"
    assert out["defaultSeesY"] == "None"  # contexts keep their own state
    assert len(out["pngs"]) == 1 and out["pngs"][0] > 1000
    assert out["error"] == "ZeroDivisionError"
    assert out["contextId"] in out["contexts"] and out["contextId"] not in out["contextsAfter"]
    rows = [r for r in audit_rows(e2b, "e2b-agent") if r["session"] == out["sandboxId"]]
    assert any("y * 7" in (r["code_preview"] or "") for r in rows), rows


def test_timeout_removes_the_sandbox(e2b, sdk):
    out = run_sdk(e2b, sdk, "timeout")
    assert out["sandboxId"] not in out["listed"] and out["running"] is False
    status, doc = e2b.client.json("GET", "/v1/sandboxes?agent=e2b-agent")
    assert all(s["session"] != out["sandboxId"] for s in doc["sandboxes"]), doc


def test_bad_input(e2b, sdk):
    out = run_sdk(e2b, sdk, "bad")
    assert "not a runtime" in out["badTemplate"]
    assert out["unknown"] == "SandboxNotFoundError"
    assert out["badKey"].startswith("AuthenticationError")
    # E2B's error shape on the control plane.
    status, doc = http_json(e2b, "GET", "/v2/sandboxes", headers={"X-API-Key": "nope"})
    assert status == 401 and doc["code"] == 401 and "API key" in doc["message"], doc
    status, doc = http_json(e2b, "DELETE", "/sandboxes/e2b-0123456789abcdef",
                            headers={"X-API-Key": e2b.key})
    assert status == 404 and doc["code"] == 404, doc
    status, doc = http_json(e2b, "POST", "/sandboxes", {"templateID": "../etc"},
                            headers={"X-API-Key": e2b.key})
    assert status == 400 and "not a runtime" in doc["message"], doc
    # A sandbox to poke at the in-sandbox API with.
    status, sb = http_json(e2b, "POST", "/v2/sandboxes", {"templateID": "bash", "timeout": 60},
                           headers={"X-API-Key": e2b.key})
    assert status == 201 and sb["envdVersion"] and sb["envdAccessToken"], sb
    hdr = {"E2b-Sandbox-Id": sb["sandboxID"], "X-Access-Token": sb["envdAccessToken"],
           "Content-Type": "application/json"}
    # Malformed Connect JSON: Connect's error document.
    status, doc = http_json(e2b, "POST", "/filesystem.Filesystem/Stat", b"{nope", hdr)
    assert status == 400 and doc["code"] == "invalid_argument" and doc["message"], doc
    status, doc = http_json(e2b, "POST", "/process.Process/SendInput",
                            {"process": {"pid": 99999}, "input": {"stdin": "aGk="}}, hdr)
    assert status == 404 and doc["code"] == "not_found", doc
    # Another sandbox's token opens nothing; neither does none.
    status, doc = http_json(e2b, "POST", "/process.Process/List", {},
                            dict(hdr, **{"X-Access-Token": "0" * 48}))
    assert status == 401 and doc["code"] == "unauthenticated", doc
    # Over the upload cap ([files] upload_mb = 1): E2B's shape with the reason.
    big = b"x" * (1 << 20 | 4096)
    status, doc = http_json(e2b, "POST", "/files?path=/tmp/big.bin", big,
                            dict(hdr, **{"Content-Type": "application/octet-stream"}))
    assert status == 413 and doc["code"] == 413 and "upload_mb" in doc["message"], doc
    # A disk that fills: 507 from the files helper, in E2B's shape.
    half = b"y" * (900 << 10)
    codes = []
    for i in range(40):
        status, doc = http_json(e2b, "POST", f"/files?path=/tmp/fill{i}.bin", half,
                                dict(hdr, **{"Content-Type": "application/octet-stream"}))
        codes.append(status)
        if status != 200:
            break
    assert codes[-1] == 507 and doc["code"] == 507, (codes, doc)
    # The daemon serves on, and the sandbox goes with its kill.
    status, _ = http_json(e2b, "DELETE", f"/sandboxes/{sb['sandboxID']}",
                          headers={"X-API-Key": e2b.key})
    assert status == 204
    status, doc = http_json(e2b, "GET", "/v2/sandboxes", headers={"X-API-Key": e2b.key})
    assert status == 200 and all(s["sandboxID"] != sb["sandboxID"] for s in doc), doc


def test_listener_must_be_loopback(tmp_path):
    from conftest import Daemon
    d = Daemon(tmp_path, conf_extra="[e2b]\nlisten = 0.0.0.0:9999\n")
    d.start(wait=False)
    assert d.proc.wait(timeout=30) != 0
    d.expect_exit = None
    d.stop(check=False)
    assert "airlock.conf:" in d.log() and "E2B listener must never face a network" in d.log()
