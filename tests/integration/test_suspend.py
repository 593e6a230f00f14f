"""Suspend and resume (issue 15, docs/suspend.md), on the real engines with the real airlockd:
a sandbox's /tmp and install home go to a checksummed snapshot in the state directory and come
back in a fresh sandbox on its scope's next use (across a daemon restart too, and after a
SIGKILL in the middle of a suspend); idle sandboxes are suspended and old snapshots deleted;
a corrupt or missing snapshot resumes empty and says so; over the quota, the sandbox stays
live with a clear error."""
import os
import subprocess
import threading
import time
import uuid

import pytest

import native_pkg
from conftest import AIRLOCK, DEFAULT_CONF, ENGINE_SOCKETS, Daemon, labelled_containers

BIG = 50 << 20


def conf_for(engine, sandbox=""):
    # 50 MiB in /tmp (a tmpfs, which counts against memory) needs room in both. sandbox: more
    # [sandbox] settings.
    return DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine]).replace(
        "disk_mb = 64", "disk_mb = 256").replace("memory_mb = 256", "memory_mb = 512").replace(
        "timeout_s = 20", "timeout_s = 120").replace("pool_size = 0\n", "pool_size = 0\n" + sandbox)


def sess():
    return "s-" + uuid.uuid4().hex[:10]


def run(d, session, agent="sus", **req):
    req.setdefault("runtime", "python")
    return d.client.exec(agent=agent, session=session, **req)


def write_big(d, session, agent="sus", name="/tmp/big.bin", size=BIG):
    r = run(d, session, agent, command=f"head -c {size} /dev/urandom > {name} && sha256sum {name}")
    assert r["exit_code"] == 0, r
    return r["stdout"].split()[0], r["sandbox_id"]


def suspend(d, sid, expect=200):
    st, doc = d.client.json("POST", f"/v1/sandboxes/{sid}/suspend")
    assert st == expect, (st, doc)
    return doc


def listed(d, agent="sus"):
    st, doc = d.client.json("GET", f"/v1/sandboxes?agent={agent}")
    assert st == 200, doc
    return doc["sandboxes"]


def snapshot_files(d):
    p = d.state / "snapshots"
    return sorted(os.listdir(p)) if p.exists() else []


@pytest.fixture(scope="module")
def sd(engine, tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp(f"suspend-{engine}"), engine=engine,
               conf=conf_for(engine, "snapshot_quota_mb = 120\n")).start()
    yield d
    d.stop()


def test_suspend_resume_keeps_files_and_pip_package_across_restart(sd, tmp_path):
    s = sess()
    wheel = native_pkg.build_wheel(tmp_path / "whl", answer=1515)
    digest, sid = write_big(sd, s)
    with open(wheel, "rb") as f:
        st, _, data = sd.client.request(
            "PUT", f"/v1/files?agent=sus&session={s}&runtime=python&path=/tmp/{wheel.name}",
            f.read(), headers={"Content-Type": "application/octet-stream"})
    assert st == 201, data
    r = run(sd, s, command=f"pip install /tmp/{wheel.name} && mkdir -p /tmp/outputs/x && "
                           "ln -s big.bin /tmp/link && ln -s /etc/passwd /tmp/escape",
            timeout_s=120)
    assert r["exit_code"] == 0, r
    doc = suspend(sd, sid)
    assert doc["state"] == "suspended" and doc["snapshot_bytes"] > BIG, doc
    # Gone from the engine, listed as suspended, its file in the state directory.
    assert not [c for c in labelled_containers(sd.engine) if c.startswith(sid)]
    rows = [x for x in listed(sd) if x["session"] == s]
    assert [x["state"] for x in rows] == ["suspended"], rows
    assert rows[0]["snapshot_bytes"] == doc["snapshot_bytes"]
    assert len(snapshot_files(sd)) == 1
    st, health = sd.client.json("GET", "/v1/health")
    assert health["checks"]["snapshots"]["count"] == 1
    assert health["checks"]["snapshots"]["memory"]["available"] is False

    # Across a restart: the snapshot is durable, the next exec resumes it.
    sd.stop()
    sd.start()
    r = run(sd, s, code="import airlock_native, hashlib, os\n"
                        "print(airlock_native.answer())\n"
                        "print(hashlib.sha256(open('/tmp/big.bin','rb').read()).hexdigest())\n"
                        "print(os.readlink('/tmp/link'), os.path.lexists('/tmp/escape'))")
    assert r["exit_code"] == 0, r
    assert r.get("resumed") is True and "snapshot_lost" not in r, r
    out = r["stdout"].split()
    assert out[0] == "1515" and out[1] == digest, out
    # A link inside its area comes back; one pointing out of it does not.
    assert out[2:] == ["big.bin", "False"], out
    assert r["sandbox_id"] != sid[:12]
    # Once: the next exec is in the same (now live) sandbox, not resumed again.
    r2 = run(sd, s, command="true")
    assert "resumed" not in r2 and r2["sandbox_id"] == r["sandbox_id"]
    assert snapshot_files(sd) == []
    assert [x["state"] for x in listed(sd) if x["session"] == s] == ["live"]
    st, _, text = sd.client.request("GET", "/metrics")
    metrics = text.decode()
    assert 'airlock_resumes_total{result="ok"} 1' in metrics
    assert "airlock_resume_seconds_count 1" in metrics


def test_files_call_resumes_and_session_end_deletes_snapshot(sd):
    s = sess()
    r = run(sd, s, command="echo kept > /home/airlock/note")
    suspend(sd, r["sandbox_id"])
    # By id, a suspended sandbox's files are a clear conflict (its id names no live sandbox).
    st, _, data = sd.client.request(
        "GET", f"/v1/sandboxes/{r['sandbox_id']}/files?path=/home/airlock/note")
    assert st == 409 and b"suspended" in data, (st, data)
    # A file call resumes the sandbox as an exec would.
    st, _, data = sd.client.request(
        "GET", f"/v1/files?agent=sus&session={s}&runtime=python&path=/home/airlock/note")
    assert st == 200 and data == b"kept\n", (st, data)
    # The first exec after it is the one told that processes did not survive.
    r = run(sd, s, command="true")
    assert r.get("resumed") is True, r
    r = run(sd, s, command="true")
    assert "resumed" not in r
    suspend(sd, r["sandbox_id"])
    st, doc = sd.client.json("POST", f"/v1/sessions/{s}/end", {"agent": "sus"})
    assert st == 200 and doc["sandboxes_removed"] == 1, doc
    assert not [x for x in listed(sd) if x["session"] == s]
    assert snapshot_files(sd) == []


def test_corrupt_or_missing_snapshot_resumes_empty_and_says_so(sd):
    for damage in ("flip", "delete"):
        s = sess()
        r = run(sd, s, command="echo precious > /tmp/p")
        sid = r["sandbox_id"]
        suspend(sd, sid)
        (name,) = snapshot_files(sd)
        path = sd.state / "snapshots" / name
        if damage == "flip":
            with open(path, "r+b") as f:
                f.seek(1000)
                b = f.read(1)
                f.seek(1000)
                f.write(bytes([b[0] ^ 0xFF]))
        else:
            path.unlink()
        r = run(sd, s, command="cat /tmp/p || echo absent")
        assert r.get("resumed") is True and r.get("snapshot_lost") is True, r
        assert r["stdout"].strip() == "absent"
        assert "lost" in sd.log() and sid[:12] in sd.log()
        # Reported once; the sandbox is live and usable.
        r = run(sd, s, command="true")
        assert "snapshot_lost" not in r and r["exit_code"] == 0
        sd.client.json("POST", f"/v1/sessions/{s}/end", {"agent": "sus"})


def test_quota_exceeded_is_a_clear_error_and_the_sandbox_stays_live(sd):
    a, b = sess(), sess()
    _, sid_a = write_big(sd, a, agent="quota", size=70 << 20)
    digest_b, sid_b = write_big(sd, b, agent="quota", size=70 << 20)
    suspend(sd, sid_a)
    st, doc = sd.client.json("POST", f"/v1/sandboxes/{sid_b}/suspend")
    assert st == 507, (st, doc)
    assert "quota" in doc["error"]["message"] and "stays live" in doc["error"]["message"], doc
    # Still live, with its file; nothing half-written left behind.
    r = run(sd, b, agent="quota", command="sha256sum /tmp/big.bin")
    assert "resumed" not in r and r["stdout"].split()[0] == digest_b
    assert r["sandbox_id"] == sid_b[:12]
    assert len(snapshot_files(sd)) == 1
    assert not [n for n in snapshot_files(sd) if n.startswith(".")]
    for s in (a, b):
        sd.client.json("POST", f"/v1/sessions/{s}/end", {"agent": "quota"})


def test_cli_suspend_ps_and_kill(sd):
    s = sess()
    sid = run(sd, s, command="true")["sandbox_id"]

    def cli(*args):
        env = dict(os.environ, AIRLOCK_SOCKET=sd.sock)
        for k in ("AIRLOCK_AGENT", "AIRLOCK_SESSION", "AIRLOCK_TOKEN"):
            env.pop(k, None)
        p = subprocess.run([str(AIRLOCK), *args], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, env=env, timeout=300)
        assert p.returncode == 0, p
        return p.stdout

    assert f"sandbox {sid[:12]} suspended:" in cli("suspend", sid, "--agent", "sus")
    row = [line.split() for line in cli("ps", "--agent", "sus").splitlines()
           if line.startswith(sid[:12])]
    assert len(row) == 1 and row[0][1] == "suspended", row
    # kill deletes a suspended sandbox's snapshot.
    assert "removed" in cli("kill", sid)
    assert not [x for x in listed(sd) if x["session"] == s]
    assert snapshot_files(sd) == []


def test_suspend_errors(sd):
    st, doc = sd.client.json("POST", "/v1/sandboxes/0123456789abcdef/suspend")
    assert st == 404, doc
    st, doc = sd.client.json("POST", "/v1/sandboxes/abc/suspend")
    assert st == 400, doc


def test_idle_suspend_then_retention(make_daemon):
    d = make_daemon(conf=conf_for("docker", "idle_suspend_s = 2\nsnapshot_retention_s = 6\n"))
    s = sess()
    r = run(d, s, command="echo idle > /tmp/i")
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = [x for x in listed(d) if x["session"] == s]
        if rows and rows[0]["state"] == "suspended":
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"not suspended when idle: {listed(d)}\n{d.log()[-3000:]}")
    # The container goes right after the snapshot is recorded complete.
    deadline = time.time() + 15
    while time.time() < deadline and [c for c in labelled_containers("docker")
                                      if c.startswith(r["sandbox_id"])]:
        time.sleep(0.2)
    assert not [c for c in labelled_containers("docker") if c.startswith(r["sandbox_id"])]
    # Retention deletes it: the next exec starts afresh, without resumed.
    deadline = time.time() + 30
    while time.time() < deadline and [x for x in listed(d) if x["session"] == s]:
        time.sleep(0.5)
    assert not [x for x in listed(d) if x["session"] == s], listed(d)
    assert snapshot_files(d) == []
    assert "older than 6s" in d.log()
    r = run(d, s, command="cat /tmp/i 2>/dev/null || echo none")
    assert "resumed" not in r and r["stdout"].strip() == "none"
    # And a suspended sandbox used before retention resumes.
    s2 = sess()
    run(d, s2, command="echo back > /tmp/i")
    deadline = time.time() + 30
    while time.time() < deadline and not [x for x in listed(d) if x["session"] == s2 and
                                          x["state"] == "suspended"]:
        time.sleep(0.3)
    r = run(d, s2, command="cat /tmp/i")
    assert r.get("resumed") is True and r["stdout"] == "back\n", r


def test_sigkill_mid_suspend_loses_nothing(make_daemon):
    """An AGENT sandbox (kept across restarts) with a large state, suspended while airlockd is
    killed at several points: after the restart the state is there, from the live sandbox or
    from a complete snapshot, and exactly one of them exists."""
    d = make_daemon(conf=conf_for("docker", "scope = agent\n"))
    outcomes = []
    for delay in (0.3, 1.5, 6.0):
        agent = "k" + uuid.uuid4().hex[:8]
        r = d.client.exec(agent=agent, runtime="python",
                          command=f"head -c {BIG} /dev/urandom > /tmp/big.bin && "
                                  "mkdir -p /home/airlock/many && for i in $(seq 300); do "
                                  "echo $i > /home/airlock/many/$i; done && "
                                  "sha256sum /tmp/big.bin")
        digest, sid = r["stdout"].split()[0], r["sandbox_id"]
        answer = {}

        def ask():
            try:
                answer["r"] = d.client.json("POST", f"/v1/sandboxes/{sid}/suspend")
            except OSError as e:
                answer["e"] = e

        t = threading.Thread(target=ask)
        t.start()
        time.sleep(delay)
        d.kill()
        t.join()
        d.start()
        rows = listed(d, agent)
        assert len(rows) == 1, rows  # live or suspended, never both, never none
        outcomes.append(rows[0]["state"])
        r = d.client.exec(agent=agent, runtime="python",
                          command="sha256sum /tmp/big.bin; ls /home/airlock/many | wc -l")
        assert r["exit_code"] == 0, (delay, r, d.log()[-4000:])
        assert r["stdout"].split()[0] == digest and r["stdout"].split()[2] == "300", r
        assert "snapshot_lost" not in r
        assert not [n for n in snapshot_files(d) if n.startswith(".")]
        d.client.json("DELETE", f"/v1/sandboxes/{r['sandbox_id']}?agent={agent}")
    # Some kill landed after the suspend had begun: its outcome is a snapshot, whether the
    # restart found it complete or finished it (the sandbox still running).
    print("states after the kills:", outcomes)
    assert "suspended" in outcomes, outcomes
    log = d.log()
    print("\n".join(line for line in log.splitlines()
                    if "cut short" in line or "suspended:" in line or "stray" in line))
    # At least one kill fell inside a suspend, which the next start finished.
    assert "finished the suspend of sandbox" in log
