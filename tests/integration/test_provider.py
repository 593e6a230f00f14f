"""The E2B provider backend (docs/providers.md) of a real airlockd in front of a real remote
airlockd ([e2b] listen), with a fault-injecting proxy between them (fault_proxy.py: requests
forwarded unchanged; on demand a 429, garbage, a connection cut mid-stream, a delay, a sandbox
deleted on the remote). Routing, the local timeout, bounded retries, a refused key, garbage, the
remote gone mid-exec, a lost sandbox, a slow remote, reaping by the instance's metadata, and the
key kept out of the log, the policy and the audit log. After each fault: the front's error, its
audit row, and what the remote still holds of the front's instance."""
import json
import time

import pytest

from conftest import Daemon
from fault_proxy import FaultProxy

UNKNOWN_KEY = "alk_" + "0" * 64  # well formed, but no token of the remote


@pytest.fixture(scope="module")
def remote(e2b_remote):
    return e2b_remote


@pytest.fixture(scope="module")
def proxy(remote):
    p = FaultProxy(remote.port, remote.key)
    yield p
    p.close()


@pytest.fixture(scope="module")
def front(remote, proxy, tmp_path_factory):
    work = tmp_path_factory.mktemp("front")
    key_file = work / "e2b.key"
    key_file.write_text(remote.key + "\n")
    key_file.chmod(0o600)
    bad_key = work / "unknown.key"
    bad_key.write_text(UNKNOWN_KEY + "\n")
    bad_key.chmod(0o600)
    extra = f"""
[provider "remote"]
kind = e2b
api_url = {proxy.url}
sandbox_url = {proxy.url}
api_key_file = {key_file}
template = base
template.python = code-interpreter-v1
request_timeout_s = 2
retries = 2

[provider "refused"]
kind = e2b
api_url = {proxy.url}
api_key_file = {bad_key}
template = base
retries = 2

[agent "far"]
backend = provider:remote

[agent "nokey"]
backend = provider:refused
"""
    d = Daemon(work / "d", engine="docker", conf_extra=extra).start()
    d.inst = d.instance()
    yield d
    proxy.clear()
    d.stop()
    # Nothing of the front is left on the remote: not a sandbox (even one a slow remote made
    # after the front gave up: reaped at shutdown), nor a container.
    assert proxy.sandboxes(d.inst) == []
    assert wait_for(lambda: remote.containers() == []), remote.containers()


@pytest.fixture(autouse=True)
def healthy(proxy):
    proxy.clear()
    yield
    proxy.clear()


def wait_for(cond, timeout=15):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def creates(proxy):
    return len(proxy.seen("POST", "/sandboxes"))


def audited(front, command):
    """The front's audit rows of agent far for command."""
    status, doc = front.client.json("GET", "/v1/executions?agent=far")
    assert status == 200, doc
    rows = doc["executions"] if isinstance(doc, dict) else doc
    return [r for r in rows if command in json.dumps(r)]


def failed_exec(front, body):
    t0 = time.monotonic()
    status, doc = front.client.json("POST", "/v1/exec", body)
    assert time.monotonic() - t0 < 20, "the front took too long to give up"
    assert status == 502 and doc["error"]["code"] == "provider_error", (status, doc)
    return doc["error"]["message"]


def test_exec_routed_to_provider(front, remote, proxy):
    before = creates(proxy)
    res = front.client.exec(agent="far", session="s1", runtime="python", code="print(6*7)")
    assert res["exit_code"] == 0 and res["stdout"] == "42\n", res
    assert res["backend"] == "e2b:remote"
    assert "provider 'remote'" in res["decision"]["reason"]
    assert "timeout_s (airlock ends the remote process)" in res["limits"]["local"]
    assert "network (allow_internet_access=false)" in res["limits"]["remote"]
    made = proxy.seen("POST", "/sandboxes")[before:]
    assert len(made) == 1
    body = json.loads(made[0][3])
    assert body["templateID"] == "code-interpreter-v1"
    assert body["allow_internet_access"] is False
    assert body["metadata"]["airlock_instance"] == front.inst
    assert made[0][2]["x-api-key"] == remote.key
    assert len(proxy.sandboxes(front.inst, "s1")) == 1
    # The session's sandbox is kept: a second exec makes none.
    res2 = front.client.exec(agent="far", session="s1", runtime="python", code="print(1)")
    assert res2["sandbox_id"] == res["sandbox_id"]
    assert creates(proxy) == before + 1
    # A local agent still runs on the engine.
    local = front.client.exec(agent="near", command="echo here")
    assert local["backend"] == "docker" and local["stdout"] == "here\n"


def test_stream(front):
    events = front.client.exec_stream(agent="far", session="st", command="echo streamed")
    assert "".join(e["data"] for e in events if e.get("type") == "stdout") == "streamed\n"
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 0


def test_timeout_enforced_locally(front, proxy):
    t0 = time.monotonic()
    res = front.client.exec(agent="far", session="t", command="sleep 60", timeout_s=1)
    assert time.monotonic() - t0 < 10
    assert res["timed_out"] is True and res["signal"] == 9, res
    sent = proxy.seen("POST", "/process.Process/SendSignal")
    assert any(b"SIGNAL_SIGKILL" in (r[3] or b"") for r in sent), sent


def test_429_retried_with_backoff(front, proxy):
    before, held = creates(proxy), proxy.sandboxes(front.inst)
    proxy.fault("POST", "/sandboxes", "429", count=2)
    res = front.client.exec(agent="far", command="echo after 429")
    assert res["exit_code"] == 0 and res["stdout"] == "after 429\n", res
    assert creates(proxy) == before + 3  # two refused, the third made it
    assert proxy.sandboxes(front.inst) == held  # the one-off's sandbox is gone again


def test_429_past_the_retries_is_provider_error(front, proxy):
    before, held = creates(proxy), proxy.sandboxes(front.inst)
    proxy.fault("POST", "/sandboxes", "429")
    msg = failed_exec(front, {"agent": "far", "command": "echo past-429"})
    assert "429" in msg and "rate limited by the proxy" in msg, msg
    assert creates(proxy) == before + 3  # retries = 2, bounded
    assert audited(front, "echo past-429")
    assert proxy.sandboxes(front.inst) == held


def test_refused_key(front, proxy):
    before = creates(proxy)
    msg = failed_exec(front, {"agent": "nokey", "session": "k", "command": "echo refused"})
    assert "HTTP 401" in msg and "unknown or revoked API key" in msg, msg
    assert creates(proxy) == before + 1  # a refused key is not retried
    assert UNKNOWN_KEY not in msg and UNKNOWN_KEY not in front.log()


def test_garbage(front, proxy):
    held = proxy.sandboxes(front.inst)
    proxy.fault("POST", "/sandboxes", "garbage")
    failed_exec(front, {"agent": "far", "command": "echo garbage-create"})
    assert audited(front, "echo garbage-create")
    assert proxy.sandboxes(front.inst) == held
    proxy.clear()
    # Garbage instead of a process stream, too.
    front.client.exec(agent="far", session="g", command="echo warm")
    proxy.fault("POST", "/process.Process/Start", "garbage", count=1)
    failed_exec(front, {"agent": "far", "session": "g", "command": "echo garbage-stream"})
    assert audited(front, "echo garbage-stream")
    assert front.client.exec(agent="far", session="g", command="echo fine")["stdout"] == "fine\n"
    assert len(proxy.sandboxes(front.inst, "g")) == 1


def test_remote_gone_mid_exec_is_recorded(front, proxy):
    front.client.exec(agent="far", session="die", command="echo warm")
    starts = len(proxy.seen("POST", "/process.Process/Start"))
    proxy.fault("POST", "/process.Process/Start", "cut", count=1, after_s=1)
    failed_exec(front, {"agent": "far", "session": "die", "command": "echo cut; sleep 5"})
    # The code is not run again silently, and the failed exec is in the audit log.
    assert len(proxy.seen("POST", "/process.Process/Start")) == starts + 1
    assert audited(front, "echo cut; sleep 5")
    assert len(proxy.sandboxes(front.inst, "die")) == 1


def test_lost_sandbox_is_remade(front, remote, proxy):
    res = front.client.exec(agent="far", session="lost", command="echo one")
    [sid] = proxy.sandboxes(front.inst, "lost")
    containers = len(remote.containers())
    proxy.drop(sid)  # deleted on the remote, behind the front's back
    assert wait_for(lambda: len(remote.containers()) == containers - 1)
    res2 = front.client.exec(agent="far", session="lost", command="echo two")
    assert res2["exit_code"] == 0 and res2["stdout"] == "two\n", res2
    assert res2["sandbox_id"] != res["sandbox_id"]
    assert "vanished" in res2.get("sandbox_replaced", ""), res2
    [sid2] = proxy.sandboxes(front.inst, "lost")
    assert sid2 != sid and len(remote.containers()) == containers


def test_slow_remote_is_bounded(front, proxy):
    before, held = creates(proxy), proxy.sandboxes(front.inst)
    proxy.fault("POST", "/sandboxes", "delay", after_s=3)  # past request_timeout_s = 2
    msg = failed_exec(front, {"agent": "far", "command": "echo slow"})
    assert "provider 'remote'" in msg, msg
    assert 1 <= creates(proxy) - before <= 3
    assert audited(front, "echo slow")
    # The slow remote makes the sandbox after the front gave up: the front does not know it,
    # and reaps it at its shutdown (checked when the front fixture ends).
    assert wait_for(lambda: len(proxy.sandboxes(front.inst)) > len(held))


def test_network_refused_before_sending(front, proxy):
    before = len(proxy.requests)
    status, doc = front.client.json("POST", "/v1/exec",
                                    {"agent": "far", "command": "echo x", "network": True})
    assert status == 403, doc
    assert len(proxy.requests) == before


def test_key_never_shown(front, remote):
    front.client.exec(agent="far", command="echo k")
    status, _, body = front.client.request("GET", "/v1/policy")
    assert status == 200 and remote.key not in body.decode()
    assert "e2b.key" in body.decode()
    status, _, body = front.client.request("GET", "/v1/executions?agent=far")
    assert status == 200 and remote.key not in body.decode()
    assert remote.key not in front.log()
    assert remote.key.encode() not in (front.state / "airlock.db").read_bytes()


def test_down_is_provider_error(tmp_path):
    key = tmp_path / "k"
    key.write_text(UNKNOWN_KEY)
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


def test_reaped_at_start_and_shutdown(remote, proxy, tmp_path):
    d = Daemon(tmp_path / "d", conf_extra=f"""
[provider "remote"]
kind = e2b
api_url = {proxy.url}
api_key_file = {remote.key_file}
template = base
[agent "far"]
backend = provider:remote
""").start()
    inst = d.instance()
    containers = len(remote.containers())

    d.client.exec(agent="far", session="a", command="echo 1")
    assert len(proxy.sandboxes(inst)) == 1
    assert len(remote.containers()) == containers + 1
    d.kill()  # a crash: the remote sandbox is left behind...
    assert len(proxy.sandboxes(inst)) == 1
    d.start()  # ...and reaped at the next start
    assert proxy.sandboxes(inst) == []
    assert wait_for(lambda: len(remote.containers()) == containers)
    d.client.exec(agent="far", session="b", command="echo 2")
    assert len(proxy.sandboxes(inst)) == 1
    d.stop()  # a session sandbox ends with the daemon
    assert proxy.sandboxes(inst) == []
    assert wait_for(lambda: len(remote.containers()) == containers)


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
    key = remote.key_file
    rules = tmp_path / "selective.rules"
    rules.write_text("provider:remote remote-build word make cmake\n"
                     "sandbox downloader word curl\n"
                     "host readonly word ls echo\n")
    url = remote.url
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
        assert remote.key not in json.dumps(doc)
    finally:
        key_file.chmod(0o600)
