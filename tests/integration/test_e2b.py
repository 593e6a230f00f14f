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

from conftest import ROOT, free_port

E2B_TESTS = ROOT / "tests" / "e2b"
NODE = shutil.which("node")


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
                          '[files]\nupload_mb = 6\n\n'
                          '[agent "e2b-small"]\ndisk_mb = 8\n').start()
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
    # A sandbox to poke at the in-sandbox API with, of an agent with a small disk.
    status, doc = e2b.client.json("POST", "/v1/tokens", {"agent": "e2b-small"})
    assert status == 201, doc
    small = doc["token"]
    status, sb = http_json(e2b, "POST", "/v2/sandboxes", {"templateID": "bash", "timeout": 60},
                           headers={"X-API-Key": small})
    assert status == 201 and sb["envdVersion"] and sb["envdAccessToken"], sb
    hdr = {"E2b-Sandbox-Id": sb["sandboxID"], "X-Access-Token": sb["envdAccessToken"],
           "Content-Type": "application/json"}
    # Another agent's key neither sees nor kills it.
    status, doc = http_json(e2b, "DELETE", f"/sandboxes/{sb['sandboxID']}",
                            headers={"X-API-Key": e2b.key})
    assert status == 404 and doc["code"] == 404, doc
    # Malformed Connect JSON: Connect's error document.
    status, doc = http_json(e2b, "POST", "/filesystem.Filesystem/Stat", b"{nope", hdr)
    assert status == 400 and doc["code"] == "invalid_argument" and doc["message"], doc
    status, doc = http_json(e2b, "POST", "/process.Process/SendInput",
                            {"process": {"pid": 99999}, "input": {"stdin": "aGk="}}, hdr)
    assert status == 404 and doc["code"] == "not_found", doc
    # A wrong token opens nothing.
    status, doc = http_json(e2b, "POST", "/process.Process/List", {},
                            dict(hdr, **{"X-Access-Token": "0" * 48}))
    assert status == 401 and doc["code"] == "unauthenticated", doc
    octet = dict(hdr, **{"Content-Type": "application/octet-stream"})
    # Over the upload cap ([files] upload_mb = 6): E2B's shape with the reason.
    # Announced past the cap, it is refused before the body is read.
    with socket.create_connection(("127.0.0.1", e2b.port), timeout=30) as c:
        head = "".join(f"{k}: {v}\r\n" for k, v in octet.items())
        c.sendall((f"POST /files?path=/tmp/big.bin HTTP/1.1\r\nHost: x\r\n{head}"
                   f"Content-Length: {7 << 20}\r\n\r\n").encode() + b"x" * 4096)
        answer = b""
        while b"}" not in answer:
            chunk = c.recv(65536)
            if not chunk:
                break
            answer += chunk
    text = answer.decode()
    assert text.startswith("HTTP/1.1 413"), text
    doc = json.loads(text[text.index("{"):])
    assert doc["code"] == 413 and "upload_mb" in doc["message"], doc
    # Past the sandbox's disk (/tmp holds half of disk_mb = 8): 507, in E2B's shape.
    status, doc = http_json(e2b, "POST", "/files?path=/tmp/full.bin", b"y" * (5 << 20), octet)
    assert status == 507 and doc["code"] == 507 and doc["message"], doc
    # The daemon serves on, and the sandbox goes with its kill.
    status, _ = http_json(e2b, "DELETE", f"/sandboxes/{sb['sandboxID']}",
                          headers={"X-API-Key": small})
    assert status == 204
    status, doc = http_json(e2b, "GET", "/v2/sandboxes", headers={"X-API-Key": small})
    assert status == 200 and all(s["sandboxID"] != sb["sandboxID"] for s in doc), doc


def test_listener_must_be_loopback(tmp_path):
    from conftest import Daemon
    d = Daemon(tmp_path, conf_extra="[e2b]\nlisten = 0.0.0.0:9999\n")
    d.start(wait=False)
    assert d.proc.wait(timeout=30) != 0
    d.expect_exit = None
    d.stop(check=False)
    assert "airlock.conf:" in d.log() and "E2B listener must never face a network" in d.log()
