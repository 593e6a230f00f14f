"""airlock_client: the Python client of airlockd (docs/api.md), standard library only.

    from airlock_client import Client
    c = Client()                                   # $AIRLOCK_SOCKET or /run/airlock/airlock.sock
    r = c.exec("print(6*7)", runtime="python")
    print(r.stdout, r.exit_code)                   # "42\\n" 0

    for ev in c.exec_stream("for i in range(3): print(i)", runtime="python"):
        print(ev.type, ev.data)                    # start / stdout / stderr ... exit

Every call is one HTTP/1.1 request over airlockd's UNIX socket. Results are dataclasses (the
JSON the daemon sent stays in `.raw`); every error the daemon answers with is raised as the
subclass of AirlockError named after its code (InvalidRequest, Forbidden, NotFound,
RateLimited, ...), with the daemon's message, the HTTP status and Retry-After when given.

Files (upload, download, list, stat, mkdir, remove, move; directories as tar) and code
contexts (create, run, interrupt, restart, list, delete) are methods too:

    c = Client(agent="analyst", session="conv-42")
    c.upload("/home/airlock/data.csv", b"x,y\n1,2\n")
    ctx = c.create_context("python")
    c.run_in_context(ctx, "import pandas as pd; df = pd.read_csv('/home/airlock/data.csv')")
    print(c.run_in_context(ctx, "df.x.sum()").text)      # "1"

`Client.request()` is the one door to the daemon (method, path, JSON body, query) that every
JSON method goes through; `Client.request_bytes()` the same for raw bodies (files).
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import tarfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union
from urllib.parse import quote, urlencode

__all__ = [
    "Client", "ExecResult", "BackgroundProcess", "Decision", "StreamEvent", "ExecStream",
    "Sandbox", "Session", "Process", "Execution", "ExecutionPage", "Artifact", "CellResult",
    "CellInfo", "Context", "FileEntry",
    "AirlockError", "InvalidRequest", "Unauthorized", "Forbidden", "NotFound",
    "MethodNotAllowed", "Conflict", "TooLarge", "RateLimited", "EngineError",
    "EngineUnavailable", "NotSupported", "InvalidPolicy", "Timeout", "InternalError",
    "InsufficientStorage", "ConnectionFailed", "DEFAULT_SOCKET",
]

__version__ = "0.1.0"
DEFAULT_SOCKET = "/run/airlock/airlock.sock"
# A reply body larger than this is not read whole (the daemon caps outputs far below it).
MAX_BODY = 64 << 20
# One NDJSON event line of a stream.
MAX_LINE = 16 << 20


# ---- errors -------------------------------------------------------------------------------

class AirlockError(Exception):
    """An error answer of airlockd: `code` ("forbidden", ...), `message`, HTTP `status`,
    `retry_after` (seconds, for 429) and the whole error document in `raw`."""
    code = "error"

    def __init__(self, message: str, *, status: int = 0, code: Optional[str] = None,
                 retry_after: Optional[int] = None, raw: Optional[dict] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        if code:
            self.code = code
        self.retry_after = retry_after
        self.raw = raw or {}

    def __str__(self) -> str:
        return f"{self.message} ({self.code}, HTTP {self.status})" if self.status else self.message


class InvalidRequest(AirlockError):
    code = "invalid_request"


class Unauthorized(AirlockError):
    code = "unauthorized"


class Forbidden(AirlockError):
    code = "forbidden"


class NotFound(AirlockError):
    code = "not_found"


class MethodNotAllowed(AirlockError):
    code = "method_not_allowed"


class Conflict(AirlockError):
    code = "conflict"


class TooLarge(AirlockError):
    code = "too_large"


class RateLimited(AirlockError):
    code = "rate_limited"


class EngineError(AirlockError):
    code = "engine_error"


class EngineUnavailable(AirlockError):
    code = "engine_unavailable"


class NotSupported(AirlockError):
    code = "not_supported"


class InvalidPolicy(AirlockError):
    code = "invalid_policy"


class Timeout(AirlockError):
    code = "timeout"


class InternalError(AirlockError):
    code = "internal_error"


class InsufficientStorage(AirlockError):
    """The sandbox's disk is full (HTTP 507): the partial file was removed."""
    code = "insufficient_storage"


class ConnectionFailed(AirlockError):
    """The daemon could not be reached, or the connection broke mid-answer."""
    code = "connection_failed"


ERRORS: Dict[str, type] = {cls.code: cls for cls in (
    InvalidRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, TooLarge,
    RateLimited, EngineError, EngineUnavailable, NotSupported, InvalidPolicy, Timeout,
    InternalError, InsufficientStorage)}


def _error_from(status: int, headers: Any, body: bytes) -> AirlockError:
    try:
        doc = json.loads(body) if body else {}
        err = doc.get("error", {}) if isinstance(doc, dict) else {}
    except ValueError:
        doc, err = {}, {}
    code = err.get("code") if isinstance(err.get("code"), str) else None
    message = err.get("message") or body.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    retry = headers.get("Retry-After") if headers else None
    cls = ERRORS.get(code or "", AirlockError)
    return cls(message, status=status, code=code, raw=doc if isinstance(doc, dict) else {},
               retry_after=int(retry) if retry and retry.isdigit() else None)


# ---- results ------------------------------------------------------------------------------

def _fields(cls, doc: dict) -> dict:
    names = {f.name for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
    return {k: v for k, v in doc.items() if k in names}


@dataclass
class Decision:
    mode: Optional[str] = None
    sandboxed: bool = False
    reason: str = ""


@dataclass
class ExecResult:
    """The result of one execution (POST /v1/exec)."""
    execution_id: str
    exit_code: int = 0
    signal: Optional[int] = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    oom_killed: bool = False
    duration_ms: int = 0
    sandboxed: bool = False
    backend: Optional[str] = None
    sandbox_id: Optional[str] = None
    transport: Optional[str] = None
    aborted: bool = False
    sandbox_lost: Optional[str] = None
    sandbox_replaced: Optional[str] = None
    decision: Decision = field(default_factory=Decision)
    artifacts: List["Artifact"] = field(default_factory=list)
    # A context's cell (run_in_context): its results and how it went.
    results: List["CellResult"] = field(default_factory=list)
    context: Optional["CellInfo"] = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Exited 0, not killed, not timed out (for a cell: raised no error)."""
        return self.exit_code == 0 and not self.signal and not self.timed_out \
            and not self.oom_killed

    @property
    def text(self) -> Optional[str]:
        """A cell's value: the text/plain of its last "result" (None when it has none)."""
        values = [r.text for r in self.results if r.kind == "result"]
        return values[-1] if values else None

    def images(self) -> List[bytes]:
        """The images the run made (plots, image files in its outputs, image results), each
        once, as bytes."""
        seen, out = set(), []
        for a in self.artifacts:
            if a.mime.startswith("image/") and a.data and a.data not in seen:
                seen.add(a.data)
                out.append(a.content())
        for r in self.results:
            for mime, data in r.data.items():
                if mime.startswith("image/") and "svg" not in mime and data not in seen:
                    seen.add(data)
                    out.append(base64.b64decode(data))
        return out

    @classmethod
    def from_json(cls, doc: dict) -> "ExecResult":
        f = _fields(cls, doc)
        f["decision"] = Decision(**_fields(Decision, doc.get("decision") or {}))
        f["artifacts"] = [_make(Artifact, a) for a in doc.get("artifacts") or []]
        f["results"] = [_make(CellResult, r) for r in doc.get("results") or []]
        f["context"] = _make(CellInfo, doc["context"]) if doc.get("context") else None
        return cls(raw=doc, **f)


@dataclass
class Artifact:
    """A file the run left in $AIRLOCK_OUTPUTS_DIR, a plot, an image: data is base64 when it
    was small enough to come inline ([files] artifact_inline_kb), else download it by path."""
    name: str
    mime: str = "application/octet-stream"
    size: int = 0
    sha256: str = ""
    path: Optional[str] = None
    data: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)

    def content(self) -> bytes:
        if self.data is None:
            raise NotFound(f"artifact {self.name} is not inline: download {self.path}")
        return base64.b64decode(self.data)


@dataclass
class CellResult:
    """A value or a display of a context's cell, keyed by MIME type (binary ones base64)."""
    kind: str
    data: Dict[str, str] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def text(self) -> Optional[str]:
        return self.data.get("text/plain")


@dataclass
class CellInfo:
    """How a context's cell went: status "ok", "error" or "ended"; error {name, value,
    traceback}; interrupted when a timeout or interrupt() stopped it."""
    id: str
    language: str = ""
    execution_count: Optional[int] = None
    status: str = ""
    interrupted: bool = False
    error: Optional[dict] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Context:
    """A code context (a live interpreter): see docs/contexts.md."""
    id: str
    language: str = ""
    agent: str = ""
    session: Optional[str] = None
    runtime: Optional[str] = None
    sandbox_id: Optional[str] = None
    state: str = ""
    execution_count: int = 0
    cells: int = 0
    created_ms: Optional[int] = None
    idle_ms: Optional[int] = None
    ended: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class FileEntry:
    """A file of a sandbox (list_files, stat): type "file", "directory", "symlink", ...; mode
    the permission bits; mtime seconds since the epoch; target a link's."""
    name: str
    type: str = ""
    size: int = 0
    mode: int = 0
    mtime: Optional[int] = None
    target: Optional[str] = None
    path: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class BackgroundProcess:
    """A process started with background=True: it runs on in its sandbox."""
    execution_id: str
    pid: int
    sandbox_id: Optional[str] = None
    backend: Optional[str] = None
    sandboxed: bool = True
    decision: Decision = field(default_factory=Decision)
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "BackgroundProcess":
        f = _fields(cls, doc)
        f["decision"] = Decision(**_fields(Decision, doc.get("decision") or {}))
        return cls(raw=doc, **f)


@dataclass
class StreamEvent:
    """One event of a streamed exec: type "start", "stdout", "stderr", "exit" or "error"."""
    type: str
    data: str = ""
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Sandbox:
    id: str
    backend: Optional[str] = None
    scope: Optional[str] = None
    agent: Optional[str] = None
    session: Optional[str] = None
    image: Optional[str] = None
    created_ms: Optional[int] = None
    last_used_ms: Optional[int] = None
    execs_running: int = 0
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Session:
    agent: str
    session: str
    created_at: Optional[int] = None
    last_used_at: Optional[int] = None
    ended_at: Optional[int] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Process:
    """A background process; stdout/stderr are filled by Client.process() only."""
    pid: int
    command: str = ""
    state: str = ""
    started_ms: Optional[int] = None
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    duration_ms: Optional[int] = None
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class Execution:
    """A row of the audit log (GET /v1/executions)."""
    id: str
    agent: str = ""
    session: Optional[str] = None
    state: str = ""
    runtime: Optional[str] = None
    backend: Optional[str] = None
    sandbox_id: Optional[str] = None
    code_preview: str = ""
    code_sha256: str = ""
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    timed_out: bool = False
    oom_killed: bool = False
    duration_ms: Optional[int] = None
    error: Optional[str] = None
    started_at: Optional[int] = None
    finished_at: Optional[int] = None
    decision: Decision = field(default_factory=Decision)
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "Execution":
        f = _fields(cls, doc)
        f["decision"] = Decision(**_fields(Decision, doc.get("decision") or {}))
        return cls(raw=doc, **f)


@dataclass
class ExecutionPage:
    executions: List[Execution]
    next_cursor: Optional[str] = None


def _make(cls, doc: dict):
    return cls(raw=doc, **_fields(cls, doc))


def _ctx_id(c) -> str:
    return quote(c.id if isinstance(c, Context) else str(c), safe="")


# ---- transport ----------------------------------------------------------------------------

class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: Optional[float]):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class ExecStream:
    """Iterate the events of a streamed exec; once the "exit" event has passed, `result` is
    the ExecResult (without stdout/stderr, which came as events). Use it as a context manager
    or call close() to drop the connection early (the daemon then aborts the exec)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse):
        self._conn, self._resp = conn, resp
        self.result: Optional[ExecResult] = None
        self.execution_id: Optional[str] = None

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            while True:
                line = self._resp.readline(MAX_LINE + 1)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    raise InvalidRequest("a stream event is larger than the client's cap")
                if not line.strip():
                    continue
                doc = json.loads(line)
                ev = StreamEvent(type=doc.get("type", ""), data=doc.get("data", ""), raw=doc)
                if ev.type == "start":
                    self.execution_id = doc.get("execution_id")
                elif ev.type == "exit":
                    self.result = ExecResult.from_json(doc)
                elif ev.type == "error":
                    e = doc.get("error", {})
                    raise ERRORS.get(e.get("code", ""), AirlockError)(
                        e.get("message", "stream failed"), code=e.get("code"), raw=doc)
                yield ev
        finally:
            self.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ExecStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- the client ---------------------------------------------------------------------------

class Client:
    """A client of one airlockd. socket_path: default $AIRLOCK_SOCKET, else DEFAULT_SOCKET.
    token: a bearer token (default $AIRLOCK_TOKEN): requests act only as its agent. agent and
    session: defaults for the calls that take them. timeout: seconds to wait for an answer
    (None: as long as an exec runs)."""

    def __init__(self, socket_path: Optional[str] = None, *, token: Optional[str] = None,
                 agent: Optional[str] = None, session: Optional[str] = None,
                 timeout: Optional[float] = None):
        self.socket_path = socket_path or os.environ.get("AIRLOCK_SOCKET") or DEFAULT_SOCKET
        self.token = token if token is not None else os.environ.get("AIRLOCK_TOKEN")
        self.agent = agent
        self.session = session
        self.timeout = timeout

    # -- the one door --

    def _open(self, method: str, path: str, body: Any = None, query: Optional[dict] = None,
              accept: str = "application/json", raw: Optional[bytes] = None,
              content_type: str = "application/octet-stream"):
        if query:
            q = {k: v for k, v in query.items() if v is not None and v is not False}
            if q:
                path += "?" + urlencode({k: (1 if v is True else v) for k, v in q.items()})
        headers = {"Accept": accept, "User-Agent": f"airlock-python/{__version__}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise ConnectionFailed(f"cannot reach airlockd at {self.socket_path}: {e}") from e
        if resp.status >= 300:
            try:
                raw = resp.read(MAX_BODY)
            finally:
                conn.close()
            raise _error_from(resp.status, resp.headers, raw)
        return conn, resp

    def request(self, method: str, path: str, body: Any = None,
                query: Optional[dict] = None) -> Any:
        """Send one request (body: JSON-able or None) and return the decoded JSON answer;
        raise the AirlockError subclass of an error answer. Every method below uses it."""
        raw = self.request_bytes(method, path, query=query, body=body,
                                 accept="application/json")
        return json.loads(raw) if raw else None

    def request_bytes(self, method: str, path: str, *, query: Optional[dict] = None,
                      body: Any = None, raw: Optional[bytes] = None,
                      content_type: str = "application/octet-stream",
                      accept: str = "*/*") -> bytes:
        """The same with a raw body (raw, of content_type) and the raw answer."""
        conn, resp = self._open(method, path, body, query, raw=raw, content_type=content_type,
                                accept=accept)
        try:
            raw = resp.read(MAX_BODY + 1)
        except OSError as e:
            raise ConnectionFailed(f"airlockd's answer was cut: {e}") from e
        finally:
            conn.close()
        if len(raw) > MAX_BODY:
            raise TooLarge("airlockd's answer is larger than the client's cap")
        return raw

    # -- execs --

    def _exec_body(self, code, argv, command, runtime, session, stdin, env, timeout_s, network,
                   untrusted, agent, background) -> dict:
        given = [x is not None for x in (code, argv, command)]
        if sum(given) != 1:
            raise InvalidRequest("give exactly one of code, argv and command")
        body: Dict[str, Any] = {}
        for k, v in (("agent", agent or self.agent), ("session", session or self.session),
                     ("runtime", runtime), ("code", code),
                     ("argv", list(argv) if argv is not None else None), ("command", command),
                     ("stdin", stdin), ("env", env), ("timeout_s", timeout_s),
                     ("network", network), ("untrusted", untrusted)):
            if v is not None:
                body[k] = v
        if background:
            body["background"] = True
        return body

    def exec(self, code: Optional[str] = None, *, argv: Optional[Sequence[str]] = None,
             command: Optional[str] = None, runtime: Optional[str] = None,
             session: Optional[str] = None, stdin: Optional[str] = None,
             env: Optional[Dict[str, str]] = None, timeout_s: Optional[int] = None,
             network: Optional[bool] = None, untrusted: Optional[bool] = None,
             agent: Optional[str] = None) -> ExecResult:
        """Run code (or argv, or a shell command) and wait for its result."""
        return ExecResult.from_json(self.request("POST", "/v1/exec", self._exec_body(
            code, argv, command, runtime, session, stdin, env, timeout_s, network, untrusted,
            agent, False)))

    def run_code(self, code: str, language: Optional[str] = None, **kw) -> ExecResult:
        """exec() with the runtime named as a language ("python", "node", "bash")."""
        return self.exec(code, runtime=language, **kw)

    def exec_stream(self, code: Optional[str] = None, *, argv: Optional[Sequence[str]] = None,
                    command: Optional[str] = None, runtime: Optional[str] = None,
                    session: Optional[str] = None, stdin: Optional[str] = None,
                    env: Optional[Dict[str, str]] = None, timeout_s: Optional[int] = None,
                    network: Optional[bool] = None, untrusted: Optional[bool] = None,
                    agent: Optional[str] = None) -> ExecStream:
        """Run it and stream its events (NDJSON) as they come; see ExecStream."""
        conn, resp = self._open("POST", "/v1/exec", self._exec_body(
            code, argv, command, runtime, session, stdin, env, timeout_s, network, untrusted,
            agent, False), accept="application/x-ndjson")
        return ExecStream(conn, resp)

    def start_background(self, code: Optional[str] = None, *,
                         argv: Optional[Sequence[str]] = None, command: Optional[str] = None,
                         runtime: Optional[str] = None, session: Optional[str] = None,
                         stdin: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                         agent: Optional[str] = None) -> BackgroundProcess:
        """Start it as a background process of the session's sandbox and return at once."""
        return BackgroundProcess.from_json(self.request("POST", "/v1/exec", self._exec_body(
            code, argv, command, runtime, session, stdin, env, None, None, None, agent, True)))

    # -- background processes --

    def processes(self, sandbox_id: str) -> List[Process]:
        doc = self.request("GET", f"/v1/sandboxes/{quote(sandbox_id, safe='')}/processes")
        return [_make(Process, p) for p in doc.get("processes", [])]

    def process(self, sandbox_id: str, pid: int) -> Process:
        """One background process with its output so far."""
        return _make(Process, self.request(
            "GET", f"/v1/sandboxes/{quote(sandbox_id, safe='')}/processes/{int(pid)}"))

    def kill_process(self, sandbox_id: str, pid: int) -> None:
        self.request("DELETE", f"/v1/sandboxes/{quote(sandbox_id, safe='')}/processes/{int(pid)}")

    # -- sandboxes and sessions --

    def sandboxes(self, agent: Optional[str] = None) -> List[Sandbox]:
        doc = self.request("GET", "/v1/sandboxes", query={"agent": agent})
        return [_make(Sandbox, s) for s in doc.get("sandboxes", [])]

    def remove_sandbox(self, sandbox_id: str) -> None:
        self.request("DELETE", f"/v1/sandboxes/{quote(sandbox_id, safe='')}")

    def sessions(self, agent: Optional[str] = None, ended: bool = False) -> List[Session]:
        doc = self.request("GET", "/v1/sessions", query={"agent": agent, "ended": ended})
        return [_make(Session, s) for s in doc.get("sessions", [])]

    def end_session(self, session: Optional[str] = None, agent: Optional[str] = None) -> int:
        """End a session; returns how many sandboxes were removed."""
        session = session or self.session
        if not session:
            raise InvalidRequest("which session?")
        doc = self.request("POST", f"/v1/sessions/{quote(session, safe='')}/end",
                           {"agent": agent or self.agent or "default"})
        return int(doc.get("sandboxes_removed", 0))

    # -- files (docs/files.md) --

    def _files(self, route: str, path: Optional[str], sandbox_id: Optional[str],
               session: Optional[str], runtime: Optional[str], agent: Optional[str],
               **extra) -> tuple:
        """The route and query of a files call: by sandbox id, else by agent, session and
        runtime (the sandbox an exec of theirs would use, made when missing)."""
        q: Dict[str, Any] = {"path": path, **extra}
        if sandbox_id:
            return f"/v1/sandboxes/{quote(sandbox_id, safe='')}/files{route}", q
        q.update(agent=agent or self.agent, session=session or self.session, runtime=runtime)
        return f"/v1/files{route}", q

    def upload(self, path: str, data: Union[bytes, str], *, mode: Optional[int] = None,
               sandbox_id: Optional[str] = None, session: Optional[str] = None,
               runtime: Optional[str] = None, agent: Optional[str] = None) -> dict:
        """Write data (bytes, or text as UTF-8) to the file path (parents made); mode: the
        permission bits (e.g. 0o755). Returns {"path", "written", "size"}."""
        route, q = self._files("", path, sandbox_id, session, runtime, agent,
                               mode=format(mode, "o") if mode is not None else None)
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return json.loads(self.request_bytes("PUT", route, query=q, raw=raw))

    def upload_tar(self, path: str, tar: bytes, **where) -> dict:
        """Unpack a tar (regular files and directories only) into the directory path."""
        route, q = self._files("", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        return json.loads(self.request_bytes("PUT", route, query=q, raw=tar,
                                             content_type="application/x-tar"))

    def upload_dir(self, local_dir: str, path: str, **where) -> dict:
        """Send a local directory (its regular files and directories) to path, as a tar."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for root, dirs, files in os.walk(local_dir):
                for name in sorted(dirs) + sorted(files):
                    full = os.path.join(root, name)
                    if os.path.islink(full) or not (os.path.isdir(full) or os.path.isfile(full)):
                        continue
                    t.add(full, arcname=os.path.relpath(full, local_dir), recursive=False)
        return self.upload_tar(path, buf.getvalue(), **where)

    def download(self, path: str, **where) -> bytes:
        """A file's bytes; a directory comes as a tar (see download_dir)."""
        route, q = self._files("", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        return self.request_bytes("GET", route, query=q)

    def download_dir(self, path: str, local_dir: str, **where) -> List[str]:
        """Unpack a directory of the sandbox under local_dir (as local_dir/<its name>/...).
        What comes from a sandbox is untrusted: only regular files and directories with
        relative names and no ".." are written. Returns the names written."""
        names = []
        with tarfile.open(fileobj=io.BytesIO(self.download(path, **where))) as t:
            for m in t.getmembers():
                parts = m.name.split("/")
                if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                    continue
                dest = os.path.join(local_dir, *parts)
                if m.isdir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                src = t.extractfile(m)
                with open(dest, "wb") as f:
                    f.write(src.read() if src else b"")
                names.append(m.name)
        return names

    def list_files(self, path: str, **where) -> List[FileEntry]:
        route, q = self._files("/list", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        return [_make(FileEntry, e) for e in self.request("GET", route, query=q)["entries"]]

    def stat(self, path: str, **where) -> FileEntry:
        route, q = self._files("/stat", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        return _make(FileEntry, self.request("GET", route, query=q))

    def mkdir(self, path: str, **where) -> bool:
        """Make a directory and its parents; False when it was there."""
        route, q = self._files("/mkdir", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        return bool(self.request("POST", route, query=q)["created"])

    def remove(self, path: str, recursive: bool = False, **where) -> None:
        route, q = self._files("", path, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"), recursive=recursive)
        self.request("DELETE", route, query=q)

    def move(self, src: str, dst: str, **where) -> None:
        route, q = self._files("/move", None, where.get("sandbox_id"), where.get("session"),
                               where.get("runtime"), where.get("agent"))
        self.request("POST", route, {"from": src, "to": dst}, query=q)

    # -- code contexts (docs/contexts.md) --

    def create_context(self, language: str = "python", *, session: Optional[str] = None,
                       runtime: Optional[str] = None, agent: Optional[str] = None) -> Context:
        """Start a live interpreter ("python", "node" or "bash") in the session's sandbox."""
        body = {"language": language, "agent": agent or self.agent or "default"}
        for k, v in (("session", session or self.session), ("runtime", runtime)):
            if v:
                body[k] = v
        return _make(Context, self.request("POST", "/v1/contexts", body))

    def contexts(self) -> List[Context]:
        return [_make(Context, c) for c in self.request("GET", "/v1/contexts")["contexts"]]

    def context(self, context_id: Union[str, Context]) -> Context:
        return _make(Context, self.request("GET", f"/v1/contexts/{_ctx_id(context_id)}"))

    def run_in_context(self, context: Union[str, Context], code: str, *,
                       timeout_s: Optional[int] = None) -> ExecResult:
        """Run a cell: state persists between cells. The result has .text (the value of the
        last expression), .results, .context (status, error) and .images()."""
        agent = context.agent if isinstance(context, Context) else \
            self.context(context).agent
        body = {"agent": agent, "context": _ctx_id(context), "code": code}
        if timeout_s:
            body["timeout_s"] = timeout_s
        return ExecResult.from_json(self.request("POST", "/v1/exec", body))

    def interrupt_context(self, context: Union[str, Context]) -> bool:
        """KeyboardInterrupt to the running cell; False when none was running."""
        return bool(self.request("POST", f"/v1/contexts/{_ctx_id(context)}/interrupt")
                    ["interrupted"])

    def restart_context(self, context: Union[str, Context]) -> Context:
        """A fresh interpreter: the state is cleared."""
        return _make(Context, self.request("POST", f"/v1/contexts/{_ctx_id(context)}/restart"))

    def delete_context(self, context: Union[str, Context]) -> None:
        self.request("DELETE", f"/v1/contexts/{_ctx_id(context)}")

    # -- the audit log --

    def executions(self, *, agent: Optional[str] = None, session: Optional[str] = None,
                   state: Optional[str] = None, backend: Optional[str] = None,
                   since: Optional[int] = None, until: Optional[int] = None,
                   limit: Optional[int] = None, cursor: Optional[str] = None) -> ExecutionPage:
        """One page of the audit log, newest first (since/until: ms since the epoch)."""
        doc = self.request("GET", "/v1/executions", query={
            "agent": agent, "session": session, "state": state, "backend": backend,
            "since": since, "until": until, "limit": limit, "cursor": cursor})
        return ExecutionPage([Execution.from_json(e) for e in doc.get("executions", [])],
                             doc.get("next_cursor"))

    def iter_executions(self, **filters) -> Iterator[Execution]:
        """Every matching row, page after page."""
        cursor = None
        while True:
            page = self.executions(cursor=cursor, **filters)
            yield from page.executions
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def execution(self, execution_id: str) -> Execution:
        return Execution.from_json(
            self.request("GET", f"/v1/executions/{quote(execution_id, safe='')}"))

    # -- the daemon --

    def version(self) -> dict:
        return self.request("GET", "/v1/version")

    def health(self) -> dict:
        """The health document; a daemon that is down answers 503 with it (raised as
        EngineUnavailable/NotSupported with the document in .raw)."""
        return self.request("GET", "/v1/health")
