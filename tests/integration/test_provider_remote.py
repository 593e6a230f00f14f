"""One airlock in front of another (docs/providers.md): a front airlockd routes agent "far" to
a remote airlockd's E2B-compatible API ([e2b] listen, its own state directory and engine),
over loopback TCP. Exec, stream, timeout, the remote SIGKILLed mid-exec, a refused key."""
import json
import time

import pytest

from conftest import Daemon


@pytest.fixture(scope="module")
def pair(e2b_remote, tmp_path_factory):
    work = tmp_path_factory.mktemp("pair")
    bad_key = work / "bad.key"
    bad_key.write_text("al_not_a_valid_token\n")
    bad_key.chmod(0o600)
    url = e2b_remote.url
    front = Daemon(work / "front", engine="docker", conf_extra=f"""
[provider "remote"]
kind = e2b
api_url = {url}
sandbox_url = {url}
api_key_file = {e2b_remote.key_file}
template = base
template.python = python
retries = 1
request_timeout_s = 10

[provider "refused"]
kind = e2b
api_url = {url}
api_key_file = {bad_key}
template = base
retries = 0

[agent "far"]
backend = provider:remote

[agent "nokey"]
backend = provider:refused
""").start()
    front.token = e2b_remote.key
    yield front, e2b_remote.daemon
    front.stop()


def test_exec_through_the_remote(pair):
    front, remote = pair
    res = front.client.exec(agent="far", session="s", runtime="python", code="print(6*7)")
    assert res["exit_code"] == 0, res
    assert res["stdout"] == "42\n"
    assert res["backend"] == "e2b:remote"
    res = front.client.exec(agent="far", session="s", command="echo err >&2; exit 3")
    assert res["exit_code"] == 3 and res["stderr"] == "err\n"
    res = front.client.exec(agent="far", session="s", command="cat", stdin="fed\n")
    assert res["stdout"] == "fed\n", res


def test_stream_through_the_remote(pair):
    front, _ = pair
    status, _, data = front.client.request(
        "POST", "/v1/exec", {"agent": "far", "session": "s", "command": "echo a; echo b"},
        headers={"Accept": "application/x-ndjson"})
    assert status == 200
    events = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
    assert "".join(e["data"] for e in events if e.get("type") == "stdout") == "a\nb\n"
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 0


def test_timeout_through_the_remote(pair):
    front, _ = pair
    t0 = time.monotonic()
    res = front.client.exec(agent="far", session="s", command="sleep 30", timeout_s=2)
    assert time.monotonic() - t0 < 15
    assert res["timed_out"] is True, res


def test_refused_key(pair):
    front, _ = pair
    status, doc = front.client.json("POST", "/v1/exec", {"agent": "nokey", "command": "echo x"})
    assert status == 502, doc
    assert doc["error"]["code"] == "provider_error"
    assert front.token not in front.log()


def test_remote_killed_mid_exec(pair):
    front, remote = pair
    import threading
    out = {}

    def run():
        out["r"] = front.client.json("POST", "/v1/exec", {"agent": "far", "session": "s",
                                                          "command": "sleep 20"})

    t = threading.Thread(target=run)
    t.start()
    time.sleep(2)
    remote.kill()
    t.join(timeout=30)
    assert not t.is_alive(), "the front hung"
    status, doc = out["r"]
    assert status == 502 and doc["error"]["code"] == "provider_error", doc
    status, rows = front.client.json("GET", "/v1/executions?agent=far")
    assert status == 200 and "sleep 20" in json.dumps(rows)
    # The remote comes back and reaps what it left (its own sandboxes, in its engine); the
    # front's session sandbox there is gone, and the front makes a new one.
    remote.start()
    res = front.client.exec(agent="far", session="s", command="echo back")
    assert res["stdout"] == "back\n" and res.get("sandbox_replaced"), res


def test_files_through_the_remote(pair):
    front, _ = pair
    q = "agent=far&session=f&path=/tmp/data.txt"
    status, _, body = front.client.request("PUT", f"/v1/files?{q}", b"hello\x00remote\n",
                                           headers={"Content-Type": "application/octet-stream"})
    assert status == 201, body
    status, _, body = front.client.request("GET", f"/v1/files?{q}")
    assert status == 200 and body == b"hello\x00remote\n", body
    res = front.client.exec(agent="far", session="f", command="wc -c < /tmp/data.txt")
    assert res["stdout"].strip() == "13", res
    status, doc = front.client.json("GET", "/v1/files/list?agent=far&session=f&path=/tmp")
    assert status == 200 and any(e["name"] == "data.txt" for e in doc["entries"]), doc


def test_file_operations_through_the_remote(pair):
    """Every verb of the files API on a provider sandbox goes over the E2B protocol (envd's
    filesystem service and /files), not through an in-sandbox helper: the remote answers."""
    front, remote = pair
    s = "agent=far&session=ops"
    status, doc = front.client.json("POST", f"/v1/files/mkdir?{s}&path=/tmp/d/e")
    assert status == 201 and doc["created"] is True, doc
    status, doc = front.client.json("POST", f"/v1/files/mkdir?{s}&path=/tmp/d/e")
    assert status == 200 and doc["created"] is False, doc
    blob = bytes(range(256)) * 64
    status, _, body = front.client.request("PUT", f"/v1/files?{s}&path=/tmp/d/e/b.bin", blob,
                                           headers={"Content-Type": "application/octet-stream"})
    assert status == 201, body
    # It went to the remote's /files (envd's upload), not through a process in the sandbox.
    assert f"e2b: upload of {len(blob)} bytes to /tmp/d/e/b.bin" in remote.log()
    status, doc = front.client.json("GET", f"/v1/files/stat?{s}&path=/tmp/d/e/b.bin")
    assert status == 200 and doc["type"] == "file" and doc["size"] == len(blob), doc
    assert doc["name"] == "b.bin" and doc["mtime"] > 1_600_000_000, doc
    status, doc = front.client.json("GET", f"/v1/files/stat?{s}&path=/tmp/d")
    assert status == 200 and doc["type"] == "directory", doc
    status, doc = front.client.json("GET", f"/v1/files/list?{s}&path=/tmp/d")
    assert status == 200 and [e["name"] for e in doc["entries"]] == ["e"], doc
    assert doc["entries"][0]["type"] == "directory" and doc["truncated"] is False, doc
    # A directory that is not empty is kept without recursive.
    status, doc = front.client.json("DELETE", f"/v1/files?{s}&path=/tmp/d/e")
    assert status == 409, doc
    status, doc = front.client.json("POST", f"/v1/files/move?{s}",
                                    {"from": "/tmp/d/e/b.bin", "to": "/tmp/d/c.bin"})
    assert status == 200 and doc["moved"] is True, doc
    status, _, body = front.client.request("GET", f"/v1/files?{s}&path=/tmp/d/c.bin")
    assert status == 200 and body == blob
    status, _, body = front.client.request("GET", f"/v1/files?{s}&path=/tmp/d/e/b.bin")
    assert status == 404, body
    status, doc = front.client.json("DELETE", f"/v1/files?{s}&path=/tmp/d&recursive=true")
    assert status == 200 and doc["removed"] is True, doc
    status, doc = front.client.json("GET", f"/v1/files/stat?{s}&path=/tmp/d")
    assert status == 404, doc
    # A path out of the file areas, or climbing out of one, is refused before it leaves.
    for bad in ("/etc/passwd", "/tmp/../etc/passwd"):
        status, doc = front.client.json("GET", f"/v1/files/stat?{s}&path={bad}")
        assert status in (400, 403), (bad, doc)
    # A directory as a tar has no E2B equivalent: a clear refusal.
    status, _, body = front.client.request("GET", f"/v1/files?{s}&path=/tmp")
    assert status >= 400 and b"provider sandboxes" in body, body
    res = front.client.exec(agent="far", session="ops",
                            command="ls /tmp/d 2>&1; echo $?; ln -s /etc/hostname /tmp/lnk")
    assert res["stdout"].strip().endswith("2"), res
    # A link is shown as one and not followed on download.
    status, doc = front.client.json("GET", f"/v1/files/stat?{s}&path=/tmp/lnk")
    assert status == 200 and doc["type"] == "symlink" and doc["target"] == "/etc/hostname", doc
    status, _, body = front.client.request("GET", f"/v1/files?{s}&path=/tmp/lnk")
    assert status == 400 and b"link" in body, body


def test_contexts_through_the_remote(pair):
    front, _ = pair
    status, ctx = front.client.json("POST", "/v1/contexts",
                                    {"agent": "far", "session": "c", "language": "python"})
    assert status in (200, 201), ctx
    res = front.client.exec(agent="far", context=ctx["id"], code="x = 21\nprint('set')")
    assert res["exit_code"] == 0 and res["stdout"] == "set\n", res
    assert res["backend"] == "e2b:remote"
    res = front.client.exec(agent="far", context=ctx["id"], code="x * 2")
    assert res["results"][0]["data"]["text/plain"] == "42", res
    assert res["context"]["status"] == "ok" and res["context"]["execution_count"] >= 2, res
    res = front.client.exec(agent="far", context=ctx["id"], code="1/0")
    assert res["exit_code"] == 1 and res["context"]["error"]["name"] == "ZeroDivisionError"
    # The default context of a language, made on first use, keeps its state too.
    front.client.exec(agent="far", session="c", language="python", code="y = 5")
    res = front.client.exec(agent="far", session="c", language="python", code="print(y + 1)")
    assert res["stdout"] == "6\n", res
    # A cell past its time: airlock ends it (closes the remote's stream) and answers at once;
    # the context serves on once the remote has ended the cell (an airlockd remote ends it at
    # its own timeout: closing /execute does not interrupt it there).
    t0 = time.monotonic()
    res = front.client.exec(agent="far", context=ctx["id"], code="import time\ntime.sleep(8)",
                            timeout_s=2)
    assert time.monotonic() - t0 < 6
    assert res["timed_out"] is True and res["context"]["interrupted"] is True, res
    deadline = time.monotonic() + 30
    while True:
        res = front.client.exec(agent="far", context=ctx["id"], code="print('alive')")
        if res["stdout"] == "alive\n" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert res["stdout"] == "alive\n", res


def test_background_and_kill_through_the_remote(pair):
    front, _ = pair
    res = front.client.exec(agent="far", session="bg", background=True,
                            command="echo started; sleep 60")
    assert res["background"] is True and res["pid"] > 0, res
    assert res["backend"] == "e2b:remote"
    sid, pid = res["sandbox_id"], res["pid"]
    deadline = time.monotonic() + 10
    while True:
        status, one = front.client.json("GET", f"/v1/sandboxes/{sid}/processes/{pid}")
        if status == 200 and one["stdout"] == "started\n" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and one["state"] == "running" and one["stdout"] == "started\n", one
    status, doc = front.client.json("DELETE", f"/v1/sandboxes/{sid}/processes/{pid}")
    assert status == 200, doc
    deadline = time.monotonic() + 10
    while True:
        status, one = front.client.json("GET", f"/v1/sandboxes/{sid}/processes/{pid}")
        if one.get("state") != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert one["state"] == "killed", one
    status, lst = front.client.json("GET", f"/v1/sandboxes/{sid}/processes")
    assert status == 200 and [p["pid"] for p in lst["processes"]] == [pid], lst
    # The sandbox itself can be removed (DELETE /v1/sandboxes/{id}): the remote one goes too.
    status, doc = front.client.json("DELETE", f"/v1/sandboxes/{sid}")
    assert status in (200, 204), doc
    res = front.client.exec(agent="far", session="bg", command="echo fresh")
    assert res["sandbox_id"] != sid and res["stdout"] == "fresh\n"
