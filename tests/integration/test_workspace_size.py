"""Issue 9, item 3: a workspace has a size. With [limits] workspace_mb the agent's workspace is
an ext4 image on a loop device mounted at its directory: writing past the cap fails with ENOSPC
inside the sandbox (Docker, Podman and the host backend alike), what was written before stays,
the host's disk grows by no more than the cap, health reports the usage, and a stopped daemon
leaves no mount and no loop device behind."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ENGINE_SOCKETS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")

CAP_MB = 32

CONF = """
[engine]
kind = {engine}
socket = {socket}

[sandbox]
pool_size = 0
mode = {mode}
scope = session
workspace = rw
workspace_root = {root}

[limits]
timeout_s = 30
memory_mb = 256
disk_mb = 64
workspace_mb = {cap}
{extra}
"""

# keep.txt first, then 64 MiB in 1 MiB blocks: dd stops at the first failed write.
WRITE = ("cd {ws} && echo kept > keep.txt && sync && "
         "dd if=/dev/zero of=big bs=1M count=64 2>&1; echo rc=$?; "
         "cat keep.txt; du -sk big")


def mounted_at(path):
    path = str(path)
    with open("/proc/mounts") as f:
        return [l for l in f if l.split()[1] == path]


def loops_of(image):
    r = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True)
    return r.stdout.strip()


def disk_used_kib(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def start(make_daemon, tmp_path, engine, mode, cap=CAP_MB, extra=""):
    root = tmp_path / "ws"
    conf = CONF.format(engine=engine, socket=ENGINE_SOCKETS[engine], mode=mode, root=root,
                       cap=cap, extra=extra)
    d = make_daemon(engine=engine, conf=conf)
    return d, root


def workspace_usage(d):
    st, doc = d.client.json("GET", "/v1/health")
    assert st == 200, doc
    return {a["agent"]: a for a in doc["checks"]["workspaces"]["agents"]}, doc


def stop_leaves_nothing(d, ws, image):
    assert d.stop() == 0, d.log()
    # a removed container's mount namespace may take a moment to go, and its loop device with it
    for _ in range(50):
        if not mounted_at(ws) and not loops_of(image):
            break
        time.sleep(0.1)
    assert not mounted_at(ws), mounted_at(ws)
    assert not loops_of(image), loops_of(image)


RESTARTED = []


@pytest.fixture(autouse=True)
def unmount_after_a_failure(tmp_path):
    """A failed assertion must not leave its mounts to the next tests: whatever is still mounted
    under this test's directory after its daemons stopped is unmounted (a passing test has
    checked already that nothing is)."""
    yield
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(tmp_path)):
            subprocess.run(["umount", "-l", target], check=False)


@pytest.fixture(autouse=True)
def stop_restarted():
    yield
    while RESTARTED:
        RESTARTED.pop().stop()


def restart(d):
    """A second daemon on the same settings and state directory (stopped after the test)."""
    d2 = d.__class__(d.workdir, engine=d.engine, conf=d.conf_path.read_text())
    RESTARTED.append(d2)
    return d2.start()


def check_capped(d, root, run, inside):
    """run(command) -> stdout+stderr of the command in agent 'a''s sandbox, where its
    workspace (root/a on the host) is at inside."""
    ws = root / "a"
    image = d.state / "workspace-images" / "a.img"
    before = disk_used_kib(root.parent)
    out = run(WRITE.format(ws=inside))
    assert "No space left on device" in out, out
    assert "rc=1" in out, out
    assert "\nkept\n" in out, out  # what was written before the cap was hit is intact
    written_kib = int(out.strip().split()[-2])
    assert written_kib < CAP_MB * 1024, out
    # the host's side: the same files, on a mount of the agent's own image
    assert mounted_at(ws) and image.is_file()
    assert (ws / "keep.txt").read_text() == "kept\n"
    assert image.stat().st_size == CAP_MB << 20
    assert image.stat().st_blocks * 512 <= CAP_MB << 20
    grown_kib = disk_used_kib(root.parent) - before
    assert grown_kib <= CAP_MB * 1024 + 1024, grown_kib  # never more than the cap (+ slack)
    usage, doc = workspace_usage(d)
    assert usage["a"]["limit_bytes"] == CAP_MB << 20, doc
    assert usage["a"]["used_bytes"] > 20 << 20, doc
    assert usage["a"]["near_full"] is True, doc
    # the space is the agent's again once it deletes the file
    out = run(f"rm {inside}/big && echo small > {inside}/small.txt && "
              f"cat {inside}/small.txt {inside}/keep.txt")
    assert "small\nkept\n" in out, out
    stop_leaves_nothing(d, ws, image)
    # the data outlives the daemon: the next one mounts the same image
    d2 = restart(d)
    try:
        st, doc = d2.client.json("POST", "/v1/exec", run.request("cat " + inside + "/keep.txt"))
        assert st == 200 and doc["stdout"] == "kept\n", doc
    finally:
        stop_leaves_nothing(d2, ws, image)


class Runner:
    def __init__(self, d, host):
        self.d, self.host = d, host

    def request(self, cmd):
        if self.host:
            return {"agent": "a", "argv": ["sh", "-c", cmd], "timeout_s": 30}
        return {"agent": "a", "runtime": "bash", "command": cmd}

    def __call__(self, cmd):
        r = self.d.client.exec(**self.request(cmd))
        return r["stdout"] + r["stderr"]


def test_container_workspace_is_capped(engine, make_daemon, tmp_path):
    d, root = start(make_daemon, tmp_path, engine, "all")
    check_capped(d, root, Runner(d, False), "/workspace")


def test_host_workspace_is_capped(make_daemon, tmp_path):
    d, root = start(make_daemon, tmp_path, "docker", "off")
    check_capped(d, root, Runner(d, True), str(root / "a"))


def test_existing_files_move_into_the_image_and_shrink_is_refused(make_daemon, tmp_path):
    root = tmp_path / "ws"
    (root / "a").mkdir(parents=True)
    (root / "a" / "old.txt").write_text("from before the cap\n")
    d, root = start(make_daemon, tmp_path, "docker", "off")
    r = d.client.exec(agent="a", argv=["cat", str(root / "a" / "old.txt")])
    assert r["stdout"] == "from before the cap\n", r
    assert mounted_at(root / "a")
    # grow on reload: online where the daemon may (CAP_SYS_RESOURCE), else at the next mount
    conf = d.conf_path.read_text()
    d.conf_path.write_text(conf.replace(f"workspace_mb = {CAP_MB}", "workspace_mb = 48"))
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st == 200, doc
    r = d.client.exec(agent="a", argv=["cat", str(root / "a" / "old.txt")])
    assert r["stdout"] == "from before the cap\n", r
    if "grows to workspace_mb = 48 when next mounted" in d.log():
        assert d.stop() == 0, d.log()
        d = restart(d)
    r = d.client.exec(agent="a", argv=["sh", "-c", f"df -k {root / 'a'} | tail -1"])
    assert int(r["stdout"].split()[1]) > 36 * 1024, r  # was < 32 MiB
    usage, doc = workspace_usage(d)
    assert usage["a"]["limit_bytes"] == 48 << 20, doc
    r = d.client.exec(agent="a", argv=["cat", str(root / "a" / "old.txt")])
    assert r["stdout"] == "from before the cap\n", r
    # shrink: refused with a clear message, the data kept
    d.conf_path.write_text(conf.replace(f"workspace_mb = {CAP_MB}", "workspace_mb = 16"))
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st == 200, doc
    r = d.client.exec(agent="a", argv=["cat", str(root / "a" / "old.txt")])
    assert r["stdout"] == "from before the cap\n", r
    assert "shrinking it to workspace_mb = 16 is refused" in d.log()
    stop_leaves_nothing(d, root / "a", d.state / "workspace-images" / "a.img")


def test_per_agent_override_and_stale_mount_cleanup(make_daemon, tmp_path):
    d, root = start(make_daemon, tmp_path, "docker", "off",
                    extra='[agent "big"]\nworkspace_mb = 40\n[agent "free"]\nworkspace_mb = 0\n')
    for agent in ("a", "big", "free"):
        r = d.client.exec(agent=agent, argv=["true"])
        assert r["exit_code"] == 0, r
    usage, doc = workspace_usage(d)
    assert usage["a"]["limit_bytes"] == CAP_MB << 20, doc
    assert usage["big"]["limit_bytes"] == 40 << 20, doc
    assert "free" not in usage and not mounted_at(root / "free"), doc
    st, pol = d.client.json("GET", "/v1/policy")
    assert pol["limits"]["workspace_mb"] == CAP_MB, pol
    # a crash leaves its mounts; the next start of the same state directory undoes them
    d.kill()
    d.proc.wait()
    assert mounted_at(root / "a")
    d2 = restart(d)
    try:
        assert not mounted_at(root / "a") and not mounted_at(root / "big")
        assert not loops_of(d.state / "workspace-images" / "big.img")
        r = d2.client.exec(agent="a", argv=["sh", "-c", f"echo again > {root}/a/f && cat {root}/a/f"])
        assert r["stdout"] == "again\n", r
        assert len(mounted_at(root / "a")) == 1
    finally:
        stop_leaves_nothing(d2, root / "a", d.state / "workspace-images" / "a.img")


def test_workspace_mb_is_validated(tmp_path):
    from conftest import AIRLOCKD
    conf = CONF.format(engine="docker", socket=ENGINE_SOCKETS["docker"], mode="off",
                       root=tmp_path / "ws", cap="-1", extra="")
    path = tmp_path / "bad.conf"
    path.write_text(conf)
    r = subprocess.run([str(AIRLOCKD), "--config", str(path), "--socket", str(tmp_path / "s"),
                        "--state-dir", str(tmp_path / "st")], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode != 0 and "workspace_mb" in r.stderr, r.stderr
