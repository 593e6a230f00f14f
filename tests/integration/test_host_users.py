"""Issue 9 item 4: sandbox users are nobody on the host.

The uids that sandbox code and keeper run as must be no host account: a real unprivileged
host user (a throwaway one, made here and removed at the end) can neither read nor write a
sandbox's /tmp through /proc/PID/root nor signal its processes, on Docker and on Podman; and
the daemon refuses to start, naming the account, when the settings give the sandbox a host
account's uid or gid, or one of a subordinate range (/etc/subuid, /etc/subgid).
"""
import grp
import os
import pwd
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import AIRLOCK, ENGINE_SOCKETS, engine_inspect, labelled_containers

USER = "al_test_host"
# A subordinate range given to the throwaway user, far from anything real.
SUB_START, SUB_COUNT = 1900000000, 1000

CONF = """
[engine]
kind = {engine}
socket = {socket}

[sandbox]
pool_size = 0
mode = all
{sandbox}

[limits]
cpu_cores = 1
memory_mb = 256
disk_mb = 64
max_processes = 64
timeout_s = 30
"""


def conf(engine, sandbox=""):
    return CONF.format(engine=engine, socket=ENGINE_SOCKETS[engine], sandbox=sandbox)


@pytest.fixture(scope="module")
def host_user():
    """A real unprivileged host account, with a subordinate id range of its own."""
    try:
        pwd.getpwnam(USER)
        subprocess.run(["userdel", USER], check=False)
    except KeyError:
        pass
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", USER], check=True)
    sub = f"{SUB_START}-{SUB_START + SUB_COUNT - 1}"
    subprocess.run(["usermod", "--add-subuids", sub, "--add-subgids", sub, USER], check=True)
    pw = pwd.getpwnam(USER)
    yield pw
    subprocess.run(["userdel", USER], check=True)
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)
    assert f"{USER}:" not in Path("/etc/subuid").read_text()


def as_host_user(pw, *cmd):
    return subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                           "--clear-groups", *cmd], capture_output=True, text=True, timeout=30)


def pid_ns(pid):
    return os.readlink(f"/proc/{pid}/ns/pid")


def ids_of(pid):
    """Real uid and gid of a host process."""
    uid = gid = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("Gid:"):
            gid = int(line.split()[1])
    return uid, gid


def sandbox_pids(keeper_pid):
    """Host pids of every process in the sandbox's PID namespace."""
    ns = pid_ns(keeper_pid)
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if pid_ns(p) == ns:
                    found.append(int(p))
            except OSError:
                pass
    return found


def sub_ranges(path):
    out = []
    for line in Path(path).read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def assert_nobody(uid, gid):
    """uid and gid are no host account and in no subordinate range."""
    try:
        name = pwd.getpwuid(uid).pw_name
        raise AssertionError(f"sandbox process runs as uid {uid}, the host's user '{name}'")
    except KeyError:
        pass
    try:
        name = grp.getgrgid(gid).gr_name
        raise AssertionError(f"sandbox process runs as gid {gid}, the host's group '{name}'")
    except KeyError:
        pass
    for owner, start, count in sub_ranges("/etc/subuid"):
        assert not start <= uid < start + count, f"uid {uid} is in {owner}'s subuid range"
    for owner, start, count in sub_ranges("/etc/subgid"):
        assert not start <= gid < start + count, f"gid {gid} is in {owner}'s subgid range"


@pytest.mark.parametrize("engine", [e for e in ("docker", "podman")
                                    if e in os.environ.get("AIRLOCK_TEST_ENGINES",
                                                           "docker,podman").split(",")])
def test_host_user_cannot_reach_a_sandbox(engine, host_user, make_daemon):
    d = make_daemon(engine=engine, conf=conf(engine))
    c = d.client
    r = c.exec(session="s1", command="echo secret > /tmp/secret; id -u; id -g")
    assert r["exit_code"] == 0, r
    code_uid, code_gid = (int(x) for x in r["stdout"].split())
    sid = r["sandbox_id"]

    # Code running now, to look at from the host: a long exec in the same sandbox.
    done = threading.Event()

    def long_exec():
        try:
            c.exec(session="s1", command="sleep 20; echo slept", timeout_s=30)
        finally:
            done.set()

    t = threading.Thread(target=long_exec, daemon=True)
    t.start()
    inst = d.instance()
    cids = labelled_containers(engine, f"airlock.instance={inst}")
    assert len(cids) == 1, cids
    keeper = engine_inspect(engine, cids[0])["State"]["Pid"]
    assert keeper > 0
    deadline = time.time() + 15
    while True:
        pids = sandbox_pids(keeper)
        code_pids = [p for p in pids if ids_of(p)[0] == code_uid]
        if code_pids:
            break
        assert time.time() < deadline, f"no process of uid {code_uid} in the sandbox: {pids}"
        time.sleep(0.2)

    # Every process of the sandbox, agent and code, is nobody on the host.
    seen = set()
    for p in pids:
        try:
            ids = ids_of(p)
        except OSError:
            continue
        seen.add(ids)
        assert_nobody(*ids)
    assert (code_uid, code_gid) in seen, seen
    # The sandbox's first process is airlock's agent, as the code's user: nothing else.
    assert {u for u, _ in seen} == {code_uid}, seen

    # The real host user can neither read, write nor signal any of them.
    for p in [keeper] + code_pids:
        ls = as_host_user(host_user, "ls", f"/proc/{p}/root/tmp")
        assert ls.returncode != 0 and "Permission denied" in ls.stderr, (p, ls)
        cat = as_host_user(host_user, "cat", f"/proc/{p}/root/tmp/secret")
        assert cat.returncode != 0 and "secret" not in cat.stdout, (p, cat)
        assert "Permission denied" in cat.stderr, (p, cat)
        wr = as_host_user(host_user, "sh", "-c", f"echo owned > /proc/{p}/root/tmp/evil")
        assert wr.returncode != 0 and "Permission denied" in wr.stderr, (p, wr)
        kill = as_host_user(host_user, "kill", "-0", str(p))
        assert kill.returncode != 0 and "Operation not permitted" in kill.stderr, (p, kill)
        kill = as_host_user(host_user, "kill", "-9", str(p))
        assert kill.returncode != 0, (p, kill)
    done.wait(40)
    # The sandbox is untouched: its file is there, nothing was written, the exec ran whole.
    r = c.exec(session="s1", command="cat /tmp/secret; ls /tmp")
    assert r["sandbox_id"] == sid, r
    assert r["stdout"].splitlines()[0] == "secret", r
    assert "evil" not in r["stdout"], r
    c.json("POST", "/v1/sessions/s1/end", {})


@pytest.mark.parametrize("setting,value,says", [
    ("exec_user", "{uid}:{gid}", "exec_user: uid {uid} is the host's user '" + USER + "'"),
    ("keeper_user", "2000100001:{gid}", "keeper_user: gid {gid} is the host's group '" + USER
     + "'"),
    ("keeper_user", "65534:65534", "keeper_user: uid 65534 is the host's user 'nobody'"),
    ("exec_user", f"{SUB_START + 5}:2000100000",
     f"exec_user: uid {SUB_START + 5} is in the subordinate range {SUB_START}-"
     f"{SUB_START + SUB_COUNT - 1} that /etc/subuid gives to '{USER}'"),
])
def test_daemon_refuses_host_accounts(host_user, make_daemon, setting, value, says):
    v = value.format(uid=host_user.pw_uid, gid=host_user.pw_gid)
    d = make_daemon(engine="docker", conf=conf("docker", f"{setting} = {v}"), start=False)
    d.start(wait=False)
    d.expect_exit = 1  # a start meant to fail
    assert d.proc.wait(20) == 1, d.log()
    msg = says.format(uid=host_user.pw_uid, gid=host_user.pw_gid)
    assert "refusing to start" in d.log() and msg in d.log(), d.log()
    assert not Path(d.sock).exists()
    # `airlock policy check` says the same before anyone restarts the daemon.
    os.chmod(d.conf_path, 0o644)
    chk = subprocess.run([str(AIRLOCK), "policy", "check", str(d.conf_path)],
                         capture_output=True, text=True)
    assert chk.returncode != 0 and msg in chk.stderr, chk


def test_reload_refuses_host_accounts(host_user, make_daemon):
    d = make_daemon(engine="docker", conf=conf("docker"))
    d.conf_path.write_text(conf("docker", f"exec_user = {host_user.pw_uid}:{host_user.pw_gid}"))
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st >= 400, doc
    assert f"is the host's user '{USER}'" in doc["error"]["message"], doc
    # The running policy is kept: code still runs as nobody on the host.
    r = d.client.exec(command="id -u")
    assert int(r["stdout"]) != host_user.pw_uid
    with pytest.raises(KeyError):
        pwd.getpwuid(int(r["stdout"]))
