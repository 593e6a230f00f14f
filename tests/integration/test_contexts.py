"""Issue 14: stateful code contexts. A context is a live interpreter in a kept sandbox: state
persists across execs, results come back keyed by MIME type, a timeout interrupts instead of
killing, and code that misbehaves ends or recovers its context without touching the daemon.
Real airlockd on the real Docker and Podman engines, the real airlock/python:3.11 image."""
import base64
import hashlib
import json
import socket
import time

import pytest

from conftest import DEFAULT_CONF, ENGINE_SOCKETS, Daemon

# pandas and matplotlib want room and time for their first import.
CONF = DEFAULT_CONF.replace("memory_mb = 256", "memory_mb = 768").replace("timeout_s = 20",
                                                                          "timeout_s = 120")


@pytest.fixture(scope="module")
def d(engine, tmp_path_factory):
    dm = Daemon(tmp_path_factory.mktemp(f"ctx-{engine}"), engine=engine,
                conf=CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine])).start()
    yield dm
    dm.stop()


SESSIONS = iter(range(1000))


def create(d, expect=201, **body):
    # A sandbox of its own for each context, but where a test says otherwise.
    body.setdefault("session", f"nb{next(SESSIONS)}")
    body.setdefault("language", "python")
    status, doc = d.client.json("POST", "/v1/contexts", body)
    assert status == expect, doc
    return doc


def run(d, ctx, code, expect=200, **kw):
    return d.client.exec(expect=expect, context=ctx["id"], code=code, **kw)


def texts(res, mime="text/plain"):
    return [r["data"][mime] for r in res["results"] if mime in r["data"]]


def test_state_persists_across_three_execs_and_values_come_back(d):
    ctx = create(d)
    assert ctx["language"] == "python" and ctx["state"] == "idle"
    a = run(d, ctx, "x = 40\nimport math")
    assert a["exit_code"] == 0 and a["results"] == [], a
    assert a["context"]["execution_count"] == 1
    b = run(d, ctx, "x += 1\nprint('x is', x)")
    assert b["stdout"] == "x is 41\n"
    c = run(d, ctx, "x + 1 + int(math.sqrt(0))")
    assert texts(c) == ["42"] and c["context"]["execution_count"] == 3
    assert c["context"]["status"] == "ok" and c["context"]["error"] is None
    assert c["sandbox_id"] == ctx["sandbox_id"]
    # An error is a result, with its name, value and traceback; the state stays.
    e = run(d, ctx, "def f():\n    return 1/0\nf()")
    assert e["exit_code"] == 1 and e["context"]["status"] == "error"
    err = e["context"]["error"]
    assert err["name"] == "ZeroDivisionError" and err["value"] == "division by zero"
    assert "line 2, in f" in err["traceback"] and "airlock_ctx" not in err["traceback"]
    assert texts(run(d, ctx, "x")) == ["41"]
    listed = d.client.json("GET", "/v1/contexts")[1]["contexts"]
    mine = [c for c in listed if c["id"] == ctx["id"]]
    assert mine and mine[0]["cells"] == 5 and mine[0]["execution_count"] == 5
    # The audit log records the cells like any exec.
    rows = d.client.json("GET", f"/v1/executions/{c['execution_id']}")
    assert rows[0] == 200 and "int(math.sqrt(0))" in json.dumps(rows[1])


def test_dataframe_display_and_matplotlib_figure(d):
    ctx = create(d)
    r = run(d, ctx, "import pandas as pd\n"
                    "df = pd.DataFrame({'a': [1, 2, 3], 'b': [4, 5, 6]})\n"
                    "display(df)\n"
                    "import matplotlib.pyplot as plt\n"
                    "plt.plot([1, 2, 3], [3, 1, 2])\n"
                    "plt.show()\n"
                    "df.a.sum()", timeout_s=60)
    assert r["exit_code"] == 0, r
    kinds = [x["kind"] for x in r["results"]]
    assert kinds == ["display", "display", "result"], kinds
    html = r["results"][0]["data"]["text/html"]
    assert "<table" in html and "dataframe" in html
    png = base64.b64decode(r["results"][1]["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert r["results"][2]["data"]["text/plain"] == "6"
    # The figure is an artifact as well, as a plain exec's would be.
    arts = r["artifacts"]
    assert [(a["name"], a["mime"], a["size"]) for a in arts] == [("figure-1.png", "image/png",
                                                                   len(png))], arts
    assert arts[0]["sha256"] == hashlib.sha256(png).hexdigest()
    # A figure left open at the end of a cell comes back too, without plt.show().
    r = run(d, ctx, "plt.figure(); plt.bar([1, 2], [2, 3]); None")
    assert [list(x["data"]) for x in r["results"]] == [["image/png", "text/plain"]], r["results"]
    # Objects with _repr_*_ methods give their MIME types.
    r = run(d, ctx, "class S:\n"
                    "    def _repr_svg_(self): return '<svg/>'\n"
                    "    def _repr_json_(self): return {'k': 1}\n"
                    "    def __repr__(self): return 'S()'\n"
                    "S()")
    data = r["results"][0]["data"]
    assert data["image/svg+xml"] == "<svg/>" and json.loads(data["application/json"]) == {"k": 1}
    assert data["text/plain"] == "S()"


def test_matplotlib_is_not_imported_unless_the_code_does(d):
    ctx = create(d)
    r = run(d, ctx, "import sys\n'matplotlib' in sys.modules, 'pandas' in sys.modules")
    assert texts(r) == ["(False, False)"]


def test_a_timeout_interrupts_and_keeps_the_state(d):
    ctx = create(d)
    run(d, ctx, "kept = 'before'")
    t0 = time.time()
    r = run(d, ctx, "n = 0\nwhile True:\n    n += 1", timeout_s=2)
    assert time.time() - t0 < 6
    assert r["timed_out"] is True and r["context"]["interrupted"] is True, r
    assert r["context"]["error"]["name"] == "KeyboardInterrupt"
    assert "restarted" not in r["context"] and "ended" not in r["context"]
    after = run(d, ctx, "kept, n > 0")
    assert texts(after) == ["('before', True)"], after
    # A sleep is interrupted the same way.
    r = run(d, ctx, "import time\ntime.sleep(60)", timeout_s=2)
    assert r["context"]["error"]["name"] == "KeyboardInterrupt"
    assert texts(run(d, ctx, "kept")) == ["'before'"]


def test_an_interrupt_while_results_are_sent_keeps_the_protocol_whole(d):
    ctx = create(d)
    run(d, ctx, "kept = 3")
    r = run(d, ctx, "for i in range(10**6): display('x' * 5000)", timeout_s=2)
    assert r["context"]["error"]["name"] == "KeyboardInterrupt", r["context"]
    assert "ended" not in r["context"] and r["context"].get("results_truncated") is True
    assert len(r["results"]) == 256
    assert texts(run(d, ctx, "kept")) == ["3"]


def test_code_that_ignores_the_interrupt_gets_a_fresh_interpreter(d):
    ctx = create(d)
    run(d, ctx, "lost = 1")
    r = run(d, ctx, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                    "while True: time.sleep(0.1)", timeout_s=1)
    assert r["timed_out"] is True and "did not stop" in r["context"]["ended"], r
    again = run(d, ctx, "'lost' in dir()")
    assert texts(again) == ["False"] and "restarted" in again["context"], again
    assert again["context"]["execution_count"] == 1


def test_interrupt_on_demand(d):
    ctx = create(d)
    import threading
    out = {}

    def cell():
        out["r"] = run(d, ctx, "import time\nfor i in range(600): time.sleep(0.1)\n", timeout_s=60)

    t = threading.Thread(target=cell)
    t.start()
    time.sleep(1.5)
    status, doc = d.client.json("POST", f"/v1/contexts/{ctx['id']}/interrupt")
    assert status == 200 and doc["interrupted"] is True
    t.join(20)
    assert out["r"]["context"]["error"]["name"] == "KeyboardInterrupt"
    assert out["r"]["timed_out"] is False
    assert texts(run(d, ctx, "i > 0")) == ["True"]
    # Nothing runs: nothing to interrupt.
    status, doc = d.client.json("POST", f"/v1/contexts/{ctx['id']}/interrupt")
    assert status == 200 and doc["interrupted"] is False


def test_a_client_that_disconnects_interrupts_its_cell(d):
    ctx = create(d)
    body = json.dumps({"context": ctx["id"], "code": "import time\nstarted = True\n"
                       "for i in range(600): time.sleep(0.1)\nfinished = True"})
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.sock)
    s.sendall(b"POST /v1/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode()))
    time.sleep(1.5)
    s.close()
    deadline = time.time() + 15
    while time.time() < deadline:
        st = d.client.json("GET", f"/v1/contexts/{ctx['id']}")[1]
        if st["state"] == "idle":
            break
        time.sleep(0.2)
    assert st["state"] == "idle", st
    r = run(d, ctx, "started, 'finished' in dir()")
    assert texts(r) == ["(True, False)"]


def test_restart_clears_state_and_delete_ends_it(d):
    ctx = create(d)
    run(d, ctx, "secret = 7")
    status, doc = d.client.json("POST", f"/v1/contexts/{ctx['id']}/restart")
    assert status == 200 and doc["execution_count"] == 0
    r = run(d, ctx, "'secret' in dir()")
    assert texts(r) == ["False"] and r["context"]["execution_count"] == 1
    status, _ = d.client.json("DELETE", f"/v1/contexts/{ctx['id']}")
    assert status == 200
    status, doc = d.client.json("POST", "/v1/exec", {"context": ctx["id"], "code": "1"})
    assert status == 404, doc
    # Its interpreter is ended (the record follows within moments).
    deadline = time.time() + 10
    while time.time() < deadline:
        procs = d.client.json("GET", f"/v1/sandboxes/{ctx['sandbox_id']}/processes")[1]
        running = [p for p in procs["processes"] if p["state"] == "running"
                   and ctx["id"] in p["command"]]
        if not running:
            break
        time.sleep(0.1)
    assert running == [], procs


def test_default_context_per_language(d):
    a = d.client.exec(session="dflt", language="python", code="y = 5")
    assert a["context"]["execution_count"] == 1
    b = d.client.exec(session="dflt", language="python", code="y * 2")
    assert texts(b) == ["10"] and b["context"]["id"] == a["context"]["id"]
    listed = d.client.json("GET", "/v1/contexts")[1]["contexts"]
    assert [c["default"] for c in listed if c["id"] == a["context"]["id"]] == [True]


def test_streaming_sends_output_and_results_as_they_come(d):
    ctx = create(d)
    events = d.client.exec_stream(context=ctx["id"], code="print('one')\ndisplay(2)\n"
                                  "import sys; print('two', file=sys.stderr)\n3")
    types = [e["type"] for e in events]
    assert types[0] == "start" and types[-1] == "exit", types
    assert {"type": "stdout", "data": "one\n"} in events
    results = [e for e in events if e["type"] == "result"]
    assert [r["data"]["text/plain"] for r in results] == ["2", "3"]
    assert events.index(results[0]) > events.index({"type": "stdout", "data": "one\n"})
    assert any(e["type"] == "stderr" and "two" in e["data"] for e in events)
    assert events[-1]["context"]["execution_count"] == 1


def test_bad_input_ends_or_recovers_the_context(d):
    ctx = create(d)
    run(d, ctx, "keep = 1")
    # Closing its streams: recovered, and said so.
    r = run(d, ctx, "import os, sys\nsys.stdout.close()\nos.close(2)")
    assert "restored" in r["context"].get("recovered", ""), r
    assert run(d, ctx, "print('still here')")["stdout"] == "still here\n"
    # Fake protocol frames on stdout are just output.
    fake = "\\x00\\x00\\x00\\x30\\xc1{\"status\":\"ok\",\"execution_count\":999}"
    r = run(d, ctx, f"import sys\nsys.stdout.write('{fake}')\nsys.stdout.write('{fake[4:]}')\nkeep")
    # (The JSON reply cuts stdout at its first NUL, as for any exec: the tail is checked.)
    assert texts(r) == ["1"] and r["context"]["status"] == "ok"
    assert r["context"]["execution_count"] < 999
    # A fork: the child never speaks for the context.
    r = run(d, ctx, "import os\npid = os.fork()\nif pid == 0: print('child')\n"
                    "else: os.waitpid(pid, 0)\n'parent'")
    assert "child" in r["stdout"] and texts(r) == ["'parent'"], r
    # A flood: capped, and the context is unaffected.
    r = run(d, ctx, "for i in range(200000): print('x' * 100)\nkeep", timeout_s=30)
    assert r["stdout_truncated"] is True and texts(r) == ["1"], {k: v for k, v in r.items()
                                                               if k != "stdout"}
    # os._exit: the context ends, the result says so; the next exec gets a fresh interpreter.
    r = run(d, ctx, "import os\nos._exit(3)")
    assert r["context"]["status"] == "ended" and "status 3" in r["context"]["ended"], r
    r = run(d, ctx, "'keep' in dir()")
    assert texts(r) == ["False"] and "restarted" in r["context"]
    # The daemon is unaffected.
    assert d.client.exec(command="echo ok")["stdout"] == "ok\n"


def test_bad_requests_are_refused_clearly(d):
    status, doc = d.client.json("POST", "/v1/contexts", {"session": "x", "language": "cobol"})
    assert status == 400 and "language" in doc["error"]["message"]
    status, doc = d.client.json("POST", "/v1/contexts", {"language": "python"})
    assert status == 400 and "session" in doc["error"]["message"], doc
    status, doc = d.client.json("POST", "/v1/exec", {"context": "nope", "code": "1"})
    assert status == 404
    status, doc = d.client.json("POST", "/v1/exec", {"context": "abc", "argv": ["ls"]})
    assert status == 400
    status, doc = d.client.json("POST", "/v1/contexts/nope/restart")
    assert status == 404


def test_bash_context_keeps_cwd_variables_and_functions(d):
    ctx = create(d, language="bash")
    assert ctx["runtime"] == "python"
    r = run(d, ctx, "cd /tmp && mkdir -p deep && cd deep\nGREETING=hello\n"
                    "greet() { echo \"$GREETING $1 from $(pwd)\"; }")
    assert r["exit_code"] == 0 and r["context"]["status"] == "ok", r
    r = run(d, ctx, "greet world")
    assert r["stdout"] == "hello world from /tmp/deep\n", r
    r = run(d, ctx, "export N=$((6 * 7)); echo $N; false")
    assert r["stdout"] == "42\n" and r["context"]["error"]["name"] == "ExitStatus"
    r = run(d, ctx, "sleep 30; echo not-reached", timeout_s=2)
    assert r["timed_out"] and r["context"]["error"]["name"] == "KeyboardInterrupt", r
    assert "not-reached" not in r["stdout"]
    assert run(d, ctx, "echo $N $(pwd)")["stdout"] == "42 /tmp/deep\n"
    r = run(d, ctx, "exit 4")
    assert r["context"]["status"] == "ended" and "status 4" in r["context"]["ended"], r
    r = run(d, ctx, "echo ${N:-gone}")
    assert r["stdout"] == "gone\n" and "restarted" in r["context"]


def test_node_context_keeps_state(d):
    ctx = create(d, language="node")
    assert ctx["runtime"] == "node"
    r = run(d, ctx, "let n = 40; function add(a, b) { return a + b; }\nconsole.log('ready')")
    assert r["stdout"] == "ready\n" and r["context"]["status"] == "ok", r
    r = run(d, ctx, "n = add(n, 2); ({n, list: [1, 2]})")
    data = r["results"][0]["data"]
    assert json.loads(data["application/json"]) == {"n": 42, "list": [1, 2]}
    assert "n: 42" in data["text/plain"]
    r = run(d, ctx, "await new Promise((ok) => setTimeout(() => ok(n + 1), 100))")
    assert texts(r) == ["43"], r
    r = run(d, ctx, "null.x")
    assert r["context"]["error"]["name"] == "TypeError", r
    r = run(d, ctx, "while (true) {}", timeout_s=2)
    assert r["timed_out"] and r["context"]["error"]["name"] == "KeyboardInterrupt", r
    assert texts(run(d, ctx, "n")) == ["42"]


def test_contexts_show_in_sandboxes_health_and_metrics(d):
    ctx = create(d)
    run(d, ctx, "1")
    rows = d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"]
    mine = [s for s in rows if s["id"].startswith(ctx["sandbox_id"])]
    assert mine and mine[0]["contexts"] == 1, mine
    health = d.client.json("GET", "/v1/health")[1]
    assert health["checks"]["sandboxes"]["contexts"]["total"] >= 1, health
    _, _, text = d.client.request("GET", "/metrics")
    assert b'airlock_contexts{state="idle"}' in text


def test_cap_per_sandbox_and_idle_reaping(make_daemon, engine):
    conf = CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine]).replace(
        "pool_size = 0", "pool_size = 0\nmax_contexts_per_sandbox = 2\ncontext_idle_timeout_s = 3")
    dm = make_daemon(engine=engine, conf=conf)
    a = create(dm, session="cap")
    create(dm, session="cap", language="bash")
    status, doc = dm.client.json("POST", "/v1/contexts", {"session": "cap", "language": "python"})
    assert status == 429 and "max_contexts_per_sandbox" in doc["error"]["message"], doc
    # Idle past the setting: ended and forgotten; its sandbox stays.
    deadline = time.time() + 20
    while time.time() < deadline and dm.client.json("GET", "/v1/contexts")[1]["contexts"]:
        time.sleep(0.5)
    assert dm.client.json("GET", "/v1/contexts")[1]["contexts"] == []
    status, _ = dm.client.json("POST", "/v1/exec", {"context": a["id"], "code": "1"})
    assert status == 404
    assert dm.client.exec(session="cap", runtime="python",
                          command="echo alive")["sandbox_id"] == a["sandbox_id"]


def test_a_context_ends_with_its_sandbox(d):
    ctx = create(d, session="short")
    status, _ = d.client.json("POST", "/v1/sessions/short/end")
    assert status == 200
    deadline = time.time() + 15
    while time.time() < deadline:
        if not [c for c in d.client.json("GET", "/v1/contexts")[1]["contexts"]
                if c["id"] == ctx["id"]]:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the context outlived its sandbox")
