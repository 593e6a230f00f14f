"""The Python client (clients/python) against the real airlockd: installed with pip from the
repository, then every call a framework makes, typed results and one exception per code."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def ac(tmp_path_factory):
    """airlock_client as pip installs it from the repository (offline: the build backend is
    the system's setuptools), imported from the install, not from the source tree."""
    target = tmp_path_factory.mktemp("pyclient")
    # From a copy: setuptools builds in the source folder, which must stay clean.
    src = tmp_path_factory.mktemp("pyclient-src") / "python"
    shutil.copytree(ROOT / "clients" / "python", src)
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (target / "airlock_client.py").is_file()
    sys.path.insert(0, str(target))
    try:
        import airlock_client
        assert airlock_client.__file__.startswith(str(target))
        yield airlock_client
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("airlock_client", None)


@pytest.fixture(scope="module")
def pyd(tmp_path_factory):
    from conftest import Daemon
    d = Daemon(tmp_path_factory.mktemp("airlockd-pyclient"),
               conf_extra='[agent "bashonly"]\nruntimes = bash\n\n'
                          '[agent "tinydisk"]\ndisk_mb = 2\n').start()
    yield d
    d.stop()


def test_exec_plain_and_streaming(ac, pyd):
    c = ac.Client(pyd.sock, agent="py")
    r = c.run_code("import sys; print(6*7); print('e', file=sys.stderr)", language="python")
    assert isinstance(r, ac.ExecResult)
    assert (r.stdout, r.stderr, r.exit_code, r.ok) == ("42\n", "e\n", 0, True)
    assert r.sandboxed and r.decision.mode == "all" and r.execution_id == r.raw["execution_id"]
    r = c.exec(command="exit 3", runtime="bash")
    assert r.exit_code == 3 and not r.ok
    r = c.exec(argv=["cat"], stdin="piped", runtime="bash")
    assert r.stdout == "piped"
    r = c.exec("import time; time.sleep(10)", runtime="python", timeout_s=1)
    assert r.timed_out and not r.ok

    start = time.monotonic()
    seen = []
    with c.exec_stream(command="echo a; sleep 2; echo b >&2", runtime="bash") as s:
        for ev in s:
            seen.append((ev.type, ev.data, round(time.monotonic() - start)))
    types = [t for t, _, _ in seen]
    assert types[0] == "start" and types[-1] == "exit", seen
    assert ("stdout", "a\n") in [(t, d) for t, d, _ in seen]
    assert ("stderr", "b\n") in [(t, d) for t, d, _ in seen]
    # "a" arrived before the sleep ended: it was streamed, not buffered.
    assert [at for t, d, at in seen if d == "a\n"][0] < 2, seen
    assert s.result.exit_code == 0 and s.result.execution_id == s.execution_id


def test_sessions_sandboxes_processes_executions(ac, pyd):
    c = ac.Client(pyd.sock, agent="py2", session="s1")
    r = c.exec(command="echo kept > /tmp/f", runtime="bash")
    assert c.exec(command="cat /tmp/f", runtime="bash").stdout == "kept\n"
    boxes = c.sandboxes(agent="py2")
    assert [b.id[:12] for b in boxes] == [r.sandbox_id[:12]] and isinstance(boxes[0], ac.Sandbox)
    assert boxes[0].session == "s1" and boxes[0].scope == "session"
    assert [s.session for s in c.sessions(agent="py2")] == ["s1"]

    bg = c.start_background(command="echo started; sleep 300", runtime="bash")
    assert isinstance(bg, ac.BackgroundProcess) and bg.pid > 0 and bg.sandbox_id == r.sandbox_id
    procs = c.processes(bg.sandbox_id)
    assert [(p.pid, p.state) for p in procs] == [(bg.pid, "running")], procs
    deadline = time.time() + 10
    while "started" not in (c.process(bg.sandbox_id, bg.pid).stdout or "") and \
            time.time() < deadline:
        time.sleep(0.2)
    assert c.process(bg.sandbox_id, bg.pid).stdout == "started\n"
    c.kill_process(bg.sandbox_id, bg.pid)
    # The kill is sent at once; the process's end is noticed within a moment.
    deadline = time.time() + 10
    while c.process(bg.sandbox_id, bg.pid).state == "running" and time.time() < deadline:
        time.sleep(0.2)
    assert c.process(bg.sandbox_id, bg.pid).state == "killed"

    page = c.executions(agent="py2", limit=2)
    assert len(page.executions) == 2 and page.next_cursor
    rows = list(c.iter_executions(agent="py2", limit=1))
    assert r.execution_id in [e.id for e in rows] and len(rows) >= 3
    e = c.execution(r.execution_id)
    assert isinstance(e, ac.Execution) and e.code_preview == "echo kept > /tmp/f"
    assert e.state == "done" and e.decision.mode == "all"

    assert c.end_session() == 1
    assert c.sandboxes(agent="py2") == []
    assert c.sessions(agent="py2", ended=True)[0].ended_at
    r = c.exec(command="true", runtime="bash", session="s9")
    c.remove_sandbox(r.sandbox_id)
    assert c.sandboxes(agent="py2") == []


def test_files_and_contexts(ac, pyd, tmp_path):
    c = ac.Client(pyd.sock, agent="py3", session="f1")
    where = {"runtime": "python"}
    # Files: bytes and text up, back, listed, stat, mkdir, move, remove; directories as tar.
    assert c.upload("/home/airlock/a/b.bin", bytes(range(256)), mode=0o600, **where)["written"]
    assert c.download("/home/airlock/a/b.bin", **where) == bytes(range(256))
    c.upload("/home/airlock/a/t.txt", "wörld\n", **where)
    st = c.stat("/home/airlock/a/b.bin", **where)
    assert isinstance(st, ac.FileEntry) and (st.type, st.size, st.mode) == ("file", 256, 0o600)
    assert [e.name for e in c.list_files("/home/airlock/a", **where)] == ["b.bin", "t.txt"]
    assert c.mkdir("/home/airlock/a/d", **where) is True
    assert c.mkdir("/home/airlock/a/d", **where) is False
    c.move("/home/airlock/a/t.txt", "/home/airlock/a/d/t.txt", **where)
    got = c.download_dir("/home/airlock/a", str(tmp_path / "out"), **where)
    assert sorted(got) == ["a/b.bin", "a/d/t.txt"], got
    assert (tmp_path / "out/a/d/t.txt").read_text() == "wörld\n"
    (tmp_path / "up/sub").mkdir(parents=True)
    (tmp_path / "up/sub/x.py").write_text("X = 7\n")
    c.upload_dir(str(tmp_path / "up"), "/home/airlock/pkg", **where)
    assert c.exec("import sys; sys.path.insert(0, '/home/airlock/pkg/sub'); import x; "
                  "print(x.X)", runtime="python").stdout == "7\n"
    c.remove("/home/airlock/a", recursive=True, **where)
    with pytest.raises(ac.NotFound):
        c.stat("/home/airlock/a", **where)
    with pytest.raises(ac.Forbidden):
        c.download("/etc/passwd", **where)
    with pytest.raises(ac.InvalidRequest):
        c.download("/tmp/../etc/passwd", **where)
    # By sandbox id too.
    sid = c.sandboxes(agent="py3")[0].id
    assert c.download("/home/airlock/pkg/sub/x.py", sandbox_id=sid) == b"X = 7\n"

    # Contexts: state across cells, the value, an error, a plot, interrupt, restart, delete.
    ctx = c.create_context("python")
    assert isinstance(ctx, ac.Context) and ctx.state == "idle" and ctx.agent == "py3"
    assert c.run_in_context(ctx, "x = 20").ok
    r = c.run_in_context(ctx.id, "x + 22")  # by id: the context's agent is looked up
    assert isinstance(r, ac.ExecResult) and r.text == "42" and r.context.status == "ok"
    r = c.run_in_context(ctx, "1/0")
    assert not r.ok and r.context.error["name"] == "ZeroDivisionError"
    r = c.run_in_context(ctx, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    imgs = r.images()
    assert len(imgs) == 1 and imgs[0][:8] == b"\x89PNG\r\n\x1a\n", r.raw
    assert r.artifacts[0].name == "figure-1.png" and r.artifacts[0].content() == imgs[0]
    r = c.run_in_context(ctx, "import time; time.sleep(30)", timeout_s=1)
    assert r.timed_out and r.context.interrupted and c.run_in_context(ctx, "x").text == "20"
    assert c.interrupt_context(ctx) is False
    assert ctx.id in [x.id for x in c.contexts()]
    assert c.restart_context(ctx).execution_count == 0
    assert c.run_in_context(ctx, "x").context.error["name"] == "NameError"
    c.delete_context(ctx)
    with pytest.raises(ac.NotFound):
        c.context(ctx.id)
    assert c.end_session() == 1


def test_full_disk_is_insufficient_storage(ac, pyd):
    c = ac.Client(pyd.sock, agent="tinydisk", session="full")
    try:
        with pytest.raises(ac.InsufficientStorage) as ei:
            c.upload("/tmp/big", b"\0" * (2 << 20), runtime="bash")
        assert ei.value.status == 507
    finally:
        c.end_session()


def test_one_exception_per_error_code(ac, pyd):
    c = ac.Client(pyd.sock)
    with pytest.raises(ac.InvalidRequest) as ei:
        c.exec("x", runtime="cobol")
    assert ei.value.status == 400 and "cobol" in ei.value.message
    with pytest.raises(ac.InvalidRequest):
        c.exec("x", command="y")  # two things to run: refused before sending
    with pytest.raises(ac.NotFound):
        c.execution("0" * 32)
    with pytest.raises(ac.NotFound):
        c.remove_sandbox("0" * 12)
    with pytest.raises(ac.Forbidden) as ei:
        c.exec("print(1)", runtime="python", agent="bashonly")
    assert "runtime 'python'" in ei.value.message and ei.value.status == 403
    with pytest.raises(ac.Unauthorized):
        ac.Client(pyd.sock, token="alk_" + "2" * 64).sandboxes()
    with pytest.raises(ac.MethodNotAllowed):
        c.request("PUT", "/v1/exec", {})
    with pytest.raises(ac.ConnectionFailed):
        ac.Client(str(pyd.workdir / "nope.sock")).version()
    # Every one is an AirlockError, the code readable as text.
    assert issubclass(ac.RateLimited, ac.AirlockError) and ac.RateLimited.code == "rate_limited"
    assert c.version()["api"] == "v1"


def test_example_tool_runs(ac, pyd):
    env = dict(os.environ, AIRLOCK_SOCKET=pyd.sock,
               PYTHONPATH=os.path.dirname(ac.__file__))
    p = subprocess.run([sys.executable, str(ROOT / "clients/python/examples/run_code_tool.py"),
                        "print(sum(range(10)))"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "45", p


def test_example_notebook_tool_keeps_state_and_returns_a_plot(ac, pyd):
    env = dict(os.environ, AIRLOCK_SOCKET=pyd.sock,
               PYTHONPATH=os.path.dirname(ac.__file__))
    p = subprocess.run([sys.executable, str(ROOT / "clients/python/examples/notebook_tool.py"),
                        "x = 6", "x * 7",
                        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p
    assert [l for l in p.stdout.splitlines() if l.strip()] == ["42", "[image]"], p
