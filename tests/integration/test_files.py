"""The agent's data flow (issue 12): the install home, the files API, artifacts, and the seed's
own flow (upload a CSV, plot it with pandas and matplotlib, get the PNG back; install a native
wheel and an npm package that later execs use), on the real engines with the real airlockd.
Bad input of every kind gets a clear 4xx (or 507), the daemon keeps serving, and nothing is
written outside the sandbox's file areas."""
import base64
import concurrent.futures
import hashlib
import io
import json
import socket
import subprocess
import tarfile
import uuid
from urllib.parse import quote

import pytest

import native_pkg
from conftest import AIRLOCK, DEFAULT_CONF, ENGINE_SOCKETS, Daemon

PNG_SIG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fd(engine, tmp_path_factory):
    # Installs and the first matplotlib import (its font cache, in a fresh home) take their
    # time on a loaded machine: a larger time limit than the suite's default.
    conf = DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine]).replace(
        "timeout_s = 20", "timeout_s = 180")
    d = Daemon(tmp_path_factory.mktemp(f"files-{engine}"), engine=engine, conf=conf,
               conf_extra="[files]\nartifacts_max = 8\nartifact_inline_kb = 512\n").start()
    yield d
    d.stop()


def sess():
    return "s-" + uuid.uuid4().hex[:12]


def url(route, session, path=None, runtime="python", **extra):
    q = f"agent=default&session={session}&runtime={runtime}"
    if path is not None:
        q += "&path=" + quote(path, safe="/")
    for k, v in extra.items():
        q += f"&{k}={quote(str(v), safe='')}"
    return f"/v1/files{route}?{q}"


def put(d, session, path, data, runtime="python", headers=None, **extra):
    return d.client.request("PUT", url("", session, path, runtime, **extra), body=data,
                            headers=headers or {"Content-Type": "application/octet-stream"})


def get(d, session, path, runtime="python"):
    return d.client.request("GET", url("", session, path, runtime))


def err_of(data):
    return json.loads(data)["error"]


def run(d, session, code=None, runtime="python", **kw):
    req = {"agent": "default", "session": session, "runtime": runtime, **kw}
    if code is not None:
        req["code"] = code
    return d.client.exec(**req)


def end(d, session):
    d.client.json("POST", f"/v1/sessions/{session}/end", {"agent": "default"})


def tar_of(members):
    """members: (TarInfo, bytes or None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def tinfo(name, data=b"", type_=tarfile.REGTYPE, **kw):
    i = tarfile.TarInfo(name)
    i.type = type_
    i.size = len(data) if type_ == tarfile.REGTYPE else 0
    i.mode = 0o644
    for k, v in kw.items():
        setattr(i, k, v)
    return i


# ---- the install home ----

def test_install_home_allows_executing_and_tmp_does_not(fd):
    s = sess()
    try:
        r = run(fd, s, command=(
            "echo home=$HOME; pwd; cp /bin/true $HOME/t && $HOME/t && echo home-exec-ok; "
            "cp /bin/true /tmp/t && /tmp/t || echo tmp-noexec; "
            "grep -E ' /home/airlock | /tmp ' /proc/mounts"))
        out = r["stdout"]
        assert "home=/home/airlock" in out and "\n/home/airlock\n" in out, out
        assert "home-exec-ok" in out, r
        # Docker mounts /tmp noexec (Podman's tmpfs does not: that is its default, unchanged).
        if fd.engine == "docker":
            assert "tmp-noexec" in out, r
        # Both tmpfs are capped, and together they are the sandbox's disk_mb (64 MiB).
        sizes = [int(x.split("size=")[1].split("k")[0]) for x in out.splitlines()
                 if "tmpfs" in x and "size=" in x]
        assert sum(sizes) == 64 * 1024, out
    finally:
        end(fd, s)


# ---- the seed's flow ----

def test_seed_flow_csv_pandas_plot_download(fd):
    s = sess()
    csv = b"x,y\n1,2\n2,4\n3,9\n4,16\n"
    try:
        st, _, data = put(fd, s, "/home/airlock/data/points.csv", csv)
        assert st == 201, data
        assert json.loads(data)["path"] == "/home/airlock/data/points.csv"
        r = run(fd, s, code=(
            "import pandas as pd\nimport matplotlib.pyplot as plt\n"
            "df = pd.read_csv('data/points.csv')\nprint(int(df['y'].sum()))\n"
            "df.plot(x='x', y='y')\nplt.show()\n"), timeout_s=150)
        assert r["exit_code"] == 0, r
        assert r["stdout"].strip() == "31"
        arts = r["artifacts"]
        assert len(arts) == 1, arts
        a = arts[0]
        png = base64.b64decode(a["data"])
        assert png.startswith(PNG_SIG)
        assert a["mime"] == "image/png" and a["size"] == len(png) > 2000
        assert a["sha256"] == hashlib.sha256(png).hexdigest()
        assert a["path"].startswith("/tmp/outputs/" + r["execution_id"] + "/")
        # The artifact is a file of the sandbox too: downloadable by its path.
        st, hdrs, data = get(fd, s, a["path"])
        assert st == 200 and data == png
        # The uploaded file, downloaded back, byte for byte; listed and stat'ed.
        st, hdrs, data = get(fd, s, "/home/airlock/data/points.csv")
        assert st == 200 and data == csv
        assert hdrs["Content-Type"] == "application/octet-stream"
        st, doc = fd.client.json("GET", url("/list", s, "/home/airlock/data"))
        assert st == 200
        assert [(e["name"], e["type"], e["size"], e["mode"]) for e in doc["entries"]] == [
            ("points.csv", "file", len(csv), 0o644)]
        st, doc = fd.client.json("GET", url("/stat", s, "/home/airlock/data/points.csv"))
        assert st == 200 and doc["type"] == "file" and doc["size"] == len(csv)
    finally:
        end(fd, s)


def test_native_wheel_installs_and_imports_in_the_next_exec(fd, tmp_path):
    s = sess()
    wheel = native_pkg.build_wheel(tmp_path / "whl", answer=4242)
    try:
        st, _, data = put(fd, s, f"/tmp/{wheel.name}", wheel.read_bytes())
        assert st == 201, data
        r = run(fd, s, command=f"pip install /tmp/{wheel.name}", timeout_s=150)
        assert r["exit_code"] == 0, r
        r = run(fd, s, code="import airlock_native, os\nprint(airlock_native.answer())\n"
                            "print(airlock_native.__file__)")
        assert r["exit_code"] == 0, r
        lines = r["stdout"].split()
        assert lines[0] == "4242"
        assert lines[1].startswith("/home/airlock/.local/lib/python3.11/site-packages/"), lines
    finally:
        end(fd, s)


def test_npm_package_from_tarball(fd):
    s = sess()
    tgz = native_pkg.build_npm_tarball(answer=4343)
    try:
        st, _, data = put(fd, s, "/tmp/demo.tgz", tgz, runtime="node")
        assert st == 201, data
        has_npm = run(fd, s, runtime="node", command="command -v npm || echo none")
        assert "none" not in has_npm["stdout"], "every node image carries npm (images/)"
        r = run(fd, s, runtime="node", command="npm install /tmp/demo.tgz && "
                                               "npm install -g /tmp/demo.tgz", timeout_s=150)
        assert r["exit_code"] == 0, r
        r = run(fd, s, runtime="node",
                code="console.log(require('airlock-npm-demo').answer())")
        assert r["stdout"].strip() == "4343", r
    finally:
        end(fd, s)


def test_node_package_unpacked_into_home_is_required_later(fd):
    """Without npm: a package put in the home's node_modules by a tar upload is found by
    require() in a later exec (NODE_PATH and the working directory)."""
    s = sess()
    members = [(tinfo("node_modules", type_=tarfile.DIRTYPE), None),
               (tinfo("node_modules/demo", type_=tarfile.DIRTYPE), None)]
    for name, body in (("package.json", b'{"name":"demo","main":"index.js"}'),
                       ("index.js", b"module.exports = () => 77;\n")):
        members.append((tinfo("node_modules/demo/" + name, body), body))
    try:
        st, _, data = put(fd, s, "/home/airlock", tar_of(members), runtime="node",
                          headers={"Content-Type": "application/x-tar"})
        assert st == 201, data
        assert json.loads(data)["files"] == 2
        r = run(fd, s, runtime="node", code="console.log(require('demo')())")
        assert r["stdout"].strip() == "77", r
    finally:
        end(fd, s)


# ---- the files API ----

def test_mkdir_move_remove_and_tar_round_trip(fd):
    s = sess()
    try:
        st, doc = fd.client.json("POST", url("/mkdir", s, "/tmp/a/b"))
        assert st == 201 and doc["created"] is True
        st, doc = fd.client.json("POST", url("/mkdir", s, "/tmp/a/b"))
        assert st == 200 and doc["created"] is False
        assert put(fd, s, "/tmp/a/b/one.txt", b"one", mode="600")[0] == 201
        st, doc = fd.client.json("POST", url("/move", s),
                                 {"from": "/tmp/a/b/one.txt", "to": "/tmp/a/two.txt"})
        assert st == 200, doc
        st, doc = fd.client.json("GET", url("/stat", s, "/tmp/a/two.txt"))
        assert doc["mode"] == 0o600 and doc["size"] == 3
        assert get(fd, s, "/tmp/a/b/one.txt")[0] == 404
        # A directory downloads as a tar, links kept as links.
        run(fd, s, command="ln -s two.txt /tmp/a/link")
        st, hdrs, data = get(fd, s, "/tmp/a")
        assert st == 200 and hdrs["Content-Type"] == "application/x-tar"
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            names = {m.name: m for m in t.getmembers()}
            assert set(names) == {"a", "a/b", "a/two.txt", "a/link"}, names
            assert t.extractfile("a/two.txt").read() == b"one"
            assert names["a/link"].issym() and names["a/link"].linkname == "two.txt"
        # Removing a non-empty directory needs recursive.
        st, _, data = fd.client.request("DELETE", url("", s, "/tmp/a"))
        assert st == 409, data
        st, _, data = fd.client.request("DELETE", url("", s, "/tmp/a", recursive="true"))
        assert st == 200, data
        assert get(fd, s, "/tmp/a")[0] == 404
    finally:
        end(fd, s)


def test_addressed_by_sandbox_id(fd):
    s = sess()
    try:
        sid = run(fd, s, command="echo hi > /tmp/by-id")["sandbox_id"]
        st, _, data = fd.client.request("GET", f"/v1/sandboxes/{sid}/files?path=/tmp/by-id")
        assert st == 200 and data == b"hi\n"
        st, _, data = fd.client.request("GET", "/v1/sandboxes/000000000000/files?path=/tmp")
        assert st == 404
    finally:
        end(fd, s)


# ---- bad input ----

@pytest.mark.parametrize("path,status", [
    ("/tmp/../etc/passwd", 400),
    ("/tmp/./x", 400),
    ("tmp/x", 400),
    ("/etc/passwd", 403),
    ("/proc/self/environ", 403),
    ("/.airlock/agent", 403),
    ("/workspace/x", 403),  # no workspace in this policy
    ("/tmp/" + "n" * 256, 400),
    ("/tmp/" + "d/" * 2100, 400),
    ("/tmp/a\x01b", 400),
])
def test_bad_paths_are_refused(fd, path, status):
    s = "badpaths"
    st, _, data = get(fd, s, path)
    assert st == status, (path, data)
    st, _, data = put(fd, s, path, b"x")
    assert st == status, (path, data)


def test_nul_in_path_and_move_body(fd):
    s = "badpaths"
    st, _, data = fd.client.request("GET", url("", s) + "&path=/tmp/a%00b")
    assert st == 400 and "NUL" in err_of(data)["message"]
    st, doc = fd.client.json("POST", url("/move", s), '{"from":"/tmp/a\\u0000","to":"/tmp/b"}')
    assert st == 400, doc


def test_planted_symlinks_are_never_followed(fd):
    s = sess()
    try:
        run(fd, s, command=(
            "mkdir -p /home/airlock/victim && ln -s /etc /tmp/etc-link && "
            "ln -s /home/airlock/victim /tmp/v && ln -s /proc/self /tmp/p && "
            "ln -s /etc/passwd /tmp/pw && mkfifo /tmp/fifo"))
        for path in ("/tmp/etc-link/passwd", "/tmp/p/environ", "/tmp/pw"):
            st, _, data = get(fd, s, path)
            assert st == 400 and "link" in err_of(data)["message"], (path, data)
        st, _, data = put(fd, s, "/tmp/v/planted", b"x")
        assert st == 400, data
        st, _, data = put(fd, s, "/tmp/v/deep/planted", b"x")
        assert st == 400, data
        # A listing shows the link and its target without following it.
        st, doc = fd.client.json("GET", url("/list", s, "/tmp"))
        links = {e["name"]: e.get("target") for e in doc["entries"] if e["type"] == "symlink"}
        assert links["etc-link"] == "/etc" and links["v"] == "/home/airlock/victim"
        # A FIFO is refused at once, not read (which would block).
        st, _, data = get(fd, s, "/tmp/fifo")
        assert st == 400 and "fifo" in err_of(data)["message"], data
        # An upload over the link replaces the link, never writes through it.
        assert put(fd, s, "/tmp/pw", b"mine")[0] == 201
        r = run(fd, s, command="ls /home/airlock/victim | wc -l; "
                                               "test -L /tmp/pw || cat /tmp/pw; echo; head -c4 /etc/passwd")
        assert r["stdout"].split() == ["0", "mine", "root"], r
    finally:
        end(fd, s)


@pytest.mark.parametrize("members,what", [
    ([(tinfo("../escape", b"x"), b"x")], "unsafe name"),
    ([(tinfo("/abs/x", b"x"), b"x")], "unsafe name"),
    ([(tinfo("ok/../../x", b"x"), b"x")], "unsafe name"),
    ([(tinfo("l", type_=tarfile.SYMTYPE, linkname="/etc/passwd"), None)], "symbolic link"),
    ([(tinfo("h", type_=tarfile.LNKTYPE, linkname="x"), None)], "link"),
    ([(tinfo("dev", type_=tarfile.CHRTYPE, devmajor=1, devminor=3), None)], "device"),
    ([(tinfo("fifo", type_=tarfile.FIFOTYPE), None)], "FIFO"),
])
def test_bad_tar_members_refuse_the_whole_upload(fd, members, what):
    s = "badtar"
    body = tar_of([(tinfo("first.txt", b"1"), b"1")] + members)
    st, _, data = put(fd, s, "/tmp/t", body, headers={"Content-Type": "application/x-tar"})
    assert st == 400 and what in err_of(data)["message"], data
    # Nothing of it was written, not even the good member before the bad one.
    assert get(fd, s, "/tmp/t/first.txt")[0] == 404


def test_not_a_tar(fd):
    st, _, data = put(fd, "badtar", "/tmp/t", b"garbage" * 100,
                      headers={"Content-Type": "application/x-tar"})
    assert st == 400, data


def test_full_disk_is_507_and_upload_cap_is_413(fd, make_daemon, engine):
    s = sess()
    try:
        # /tmp holds half of disk_mb (32 MiB): 40 MiB does not fit.
        st, _, data = put(fd, s, "/tmp/big", b"\0" * (40 << 20))
        assert st == 507 and err_of(data)["code"] == "insufficient_storage", data
        # The failed upload left nothing behind; the area is usable again.
        st, doc = fd.client.json("GET", url("/list", s, "/tmp"))
        assert [e["name"] for e in doc["entries"] if not e["name"].startswith("outputs")] == []
        assert put(fd, s, "/tmp/small", b"ok")[0] == 201
    finally:
        end(fd, s)
    d = make_daemon(engine=engine, conf_extra="[files]\nupload_mb = 1\n")
    # Announced past the cap: refused before any of the body is read.
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(30)
        c.connect(d.sock)
        c.sendall((f"PUT {url('', 'cap', '/tmp/x')} HTTP/1.1\r\nHost: x\r\n"
                   f"Content-Length: {2 << 20}\r\n\r\n").encode() + b"x" * 4096)
        head = c.recv(65536).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert d.client.json("GET", "/v1/version")[0] == 200


def test_many_artifacts_are_capped(fd):
    s = sess()
    try:
        r = run(fd, s, code=(
            "import os\nd = os.environ['AIRLOCK_OUTPUTS_DIR']\n"
            "for i in range(200):\n    open(os.path.join(d, 'f%03d.txt' % i), 'w').write(str(i))\n"))
        assert r["exit_code"] == 0, r
        assert len(r["artifacts"]) == 8 and r["artifacts_dropped"] == 192, r.get("artifacts")
        assert all(a["mime"] == "text/plain" for a in r["artifacts"])
    finally:
        end(fd, s)


def test_one_off_exec_without_a_pooled_sandbox_has_its_artifacts(fd):
    # No session and no pool (pool_size = 0): the one-off sandbox is made for the exec, its
    # artifacts collected before it is removed.
    r = fd.client.exec(agent="default", runtime="python", code=(
        "import os\nopen(os.path.join(os.environ['AIRLOCK_OUTPUTS_DIR'], 'report.txt'), 'w')"
        ".write('one-off')\n"))
    assert r["exit_code"] == 0, r
    arts = r.get("artifacts") or []
    assert [(a["name"], base64.b64decode(a["data"])) for a in arts] == [
        ("report.txt", b"one-off")], arts


def test_concurrent_execs_keep_their_own_artifacts(fd):
    s = sess()
    code = ("import os, time\nd = os.environ['AIRLOCK_OUTPUTS_DIR']\n"
            "open(os.path.join(d, '%s.txt'), 'w').write('%s')\ntime.sleep(0.5)\n")
    try:
        run(fd, s, command="true")
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futs = {n: ex.submit(run, fd, s, code % (n, n)) for n in ("a", "b", "c", "d")}
            for n, f in futs.items():
                arts = f.result()["artifacts"]
                assert [(a["name"], base64.b64decode(a["data"])) for a in arts] == [
                    (f"{n}.txt", n.encode())]
    finally:
        end(fd, s)


def test_pil_show_and_streamed_artifact_events(fd):
    s = sess()
    try:
        status, _, data = fd.client.request(
            "POST", "/v1/exec",
            {"agent": "default", "session": s, "runtime": "python",
             "code": "from PIL import Image\nImage.new('RGB', (32, 16), 'red').show()\n"
                     "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
                     "plt.savefig('/tmp/named.png')\nprint('done')"},
            headers={"Accept": "application/x-ndjson"})
        assert status == 200
        events = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
        kinds = [e["type"] for e in events]
        arts = [e for e in events if e["type"] == "artifact"]
        assert kinds[-1] == "exit" and kinds.index("artifact") < len(kinds) - 1, kinds
        names = sorted(a["name"] for a in arts)
        assert names == ["image-1.png", "named.png"], names
        for a in arts:
            assert base64.b64decode(a["data"]).startswith(PNG_SIG)
    finally:
        end(fd, s)


def test_daemon_still_serves(fd):
    """After every bad input above, the daemon answers (health's status depends on the
    engine's load too, so the version route is asked) and still runs code."""
    st, doc = fd.client.json("GET", "/v1/version")
    assert st == 200 and doc["instance"], doc
    s = sess()
    try:
        assert run(fd, s, code="print(6*7)")["stdout"] == "42\n"
    finally:
        end(fd, s)


def test_cli_cp_and_ls(fd, tmp_path):
    s = sess()
    cli = [str(AIRLOCK), "--socket", fd.sock]

    def airlock(*args):
        return subprocess.run(cli + list(args), capture_output=True, timeout=120)

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("alpha")
    (src / "b.txt").write_text("beta")
    try:
        r = airlock("cp", "-r", "python", str(src / "b.txt"), f"{s}:/home/airlock/")
        assert r.returncode == 0, r.stderr
        r = airlock("cp", "-r", "python", str(src), f"{s}:/tmp/tree")
        assert r.returncode == 0, r.stderr
        r = airlock("ls", "-r", "python", f"{s}:/tmp/tree")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert [ln.split()[-1] for ln in lines] == ["b.txt", "sub"], lines
        assert lines[1].startswith("0755 directory"), lines
        r = airlock("cp", "-r", "python", f"{s}:/home/airlock/b.txt", "-")
        assert r.returncode == 0 and r.stdout == b"beta", r
        down = tmp_path / "down"
        r = airlock("cp", "-r", "python", f"{s}:/tmp/tree", str(down))
        assert r.returncode == 0, r.stderr
        assert (down / "tree" / "sub" / "a.txt").read_text() == "alpha"
        r = airlock("cp", "-r", "python", f"{s}:/etc/passwd", "-")
        assert r.returncode == 125 and b"outside the sandbox's file areas" in r.stderr, r
        r = airlock("cp", str(src / "b.txt"), str(tmp_path / "x"))
        assert r.returncode == 125 and b"exactly one side" in r.stderr, r
    finally:
        end(fd, s)


def test_agent_sandbox_keeps_installs_across_restart(engine, make_daemon, tmp_path):
    """An AGENT sandbox is adopted by the next daemon: its install home, and the native
    package installed there, are still there and still load."""
    conf = DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine]).replace(
        "timeout_s = 20", "timeout_s = 180").replace("mode = all", "mode = all\nscope = agent")
    d = make_daemon(engine=engine, conf=conf)
    wheel = native_pkg.build_wheel(tmp_path / "whl", name="airlock_kept", answer=7)
    q = f"agent=keeper&runtime=python&path=/tmp/{wheel.name}"
    st, _, data = d.client.request("PUT", f"/v1/files?{q}", body=wheel.read_bytes(),
                                   headers={"Content-Type": "application/octet-stream"})
    assert st == 201, data
    a = d.client.exec(agent="keeper", runtime="python", command=f"pip install /tmp/{wheel.name}")
    assert a["exit_code"] == 0, a
    assert d.stop() == 0
    d.start()
    b = d.client.exec(agent="keeper", runtime="python",
                      code="import airlock_kept; print(airlock_kept.answer())")
    assert b["sandbox_id"] == a["sandbox_id"] and b["stdout"] == "7\n", b
    st, doc = d.client.json("GET", "/v1/files/list?agent=keeper&runtime=python"
                                   "&path=/home/airlock/.local/lib/python3.11/site-packages")
    assert st == 200 and any(e["name"].startswith("airlock_kept") for e in doc["entries"]), doc
    assert d.client.json("DELETE", f"/v1/sandboxes/{a['sandbox_id']}")[0] == 200


def test_an_agent_cannot_reach_another_agents_files(fd):
    """With a token for agent 'alice' (a caller that may act as alice only), bob's files are
    refused by name (403) and unknown by sandbox id (404); alice's own are served."""
    st, doc = fd.client.json("POST", "/v1/tokens", {"agent": "alice"})
    assert st == 201, doc
    alice = {"Authorization": f"Bearer {doc['token']}",
             "Content-Type": "application/octet-stream"}
    s = sess()
    try:
        bob = fd.client.exec(agent="bob", session=s, runtime="python",
                             command="echo secret > /tmp/bob.txt")
        st, _, data = fd.client.request(
            "GET", f"/v1/files?agent=bob&session={s}&runtime=python&path=/tmp/bob.txt",
            headers=alice)
        assert st == 403, data
        st, _, data = fd.client.request(
            "GET", f"/v1/sandboxes/{bob['sandbox_id']}/files?path=/tmp/bob.txt", headers=alice)
        assert st == 404 and b"secret" not in data, data
        st, _, data = fd.client.request(
            "PUT", f"/v1/sandboxes/{bob['sandbox_id']}/files?path=/tmp/bob.txt", body=b"x",
            headers=alice)
        assert st == 404, data
        st, _, data = fd.client.request(
            "PUT", f"/v1/files?agent=alice&session={s}&runtime=python&path=/tmp/a.txt",
            body=b"mine", headers=alice)
        assert st == 201, data
        st, _, data = fd.client.request(
            "GET", f"/v1/files?agent=alice&session={s}&runtime=python&path=/tmp/a.txt",
            headers=alice)
        assert st == 200 and data == b"mine"
        # bob's file is untouched
        st, _, data = fd.client.request(
            "GET", f"/v1/files?agent=bob&session={s}&runtime=python&path=/tmp/bob.txt")
        assert st == 200 and data == b"secret\n"
    finally:
        fd.client.json("POST", f"/v1/sessions/{s}/end", {"agent": "bob"})
        fd.client.json("POST", f"/v1/sessions/{s}/end", {"agent": "alice"})
