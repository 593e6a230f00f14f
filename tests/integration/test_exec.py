"""POST /v1/exec end to end: the real airlockd on real Docker and Podman engines."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import AIRLOCK, engine_inspect, labelled_containers


# --- runtimes, stdin, exit codes -------------------------------------------------------------

@pytest.mark.parametrize("runtime,code,expected", [
    ("python", "print(6*7)", "42\n"),
    ("node", "console.log(6*7)", "42\n"),
    ("bash", "echo $((6*7))", "42\n"),
])
def test_hello_world_per_runtime(daemon, runtime, code, expected):
    r = daemon.client.exec(agent="t", runtime=runtime, code=code)
    assert r["stdout"] == expected, r
    assert r["exit_code"] == 0 and r["signal"] is None
    assert r["sandboxed"] is True and r["backend"] == daemon.engine
    assert r["timed_out"] is False and r["oom_killed"] is False
    assert len(r["execution_id"]) == 32


def test_argv_command_and_stdin(daemon):
    r = daemon.client.exec(agent="t", runtime="bash", argv=["sh", "-c", "cat; echo done >&2"],
                           stdin="line one\nline two\n")
    assert r["stdout"] == "line one\nline two\n"
    assert r["stderr"] == "done\n"
    r = daemon.client.exec(agent="t", runtime="bash", command="printf 'a\\nb\\nc\\n' | wc -l")
    assert r["stdout"].strip() == "3"
    r = daemon.client.exec(agent="t", runtime="python", code="import sys; print(sys.stdin.read().upper())",
                           stdin="shout")
    assert r["stdout"] == "SHOUT\n"


def test_output_with_nul_bytes_is_not_cut(daemon):
    # A NUL in the output is carried as \u0000, never where the text stops.
    r = daemon.client.exec(agent="t", runtime="bash", command="printf 'a\\0b'; printf 'c\\0d' >&2")
    assert r["stdout"] == "a\x00b" and r["stderr"] == "c\x00d", r
    events = daemon.client.exec_stream(agent="t", runtime="bash", command="printf 'x\\0y'")
    assert "".join(e["data"] for e in events if e["type"] == "stdout") == "x\x00y"


def test_exit_codes_and_signals(daemon):
    r = daemon.client.exec(agent="t", runtime="bash", command="exit 7")
    assert r["exit_code"] == 7 and r["signal"] is None
    r = daemon.client.exec(agent="t", runtime="bash", command="kill -TERM $$")
    assert r["signal"] == 15 and r["exit_code"] == 143


def test_session_sandbox_is_reused_and_keeps_files(daemon):
    a = daemon.client.exec(agent="t", session="s1", runtime="bash", command="echo kept > /tmp/f; echo $HOSTNAME")
    b = daemon.client.exec(agent="t", session="s1", runtime="bash", command="cat /tmp/f; echo $HOSTNAME")
    assert a["sandbox_id"] == b["sandbox_id"]
    assert b["stdout"].splitlines()[0] == "kept"
    c = daemon.client.exec(agent="t", session="s2", runtime="bash", command="cat /tmp/f 2>&1; true")
    assert c["sandbox_id"] != a["sandbox_id"]
    assert "No such file" in c["stdout"]


def test_stream_ndjson(daemon):
    events = daemon.client.exec_stream(agent="t", runtime="bash",
                                       command="echo one; sleep 0.3; echo two >&2; exit 3")
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "exit"
    out = "".join(e["data"] for e in events if e["type"] == "stdout")
    err = "".join(e["data"] for e in events if e["type"] == "stderr")
    assert out == "one\n" and err == "two\n"
    assert events[-1]["exit_code"] == 3 and "stdout" not in events[-1]


# --- hardening, as the engine itself reports it ---------------------------------------------

def test_hardening_visible_in_engine_inspect(daemon):
    r = daemon.client.exec(agent="t", session="hard", runtime="bash",
                           command="grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; id -u; "
                                   "touch /etc/x 2>&1; ls /dev; cat /proc/net/dev | tail -n +3")
    out = r["stdout"]
    assert "CapEff:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    assert "Seccomp:\t2" in out
    assert "\n2000100000\n" in out  # not root, and no host account (exec_user)
    assert "Read-only file system" in out
    # network none: only the loopback interface exists
    assert "eth0" not in out
    cid = [c for c in labelled_containers(daemon.engine) if c.startswith(r["sandbox_id"])]
    assert len(cid) == 1
    info = engine_inspect(daemon.engine, cid[0])
    hc = info["HostConfig"]
    assert hc["ReadonlyRootfs"] is True
    assert hc["NetworkMode"] == "none"
    assert hc["Privileged"] is False
    assert any(o.startswith("no-new-privileges") for o in hc["SecurityOpt"])
    assert any(o.startswith("seccomp") for o in hc["SecurityOpt"])
    assert hc["Memory"] == 256 * 1024 * 1024
    assert hc["PidsLimit"] == 64
    assert "/tmp" in hc["Tmpfs"]
    # The sandbox's first process is airlock's agent, as the exec user (no keeper).
    assert info["Config"]["User"] == "2000100000:2000100000"
    assert info["Config"]["Cmd"] == ["/.airlock/agent", "/.airlock/run/agent.sock"]
    assert info["Config"]["Labels"]["airlock.managed"] == "true"
    if daemon.engine == "docker":
        assert hc["CapDrop"] == ["ALL"]
        assert not hc.get("CapAdd")
        assert hc["Init"] is False  # the agent is PID 1 and reaps
    else:
        # Podman lists the dropped capabilities one by one: every one of its default set
        for cap in ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "NET_RAW", "SETUID", "SETGID",
                    "SETPCAP", "SYS_CHROOT", "MKNOD", "NET_BIND_SERVICE"):
            assert cap in hc["CapDrop"], hc["CapDrop"]


def test_client_fields_never_reach_hostconfig(daemon):
    st, doc = daemon.client.json("POST", "/v1/exec", {"agent": "t", "runtime": "bash", "command": "id",
                                                       "HostConfig": {"Privileged": True}})
    assert st == 400 and "HostConfig" in doc["error"]["message"]
    st, doc = daemon.client.json("POST", "/v1/exec", {"agent": "t", "runtime": "bash", "command": "id",
                                                       "privileged": True})
    assert st == 400


# --- limits ----------------------------------------------------------------------------------

def test_timeout_kills_the_whole_tree(daemon):
    t0 = time.time()
    r = daemon.client.exec(agent="t", session="to", runtime="bash", timeout_s=2,
                           command="(setsid sh -c 'sleep 300' &) ; sleep 300")
    elapsed = time.time() - t0
    assert r["timed_out"] is True
    assert 1.9 < elapsed < 4.5, elapsed
    # nothing of the code's uid survives in the sandbox, and the sandbox still serves
    r2 = daemon.client.exec(agent="t", session="to", runtime="bash",
                            command="for p in /proc/[0-9]*; do echo $(stat -c %u $p) $(cat $p/comm); done")
    procs = [line.split() for line in r2["stdout"].splitlines()]
    # the agent (PID 1) stays; nothing of the code's but this very listing
    assert ["2000100000", "agent"] in procs, procs
    assert not [p for p in procs if p[0] == "2000100000" and p[1] == "sleep"], procs
    assert r2["sandbox_id"] == r["sandbox_id"]


def test_timeout_one_off_sandbox(daemon):
    t0 = time.time()
    r = daemon.client.exec(agent="t", runtime="bash", timeout_s=1, command="sleep 60")
    assert r["timed_out"] is True and time.time() - t0 < 3.5


def test_memory_limit_oom(daemon):
    r = daemon.client.exec(agent="t", session="mem", runtime="python",
                           code="x = bytearray(1024*1024*600); print('survived')")
    assert r["oom_killed"] is True, r
    assert r["signal"] == 9
    assert "survived" not in r["stdout"]
    r = daemon.client.exec(agent="t", runtime="python",
                           code="x = bytearray(1024*1024*600); print('survived')")
    assert r["oom_killed"] is True, r


def test_disk_limit_enospc(daemon):
    r = daemon.client.exec(agent="t", runtime="bash",
                           command="dd if=/dev/zero of=/tmp/big bs=1M count=200 2>&1; echo rc=$?")
    assert "No space left on device" in r["stdout"], r
    assert "rc=1" in r["stdout"]


FORK_BOMB = """
import os, time, errno
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print("stopped", n, errno.errorcode[e.errno], flush=True)
os.killpg(0, 9)
"""


def test_process_limit_fork_bomb(daemon):
    t0 = time.time()
    r = daemon.client.exec(agent="t", runtime="python", timeout_s=15, code=FORK_BOMB)
    assert time.time() - t0 < 15
    words = r["stdout"].split()
    assert words[:1] == ["stopped"], r
    assert words[2] == "EAGAIN" and int(words[1]) < 64, r
    # the daemon and host stay responsive
    assert daemon.client.exec(agent="t", runtime="bash", command="echo ok")["stdout"] == "ok\n"


def test_cpu_limit(daemon):
    r = daemon.client.exec(agent="t", runtime="bash",
                           command="cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null"
                                   " || cat /sys/fs/cgroup/cpu.max")
    nums = [int(x) for x in r["stdout"].split() if x.lstrip("-").isdigit()]
    assert len(nums) >= 2 and nums[0] / nums[1] == pytest.approx(1.0), r["stdout"]


def test_output_cap_and_flood(daemon):
    r = daemon.client.exec(agent="t", runtime="bash", timeout_s=15,
                           command="head -c 20000000 /dev/zero | tr '\\0' x; echo done >&2")
    assert r["stdout_truncated"] is True
    assert len(r["stdout"]) == 1024 * 1024
    assert r["stderr"] == "done\n" and r["stderr_truncated"] is False
    rss = int(open(f"/proc/{daemon.proc.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss < 100 * 1024, f"daemon RSS {rss} kB after a 20 MB flood"


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "JSON"),
    (b"[1,2]", "object"),
    (json.dumps({"agent": "t", "runtime": "bash"}), "code"),
    (json.dumps({"agent": "t", "code": 5}), "code"),
    (json.dumps({"agent": "t", "code": "x", "argv": ["a"]}), "one of"),
    (json.dumps({"agent": "t", "runtime": "cobol", "code": "x"}), "cobol"),
    (json.dumps({"agent": "t", "code": "x", "timeout_s": -1}), "timeout_s"),
    (json.dumps({"agent": "t", "code": "x", "timeout_s": 10 ** 12}), "timeout_s"),
    (json.dumps({"agent": "t", "code": "x", "timeout_s": 999}), "timeout_s"),
    (json.dumps({"agent": "t", "argv": ["ls", "a\u0000b"]}), "NUL"),
    (json.dumps({"agent": "../etc", "code": "x"}), "agent"),
    (json.dumps({"agent": "t", "code": "x", "env": {"A": 1}}), "env"),
])
def test_bad_requests_get_clear_errors(daemon, body, fragment):
    st, _, data = daemon.client.request("POST", "/v1/exec", body)
    assert st == 400, (st, data)
    doc = json.loads(data)
    assert doc["error"]["code"] == "invalid_request"
    assert fragment.lower() in doc["error"]["message"].lower(), doc


def raw_exchange(sock_path, head, chunks):
    """Send head then chunks, tolerating the server closing early; return all it answered."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(head)
    try:
        for c in chunks:
            s.sendall(c)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def test_body_over_cap_is_413(daemon):
    # the daemon answers 413 as soon as the announced length is over the cap, then closes
    body = json.dumps({"agent": "t", "code": "x" * (2 * 1024 * 1024)}).encode()
    data = raw_exchange(daemon.sock, b"POST /v1/exec HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body), [body])
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b'"too_large"' in data
    # a chunked upload without a length is cut off as it passes the cap
    chunk = b"x" * 65536
    data = raw_exchange(daemon.sock, b"POST /v1/exec HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n",
                        [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 40 + [b"0\r\n\r\n"])
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert daemon.client.exec(agent="t", runtime="bash", command="echo alive")["stdout"] == "alive\n"


def test_unknown_route_and_method(daemon):
    st, doc = daemon.client.json("GET", "/v1/nope")
    assert st == 404 and doc["error"]["code"] == "not_found"
    st, doc = daemon.client.json("GET", "/v1/exec")
    assert st == 405


def test_network_request_is_refused(daemon):
    st, doc = daemon.client.json("POST", "/v1/exec", {"agent": "t", "code": "x", "network": True})
    assert st == 403 and "network" in doc["error"]["message"]


def test_client_disconnect_mid_exec_leaves_nothing(daemon):
    # This daemon's containers only: parallel test workers run daemons of their own.
    mine = f"airlock.instance={daemon.instance()}"
    before = set(labelled_containers(daemon.engine, mine))
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    body = json.dumps({"agent": "t", "runtime": "bash", "command": "sleep 30"}).encode()
    s.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(1.0)
    s.close()
    deadline = time.time() + 10
    while time.time() < deadline and set(labelled_containers(daemon.engine, mine)) - before:
        time.sleep(0.2)
    assert not set(labelled_containers(daemon.engine, mine)) - before
    # a half-sent request, then gone
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"agent\":")
    s.close()
    assert daemon.client.exec(agent="t", runtime="bash", command="echo alive")["stdout"] == "alive\n"


def test_concurrent_execs_one_session_make_one_sandbox(daemon):
    results = []

    def run():
        results.append(daemon.client.exec(agent="t", session="conc", runtime="bash", command="echo hi"))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({r["sandbox_id"] for r in results}) == 1


# --- CLI -------------------------------------------------------------------------------------

def test_cli_exec(daemon):
    env = dict(os.environ, AIRLOCK_SOCKET=daemon.sock)
    p = subprocess.run([str(AIRLOCK), "exec", "--runtime", "python", "-c", "print(1)"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout == "1\n", p
    p = subprocess.run([str(AIRLOCK), "exec", "--runtime", "bash", "--", "cat"],
                       input="piped\n", capture_output=True, text=True, env=env, timeout=60)
    assert p.stdout == "piped\n", p
    p = subprocess.run([str(AIRLOCK), "exec", "--runtime", "bash", "--", "sh", "-c", "exit 9"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 9, p


def test_no_containers_left_after_shutdown(engine, make_daemon):
    d = make_daemon(engine=engine)
    d.client.exec(agent="t", session="x1", runtime="bash", command="true")
    d.client.exec(agent="u", session="x2", runtime="python", code="pass")
    inst = d.client.json("GET", "/v1/version")[1]["instance"]
    assert len(labelled_containers(engine, f"airlock.instance={inst}")) == 2
    assert d.stop() == 0
    assert labelled_containers(engine, f"airlock.instance={inst}") == []
    assert not os.path.exists(d.sock)
