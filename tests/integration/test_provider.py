"""The E2B provider backend (docs/providers.md) of a real airlockd against a remote end that
speaks E2B's protocol and misbehaves on demand (e2b_fault_remote.py): routing, the local
timeout, 429 with bounded retries, a refused key, garbage, a remote gone mid-exec, a lost
sandbox, reaping by the instance's metadata, and the key kept out of the log, the policy and
the audit log."""
import json
import time

import pytest

import e2b_fault_remote
from conftest import Daemon

KEY = "e2b_secret_key_4242_do_not_log"


@pytest.fixture(scope="module")
def remote():
    srv = e2b_fault_remote.start(KEY)
    yield srv
    srv.shutdown()


@pytest.fixture(scope="module")
def front(remote, tmp_path_factory):
    work = tmp_path_factory.mktemp("front")
    key_file = work / "e2b.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    url = f"http://127.0.0.1:{remote.server_address[1]}"
    extra = f"""
[provider "remote"]
kind = e2b
api_url = {url}
sandbox_url = {url}
api_key_file = {key_file}
template = base
template.python = code-interpreter-v1
request_timeout_s = 2
retries = 2

[agent "far"]
backend = provider:remote
"""
    d = Daemon(work / "d", engine="docker", conf_extra=extra).start()
    yield d
    d.stop()


def fault(remote, kind, count=-1):
    with remote.state.lock:
        remote.state.fault = kind
        remote.state.fault_count = count


@pytest.fixture(autouse=True)
def healthy(remote):
    fault(remote, None, 0)
    yield
    fault(remote, None, 0)


def creates(remote):
    with remote.state.lock:
        return [r for r in remote.state.requests if r[0] == "POST" and r[1] == "/sandboxes"]


def test_exec_routed_to_provider(front, remote):
    before = len(creates(remote))
    res = front.client.exec(agent="far", session="s1", runtime="python", code="print(6*7)")
    assert res["exit_code"] == 0
    assert res["stdout"] == "print(6*7)\n"  # the remote echoes the command line
    assert res["backend"] == "e2b:remote"
    assert "provider 'remote'" in res["decision"]["reason"]
    assert "timeout_s (airlock ends the remote process)" in res["limits"]["local"]
    assert "network (allow_internet_access=false)" in res["limits"]["remote"]
    made = creates(remote)[before:]
    assert len(made) == 1
    body = json.loads(made[0][3])
    assert body["templateID"] == "code-interpreter-v1"
    assert body["allow_internet_access"] is False
    assert body["metadata"]["airlock_instance"] == front.instance()
    assert made[0][2]["X-API-Key"] == KEY
    # The session's sandbox is kept: a second exec makes none.
    res2 = front.client.exec(agent="far", session="s1", runtime="python", code="print(1)")
    assert res2["sandbox_id"] == res["sandbox_id"]
    assert len(creates(remote)) == before + 1
    # A local agent still runs on the engine.
    local = front.client.exec(agent="near", command="echo here")
    assert local["backend"] == "docker" and local["stdout"] == "here\n"


def test_stream(front):
    status, _, data = front.client.request(
        "POST", "/v1/exec", {"agent": "far", "session": "st", "command": "echo streamed"},
        headers={"Accept": "application/x-ndjson"})
    assert status == 200
    events = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    assert any(e.get("type") == "stdout" and "echo streamed" in e["data"] for e in events)
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 0


def test_timeout_enforced_locally(front, remote):
    t0 = time.monotonic()
    res = front.client.exec(agent="far", session="t", command="sleep 60", timeout_s=1)
    assert time.monotonic() - t0 < 10
    assert res["timed_out"] is True and res["signal"] == 9
    with remote.state.lock:
        sigs = list(remote.state.signals)
    assert any(s["signal"] == "SIGNAL_SIGKILL" for s in sigs)


def test_429_retried_with_backoff(front, remote):
    before = len(creates(remote))
    fault(remote, "429", 2)
    res = front.client.exec(agent="far", command="echo after 429")
    assert res["exit_code"] == 0
    assert len(creates(remote)) == before + 3  # two refused, the third made it


def test_429_past_the_retries_is_provider_error(front, remote):
    fault(remote, "429", -1)
    status, doc = front.client.json("POST", "/v1/exec", {"agent": "far", "command": "echo x"})
    assert status == 502
    assert doc["error"]["code"] == "provider_error"
    assert "429" in doc["error"]["message"]


def test_refused_key(front, remote):
    fault(remote, "refuse", -1)
    status, doc = front.client.json("POST", "/v1/exec",
                                    {"agent": "far", "session": "k", "command": "echo x"})
    assert status == 502
    assert doc["error"]["code"] == "provider_error"
    assert "Invalid API key, it must start with e2b_" in doc["error"]["message"]


def test_garbage(front, remote):
    fault(remote, "garbage", -1)
    status, doc = front.client.json("POST", "/v1/exec", {"agent": "far", "command": "echo x"})
    assert status == 502 and doc["error"]["code"] == "provider_error"
    fault(remote, None, 0)
    # Garbage in the middle of a process stream, too.
    front.client.exec(agent="far", session="g", command="echo warm")
    fault(remote, "garbage", 1)
    status, doc = front.client.json("POST", "/v1/exec",
                                    {"agent": "far", "session": "g", "command": "echo x"})
    assert status == 502 and doc["error"]["code"] == "provider_error", doc


def test_remote_gone_mid_exec_is_recorded(front, remote):
    front.client.exec(agent="far", session="die", command="echo warm")
    fault(remote, "die", 1)
    t0 = time.monotonic()
    status, doc = front.client.json("POST", "/v1/exec",
                                    {"agent": "far", "session": "die", "command": "echo x"})
    assert time.monotonic() - t0 < 10
    assert status == 502 and doc["error"]["code"] == "provider_error", doc
    # Nothing acknowledged is lost: the failed exec is in the audit log.
    status, rows = front.client.json("GET", "/v1/executions?agent=far&session=die")
    assert status == 200
    items = rows["executions"] if isinstance(rows, dict) else rows
    assert len(items) >= 2


def test_lost_sandbox_is_remade(front, remote):
    res = front.client.exec(agent="far", session="lost", command="echo one")
    sid = [k for k in remote.state.sandboxes if k.startswith(res["sandbox_id"][:12])]
    assert sid
    with remote.state.lock:
        del remote.state.sandboxes[sid[0]]
    res2 = front.client.exec(agent="far", session="lost", command="echo two")
    assert res2["exit_code"] == 0 and res2["sandbox_id"] != res["sandbox_id"]
    assert "vanished" in res2.get("sandbox_replaced", "")


def test_network_refused_before_sending(front, remote):
    before = len(remote.state.requests)
    status, doc = front.client.json("POST", "/v1/exec",
                                    {"agent": "far", "command": "echo x", "network": True})
    assert status == 403, doc
    assert len(remote.state.requests) == before


def test_key_never_shown(front, remote):
    front.client.exec(agent="far", command="echo k")
    status, _, body = front.client.request("GET", "/v1/policy")
    assert status == 200 and KEY not in body.decode()
    assert "e2b.key" in body.decode()
    status, _, body = front.client.request("GET", "/v1/executions?agent=far")
    assert status == 200 and KEY not in body.decode()
    assert KEY not in front.log()
    assert KEY.encode() not in (front.state / "airlock.db").read_bytes()


def test_down_is_provider_error(tmp_path):
    key = tmp_path / "k"
    key.write_text(KEY)
    key.chmod(0o600)
    d = Daemon(tmp_path / "d", conf_extra=f"""
[provider "gone"]
kind = e2b
api_url = http://127.0.0.1:9
api_key_file = {key}
template = base
retries = 1
[agent "far"]
backend = provider:gone
""").start()
    try:
        t0 = time.monotonic()
        status, doc = d.client.json("POST", "/v1/exec", {"agent": "far", "command": "echo x"})
        assert time.monotonic() - t0 < 10
        assert status == 502 and doc["error"]["code"] == "provider_error"
        assert "provider 'gone'" in doc["error"]["message"]
    finally:
        d.stop()


def test_reaped_at_start_and_shutdown(remote, tmp_path):
    key = tmp_path / "k"
    key.write_text(KEY)
    key.chmod(0o600)
    url = f"http://127.0.0.1:{remote.server_address[1]}"
    d = Daemon(tmp_path / "d", conf_extra=f"""
[provider "remote"]
kind = e2b
api_url = {url}
api_key_file = {key}
template = base
[agent "far"]
backend = provider:remote
""").start()
    inst = d.instance()

    def mine():
        with remote.state.lock:
            return [k for k, v in remote.state.sandboxes.items()
                    if v.get("metadata", {}).get("airlock_instance") == inst]

    d.client.exec(agent="far", session="a", command="echo 1")
    assert len(mine()) == 1
    d.kill()  # a crash: the remote sandbox is left behind...
    assert len(mine()) == 1
    d.start()  # ...and reaped at the next start
    assert mine() == []
    d.client.exec(agent="far", session="b", command="echo 2")
    assert len(mine()) == 1
    d.stop()  # a session sandbox ends with the daemon
    assert mine() == []


def test_unimplemented_kind_is_a_file_line_error(tmp_path):
    d = Daemon(tmp_path / "d", conf_extra="""
[provider "aws"]
kind = aws-lambda
""")
    d.start(wait=False)
    rc = d.proc.wait(timeout=30)
    d.expect_exit = None
    d.stop(check=False)
    assert rc != 0
    assert "airlock.conf:" in d.log() and "kind 'aws-lambda' is designed" in d.log()


def test_selective_rule_routes_to_provider(remote, tmp_path):
    """A SELECTIVE "provider:NAME" rule sends what it matches to the provider; what the host
    rules vouch for still runs on the host, the rest in a local sandbox."""
    key = tmp_path / "k"
    key.write_text(KEY)
    key.chmod(0o600)
    rules = tmp_path / "selective.rules"
    rules.write_text("provider:remote remote-build word make cmake\n"
                     "sandbox downloader word curl\n"
                     "host readonly word ls echo\n")
    url = f"http://127.0.0.1:{remote.server_address[1]}"
    d = Daemon(tmp_path / "d", conf_extra=f"""
[provider "remote"]
kind = e2b
api_url = {url}
api_key_file = {key}
template = base
""")
    text = d.conf_path.read_text().replace("mode = all", f"mode = selective\n"
                                           f"selective_rules = {rules}")
    d.conf_path.write_text(text)
    d.start()
    try:
        res = d.client.exec(agent="sel", runtime="bash", command="make all")
        assert res["backend"] == "e2b:remote", res
        assert "rule remote-build" in res["decision"]["reason"]
        assert "provider 'remote'" in res["decision"]["reason"]
        res = d.client.exec(agent="sel", runtime="bash", command="echo hi")
        assert res["backend"] == "host" and res["stdout"] == "hi\n", res
        res = d.client.exec(agent="sel", runtime="bash", command="curl x")
        assert res["backend"] == "docker", res
    finally:
        d.stop()
    expect_problem = tmp_path / "bad.rules"
    expect_problem.write_text("provider:no/pe x word make\n")
    d2 = Daemon(tmp_path / "d2", conf_extra="")
    d2.conf_path.write_text(d2.conf_path.read_text().replace(
        "mode = all", f"mode = selective\nselective_rules = {expect_problem}"))
    d2.start(wait=False)
    assert d2.proc.wait(timeout=30) != 0
    d2.expect_exit = None
    d2.stop(check=False)
    assert "bad.rules:1: unknown action 'provider:no/pe'" in d2.log()


def test_key_file_open_to_all_is_refused(front, remote, tmp_path):
    key_file = front.workdir.parent / "e2b.key"
    key_file.chmod(0o644)
    try:
        status, doc = front.client.json("POST", "/v1/exec", {"agent": "far", "command": "echo"})
        assert status == 502 and "readable or writable by every user" in doc["error"]["message"]
        assert KEY not in json.dumps(doc)
    finally:
        key_file.chmod(0o600)
