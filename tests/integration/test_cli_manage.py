"""airlock ps, sessions, history, kill against the real airlockd (docs/cli.md): the tables a
person reads, the --json scripts read, and the errors; the man page and bash completion made
from the same help text."""
import json
import os
import subprocess
import time

from conftest import AIRLOCK, BUILD, ROOT


def run(daemon, *args, timeout=90):
    env = dict(os.environ, AIRLOCK_SOCKET=daemon.sock)
    for k in ("AIRLOCK_AGENT", "AIRLOCK_SESSION", "AIRLOCK_TOKEN"):
        env.pop(k, None)
    return subprocess.run([str(AIRLOCK), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, timeout=timeout)


def ok(daemon, *args):
    p = run(daemon, *args)
    assert p.returncode == 0, p
    return p.stdout


def test_ps_sessions_history_kill(daemon):
    c = daemon.client
    res = c.exec(agent="cli-m", session="cs1", runtime="bash", command="echo one")
    sid = res["sandbox_id"]
    bg = c.exec(agent="cli-m", session="cs1", runtime="bash", command="sleep 300",
                background=True)

    # ps: a table with this sandbox's row, and the same in JSON.
    out = ok(daemon, "ps", "--agent", "cli-m")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["SANDBOX", "STATE", "AGENT", "SESSION", "SCOPE"], out
    row = [l for l in lines if l.startswith(sid[:12])]
    assert len(row) == 1 and row[0].split()[1:5] == ["live", "cli-m", "cs1", "session"], out
    doc = json.loads(ok(daemon, "ps", "--agent", "cli-m", "--json"))
    assert [s["id"][:12] for s in doc["sandboxes"]] == [sid[:12]], doc

    # ps SANDBOX: its background processes.
    out = ok(daemon, "ps", sid)
    assert any(l.split()[:2] == [str(bg["pid"]), "running"] for l in out.splitlines()), out

    # sessions
    out = ok(daemon, "sessions", "--agent", "cli-m")
    assert any(l.split()[:2] == ["cli-m", "cs1"] for l in out.splitlines()), out

    # history: filters, the table, one execution in full.
    doc = json.loads(ok(daemon, "history", "--agent", "cli-m", "--json"))
    ids = [e["id"] for e in doc["executions"]]
    assert res["execution_id"] in ids and bg["execution_id"] in ids, doc
    out = ok(daemon, "history", "--agent", "cli-m", "--session", "cs1", "--since", "10m",
             "--state", "done", "-n", "5")
    assert out.splitlines()[0].split()[:3] == ["EXECUTION", "STARTED", "AGENT"], out
    assert any(l.startswith(res["execution_id"][:12]) and "echo one" in l
               for l in out.splitlines()), out
    out = ok(daemon, "history", res["execution_id"])
    fields = dict(l.split(None, 1) for l in out.splitlines() if len(l.split(None, 1)) == 2)
    assert fields["agent"] == "cli-m" and fields["code_preview"] == "echo one", out
    assert fields["decision.mode"] == "all" and fields["exit_code"] == "0", out
    doc = json.loads(ok(daemon, "history", res["execution_id"], "--json"))
    assert doc["id"] == res["execution_id"]
    # A future --since finds nothing; the table has its header only.
    out = ok(daemon, "history", "--agent", "cli-m", "--since", str(2 ** 50))
    assert len(out.splitlines()) == 1, out

    # kill SANDBOX PID ends the background process; kill SANDBOX removes the sandbox.
    out = ok(daemon, "kill", sid[:12], str(bg["pid"]))
    assert f"process {bg['pid']}" in out and "ended" in out, out
    deadline = time.time() + 10
    while True:
        procs = json.loads(ok(daemon, "ps", sid, "--json"))["processes"]
        states = [p["state"] for p in procs if p["pid"] == bg["pid"]]
        if states != ["running"] or time.time() > deadline:
            break
        time.sleep(0.2)
    assert states == ["killed"], procs
    out = ok(daemon, "kill", sid)
    assert "removed" in out
    assert json.loads(ok(daemon, "ps", "--agent", "cli-m", "--json"))["sandboxes"] == []

    # sessions end
    c.exec(agent="cli-m", session="cs2", runtime="bash", command="true")
    out = ok(daemon, "sessions", "end", "cs2", "--agent", "cli-m")
    assert "1 sandbox(es) removed" in out, out
    doc = json.loads(ok(daemon, "sessions", "--agent", "cli-m", "--all", "--json"))
    ended = [s for s in doc["sessions"] if s["session"] == "cs2"]
    assert ended and ended[0]["ended_at"], doc


def test_errors_are_clear(daemon):
    p = run(daemon, "kill", "0123456789ab")
    assert p.returncode == 125 and "not_found" in p.stderr, p
    p = run(daemon, "kill", "short")
    assert p.returncode == 125 and "12 characters" in p.stderr, p
    p = run(daemon, "kill", "0123456789ab", "notapid")
    assert p.returncode == 125 and "not a process id" in p.stderr, p
    p = run(daemon, "history", "--since", "yesterday")
    assert p.returncode == 125 and "--since" in p.stderr, p
    p = run(daemon, "history", "--state", "done", "someid")
    assert p.returncode == 125 and "filters" in p.stderr, p
    p = run(daemon, "history", "nosuchexecution")
    assert p.returncode == 125 and "not_found" in p.stderr, p
    p = run(daemon, "ps", "--agent", "bad name!")
    assert p.returncode == 125 and "not a name" in p.stderr, p
    p = run(daemon, "kill", "--all")
    assert p.returncode == 125 and "does not apply" in p.stderr, p
    p = run(daemon, "sessions", "frobnicate")
    assert p.returncode == 125, p


def test_help_man_page_and_completion(daemon):
    commands = ["exec", "ps", "sessions", "history", "kill", "mcp", "token"]
    main_help = ok(daemon, "--help")
    for cmd in commands:
        assert f"\n  {cmd} " in main_help, main_help
        assert ok(daemon, cmd, "--help") == ok(daemon, "help", cmd)
    # The man page the build made holds every command's help.
    man = (BUILD / "airlock.1").read_text()
    assert man.startswith(".TH AIRLOCK 1")
    for cmd in commands:
        assert f".SS {cmd}\n" in man, cmd
    assert "airlock history EXECUTION_ID" in man
    rendered = subprocess.run(["man", "-l", str(BUILD / "airlock.1")], capture_output=True,
                              text=True, env=dict(os.environ, MANWIDTH="100"))
    assert rendered.returncode == 0 and "--since WHEN" in rendered.stdout, rendered.stderr
    # Bash completion reads the same help.
    script = (f"source {ROOT}/contrib/airlock.bash-completion; "
              f"COMP_WORDS=({AIRLOCK} hi); COMP_CWORD=1; _airlock; echo ${{COMPREPLY[@]}}; "
              f"COMP_WORDS=({AIRLOCK} history --se); COMP_CWORD=2; _airlock; "
              "echo ${COMPREPLY[@]}")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                       env=dict(os.environ, AIRLOCK_SOCKET=daemon.sock))
    lines = p.stdout.splitlines()
    assert lines == ["history", "--session"], p
