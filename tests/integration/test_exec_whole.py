"""Issue 9, items 1 and 2: a client that goes away never costs the agent its sandbox, an exec
ends whole (escaped processes included) and only itself, background processes are asked for
explicitly; and an NDJSON stream starts with a `start` event naming the execution.

Real airlockd against the real Docker and Podman engines."""
import json
import socket
import threading
import time

import pytest

from conftest import DEFAULT_CONF, ENGINE_SOCKETS, remove_container

COUNT_PROCS = "ls /proc | grep -c '^[0-9]'"


def agent_conf(engine):
    return DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine]).replace(
        "mode = all", "mode = all\nscope = agent")


@pytest.fixture(scope="module")
def agentd(engine, tmp_path_factory):
    from conftest import Daemon
    d = Daemon(tmp_path_factory.mktemp(f"whole-{engine}"), engine=engine,
               conf=agent_conf(engine)).start()
    yield d
    assert d.stop() == 0, d.log()


def raw_exec_then_hang_up(sock_path, body, after_s):
    """Send an exec on a raw socket and close it after after_s seconds, unread."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body)
    s.sendall((f"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\n\r\n{data}").encode())
    time.sleep(after_s)
    s.close()


def procs_in(d, agent):
    """Processes in the agent's sandbox besides init, keeper and this probe's own."""
    r = d.client.exec(agent=agent, command="for p in /proc/[0-9]*; do "
                      "tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done")
    lines = [ln for ln in r["stdout"].splitlines() if ln.strip()]
    return [ln for ln in lines if "sleep 2147483647" not in ln and "docker-init" not in ln
            and "/.airlock/agent" not in ln
            and "catatonit" not in ln and "/proc/[0-9]" not in ln and "cmdline" not in ln]


def test_disconnects_keep_the_agent_sandbox(agentd):
    """20 clients hang up mid-exec in a row: the sandbox, its files and its id stay."""
    first = agentd.client.exec(agent="keeper", command="echo keep > /tmp/keep")
    sid = first["sandbox_id"]
    for i in range(20):
        agentd.client.exec(agent="keeper", command=f"echo {i} > /tmp/f{i}")
        raw_exec_then_hang_up(agentd.sock, {"agent": "keeper", "command": "sleep 30"}, 0.4)
    deadline = time.time() + 10
    while time.time() < deadline:
        r = agentd.client.exec(agent="keeper", command="cat /tmp/keep; ls /tmp | grep -c '^f'")
        if not [p for p in procs_in(agentd, "keeper") if "sleep 30" in p]:
            break
        time.sleep(0.2)
    assert r["sandbox_id"] == sid, r
    assert "sandbox_replaced" not in r
    assert r["stdout"].split() == ["keep", "20"], r
    # The hung-up execs' processes were ended, and nothing else was.
    assert not [p for p in procs_in(agentd, "keeper") if "sleep 30" in p]
    assert "sandbox 'lost'" not in agentd.log()
    rows = agentd.client.json("GET", "/v1/executions?agent=keeper&limit=100")[1]["executions"]
    cancelled = [x for x in rows if x["cancelled"]]
    assert len(cancelled) == 20, [x["state"] for x in rows]
    assert all(x["sandbox_lost"] is None for x in rows)


def test_escaped_processes_end_with_their_exec(agentd):
    """&, nohup, setsid and a double fork: the exec returns when its main process does, and
    nothing it started is left running."""
    t0 = time.time()
    r = agentd.client.exec(agent="escape", command=(
        "sleep 300 & nohup sleep 301 >/dev/null 2>&1 & setsid sleep 302 & "
        "(sh -c 'sleep 303 &' &) ; echo started"))
    assert time.time() - t0 < 5
    assert r["exit_code"] == 0 and r["stdout"] == "started\n", r
    left = procs_in(agentd, "escape")
    assert not [p for p in left if "sleep 30" in p], left


def test_fork_bomb_ends_with_its_timeout(agentd):
    r = agentd.client.exec(agent="bomb", timeout_s=2, command=(
        "b() { b & b & wait; }; b"))
    assert r["timed_out"] is True, r
    left = procs_in(agentd, "bomb")
    assert len(left) == 0, left
    # The sandbox survived the bomb and still works.
    again = agentd.client.exec(agent="bomb", command="echo alive")
    assert again["stdout"] == "alive\n" and again["sandbox_id"] == r["sandbox_id"]


def test_a_timeout_kills_only_its_own_exec(agentd):
    out = {}

    def long_one():
        out["r"] = agentd.client.exec(agent="pair", command="sleep 6; echo A-done", timeout_s=15)

    agentd.client.exec(agent="pair", command="true")  # the sandbox exists before both start
    t = threading.Thread(target=long_one)
    t.start()
    time.sleep(0.5)
    short = agentd.client.exec(agent="pair", command="sleep 60", timeout_s=2)
    t.join(60)
    assert short["timed_out"] is True
    assert out["r"]["exit_code"] == 0 and out["r"]["stdout"] == "A-done\n", out["r"]
    assert out["r"]["timed_out"] is False


def test_background_processes(agentd):
    c = agentd.client
    r = c.exec(agent="bg", command="for i in 1 2 3; do echo line$i; sleep 0.1; done; sleep 100",
               background=True)
    assert r["background"] is True and r["pid"] > 0, r
    sid, pid = r["sandbox_id"], r["pid"]
    time.sleep(1.0)
    st, doc = c.json("GET", f"/v1/sandboxes/{sid}/processes")
    assert st == 200, doc
    procs = doc["processes"]
    assert [p["pid"] for p in procs] == [pid]
    assert procs[0]["state"] == "running" and "sleep 100" in procs[0]["command"]
    st, one = c.json("GET", f"/v1/sandboxes/{sid}/processes/{pid}")
    assert st == 200 and one["stdout"] == "line1\nline2\nline3\n", one
    # It counts as a process of the sandbox, visible from an exec.
    assert [p for p in procs_in(agentd, "bg") if "sleep 100" in p]
    st, _ = c.json("DELETE", f"/v1/sandboxes/{sid}/processes/{pid}")
    assert st == 200
    deadline = time.time() + 5
    while time.time() < deadline:
        one = c.json("GET", f"/v1/sandboxes/{sid}/processes/{pid}")[1]
        if one["state"] != "running":
            break
        time.sleep(0.1)
    assert one["state"] == "killed" and one["signal"] == 9, one
    assert not [p for p in procs_in(agentd, "bg") if "sleep 100" in p]
    # Its audit row is finished when it ends.
    row = c.json("GET", f"/v1/executions/{r['execution_id']}")[1]
    assert row["background"] is True and row["state"] == "done" and row["signal"] == 9, row
    # A background process that exits by itself reports its exit.
    r2 = c.exec(agent="bg", command="echo bye; exit 3", background=True)
    deadline = time.time() + 5
    while time.time() < deadline:
        two = c.json("GET", f"/v1/sandboxes/{sid}/processes/{r2['pid']}")[1]
        if two["state"] != "running":
            break
        time.sleep(0.1)
    assert two["state"] == "exited" and two["exit_code"] == 3 and two["stdout"] == "bye\n", two
    # Unknown ones are 404s; bad ids are 400s.
    assert c.json("GET", f"/v1/sandboxes/{sid}/processes/999999")[0] == 404
    assert c.json("DELETE", f"/v1/sandboxes/{sid}/processes/abc")[0] == 400
    assert c.json("GET", "/v1/sandboxes/000000000000/processes")[0] == 404


def test_background_needs_a_kept_sandbox(make_daemon, engine):
    d = make_daemon(engine=engine)  # SESSION scope
    st, doc = d.client.json("POST", "/v1/exec", {"command": "sleep 1", "background": True})
    assert st == 400 and "kept sandbox" in doc["error"]["message"], doc
    st, doc = d.client.json("POST", "/v1/exec", {"command": "x", "background": "yes"})
    assert st == 400


def test_background_processes_end_with_their_sandbox(make_daemon, engine):
    d = make_daemon(engine=engine)
    c = d.client
    r = c.exec(session="s1", command="sleep 200", background=True)
    st, _ = c.json("POST", "/v1/sessions/s1/end", {})
    assert st == 200
    row = c.json("GET", f"/v1/executions/{r['execution_id']}")[1]
    assert row["state"] == "done" and row["signal"] == 9, row


def test_stream_starts_with_its_execution(agentd):
    events = agentd.client.exec_stream(agent="streamer", command="echo one")
    assert events[0]["type"] == "start", events
    assert events[-1]["type"] == "exit"
    assert events[0]["execution_id"] == events[-1]["execution_id"]
    assert events[0]["sandbox_id"] == events[-1]["sandbox_id"]


def test_a_vanished_sandbox_is_replaced_and_the_result_says_so(agentd, engine):
    c = agentd.client
    r = c.exec(agent="vanish", command="echo x > /tmp/x")
    full = [s["id"] for s in c.json("GET", "/v1/sandboxes")[1]["sandboxes"]
            if s["id"].startswith(r["sandbox_id"])][0]
    remove_container(engine, full)
    r2 = c.exec(agent="vanish", command="cat /tmp/x 2>/dev/null; echo fresh")
    assert r2["sandbox_id"] != r["sandbox_id"]
    assert r2["stdout"] == "fresh\n"
    assert "vanished" in r2["sandbox_replaced"], r2
    r3 = c.exec(agent="vanish", command="true")
    assert "sandbox_replaced" not in r3
