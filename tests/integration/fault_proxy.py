"""A fault-injecting HTTP proxy between a front airlockd and a real remote one ([e2b] listen).

Every request is forwarded to the remote unchanged (the front opens one connection per request,
libcurl easy handles, so the proxy reads one request head and then pipes bytes both ways until
either side closes). On demand, a request whose method and path match a fault gets instead:

  "429"      HTTP 429 with Retry-After: 0 and an E2B error document (not forwarded)
  "garbage"  HTTP 200 with bytes that are neither JSON nor a Connect envelope (not forwarded)
  "cut"      forwarded, then both connections closed `after_s` seconds in (the remote gone
             mid-stream, as seen from the front)
  "delay"    held `after_s` seconds, then forwarded

Sandboxes are lost for real: drop() deletes one on the remote through its control plane.
"""
import http.client
import json
import selectors
import socket
import threading
import time


class FaultProxy:
    def __init__(self, upstream_port, key):
        self.upstream = ("127.0.0.1", upstream_port)
        self.key = key
        self.lock = threading.Lock()
        self.faults = []      # [method, path prefix, kind, count (-1: all), after_s]
        self.requests = []    # (method, path, headers, body or None)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.running = False
        self.srv.close()

    # What a test asks for.
    def fault(self, method, path, kind, count=-1, after_s=0.0):
        with self.lock:
            self.faults.append([method, path, kind, count, after_s])

    def clear(self):
        with self.lock:
            self.faults.clear()

    def seen(self, method, path):
        """The requests so far for method and a path starting with path."""
        with self.lock:
            return [r for r in self.requests if r[0] == method and r[1].startswith(path)]

    def api(self, method, path, body=None, key=None):
        """A control-plane call straight to the remote (not through the faults)."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"X-API-Key": key or self.key, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else None

    def sandboxes(self, instance, session=None):
        """The remote's sandboxes that front instance made (for session, when given)."""
        status, rows = self.api("GET", "/sandboxes")
        assert status == 200, rows
        return [r["sandboxID"] for r in rows
                if r["metadata"].get("airlock_instance") == instance
                and (session is None or r["metadata"].get("airlock_session") == session)]

    def drop(self, sandbox_id):
        status, doc = self.api("DELETE", f"/sandboxes/{sandbox_id}")
        assert status == 204, (status, doc)

    # The proxy itself.
    def _take(self, method, path):
        with self.lock:
            for f in self.faults:
                if f[0] == method and path.startswith(f[1]) and f[3] != 0:
                    if f[3] > 0:
                        f[3] -= 1
                    return f[2], f[4]
        return None, 0.0

    def _accept(self):
        while self.running:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(65536)
                if not chunk:
                    return
                head += chunk
            head_end = head.index(b"\r\n\r\n") + 4
            lines = head[:head_end].decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            rest = head[head_end:]
            body = None
            n = int(headers.get("content-length", "0"))
            if "expect" not in headers:
                while len(rest) < n:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                body = rest
            with self.lock:
                self.requests.append((method, path, headers, body))
            kind, after_s = self._take(method, path)
            if kind == "429":
                return self._answer(c, "429 Too Many Requests", "application/json",
                                    b'{"code":429,"message":"rate limited by the proxy"}',
                                    "Retry-After: 0\r\n")
            if kind == "garbage":
                ctype = ("application/connect+json" if path.startswith("/process.")
                         else "application/json")
                return self._answer(c, "200 OK", ctype, b"\x00\x00\x00\x00\x07<html>no")
            if kind == "delay":
                time.sleep(after_s)
            self._pipe(c, head[:head_end] + rest, after_s if kind == "cut" else None)

    @staticmethod
    def _answer(c, status, ctype, data, extra=""):
        c.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}"
                  f"\r\n{extra}Connection: close\r\n\r\n".encode() + data)

    def _pipe(self, c, first, cut_after):
        try:
            u = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            return
        with u:
            try:
                u.sendall(first)
            except OSError:
                return
            deadline = time.monotonic() + cut_after if cut_after is not None else None
            sel = selectors.DefaultSelector()
            sel.register(c, selectors.EVENT_READ, u)
            sel.register(u, selectors.EVENT_READ, c)
            while True:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return  # the cut: both connections close mid-stream
                ready = sel.select(wait if wait is not None else 5)
                for key, _ in ready:
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    try:
                        key.data.sendall(data)
                    except OSError:
                        return  # the other side is gone (a front that gave up)
