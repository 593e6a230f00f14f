"""A remote end that speaks E2B's wire protocol (spec/openapi.yml: POST/GET/DELETE /sandboxes,
POST /sandboxes/{id}/timeout; envd's process.Process Connect-RPC JSON) and misbehaves on
demand: the faults the provider backend must survive (429, garbage, refused key, slow, a lost
sandbox, a dead process stream). It runs no code: a Start streams the command line back as
stdout, and `sleep` runs until a SendSignal arrives. The healthy path against a real remote is
the two-airlockd test (test_provider_remote.py).
"""
import base64
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def envelope(obj, flags=0):
    data = json.dumps(obj).encode()
    return struct.pack(">BI", flags, len(data)) + data


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.fault = None          # None, "429", "refuse", "garbage", "slow", "lose", "die"
        self.fault_count = 0       # how many more requests get the fault (-1: all)
        self.sandboxes = {}        # id -> NewSandbox body
        self.requests = []         # (method, path, headers, body)
        self.signals = []
        self.next_id = 1
        self.kill_events = {}      # pid -> threading.Event


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    @property
    def st(self):
        return self.server.state

    def reply(self, status, obj=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def take_fault(self):
        with self.st.lock:
            if self.st.fault and self.st.fault_count != 0:
                if self.st.fault_count > 0:
                    self.st.fault_count -= 1
                return self.st.fault
        return None

    def handle_any(self, method):
        raw = self.body()
        with self.st.lock:
            self.st.requests.append((method, self.path, dict(self.headers), raw))
        fault = self.take_fault()
        if fault == "429":
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "refuse":
            return self.reply(401, {"code": 401, "message": "Invalid API key, it must start "
                                                            "with e2b_"})
        if fault == "slow":
            time.sleep(3)
        if self.path.startswith("/process.Process/"):
            return self.rpc(self.path.split("/")[-1], raw, fault)
        if self.headers.get("X-API-Key") != self.server.key:
            return self.reply(401, {"code": 401, "message": "Invalid API key"})
        if fault == "garbage":
            return self.reply(201, raw=b"<html>oops</html>", ctype="text/html")
        path = self.path.split("?")[0]
        if method == "POST" and path == "/sandboxes":
            doc = json.loads(raw)
            with self.st.lock:
                sid = f"fake{self.st.next_id:08d}"
                self.st.next_id += 1
                self.st.sandboxes[sid] = doc
            return self.reply(201, {"templateID": doc["templateID"], "sandboxID": sid,
                                    "clientID": "x", "envdVersion": "0.1.0",
                                    "envdAccessToken": "tok-" + sid})
        if method == "GET" and path == "/sandboxes":
            with self.st.lock:
                rows = [{"sandboxID": k, "templateID": v["templateID"], "clientID": "x",
                         "metadata": v.get("metadata", {}), "state": "running"}
                        for k, v in self.st.sandboxes.items()]
            return self.reply(200, rows)
        parts = path.split("/")
        if len(parts) >= 3 and parts[1] == "sandboxes":
            sid = parts[2]
            with self.st.lock:
                known = sid in self.st.sandboxes
                if method == "DELETE" and known:
                    del self.st.sandboxes[sid]
            if not known:
                return self.reply(404, {"code": 404, "message": f"sandbox {sid} not found"})
            if method == "DELETE":
                return self.reply(204)
            if method == "POST" and len(parts) == 4 and parts[3] == "timeout":
                return self.reply(204)
            if method == "GET":
                return self.reply(200, {"sandboxID": sid, "templateID": "t", "clientID": "x",
                                        "envdVersion": "0.1.0", "state": "running",
                                        "envdAccessToken": "tok-" + sid})
        return self.reply(404, {"code": 404, "message": "no route"})

    def rpc(self, name, raw, fault):
        sid = self.headers.get("E2b-Sandbox-Id", "")
        with self.st.lock:
            known = sid in self.st.sandboxes
        if fault == "lose" or not known:
            return self.reply(404, {"code": "not_found", "message": f"sandbox {sid} not found"})
        if self.headers.get("X-Access-Token") != "tok-" + sid:
            return self.reply(401, {"code": "unauthenticated", "message": "bad access token"})
        if name != "Start":
            req = json.loads(raw)
            if name == "SendSignal":
                with self.st.lock:
                    self.st.signals.append(req)
                    ev = self.st.kill_events.get(req["process"]["pid"])
                if ev:
                    ev.set()
            return self.reply(200, {})
        # A server stream: one envelope in, envelopes out until the end of the stream.
        flags, n = struct.unpack(">BI", raw[:5])
        req = json.loads(raw[5:5 + n])
        argv = [req["process"]["cmd"]] + req["process"].get("args", [])
        self.send_response(200)
        self.send_header("Content-Type", "application/connect+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        pid = 100 + len(self.st.requests)
        chunk(envelope({"event": {"start": {"pid": pid}}}))
        if fault == "garbage":
            chunk(b"\x00\x00\x00\x00\x05}{}{}")
            chunk(b"")
            return
        if fault == "die":
            # The remote goes away mid-exec: the connection drops without an end.
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if any("sleep" in a for a in argv):
            ev = threading.Event()
            with self.st.lock:
                self.st.kill_events[pid] = ev
            while not ev.wait(0.5):
                chunk(envelope({"event": {"keepalive": {}}}))
            chunk(envelope({"event": {"end": {"exited": False, "status": "signal: killed"}}}))
        else:
            text = " ".join(argv[2:] if len(argv) > 2 else argv) + "\n"
            chunk(envelope({"event": {"data": {"stdout": base64.b64encode(text.encode())
                                               .decode()}}}))
            chunk(envelope({"event": {"end": {"exitCode": 0, "exited": True,
                                              "status": "exit status 0"}}}))
        chunk(envelope({}, flags=2))
        chunk(b"")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


def start(key):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = State()
    srv.key = key
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
