"""SIGTERM drains: running execs finish up to a deadline, then are killed; SESSION sandboxes
go, AGENT ones stay; the database closes cleanly and the socket is gone."""
import os
import signal
import sqlite3
import threading
import time

from conftest import ENGINE_SOCKETS, labelled_containers


def conf(engine, scope):
    return f"""
[engine]
kind = {engine}
socket = {ENGINE_SOCKETS[engine]}
[sandbox]
pool_size = 0
scope = {scope}
[limits]
timeout_s = 60
"""


def run_async(client, **req):
    box = {}

    def go():
        box["status"], box["doc"] = client.json("POST", "/v1/exec", req, timeout=90)

    t = threading.Thread(target=go)
    t.start()
    return t, box


def wait_running(d, n=1):
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = d.client.json("GET", "/v1/executions?state=running")[1]["executions"]
        if len(rows) >= n:
            return
        time.sleep(0.1)
    raise AssertionError("exec never showed as running")


def test_sigterm_lets_short_execs_finish(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "session"), args=["--drain-seconds", "20"])
    t, box = run_async(d.client, agent="a", session="s", runtime="bash", command="sleep 2; echo finished")
    wait_running(d)
    d.signal(signal.SIGTERM)
    t.join(30)
    assert box["status"] == 200 and box["doc"]["stdout"] == "finished\n", box
    assert d.proc.wait(30) == 0


def test_sigterm_kills_long_execs_after_deadline(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "agent"), args=["--drain-seconds", "2"])
    kept = d.client.exec(agent="keep", runtime="bash", command="echo x > /tmp/kept")
    t1, box1 = run_async(d.client, agent="a", session="s", runtime="bash", command="sleep 50")
    t2, box2 = run_async(d.client, agent="b", runtime="bash", command="sleep 50")
    wait_running(d, 2)
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    t0 = time.time()
    d.signal(signal.SIGTERM)
    t1.join(30)
    t2.join(30)
    assert time.time() - t0 < 15
    for box in (box1, box2):
        assert box["status"] == 200, box
        assert box["doc"]["aborted"] is True and box["doc"]["timed_out"] is False, box
    assert d.proc.wait(30) == 0, d.log()
    assert not os.path.exists(d.sock)
    # AGENT sandboxes stay for the next start; nothing else of the instance is left
    left = labelled_containers(engine, f"airlock.instance={inst}")
    assert sorted(c[:12] for c in left) == sorted({kept["sandbox_id"], box1["doc"]["sandbox_id"],
                                                   box2["doc"]["sandbox_id"]}), left
    # the database was closed cleanly: no WAL left behind, and it reads back complete
    db = d.state / "airlock.db"
    assert not os.path.exists(str(db) + "-wal") or os.path.getsize(str(db) + "-wal") == 0
    con = sqlite3.connect(db)
    states = dict(con.execute("select id, state from executions").fetchall())
    con.close()
    assert states[box1["doc"]["execution_id"]] == "done"
    assert "running" not in states.values()
    # the next start adopts the AGENT sandboxes; remove them through the API
    d.start()
    for sid in {kept["sandbox_id"], box1["doc"]["sandbox_id"], box2["doc"]["sandbox_id"]}:
        assert d.client.json("DELETE", f"/v1/sandboxes/{sid}")[0] == 200


def test_sigterm_with_session_scope_leaves_nothing(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "session"), args=["--drain-seconds", "1"])
    t, box = run_async(d.client, agent="a", session="s", runtime="bash", command="sleep 50")
    wait_running(d)
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    d.signal(signal.SIGTERM)
    t.join(30)
    assert box["doc"]["aborted"] is True
    assert d.proc.wait(30) == 0
    assert labelled_containers(engine, f"airlock.instance={inst}") == []
