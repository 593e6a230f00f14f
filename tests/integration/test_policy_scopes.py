"""Issue 4 on the real engines: modes, scopes, workspaces, reloads and recovery."""
import http.client
import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import ENGINE_SOCKETS, engine_inspect, labelled_containers


def conf(engine, sandbox="", extra="", limits="timeout_s = 20\nmemory_mb = 256\n"):
    return f"""
[engine]
kind = {engine}
socket = {ENGINE_SOCKETS[engine]}

[sandbox]
pool_size = 0
{sandbox}

[limits]
{limits}
{extra}
"""


def ids(d, engine):
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    return labelled_containers(engine, f"airlock.instance={inst}")


# --- scopes ----------------------------------------------------------------------------------

def test_session_scope(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = session"))
    a = d.client.exec(agent="ag", session="s1", runtime="bash", command="echo 1 > /tmp/x; hostname")
    b = d.client.exec(agent="ag", session="s2", runtime="bash", command="cat /tmp/x 2>/dev/null; hostname")
    assert a["sandbox_id"] != b["sandbox_id"]
    assert b["stdout"].strip() == b["stdout"].strip().split("\n")[-1]  # no file from s1
    c = d.client.exec(agent="ag", session="s1", runtime="bash", command="cat /tmp/x")
    assert c["sandbox_id"] == a["sandbox_id"] and c["stdout"] == "1\n"
    # the same session name under another agent is another sandbox
    other = d.client.exec(agent="other", session="s1", runtime="bash", command="cat /tmp/x 2>&1; true")
    assert other["sandbox_id"] != a["sandbox_id"] and "No such file" in other["stdout"]
    sandboxes = d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"]
    assert {s["id"][:12] for s in sandboxes} >= {a["sandbox_id"], b["sandbox_id"]}
    assert all(s["scope"] == "session" for s in sandboxes)
    # ending a session removes its container, on the engine too
    st, doc = d.client.json("POST", "/v1/sessions/s1/end", {"agent": "ag"})
    assert st == 200 and doc["sandboxes_removed"] == 1, doc
    assert not [c for c in ids(d, engine) if c.startswith(a["sandbox_id"])]
    assert [c for c in ids(d, engine) if c.startswith(b["sandbox_id"])]
    assert [c for c in ids(d, engine) if c.startswith(other["sandbox_id"])]
    # a new exec in the ended session gets a fresh sandbox
    n = d.client.exec(agent="ag", session="s1", runtime="bash", command="cat /tmp/x 2>&1; true")
    assert n["sandbox_id"] != a["sandbox_id"] and "No such file" in n["stdout"]


def test_session_idle_timeout(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = session\nidle_timeout_s = 2"))
    a = d.client.exec(agent="ag", session="idle", runtime="bash", command="true")
    assert [c for c in ids(d, engine) if c.startswith(a["sandbox_id"])]
    deadline = time.time() + 15
    while time.time() < deadline and [c for c in ids(d, engine) if c.startswith(a["sandbox_id"])]:
        time.sleep(0.5)
    assert not [c for c in ids(d, engine) if c.startswith(a["sandbox_id"])]
    assert d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"] == []


def test_agent_scope(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = agent"))
    a = d.client.exec(agent="ag", session="s1", runtime="bash", command="echo kept > /tmp/f")
    b = d.client.exec(agent="ag", session="s2", runtime="bash", command="cat /tmp/f")
    c = d.client.exec(agent="ag", runtime="bash", command="cat /tmp/f")
    assert a["sandbox_id"] == b["sandbox_id"] == c["sandbox_id"]
    assert b["stdout"] == "kept\n" and c["stdout"] == "kept\n"
    o = d.client.exec(agent="other", session="s1", runtime="bash", command="cat /tmp/f 2>&1; true")
    assert o["sandbox_id"] != a["sandbox_id"]
    # ending a session does not touch an AGENT sandbox
    d.client.json("POST", "/v1/sessions/s1/end", {"agent": "ag"})
    assert d.client.exec(agent="ag", runtime="bash", command="cat /tmp/f")["sandbox_id"] == a["sandbox_id"]


def test_shared_scope(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = shared"))
    a = d.client.exec(agent="one", session="s1", runtime="bash", command="echo hi > /tmp/shared")
    b = d.client.exec(agent="two", session="s9", runtime="bash", command="cat /tmp/shared")
    assert a["sandbox_id"] == b["sandbox_id"] and b["stdout"] == "hi\n"


def test_pip_install_persists_within_scope(engine, make_daemon):
    # a package installed in one exec is importable in the next (a local package: no network)
    d = make_daemon(conf=conf(engine, "scope = agent"))
    setup = ("mkdir -p /tmp/src/airlockdemo && cd /tmp/src && "
             "echo 'VALUE = 42' > airlockdemo/__init__.py && "
             "printf 'from setuptools import setup\\nsetup(name=\"airlockdemo\", version=\"1.0\", packages=[\"airlockdemo\"])\\n' > setup.py && "
             "pip install --user --no-index --no-build-isolation . >/dev/null 2>&1 || pip install --user --no-index . 2>&1 | tail -2")
    r = d.client.exec(agent="ag", runtime="python", command=setup, timeout_s=20)
    assert r["exit_code"] == 0, r
    r = d.client.exec(agent="ag", runtime="python", code="import airlockdemo; print(airlockdemo.VALUE)")
    assert r["stdout"] == "42\n", r


def test_concurrent_first_execs_create_one_container(engine, make_daemon):
    import threading
    d = make_daemon(conf=conf(engine, "scope = agent"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        d.client.exec(agent="burst", runtime="bash", command="echo x"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len({r["sandbox_id"] for r in results}) == 1
    assert len(ids(d, engine)) == 1


def test_delete_sandbox(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = agent"))
    a = d.client.exec(agent="ag", runtime="bash", command="true")
    st, doc = d.client.json("DELETE", f"/v1/sandboxes/{a['sandbox_id']}")
    assert st == 200, doc
    assert ids(d, engine) == []
    st, doc = d.client.json("DELETE", f"/v1/sandboxes/{a['sandbox_id']}")
    assert st == 404
    st, doc = d.client.json("DELETE", "/v1/sandboxes/abc")
    assert st == 400


# --- workspaces ------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["none", "ro", "rw"])
def test_workspace_levels(engine, make_daemon, tmp_path, level):
    root = tmp_path / "ws"
    d = make_daemon(conf=conf(engine, f"scope = agent\nworkspace = {level}\nworkspace_root = {root}"))
    if level != "none":
        (root / "ag").mkdir(parents=True, exist_ok=True)
        (root / "ag" / "in.txt").write_text("from host\n")
    r = d.client.exec(agent="ag", runtime="bash",
                      command="ls -d /workspace 2>&1; cat /workspace/in.txt 2>&1; "
                              "echo out > /workspace/out.txt 2>&1 && echo WROTE || echo WRITE-FAILED; pwd")
    out = r["stdout"] + r["stderr"]
    if level == "none":
        assert "No such file or directory" in out.splitlines()[0], out
        assert not (root / "ag").exists() or not any((root / "ag").iterdir())
    elif level == "ro":
        assert "from host" in out and "Read-only file system" in out and "WRITE-FAILED" in out, out
        assert r["stdout"].strip().endswith("/workspace")
    else:
        assert "from host" in out and "WROTE" in out, out
        assert (root / "ag" / "out.txt").read_text() == "out\n"
    if level != "none":
        # each agent sees only its own directory
        r = d.client.exec(agent="bee", runtime="bash", command="ls /workspace")
        assert "in.txt" not in r["stdout"]


def test_workspace_symlink_is_refused(engine, make_daemon, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", root / "evil")
    d = make_daemon(conf=conf(engine, f"workspace = rw\nworkspace_root = {root}"))
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "evil", "runtime": "bash", "command": "true"})
    assert st >= 400 and "not a plain directory" in doc["error"]["message"], doc


# --- reloads ---------------------------------------------------------------------------------

def test_bad_reload_changes_nothing(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = session", limits="timeout_s = 20\nmemory_mb = 256\n"))
    before = d.client.json("GET", "/v1/policy")[1]
    good = d.conf_path.read_text()
    d.conf_path.write_text(good + "\n[limits]\nmemory_mb = lots\nbogus = 1\n")
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st == 400, doc
    assert doc["error"]["code"] == "invalid_policy"
    lines = [p["line"] for p in doc["error"]["problems"]]
    assert len(lines) >= 2 and all(isinstance(x, int) and x > 0 for x in lines)
    assert d.client.json("GET", "/v1/policy")[1] == before
    # SIGHUP with the bad file: also refused, still serving the old policy
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert d.client.json("GET", "/v1/policy")[1] == before
    assert "refused" in d.log()
    # a good change applies
    d.conf_path.write_text(good.replace("timeout_s = 20", "timeout_s = 7"))
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st == 200, doc
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "t", "runtime": "bash", "command": "true", "timeout_s": 10})
    assert st == 400 and "timeout_s" in doc["error"]["message"]


def test_reload_by_sighup_applies(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "mode = all"))
    d.conf_path.write_text(d.conf_path.read_text().replace("mode = all", "mode = all\nscope = agent"))
    d.signal(signal.SIGHUP)
    deadline = time.time() + 5
    while time.time() < deadline and d.client.json("GET", "/v1/policy")[1]["sandbox"]["scope"] != "agent":
        time.sleep(0.1)
    assert d.client.json("GET", "/v1/policy")[1]["sandbox"]["scope"] == "agent"


# --- the audit log and recovery ---------------------------------------------------------------

def test_executions_are_recorded_and_queryable(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = session"))
    mine = [d.client.exec(agent="auditor", session="q", runtime="bash", command=f"echo {i}; exit {i}")
            for i in range(5)]
    d.client.exec(agent="someone", runtime="bash", command="true")
    st, doc = d.client.json("GET", "/v1/executions?agent=auditor&limit=2")
    assert st == 200, doc
    page1 = doc["executions"]
    assert len(page1) == 2 and doc["next_cursor"]
    st, doc2 = d.client.json("GET", f"/v1/executions?agent=auditor&limit=2&cursor={doc['next_cursor']}")
    st, doc3 = d.client.json("GET", f"/v1/executions?agent=auditor&limit=2&cursor={doc2['next_cursor']}")
    got = [r["id"] for r in page1 + doc2["executions"] + doc3["executions"]]
    assert sorted(got) == sorted(r["execution_id"] for r in mine)
    row = d.client.json("GET", f"/v1/executions/{mine[3]['execution_id']}")[1]
    assert row["agent"] == "auditor" and row["session"] == "q" and row["exit_code"] == 3
    assert row["state"] == "done" and row["backend"] == engine
    assert row["decision"]["reason"] and row["peer_uid"] == os.getuid()
    assert "exit 3" in row["code_preview"] and len(row["code_sha256"]) == 64
    st, doc = d.client.json("GET", "/v1/executions?limit=0")
    assert st == 400
    st, doc = d.client.json("GET", "/v1/executions/0123")
    assert st == 404 or st == 400


def test_agent_sandbox_survives_restart(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = agent"))
    a = d.client.exec(agent="keeper", runtime="bash", command="echo precious > /tmp/file")
    assert d.stop() == 0
    # kept on the engine while the daemon is down
    assert [c for c in labelled_containers(engine, "airlock.managed=true") if c.startswith(a["sandbox_id"])]
    d.start()
    b = d.client.exec(agent="keeper", runtime="bash", command="cat /tmp/file")
    assert b["sandbox_id"] == a["sandbox_id"] and b["stdout"] == "precious\n"
    sandboxes = d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"]
    assert [s["scope"] for s in sandboxes] == ["agent"]
    # cleanup: remove it through the API so nothing is left
    assert d.client.json("DELETE", f"/v1/sandboxes/{a['sandbox_id']}")[0] == 200


def test_sigkill_mid_exec_loses_nothing(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "scope = agent"))
    done = d.client.exec(agent="k", runtime="bash", command="echo acknowledged")
    import threading
    def doomed():
        # the daemon is killed under this request: the connection drops, as it should
        try:
            d.client.request("POST", "/v1/exec", {"agent": "k", "session": "s", "runtime": "bash",
                                                  "command": "sleep 30"}, timeout=60)
        except (OSError, http.client.HTTPException):
            pass

    t = threading.Thread(target=doomed)
    t.daemon = True
    t.start()
    # wait until the running exec is recorded
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = d.client.json("GET", "/v1/executions?agent=k&state=running")[1]["executions"]
        if rows:
            break
        time.sleep(0.1)
    assert rows, "the running exec was not recorded"
    running_id = rows[0]["id"]
    d.kill()
    d.start()
    row = d.client.json("GET", f"/v1/executions/{done['execution_id']}")[1]
    assert row["state"] == "done" and row["stdout_bytes"] == len("acknowledged\n")
    row = d.client.json("GET", f"/v1/executions/{running_id}")[1]
    assert row["state"] == "aborted"
    # the agent's sandbox is adopted, nothing else of this instance is left
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    live = labelled_containers(engine, f"airlock.instance={inst}")
    assert len(live) == 1 and live[0].startswith(done["sandbox_id"]), live
    # and the adopted sandbox has no stray process from the killed exec
    r = d.client.exec(agent="k", runtime="bash",
                      command="for p in /proc/[0-9]*; do echo $(stat -c %u $p) $(cat $p/comm); done")
    assert r["sandbox_id"] == done["sandbox_id"]
    procs = [line.split() for line in r["stdout"].splitlines()]
    assert not [p for p in procs if p[0] == "2000100000" and p[1] == "sleep"], procs
    assert d.stop() == 0
    assert labelled_containers(engine, f"airlock.instance={inst}") != []  # agent sandbox kept
    d.start()
    d.client.json("DELETE", f"/v1/sandboxes/{done['sandbox_id']}")


def test_corrupt_database_refuses_to_start(make_daemon):
    d = make_daemon(engine="docker", start=False)
    d.state.mkdir(parents=True, exist_ok=True)
    (d.state / "airlock.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    d.start(wait=False)
    d.expect_exit = 1
    assert d.proc.wait(timeout=30) == 1, d.log()
    log = d.log()
    assert "airlock.db" in log and ("corrupt" in log.lower() or "not a database" in log.lower()), log
    assert (d.state / "airlock.db").read_bytes()[:16] == b"SQLite format 3\x00"


# --- modes -----------------------------------------------------------------------------------

def test_mode_all_sandboxes_everything(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "mode = all"))
    r = d.client.exec(agent="m", runtime="bash", argv=["ls", "/"])
    assert r["sandboxed"] is True and r["backend"] == engine
    assert r["decision"]["mode"] == "all" and "sandbox" in r["decision"]["reason"]


def test_mode_off_runs_on_the_host(make_daemon):
    d = make_daemon(conf=conf("docker", "mode = off"))
    r = d.client.exec(agent="m", runtime="bash", argv=["id", "-u"])
    assert r["sandboxed"] is False and r["backend"] == "host", r
    assert r["decision"]["mode"] == "off"
    assert r["stdout"].strip() != "0"
    assert "seccomp" in r["isolation"]


@pytest.mark.parametrize("req,sandboxed,reason", [
    ({"argv": ["ls", "-la", "/"]}, False, "low-risk"),
    ({"command": "cat /etc/hostname | wc -l"}, False, ""),
    ({"command": "curl http://example.com"}, True, "downloader"),
    ({"command": "pip install requests"}, True, "installer"),
    ({"command": "rm -rf /tmp/x"}, True, "destructive"),
    ({"command": "ls; id"}, True, "chain"),
    ({"runtime": "python", "code": "print(1)"}, True, "python"),
    ({"argv": ["ls"], "untrusted": True}, True, "untrusted"),
    ({"argv": ["./build.sh"]}, True, ""),
])
def test_mode_selective_decides_and_says_why(make_daemon, req, sandboxed, reason):
    d = make_daemon(conf=conf("docker", "mode = selective"))
    body = {"agent": "sel", "runtime": "bash"}
    body.update(req)
    st, r = d.client.json("POST", "/v1/exec", body)
    assert st == 200, r
    assert r["sandboxed"] is sandboxed, r["decision"]
    assert r["backend"] == ("docker" if sandboxed else "host")
    assert r["decision"]["mode"] == "selective"
    assert reason.lower() in r["decision"]["reason"].lower(), r["decision"]
    # the decision and its reason are in the audit log too
    row = d.client.json("GET", f"/v1/executions/{r['execution_id']}")[1]
    assert row["decision"]["reason"] == r["decision"]["reason"]
    assert row["sandboxed"] is sandboxed


def test_agent_overrides_and_runtime_allowlist(make_daemon):
    d = make_daemon(conf=conf("docker", "mode = all", extra="""
[agent "trusted"]
mode = off
timeout_s = 5

[agent "narrow"]
runtimes = bash
default_runtime = bash
"""))
    r = d.client.exec(agent="trusted", runtime="bash", argv=["true"])
    assert r["backend"] == "host"
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "trusted", "runtime": "bash",
                                                  "argv": ["true"], "timeout_s": 10})
    assert st == 400 and "timeout_s" in doc["error"]["message"]
    assert d.client.exec(agent="other", runtime="bash", argv=["true"])["backend"] == "docker"
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "narrow", "runtime": "python", "code": "1"})
    assert st == 403 and "python" in doc["error"]["message"], doc
    eff = d.client.json("GET", "/v1/policy?agent=trusted")[1]
    assert eff["sandbox"]["mode"] == "off" and eff["limits"]["timeout_s"] == 5, eff


def test_network_tiers(make_daemon):
    d = make_daemon(conf=conf("docker", "mode = all", extra="[network]\ntier = restricted\n"))
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "n", "runtime": "bash", "argv": ["true"],
                                                  "network": True})
    assert st == 403 and "restricted" in doc["error"]["message"]
    d2 = make_daemon(conf=conf("docker", "mode = all", extra="[network]\ntier = elevated\n"))
    r = d2.client.exec(agent="n", runtime="bash", network=True,
                       command="cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo $HTTPS_PROXY")
    # Elevated too has no interface but loopback: its way out is the egress proxy (issue 13).
    assert r["stdout"].split() == ["lo", "http://127.0.0.1:3128"], r
