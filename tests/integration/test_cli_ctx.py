"""airlock ctx against the real airlockd (docs/cli.md): a context made, two runs sharing its
state, a plot saved with --out, the table and --json, interrupt, rm, and the errors; its help in
the man page and the bash completion."""
import json
import os
import subprocess
import time

import pytest

from conftest import AIRLOCK, BUILD, ROOT, Daemon


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("airlockd-ctx")).start()
    yield d
    d.stop()


def run(d, *args, input=None, timeout=120):
    env = dict(os.environ, AIRLOCK_SOCKET=d.sock)
    for k in ("AIRLOCK_AGENT", "AIRLOCK_SESSION", "AIRLOCK_TOKEN"):
        env.pop(k, None)
    return subprocess.run([str(AIRLOCK), *args], input=input, capture_output=True, text=True,
                          env=env, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


def ok(d, *args, **kw):
    p = run(d, *args, **kw)
    assert p.returncode == 0, p
    return p.stdout


def test_ctx_create_run_ls_interrupt_rm(d, tmp_path):
    cid = ok(d, "ctx", "create", "--agent", "cx", "--session", "c1").strip()
    assert len(cid) == 24, cid
    # State persists: the second run sees the first one's variable; the last expression's
    # value is printed; code may come on stdin.
    assert ok(d, "ctx", "run", cid, "x = 20\nprint('set')") == "set\n"
    assert ok(d, "ctx", "run", cid, "-", input="x + 22\n") == "42\n"
    # A plot: saved with --out, told where otherwise.
    plot = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    out = tmp_path / "plots"
    p = run(d, "ctx", "run", cid, plot, "--out", str(out))
    assert p.returncode == 0, p
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["figure-1.png"], (files, p.stderr)
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"saved {out}/figure-1.png" in p.stderr, p
    p = run(d, "ctx", "run", cid, plot)
    assert p.returncode == 0 and "image figure-1.png (image/png" in p.stderr and \
        "--out DIR" in p.stderr, p
    # An error: the traceback on stderr, exit status 1; a timeout: 124, the state kept.
    p = run(d, "ctx", "run", cid, "1/0")
    assert p.returncode == 1 and "ZeroDivisionError" in p.stderr, p
    p = run(d, "ctx", "run", cid, "import time\ntime.sleep(30)", "--timeout", "1")
    assert p.returncode == 124 and "timed out" in p.stderr, p
    assert ok(d, "ctx", "run", cid, "x") == "20\n"
    # --json: the exec result as the daemon gave it.
    doc = json.loads(ok(d, "ctx", "run", cid, "x * 2", "--json"))
    assert doc["results"][0]["data"]["text/plain"] == "40" and doc["context"]["id"] == cid
    # ls: a table, --agent, --json.
    lines = ok(d, "ctx", "ls", "--agent", "cx").splitlines()
    assert lines[0].split()[:5] == ["CONTEXT", "AGENT", "SESSION", "LANGUAGE", "STATE"], lines
    assert any(l.split()[:5] == [cid, "cx", "c1", "python", "idle"] for l in lines), lines
    assert ok(d, "ctx", "ls", "--agent", "nobody").splitlines()[1:] == []
    doc = json.loads(ok(d, "ctx", "ls", "--json"))
    assert cid in [c["id"] for c in doc["contexts"]], doc
    # interrupt a running cell from another client: the run ends, the state stays.
    long = subprocess.Popen([str(AIRLOCK), "--socket", d.sock, "ctx", "run", cid,
                             "import time\ny = 1\ntime.sleep(60)"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            rows = json.loads(ok(d, "ctx", "ls", "--json"))["contexts"]
            if [c["state"] for c in rows if c["id"] == cid] == ["busy"]:
                break
            time.sleep(0.1)
        assert ok(d, "ctx", "interrupt", cid) == f"context {cid}: interrupted\n"
        _, err = long.communicate(timeout=30)
        assert long.returncode == 1 and "KeyboardInterrupt" in err, err
    finally:
        long.kill()
        long.wait()
    assert ok(d, "ctx", "run", cid, "y") == "1\n"
    assert ok(d, "ctx", "interrupt", cid) == f"context {cid}: nothing was running\n"
    assert ok(d, "ctx", "restart", cid) == f"context {cid} restarted\n"
    assert run(d, "ctx", "run", cid, "y").returncode == 1
    assert ok(d, "ctx", "rm", cid) == f"context {cid} removed\n"
    p = run(d, "ctx", "run", cid, "1")
    assert p.returncode == 125 and "not_found" in p.stderr, p
    ok(d, "sessions", "end", "c1", "--agent", "cx")


def test_ctx_errors_are_clear(d):
    p = run(d, "ctx")
    assert p.returncode == 125 and "expected create, run" in p.stderr, p
    p = run(d, "ctx", "frobnicate")
    assert p.returncode == 125 and "expected create, run" in p.stderr, p
    p = run(d, "ctx", "rm")
    assert p.returncode == 125 and "wrong number" in p.stderr, p
    p = run(d, "ctx", "rm", "../../v1/tokens")
    assert p.returncode == 125 and "not a context id" in p.stderr, p
    p = run(d, "ctx", "rm", "0" * 24)
    assert p.returncode == 125 and "not_found" in p.stderr, p
    p = run(d, "ctx", "create", "--language", "cobol")
    assert p.returncode == 125 and "language" in p.stderr, p
    p = run(d, "ctx", "run", "0" * 24, "1", "--timeout", "soon")
    assert p.returncode == 125 and "--timeout" in p.stderr, p
    p = run(d, "ctx", "ls", "--since", "1h")
    assert p.returncode == 125 and "does not apply" in p.stderr, p


def test_ctx_help_man_page_and_completion(d):
    assert "\n  ctx " in ok(d, "--help")
    assert ok(d, "ctx", "--help") == ok(d, "help", "ctx")
    man = (BUILD / "airlock.1").read_text()
    assert ".SS ctx\n" in man and "airlock ctx run ID" in man
    cid = ok(d, "ctx", "create", "--language", "bash", "--session", "comp").strip()
    try:
        script = (f"source {ROOT}/contrib/airlock.bash-completion; "
                  f"COMP_WORDS=({AIRLOCK} ctx i); COMP_CWORD=2; _airlock; echo ${{COMPREPLY[@]}}; "
                  f"COMP_WORDS=({AIRLOCK} ctx rm ''); COMP_CWORD=3; _airlock; "
                  "echo ${COMPREPLY[@]}")
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                           env=dict(os.environ, AIRLOCK_SOCKET=d.sock))
        assert p.stdout.splitlines() == ["interrupt", cid], p
    finally:
        ok(d, "sessions", "end", "comp")
