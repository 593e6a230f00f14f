"""Issue 11, items 1-3 and the faults: every sandbox runs airlock's agent as its first process;
warm execs go through it, not the engine; code in the sandbox cannot kill, signal, ptrace or
replace it, nor speak to it as the daemon; a sandbox whose agent is gone or lies costs only
itself. Real airlockd on the real Docker and Podman engines."""
import os
import signal
import time

import pytest

from conftest import engine_inspect, remove_container


def full_id(d, short):
    return [s["id"] for s in d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"]
            if s["id"].startswith(short)][0]


@pytest.fixture
def box(make_daemon, engine):
    d = make_daemon(engine=engine)
    r = d.client.exec(session="s", command="echo ready")
    assert r["transport"] == "agent", r
    return d, r["sandbox_id"]


def test_the_agent_is_pid_1_and_the_hardening_is_unchanged(box, engine):
    d, sid = box
    r = d.client.exec(session="s", command="tr '\\0' ' ' < /proc/1/cmdline; echo; id -u; "
                                          "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/1/status")
    lines = r["stdout"].splitlines()
    assert lines[0].startswith("/.airlock/agent "), lines
    assert int(lines[1]) == 2000100000
    assert "CapEff:\t0000000000000000" in r["stdout"] and "NoNewPrivs:\t1" in r["stdout"]
    assert "Seccomp:\t2" in r["stdout"], r["stdout"]
    hc = engine_inspect(engine, full_id(d, sid))["HostConfig"]
    # Docker says ALL; Podman lists every capability it dropped.
    drop = [c.upper() for c in hc["CapDrop"]]
    assert not hc.get("CapAdd") and ("ALL" in drop or len(drop) >= 10), hc["CapDrop"]
    assert hc["ReadonlyRootfs"] is True and not hc["Privileged"]
    assert any("no-new-privileges" in o for o in hc["SecurityOpt"])


def agent_ping(sock_path):
    """PING on the agent's socket from the host (outside the sandbox's PID namespace, as the
    daemon): the PONG's JSON."""
    import json
    import socket
    import struct
    # Through an fd of its directory: the test's path may be longer than a UNIX address allows.
    dfd = os.open(os.path.dirname(sock_path), os.O_PATH)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(sock_path)}")
            s.sendall(struct.pack(">IB", 1, 0x01))  # the length counts the type byte
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
    finally:
        os.close(dfd)
    n, t = struct.unpack(">IB", data[:5])
    assert t == 0x81 and len(data) == 4 + n, data
    return json.loads(data[5:])


def test_execs_are_spawned_without_a_copy_of_the_agent(box):
    """The agent makes each exec's process with clone(CLONE_VM) (src/agent/spawn.c), not fork():
    its PONG counts how they were made."""
    import glob
    d, sid = box
    for _ in range(3):
        assert d.client.exec(session="s", argv=["true"])["transport"] == "agent"
    pongs = [agent_ping(sock) for sock in glob.glob(str(d.state / "run" / "*" / "agent.sock"))]
    # The session's sandbox made four; pooled ones (if any) none yet; none forked.
    assert pongs and all(p["spawns"]["fork"] == 0 for p in pongs), pongs
    assert max(p["spawns"]["shared_vm"] for p in pongs) >= 4, pongs


def test_code_cannot_kill_signal_or_ptrace_the_agent(box):
    d, sid = box
    r = d.client.exec(session="s", command=(
        "kill -9 1; kill -STOP 1; kill -TERM 1; kill -9 -1; "
        "cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON-READ; "
        "cat /proc/1/mem >/dev/null 2>&1 && echo MEM-READ; "
        "ls /proc/1/fd >/dev/null 2>&1 && echo FD-LISTED; "
        "echo >> /.airlock/agent 2>/dev/null && echo REPLACED; echo done"))
    assert r["stdout"].endswith("done\n"), r
    for bad in ("ENVIRON-READ", "MEM-READ", "FD-LISTED", "REPLACED"):
        assert bad not in r["stdout"], r["stdout"]
    again = d.client.exec(session="s", command="echo alive")
    assert again["stdout"] == "alive\n" and again["transport"] == "agent"
    assert again["sandbox_id"] == sid


def test_code_cannot_speak_to_the_agent_as_the_daemon(box):
    d, _ = box
    probe = (
        "import socket, struct\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect('/.airlock/run/agent.sock')\n"
        "s.settimeout(3)\n"
        "try:\n"
        "    s.sendall(struct.pack('>IB', 1, 1))\n"
        "    print('got', len(s.recv(64)))\n"
        "except Exception as e:\n"
        "    print('error', type(e).__name__)\n")
    r = d.client.exec(session="s", runtime="python", code=probe)
    # The agent closes a connection from inside the sandbox without a word (no PONG).
    assert r["stdout"].strip() in ("got 0", "error ConnectionResetError",
                                   "error BrokenPipeError"), r


def test_a_socket_planted_by_code_is_not_taken_for_the_agent(box):
    d, sid = box
    plant = (
        "import os, socket, threading, time\n"
        "os.unlink('/.airlock/run/agent.sock')\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.bind('/.airlock/run/agent.sock')\n"
        "s.listen(8)\n"
        "print('planted', flush=True)\n"
        "time.sleep(120)\n")
    # (Each runtime has its own sandbox in a scope: all of this is in the python one.)
    assert d.client.exec(session="s", runtime="python", code="pass")["transport"] == "agent"
    r = d.client.exec(session="s", runtime="python", code=plant + "\n", background=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        p = d.client.json("GET", f"/v1/sandboxes/{r['sandbox_id']}/processes/{r['pid']}")[1]
        if "planted" in p["stdout"]:
            break
        time.sleep(0.1)
    assert "planted" in p["stdout"], p
    # The daemon refuses the impostor (it is not the sandbox's first process) and runs the
    # exec through the engine instead; the daemon itself is unaffected.
    r = d.client.exec(session="s", runtime="python", code="print('still')")
    assert r["stdout"] == "still\n" and r["transport"] == "engine", r
    health = d.client.json("GET", "/v1/health")[1]["checks"]["sandboxes"]
    assert health["without_agent"] == 1, health
    assert d.client.json("GET", "/v1/version")[0] == 200


def test_agent_killed_from_outside_costs_only_its_sandbox(box, engine):
    d, sid = box
    other = d.client.exec(session="other", command="echo x > /tmp/x")
    pid = engine_inspect(engine, full_id(d, sid))["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    r = d.client.exec(session="s", command="echo fresh")
    assert r["stdout"] == "fresh\n" and r["sandbox_id"] != sid, r
    assert r["sandbox_replaced"], r
    assert d.client.exec(session="other", command="cat /tmp/x")["stdout"] == "x\n"
    assert d.client.exec(session="other", command="true")["sandbox_id"] == other["sandbox_id"]


def test_sandbox_removed_behind_airlocks_back(box, engine):
    d, sid = box
    remove_container(engine, full_id(d, sid))
    r = d.client.exec(session="s", command="echo back")
    assert r["stdout"] == "back\n" and r["sandbox_id"] != sid and r["sandbox_replaced"], r


def test_no_agent_directory_is_left_behind(make_daemon, engine):
    d = make_daemon(engine=engine)
    for i in range(3):
        d.client.exec(session=f"s{i}", command="true")
    run = d.state / "run"

    def dirs():  # Podman's sandboxes share a hosts file, ".hosts", while the daemon runs
        return [n for n in os.listdir(run) if n != ".hosts"]
    assert len(dirs()) == 3
    for i in range(3):
        d.client.json("POST", f"/v1/sessions/s{i}/end", {})
    assert dirs() == []
    d.client.exec(session="late", command="true")
    d.stop()
    assert os.listdir(run) == []
