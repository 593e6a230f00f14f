"""Fixtures for the integration suite: a real airlockd against a real engine.

Each daemon gets its own settings file, socket and state directory under a temp dir, so tests
can run daemons side by side. Engines come from AIRLOCK_TEST_ENGINES (default "docker,podman").
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AIRLOCK_BUILD_DIR", ROOT / "build"))
AIRLOCKD = Path(os.environ.get("AIRLOCKD", BUILD / "airlockd"))
AIRLOCK = Path(os.environ.get("AIRLOCK_CLI", BUILD / "airlock"))
ENGINE_SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
# Daemons under test use this tree's policies, not copies installed on the machine.
os.environ["AIRLOCK_POLICY_DIR"] = str(ROOT / "policies")
ENGINES = [e for e in os.environ.get("AIRLOCK_TEST_ENGINES", "docker,podman").split(",") if e]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Client:
    """Talks HTTP/1.1 + JSON to airlockd over its UNIX socket."""

    def __init__(self, sock_path):
        self.sock_path = sock_path

    def request(self, method, path, body=None, headers=None, timeout=120):
        conn = UnixHTTPConnection(self.sock_path, timeout=timeout)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        if body is not None and isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), data

    def json(self, method, path, body=None, **kw):
        status, _, data = self.request(method, path, body, **kw)
        return status, json.loads(data) if data else None

    def exec(self, expect=200, **req):
        """POST /v1/exec and return the decoded result, asserting the HTTP status."""
        status, doc = self.json("POST", "/v1/exec", req)
        assert status == expect, f"HTTP {status}: {doc}"
        return doc

    def exec_stream(self, **req):
        """POST /v1/exec with Accept: application/x-ndjson; returns the list of events."""
        status, _, data = self.request("POST", "/v1/exec", req,
                                       headers={"Accept": "application/x-ndjson"})
        assert status == 200, data
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


DEFAULT_CONF = """
[engine]
kind = {engine}
socket = {engine_socket}

[sandbox]
mode = all
# Warm pools are tested on their own (test_pool.py): here every sandbox is made on demand, so
# that tests counting an engine's containers see only their own.
pool_size = 0

[limits]
cpu_cores = 1
memory_mb = 256
disk_mb = 64
max_processes = 64
timeout_s = 20
"""


def free_port():
    """A loopback TCP port that is free now (for the listeners of [mcp], [e2b], [monitor])."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, workdir, engine="docker", conf_extra="", conf=None, args=()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.engine = engine
        self.sock = str(self.workdir / "airlock.sock")
        self.state = self.workdir / "state"
        self.conf_path = self.workdir / "airlock.conf"
        text = conf if conf is not None else DEFAULT_CONF.format(
            engine=engine, engine_socket=ENGINE_SOCKETS.get(engine, ""))
        self.conf_path.write_text(text + "\n" + conf_extra)
        self.log_path = self.workdir / "airlockd.log"
        self.proc = None
        self.args = list(args)
        self.client = Client(self.sock)
        # The exit status stop() insists on; None only where a test ends the daemon in a way
        # that has no clean status (kill(), or a start that is meant to fail and is checked).
        self.expect_exit = 0

    def start(self, wait=True):
        self.expect_exit = 0
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(AIRLOCKD), "--config", str(self.conf_path), "--socket", self.sock,
             "--state-dir", str(self.state), "--log-level", "debug", *self.args],
            stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def instance(self):
        return self.client.json("GET", "/v1/version")[1]["instance"]

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airlockd exited {self.proc.returncode}:\n{self.log()}")
            try:
                status, _, data = self.client.request("GET", "/v1/version", timeout=2)
                if status == 200:
                    v = json.loads(data)
                    STARTED_INSTANCES.add((v["engine"]["kind"], v["instance"]))
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"airlockd did not answer within {timeout}s:\n{self.log()}")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL, as a crash would: the one way to stop a daemon whose exit status is not
        checked (until the next start)."""
        self.proc.kill()
        self.proc.wait()
        self.expect_exit = None

    def stop(self, timeout=30, check=True):
        """SIGTERM and wait; returns the exit status. With check (the default) the status must
        be expect_exit (0 unless the test said otherwise), or the test fails with the log."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"airlockd did not stop on SIGTERM:\n{self.log()}")
        if getattr(self, "logf", None):
            self.logf.close()
        rc = self.proc.returncode if self.proc else None
        if check and self.proc and self.expect_exit is not None and rc != self.expect_exit:
            raise AssertionError(f"airlockd exited {rc}, expected {self.expect_exit}:\n"
                                 f"{self.log()[-20000:]}")
        return rc


# (engine, instance id) of every daemon the suite started, to check nothing outlives it.
STARTED_INSTANCES = set()


def remove_container(engine, cid):
    conn = UnixHTTPConnection(ENGINE_SOCKETS[engine], timeout=30)
    conn.request("DELETE", f"/v1.41/containers/{cid}?force=1")
    conn.getresponse().read()
    conn.close()


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    """After the suite, no container of any daemon it started may remain, except AGENT and
    SHARED sandboxes, which a stopped daemon keeps by design for its next start: those are
    removed here, and their count is checked against what the daemons' own stores say."""
    yield
    leaked = []
    for engine, inst in sorted(STARTED_INSTANCES):
        if engine not in ENGINE_SOCKETS:
            continue
        conn = UnixHTTPConnection(ENGINE_SOCKETS[engine], timeout=30)
        from urllib.parse import quote
        filters = json.dumps({"label": [f"airlock.instance={inst}"]})
        conn.request("GET", f"/v1.41/containers/json?all=1&filters={quote(filters)}")
        rows = json.loads(conn.getresponse().read())
        conn.close()
        for c in rows:
            if c["Labels"].get("airlock.scope") in ("agent", "shared"):
                remove_container(engine, c["Id"])
            else:
                leaked.append((engine, c["Id"][:12], c["Labels"].get("airlock.scope")))
                remove_container(engine, c["Id"])
    assert not leaked, f"containers left behind by the daemons under test: {leaked}"


def labelled_containers(engine, label="airlock.managed=true"):
    """Container ids carrying label, asked of the engine itself (not of airlockd)."""
    conn = UnixHTTPConnection(ENGINE_SOCKETS[engine], timeout=30)
    filters = json.dumps({"label": [label]})
    from urllib.parse import quote
    conn.request("GET", f"/v1.41/containers/json?all=1&filters={quote(filters)}")
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return [c["Id"] for c in data]


def engine_inspect(engine, cid):
    conn = UnixHTTPConnection(ENGINE_SOCKETS[engine], timeout=30)
    conn.request("GET", f"/v1.41/containers/{cid}/json")
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return data


@pytest.fixture(params=ENGINES, scope="module")
def engine(request):
    return request.param


@pytest.fixture(scope="module")
def daemon(engine, tmp_path_factory):
    """One airlockd per engine per test module, default settings."""
    d = Daemon(tmp_path_factory.mktemp(f"airlockd-{engine}"), engine=engine).start()
    yield d
    d.stop()


@pytest.fixture
def make_daemon(tmp_path):
    """Factory for daemons with custom settings; all are stopped at the end of the test."""
    made = []

    def factory(engine="docker", conf_extra="", conf=None, start=True, args=()):
        d = Daemon(tmp_path / f"d{len(made)}", engine=engine, conf_extra=conf_extra, conf=conf,
                   args=args)
        made.append(d)
        return d.start() if start else d

    yield factory
    stop_all(made)


def stop_all(daemons):
    """Stop every daemon, then fail with the first bad exit status (all are stopped first)."""
    failures = []
    for d in daemons:
        try:
            d.stop()
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures)


class E2BRemote:
    """A real airlockd serving the E2B API on loopback TCP ([e2b] listen, its own state directory
    and engine), and a key for it (an airlock token of agent "hosted") in a 0600 file: the
    remote end of the provider backend's tests (docs/providers.md)."""

    def __init__(self, work):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.daemon = Daemon(work / "remote", engine="docker",
                             conf_extra=f"[e2b]\nlisten = 127.0.0.1:{self.port}\n").start()
        status, doc = self.daemon.client.json("POST", "/v1/tokens", {"agent": "hosted"})
        assert status == 201, doc
        self.key = doc["token"]
        self.key_file = work / "remote.key"
        self.key_file.write_text(self.key + "\n")
        self.key_file.chmod(0o600)
        self.instance = self.daemon.instance()

    def containers(self):
        """The remote's containers, asked of the engine by the remote instance's label."""
        return labelled_containers("docker", f"airlock.instance={self.instance}")


@pytest.fixture(scope="module")
def e2b_remote(tmp_path_factory):
    r = E2BRemote(tmp_path_factory.mktemp("e2b-remote"))
    yield r
    r.daemon.stop()
