"""airlock's context driver: a live interpreter inside a sandbox (docs/contexts.md).

Run by airlockd as a background process of the sandbox, in a cgroup of its own:

    python3 /.airlock/lib/airlock_ctx.py SOCKET LANGUAGE

It listens on the UNIX socket SOCKET (in /.airlock/run, where the daemon reaches it) and serves
one cell per connection, in frames of airlock's agent protocol (include/airlock/agent_proto.h):

    daemon -> driver  0x40 CTX_RUN     {"code": "..."}
    driver -> daemon  0x83 STDOUT      bytes the code wrote to fd 1
                      0x84 STDERR      bytes the code wrote to fd 2
                      0xC0 CTX_RESULT  {"kind": "result"|"display", "data": {mime: text}}
                      0xC1 CTX_DONE    {"execution_count": N, "status": "ok"|"error",
                                        "error": {name, value, traceback}, "recovered": "..."}

The code's stdout and stderr are pipes the driver reads: nothing the code prints can be taken for
a frame. Only a peer outside the sandbox's PID namespace (SO_PEERCRED pid 0: the daemon) is
served (in gVisor every peer over the host's socket reads as our own pid: docs/isolation.md). The daemon trusts nothing said here; the code runs in this very process, so this file
is a convenience for the code, not a boundary.

LANGUAGE is python (the code runs in this interpreter) or bash (the code goes to a persistent
shell: see ChildRunner). Node contexts have a driver of their own, airlock_ctx.js.
"""
import ast
import base64
import builtins
import errno
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import termios
import threading
import time
import traceback
import types

CTX_RUN = 0x40
STDOUT = 0x83
STDERR = 0x84
CTX_RESULT = 0xC0
CTX_DONE = 0xC1
PAYLOAD_MAX = 1 << 20
CHUNK = 64 << 10
REPR_MAX = 768 << 10  # one representation; a bundle must fit one frame
DRAIN_MS = 300  # output still read after a cell before its DONE

DRIVER_PID = os.getpid()


class Channel:
    """The connection of the cell that runs now, shared by the main thread and the readers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sock = None

    def send(self, ftype, payload):
        if len(payload) > PAYLOAD_MAX:
            return
        frame = struct.pack(">IB", len(payload) + 1, ftype) + payload
        main = threading.get_ident() == MAIN_THREAD
        if main:
            DEFER.sending = True  # an interrupt now must not cut a frame in half
        try:
            with self.lock:
                if self.sock is None:
                    return
                try:
                    self.sock.sendall(frame)
                except OSError:
                    self.sock = None
        finally:
            if main:
                DEFER.sending = False
                if DEFER.pending:
                    DEFER.pending = False
                    raise KeyboardInterrupt

    def send_json(self, ftype, obj):
        self.send(ftype, json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8", "replace"))


class DEFER:
    """An interrupt that came while the main thread was sending a frame: raised after it."""
    sending = False
    pending = False


MAIN_THREAD = threading.get_ident()
chan = Channel()
READERS = []


class Reader(threading.Thread):
    """Reads one of the code's output pipes into STDOUT or STDERR frames (dropped between
    cells). A read and its send happen under the lock, so that drain() knows that what left
    the pipe has been sent."""

    def __init__(self, fd, ftype):
        super().__init__(daemon=True)
        self.fd, self.ftype = fd, ftype
        self.lock = threading.Lock()
        os.set_blocking(fd, False)

    def run(self):
        while True:
            select.select([self.fd], [], [])
            with self.lock:
                try:
                    data = os.read(self.fd, CHUNK)
                except (BlockingIOError, InterruptedError):
                    continue
                if not data:
                    return
                chan.send(self.ftype, data)

    def pending(self):
        n = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        if n > 0:
            return True
        with self.lock:  # a read in progress is sent before this returns
            n = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        return n > 0


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def read_request(sock):
    hdr = read_exact(sock, 5)
    if hdr is None:
        return None
    length, ftype = struct.unpack(">IB", hdr)
    if ftype != CTX_RUN or length < 1 or length - 1 > PAYLOAD_MAX:
        return None
    payload = read_exact(sock, length - 1)
    if payload is None:
        return None
    try:
        req = json.loads(payload.decode("utf-8"))
    except ValueError:
        return None
    return req if isinstance(req, dict) and isinstance(req.get("code"), str) else None


def error_doc(exc):
    """{name, value, traceback} of exc, without the driver's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != os.path.abspath(__file__)]
    lines = traceback.format_list(frames)
    text = ("Traceback (most recent call last):\n" + "".join(lines) if lines else "") + \
        "".join(traceback.format_exception_only(type(exc), exc))
    return {"name": type(exc).__name__, "value": str(exc)[:4096], "traceback": text[-65536:]}


# ---- Python ----

MIME_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
)


def as_text(mime, value):
    if isinstance(value, tuple) and value:
        value = value[0]  # (data, metadata)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if mime == "application/json" and not isinstance(value, str):
        return json.dumps(value, default=str)
    return value if isinstance(value, str) else None


def mime_bundle(obj):
    """The representations of obj keyed by MIME type, each bounded; text/plain always."""
    data = {}
    try:
        mb = getattr(obj, "_repr_mimebundle_", None)
        if callable(mb) and not isinstance(obj, type):
            got = mb()
            if isinstance(got, tuple):
                got = got[0]
            if isinstance(got, dict):
                for mime, value in got.items():
                    text = as_text(mime, value)
                    if isinstance(mime, str) and text is not None:
                        data[mime] = text
    except Exception:
        pass
    for mime, name in MIME_METHODS:
        if mime in data or isinstance(obj, type):
            continue
        try:
            method = getattr(obj, name, None)
            if callable(method):
                text = as_text(mime, method())
                if text is not None:
                    data[mime] = text
        except Exception:
            pass
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as e:
            data["text/plain"] = "<unrepresentable: %s>" % type(e).__name__
    for mime in list(data):
        if len(data[mime]) > REPR_MAX:
            if mime == "text/plain":
                data[mime] = data[mime][:REPR_MAX] + "..."
            else:
                del data[mime]
    return data


def drain():
    """Waits (a little) until what the code wrote so far has been sent."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    until = time.monotonic() + DRAIN_MS / 1000
    while any(r.pending() for r in READERS) and time.monotonic() < until:
        time.sleep(0.002)


def send_result(kind, obj):
    drain()
    chan.send_json(CTX_RESULT, {"kind": kind, "data": mime_bundle(obj)})


def display(*objs, **_):
    """Show objects as results, as a notebook would."""
    for obj in objs:
        send_result("display", obj)


class Png:
    def __init__(self, data):
        self.data = data

    def _repr_png_(self):
        return self.data

    def __repr__(self):
        return "<Figure (PNG, %d bytes)>" % len(self.data)


def show_figures():
    """Every open matplotlib figure as a PNG display result, then closed. Only when the code
    imported pyplot itself: the driver never imports matplotlib on its own."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    import io

    try:
        for num in plt.get_fignums():
            fig = plt.figure(num)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            send_result("display", Png(buf.getvalue()))
        plt.close("all")
    except Exception as e:
        chan.send(STDERR, ("airlock: cannot render a figure: %s\n" % e).encode())


class PythonRunner:
    def __init__(self):
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        self.module.__dict__["display"] = display
        sys.modules["__main__"] = self.module
        self.ns = self.module.__dict__

    def run(self, code, state):
        try:
            tree = ast.parse(code, "<cell>", "exec")
        except Exception as e:  # SyntaxError, or NUL in the source (ValueError)
            return error_doc(e)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        try:
            state.in_cell = True
            if tree.body:
                exec(compile(tree, "<cell>", "exec"), self.ns)
            value = eval(compile(last, "<cell>", "eval"), self.ns) if last else None
            state.in_cell = False
            show_figures()
            if value is not None:
                self.ns["_"] = value
                send_result("result", value)
        except BaseException as e:  # KeyboardInterrupt and SystemExit are results too
            state.in_cell = False
            if os.getpid() != DRIVER_PID:
                os._exit(0)
            show_figures()
            return error_doc(e)
        return None


# ---- bash: a persistent shell ----


class ChildRunner:
    """A persistent bash process with the code's stdout and stderr. Each cell goes to it
    NUL-terminated on a pipe of its own (its fd 4), and its status comes back as a JSON line on
    another (its fd 3); its stdin is /dev/null. When it ends (exit in a cell), so does the
    driver, with its status: the daemon reports the context ended."""

    def __init__(self, out_w, err_w):
        code_r, self.code_w = os.pipe()
        self.done_r, done_w = os.pipe()
        here = os.path.dirname(os.path.abspath(__file__))
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                null = os.open(os.devnull, os.O_RDONLY)
                for src, dst in ((null, 0), (out_w, 1), (err_w, 2), (done_w, 3), (code_r, 4)):
                    os.dup2(src, dst)
                os.closerange(5, 65536)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvp("bash", ["bash", "--norc", "--noprofile",
                                   os.path.join(here, "airlock_ctx.sh")])
            except BaseException:
                pass
            os._exit(127)
        os.close(code_r)
        os.close(done_w)
        self.pid = pid
        self.buf = b""

    def ended(self):
        """The shell is gone: the driver ends with its status."""
        drain()
        _, status = os.waitpid(self.pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)

    def run(self, code, state):
        if "\0" in code:
            return {"name": "ValueError", "value": "a bash cell cannot contain NUL",
                    "traceback": ""}
        data = code.encode("utf-8", "surrogateescape") + b"\0"
        try:
            os.write(self.code_w, data)
        except OSError:
            self.ended()
        state.in_cell = True
        while b"\n" not in self.buf:
            try:
                part = os.read(self.done_r, 4096)
            except InterruptedError:
                continue
            if not part:
                state.in_cell = False
                self.ended()
            self.buf = (self.buf + part)[-4096:]
        state.in_cell = False
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            status = int(json.loads(line.decode("utf-8", "replace")).get("status", 1))
        except (ValueError, AttributeError):
            status = 1
        if status == 130:
            return {"name": "KeyboardInterrupt", "value": "interrupted", "traceback": ""}
        if status != 0:
            return {"name": "ExitStatus", "value": str(status), "traceback": ""}
        return None

    def interrupt(self):
        try:
            os.killpg(self.pid, signal.SIGINT)
        except OSError:
            pass


class State:
    in_cell = False


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("python", "bash"):
        sys.stderr.write("usage: airlock_ctx.py SOCKET python|bash\n")
        return 2
    path, language = sys.argv[1], sys.argv[2]
    state = State()
    sys.modules["airlock_ctx"] = sys.modules[__name__]
    # The code's output: pipes read by the driver, never the channel.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    for fd in (out_r, err_r, out_w, err_w):
        os.set_inheritable(fd, False)
    READERS[:] = [Reader(out_r, STDOUT), Reader(err_r, STDERR)]
    for r in READERS:
        r.start()

    try:
        st = os.lstat(path)
        if (st.st_mode & 0o170000) == 0o140000:
            os.unlink(path)
    except FileNotFoundError:
        pass
    old = os.umask(0o177)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.umask(old)
    listener.listen(4)

    def on_sigint(signum, frame):
        if state.in_cell and DEFER.sending:
            DEFER.pending = True
            return
        if state.in_cell:
            if runner is not None and language != "python":
                runner.interrupt()
                return
            raise KeyboardInterrupt

    def in_child():
        # A fork of the code: it must never speak for the context.
        try:
            listener.close()
            if chan.sock is not None:
                os.close(chan.sock.detach())
        except OSError:
            pass
        chan.sock = None

    os.register_at_fork(after_in_child=in_child)
    runner = None
    if language == "python":
        # matplotlib, when the code imports it, draws with airlock's backend; the setting is
        # taken back once it is read, so that the code's own subprocesses do not inherit it.
        os.environ["MPLBACKEND"] = "module://airlock_ctx_mpl"
        sys.argv = [""]
        # Line-buffered like a terminal's: what is printed before a fork is not printed twice.
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
        sys.path = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
        sys.path.append(os.path.dirname(os.path.abspath(__file__)))
        runner = PythonRunner()
    else:
        runner = ChildRunner(out_w, err_w)
    signal.signal(signal.SIGINT, on_sigint)
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except KeyboardInterrupt:
            continue
        except OSError as e:
            if e.errno in (errno.EINTR, errno.ECONNABORTED, errno.EMFILE, errno.ENFILE):
                time.sleep(0.05)
                continue
            return 1
        try:
            pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
            # In gVisor a peer over the host's socket reads as this very process (no other
            # process can have its pid): the daemon's and the code's alike, there.
            req = read_request(conn) if pid in (0, os.getpid()) else None
        except (OSError, KeyboardInterrupt):
            req = None
        if req is None:
            conn.close()
            continue
        count += 1
        chan.sock = conn
        error = recovered = None
        try:
            error = runner.run(req["code"], state)
        except BaseException as e:  # an interrupt between the code and the driver
            state.in_cell = False
            if os.getpid() != DRIVER_PID:
                os._exit(0)
            error = {"name": type(e).__name__, "value": str(e)[:4096], "traceback": ""}
        if os.getpid() != DRIVER_PID:
            os._exit(0)
        if "matplotlib" in sys.modules and os.environ.get("MPLBACKEND") == "module://airlock_ctx_mpl":
            del os.environ["MPLBACKEND"]
        # The code may have closed or replaced its streams: put them back.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        fixed = []
        for fd, w, name in ((1, out_w, "stdout"), (2, err_w, "stderr")):
            try:
                same = os.path.sameopenfile(fd, w)
            except OSError:
                same = False
            if not same:
                os.dup2(w, fd)
                fixed.append(name)
        for name, fd in (("stdout", 1), ("stderr", 2)):
            f = getattr(sys, name)
            if f is None or getattr(f, "closed", True) or not hasattr(f, "write"):
                setattr(sys, name, open(fd, "w", buffering=1, closefd=False,
                                        errors="backslashreplace"))
                if name not in fixed:
                    fixed.append(name)
        if signal.getsignal(signal.SIGINT) is not on_sigint:
            signal.signal(signal.SIGINT, on_sigint)
            fixed.append("the SIGINT handler")
        if fixed:
            recovered = "the code closed or replaced %s; restored" % " and ".join(fixed)
        drain()
        done = {"execution_count": count, "status": "error" if error else "ok"}
        if error:
            done["error"] = error
        if recovered:
            done["recovered"] = recovered
        try:
            chan.send_json(CTX_DONE, done)
        except KeyboardInterrupt:
            pass
        with chan.lock:
            chan.sock = None
        try:
            conn.close()
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
