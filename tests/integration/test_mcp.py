"""MCP (docs/mcp.md) against the real airlockd: the official MCP TypeScript SDK client over both
transports (stdio through `airlock mcp`, Streamable HTTP on the [mcp] listen loopback listener),
and what bad input gets: JSON-RPC errors in MCP's shape, the daemon serving on."""
import http.client
import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import AIRLOCK, ROOT, free_port

MCP_TESTS = ROOT / "tests" / "mcp"
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def sdk():
    """The SDK from tests/mcp/package-lock.json: installed by contrib/setup.sh (npm ci), or
    here when a developer has not run it (from npm's cache when warm)."""
    assert NODE, "node is not installed (contrib/setup.sh installs nodejs and npm)"
    if not (MCP_TESTS / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
                       cwd=MCP_TESTS, check=True, capture_output=True, timeout=600)
    return MCP_TESTS / "sdk_client.mjs"


@pytest.fixture(scope="module")
def mcp_daemon(tmp_path_factory):
    from conftest import Daemon
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp("airlockd-mcp"),
               conf_extra=f'[mcp]\nlisten = 127.0.0.1:{port}\n\n[agent "bashonly"]\n'
                          'runtimes = bash\n').start()
    d.mcp_url = f"http://127.0.0.1:{port}/mcp"
    d.mcp_port = port
    yield d
    d.stop()


def token_for(d, agent):
    status, doc = d.client.json("POST", "/v1/tokens", {"agent": agent})
    assert status == 201, doc
    return doc["token"]


def run_sdk(sdk, *args):
    p = subprocess.run([NODE, str(sdk), *args], capture_output=True, text=True, timeout=300,
                       cwd=MCP_TESTS)
    assert p.returncode == 0, f"SDK client failed:\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_sdk_over_streamable_http(mcp_daemon, sdk):
    summary = run_sdk(sdk, "http", mcp_daemon.mcp_url, token_for(mcp_daemon, "mcp-http"))
    assert summary["server"]["name"] == "airlock"
    assert summary["protocol"] == "2025-11-25"  # the SDK's newest, spoken here
    assert summary["run_code"]["sandboxed"] is True
    assert summary["image_bytes"] > 1000  # a plot came back as MCP image content
    # The token's agent is who ran it, in the audit log too.
    status, row = mcp_daemon.client.json(
        "GET", f"/v1/executions/{summary['run_code']['execution_id']}")
    assert status == 200 and row["agent"] == "mcp-http", row


def test_sdk_over_stdio(mcp_daemon, sdk):
    summary = run_sdk(sdk, "stdio", str(AIRLOCK), mcp_daemon.sock, "mcp-stdio")
    assert "run_code" in summary["tools"]
    assert summary["image_bytes"] > 1000
    status, row = mcp_daemon.client.json(
        "GET", f"/v1/executions/{summary['run_code']['execution_id']}")
    assert status == 200 and row["agent"] == "mcp-stdio", row


def rpc_unix(d, body, headers=None, path="/mcp"):
    hdrs = {"Accept": "application/json, text/event-stream"}
    hdrs.update(headers or {})
    status, h, data = d.client.request("POST", path, body, headers=hdrs)
    return status, h, json.loads(data) if data else None


def rpc_tcp(d, body, token=None, headers=None, path="/mcp", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", d.mcp_port, timeout=60)
    hdrs = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def call(name, arguments, id=1):
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def test_bad_input_gets_jsonrpc_errors(mcp_daemon):
    d = mcp_daemon
    status, _, doc = rpc_unix(d, "{not json")
    assert status == 400 and doc["error"]["code"] == -32700 and doc["id"] is None, doc
    status, _, doc = rpc_unix(d, [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(500)])
    assert status == 400 and doc["error"]["code"] == -32600, doc
    assert "batch" in doc["error"]["message"]
    status, _, doc = rpc_unix(d, {"jsonrpc": "1.0", "id": 1, "method": "ping"})
    assert doc["error"]["code"] == -32600, doc
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"})
    assert doc["error"]["code"] == -32600, doc
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
    assert (status, doc["id"], doc["error"]["code"]) == (200, 7, -32601), doc
    status, _, doc = rpc_unix(d, call("rm_rf", {}, id="a"))
    assert doc["id"] == "a" and doc["error"]["code"] == -32602, doc
    assert "Unknown tool" in doc["error"]["message"]
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                  "params": {"name": "run_code", "arguments": [1]}})
    assert doc["error"]["code"] == -32602, doc
    # Arguments the schema does not know, or of the wrong type: a tool error naming them.
    status, _, doc = rpc_unix(d, call("run_code", {"code": "1", "network": True}))
    assert doc["result"]["isError"] is True, doc
    assert "unknown argument 'network'" in doc["result"]["content"][0]["text"]
    status, _, doc = rpc_unix(d, call("kill_process", {"sandbox_id": "x" * 12, "pid": -4}))
    assert doc["result"]["isError"] is True and "'pid'" in doc["result"]["content"][0]["text"]
    status, _, doc = rpc_unix(d, call("list_processes", {"sandbox_id": "0" * 12}))
    assert doc["result"]["isError"] is True, doc
    assert doc["result"]["structuredContent"]["error"]["code"] == "not_found"
    # Huge arguments: past [daemon] max_body_kb, refused before they are read, MCP's shape.
    body = json.dumps(call("run_code", {"code": "#" * (2 << 20)})).encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(d.sock)
        s.sendall(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Accept: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    doc = json.loads(payload)
    assert head.startswith(b"HTTP/1.1 413") and doc["error"]["code"] == -32600 and \
        "max_body_kb" in doc["error"]["message"], data[:300]
    # Transport rules: what is accepted, the protocol version, GET (no SSE stream here).
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                              headers={"Accept": "text/html"})
    assert status == 406 and doc["error"]["code"] == -32600, doc
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                              headers={"MCP-Protocol-Version": "1999-01-01"})
    assert status == 400, doc
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                              headers={"Origin": "http://evil.example"})
    assert status == 403, doc
    status, _, _ = d.client.request("GET", "/mcp")
    assert status == 405
    # Notifications and responses get 202 and no body.
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (status, doc) == (202, None)
    # An initialize for a version not spoken here is answered with the newest one.
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2030-01-01", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}})
    assert doc["result"]["protocolVersion"] == "2025-11-25", doc
    # Through all of it the daemon serves.
    status, _, doc = rpc_unix(d, {"jsonrpc": "2.0", "id": 9, "method": "ping"})
    assert (status, doc["result"]) == (200, {}), doc


def test_policy_refusal_is_a_tool_error(mcp_daemon):
    # The token's agent may use bash only: python is refused by the policy, with the reason.
    tok = token_for(mcp_daemon, "bashonly")
    status, doc = rpc_tcp(mcp_daemon, call("run_code", {"language": "python", "code": "1"}),
                          token=tok)
    assert status == 200 and doc["result"]["isError"] is True, doc
    text = doc["result"]["content"][0]["text"]
    assert text.startswith("forbidden:") and "runtime 'python'" in text, text
    status, doc = rpc_tcp(mcp_daemon, call("run_command", {"command": "echo fine"}), token=tok)
    assert doc["result"]["isError"] is False and doc["result"]["structuredContent"]["stdout"] \
        == "fine\n", doc


def test_oom_is_a_tool_error(mcp_daemon):
    status, _, doc = rpc_unix(mcp_daemon, call("run_code", {
        "language": "python", "code": "b = bytearray(1 << 30)\nprint(len(b))"}),
        path="/mcp?agent=oomer")
    res = doc["result"]
    assert res["isError"] is True, doc
    assert res["structuredContent"]["oom_killed"] is True, doc
    assert "out of memory" in res["content"][0]["text"]


def test_tcp_listener_takes_tokens_and_mcp_only(mcp_daemon):
    d = mcp_daemon
    status, doc = rpc_tcp(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert status == 401, doc
    status, doc = rpc_tcp(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          token="alk_" + "0" * 64)
    assert status == 401, doc
    tok = token_for(d, "tcp-agent")
    status, doc = rpc_tcp(d, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token=tok)
    assert (status, doc["result"]) == (200, {}), doc
    # Nothing but /mcp there, whatever the token.
    status, doc = rpc_tcp(d, "", token=tok, path="/v1/sandboxes", method="GET")
    assert status == 404, doc
    status, doc = rpc_tcp(d, {"agent": "x"}, token=tok, path="/v1/tokens")
    assert status == 404, doc
    # ?agent= does not widen a token: the tools act as the token's agent.
    status, doc = rpc_tcp(d, call("run_command", {"command": "true"}), token=tok,
                          path="/mcp?agent=someone-else")
    row = d.client.json("GET", "/v1/executions/" +
                        doc["result"]["structuredContent"]["execution_id"])[1]
    assert row["agent"] == "tcp-agent", row


def test_stdio_relay_errors_carry_the_request_id(mcp_daemon):
    """A request the daemon refuses before MCP sees it (a bad token) is answered on stdout as a
    JSON-RPC error for that request; malformed lines too; the relay goes on."""
    env = dict(os.environ, AIRLOCK_TOKEN="alk_" + "1" * 64)
    p = subprocess.run([str(AIRLOCK), "--socket", mcp_daemon.sock, "mcp"],
                       input=json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping"}) + "\n",
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p
    out = json.loads(p.stdout)
    assert out["id"] == 5 and "token" in out["error"]["message"], out
    env.pop("AIRLOCK_TOKEN")
    lines = "\n".join([
        "{oops",
        "",
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json.dumps({"jsonrpc": "2.0", "id": "p", "method": "ping"}),
    ]) + "\n"
    p = subprocess.run([str(AIRLOCK), "--socket", mcp_daemon.sock, "mcp"], input=lines,
                       capture_output=True, text=True, timeout=60, env=env)
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert out[0]["id"] is None and out[0]["error"]["code"] == -32700, out
    # The notification has no answer; the ping is answered.
    assert out[1:] == [{"jsonrpc": "2.0", "id": "p", "result": {}}], out


def test_mcp_listen_must_be_loopback(make_daemon):
    d = make_daemon(conf_extra="[mcp]\nlisten = 0.0.0.0:8080\n", start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=30) != 0
    d.expect_exit = None
    assert "must be a loopback address" in d.log() and "MCP" in d.log(), d.log()


def test_stdio_default_session_and_agent(mcp_daemon):
    """airlock mcp --agent A --session S: the tools act as A, and run_code calls that name no
    session share S's sandbox."""
    lines = "\n".join(json.dumps(m) for m in [
        call("run_code", {"language": "bash", "code": "echo kept > /tmp/s"}, id=1),
        call("run_code", {"language": "bash", "code": "cat /tmp/s"}, id=2),
        call("end_session", {"session": "stdio-s"}, id=3),
    ]) + "\n"
    p = subprocess.run([str(AIRLOCK), "--socket", mcp_daemon.sock, "mcp", "--agent", "relay-a",
                        "--session", "stdio-s"], input=lines, capture_output=True, text=True,
                       timeout=120)
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, 2, 3], out
    assert out[1]["result"]["structuredContent"]["stdout"] == "kept\n", out[1]
    assert out[2]["result"]["structuredContent"] == {
        "agent": "relay-a", "session": "stdio-s", "ended": True, "sandboxes_removed": 1}, out[2]
    p = subprocess.run([str(AIRLOCK), "mcp", "--agent", "bad name"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 125 and "names" in p.stderr, p
