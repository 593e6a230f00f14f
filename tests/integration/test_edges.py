"""Issue 9, item 7: the smaller edges.

- --state-dir on the command line wins over the settings file for the workspaces too, at start
  and after a reload (test daemons used to write into the system daemon's workspace root);
- the host backend (mode off) reaches a workspace below directories its unprivileged user
  cannot traverse, as under a default state directory (root's, mode 0700), and sees nothing
  else of them (it used to get 403 "Permission denied");
- POST /v1/sessions/{id}/end refuses duplicate JSON keys as /v1/exec does.
"""
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ENGINES, ENGINE_SOCKETS

BACKENDS = ENGINES + ["host"]


def settings(backend, extra=""):
    if backend == "host":
        return f"[sandbox]\nmode = off\nworkspace = rw\n{extra}"
    return (f"[engine]\nkind = {backend}\nsocket = {ENGINE_SOCKETS[backend]}\n"
            f"[sandbox]\nmode = all\nworkspace = rw\npool_size = 0\n{extra}\n"
            "[limits]\nmemory_mb = 256\ndisk_mb = 64\ntimeout_s = 20\n")


def write(d, name, text):
    """Writes name into the agent's workspace from inside the sandbox (or host exec)."""
    where = name if d.backend == "host" else f"/workspace/{name}"
    r = d.client.exec(agent="w", runtime="bash", command=f"echo {text} > {where} && cat {where}")
    assert r["exit_code"] == 0 and r["stdout"] == f"{text}\n", r
    return r


@pytest.mark.parametrize("backend", BACKENDS)
def test_state_dir_flag_wins_for_workspaces(make_daemon, tmp_path, backend):
    from_file = tmp_path / "from-file"
    conf = f"[daemon]\nstate_dir = {from_file}\n" + settings(backend)
    d = make_daemon(engine=backend if backend != "host" else "docker", conf=conf)
    d.backend = backend
    write(d, "one", "first")
    ws = d.state / "workspaces" / "w"
    assert (ws / "one").read_text() == "first\n"
    assert not (from_file / "workspaces").exists()
    # A reload reads the file again: the flag still wins.
    d.conf_path.write_text(conf + "\n# edited\n")
    d.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "policy reloaded" not in d.log():
        time.sleep(0.1)
    assert "policy reloaded" in d.log(), d.log()[-3000:]
    write(d, "two", "second")
    assert (ws / "two").read_text() == "second\n"
    assert not (from_file / "workspaces").exists()
    st, doc = d.client.json("GET", "/v1/policy")
    assert st == 200, doc
    assert doc["daemon"]["state_dir"] == str(d.state), doc["daemon"]
    assert doc["sandbox"]["workspace_root"] == str(d.state / "workspaces"), doc["sandbox"]


def test_explicit_workspace_root_is_kept_with_the_flag(make_daemon, tmp_path):
    """A workspace_root the file names is its own setting: the flag moves only the default."""
    root = tmp_path / "ws-root"
    d = make_daemon(conf=f"[daemon]\nstate_dir = {tmp_path / 'from-file'}\n"
                    + settings("host", f"workspace_root = {root}"))
    d.backend = "host"
    write(d, "f", "kept")
    assert (root / "w" / "f").read_text() == "kept\n"
    assert not (d.state / "workspaces").exists()


@pytest.fixture
def private_var_dir():
    """A root-owned 0700 directory outside /tmp (which host execs get as a private tmpfs),
    made the way the default /var/lib/airlock is."""
    p = Path(tempfile.mkdtemp(prefix="airlock-edges-", dir="/var/lib"))
    os.chmod(p, 0o700)
    yield p
    shutil.rmtree(p, ignore_errors=True)


@pytest.mark.parametrize("layout", ["state_dir", "workspace_root"])
def test_mode_off_workspace_below_private_dirs(make_daemon, private_var_dir, layout):
    extra = f"workspace_root = {private_var_dir}/ws" if layout == "workspace_root" else ""
    d = make_daemon(conf=settings("host", extra), start=False)
    # The state directory's whole parent chain is root's and 0700, as mkdir_p makes it.
    d.state = private_var_dir / "lib" / "airlock"
    d.start()
    d.backend = "host"
    write(d, "f", "reached")
    ws = (private_var_dir / "ws" if layout == "workspace_root" else d.state / "workspaces") / "w"
    assert (ws / "f").read_text() == "reached\n"
    # Nothing else of those directories is visible to the code: no database, no instance id.
    r = d.client.exec(agent="w", runtime="bash", command=(
        f"ls -A {private_var_dir}; ls -A {d.state}; cat {d.state}/airlock.db | wc -c; "
        f"cat {d.state}/instance-id"))
    listed = r["stdout"].split()
    assert "airlock.db" not in r["stdout"] and "instance-id" not in r["stdout"], r
    assert listed[-1] == "0", r  # the database reads as nothing
    assert set(listed[:-1]) <= {"lib", "ws", "workspaces"}, r
    # The host's copy of the directories stays as it was: root's, 0700.
    assert (private_var_dir.stat().st_mode & 0o777) == 0o700
    assert (d.state.stat().st_mode & 0o777) == 0o700


def test_session_end_refuses_duplicate_keys(daemon):
    c = daemon.client
    r = c.exec(agent="dup", session="s1", runtime="bash", command="echo hi")
    sid = r["sandbox_id"]
    st, doc = c.json("POST", "/v1/sessions/s1/end", '{"agent":"other","agent":"dup"}')
    assert st == 400, doc
    assert doc["error"]["code"] == "invalid_request", doc
    assert "duplicate object key" in doc["error"]["message"], doc
    # The same words as /v1/exec for the same mistake.
    st, doc2 = c.json("POST", "/v1/exec",
                      '{"agent":"dup","agent":"dup","runtime":"bash","command":"true"}')
    assert st == 400 and "duplicate object key" in doc2["error"]["message"], doc2
    # Nothing was ended: the session keeps its sandbox.
    r = c.exec(agent="dup", session="s1", runtime="bash", command="echo again")
    assert r["sandbox_id"] == sid, r
    # Well-formed, it ends.
    st, doc = c.json("POST", "/v1/sessions/s1/end", {"agent": "dup"})
    assert st == 200, doc
    r = c.exec(agent="dup", session="s1", runtime="bash", command="echo fresh")
    assert r["sandbox_id"] != sid, r
    c.json("POST", "/v1/sessions/s1/end", {"agent": "dup"})


def test_token_issue_refuses_duplicate_keys(daemon):
    st, doc = daemon.client.json("POST", "/v1/tokens", '{"agent":"a","agent":"b"}')
    assert st == 400 and "duplicate object key" in doc["error"]["message"], doc
