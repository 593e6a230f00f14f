"""Upstream hosts for the egress tests: each one a network namespace of the test's own, joined
to the host by a veth pair on a private /30 of 10.213.0.0/16, serving what the test asks (HTTP
from a directory, TLS, a raw TCP echo, a slow stream), with names added to /etc/hosts for the
test's life. Names, namespaces and veths are unique per test (tests run in parallel under
pytest-xdist) and everything is removed on every path. A namespace's name and a hosts line's tag
carry the pid of the test process that made them: if that process was killed (no finally ran),
the next upstream started on the machine removes what it left (sweep_dead)."""
import fcntl
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

TEST_CIDR = "10.213.0.0/16"
HOSTS = Path("/etc/hosts")

# The servers run inside the namespace: a small Python program per upstream.
SERVER = r'''
import http.server, os, socket, socketserver, ssl, sys, threading, time
addr, www, cert, key = sys.argv[1:5]

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=www, **k)
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path.startswith("/slow"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        if self.path.startswith("/big/"):
            n = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"\0" * 65536
            while n > 0:
                self.wfile.write(chunk[:min(n, 65536)])
                n -= 65536
            return
        return super().do_GET()

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

def serve(srv):
    srv.serve_forever()

threading.Thread(target=serve, args=(S((addr, 80), H),), daemon=True).start()
tls = S((addr, 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
threading.Thread(target=serve, args=(tls,), daemon=True).start()

def echo():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, 7))
    ls.listen(16)
    while True:
        c, _ = ls.accept()
        def one(c):
            with c:
                while True:
                    b = c.recv(65536)
                    if not b:
                        return
                    c.sendall(b)
        threading.Thread(target=one, args=(c,), daemon=True).start()
threading.Thread(target=echo, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(3600)
'''


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def edit_hosts(fn):
    """Rewrite /etc/hosts as fn(text) says. The lock is on /etc/hosts itself (rewritten in
    place, same inode): no file of ours is left behind."""
    with open(HOSTS, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        text = fn(f.read())
        f.seek(0)
        f.write(text)
        f.truncate()


@contextmanager
def hosts_entries(entries):
    """Add "addr name" lines to /etc/hosts, marked with a tag of ours; removed at the end."""
    tag = f"# airlock-test-{os.getpid()}-{secrets.token_hex(4)}"
    lines = [f"{a} {n} {tag}\n" for a, n in entries]
    edit_hosts(lambda t: t + ("" if t.endswith("\n") else "\n") + "".join(lines))
    try:
        yield
    finally:
        edit_hosts(lambda t: "".join(l for l in t.splitlines(True) if tag not in l))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


NS_NAME = re.compile(r"alx(\d+)-([0-9a-f]+)$")
HOSTS_TAG = re.compile(r"# airlock-test-(\d+)-[0-9a-f]+$")


def sweep_dead():
    """Remove the namespaces (with the processes in them and their veths) and the hosts lines
    of test processes that are gone; never a live process's."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        m = NS_NAME.match(line.split()[0]) if line.split() else None
        if not m or pid_alive(int(m.group(1))):
            continue
        ns, vid = m.group(0), m.group(2)
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "link", "del", f"alh{vid}", check=False)
        sh("ip", "netns", "del", ns, check=False)

    def dead(line):
        m = HOSTS_TAG.search(line.rstrip("\n"))
        return bool(m) and not pid_alive(int(m.group(1)))

    edit_hosts(lambda t: "".join(l for l in t.splitlines(True) if not dead(l)))


class Upstream:
    """One upstream host. .addr is its address; .www the directory its HTTP serves."""

    def __init__(self):
        self.id = secrets.token_hex(3)
        # The namespace's name carries the owner's pid (sweep_dead); interface names stay
        # within 15 characters.
        self.ns = f"alx{os.getpid()}-{self.id}"
        self.veth_host = f"alh{self.id}"
        self.veth_ns = f"aln{self.id}"
        k = random.randrange(1, 16000)
        third, fourth = k >> 6, (k & 63) * 4
        self.host_addr = f"10.213.{third}.{fourth + 1}"
        self.addr = f"10.213.{third}.{fourth + 2}"
        self.dir = Path(tempfile.mkdtemp(prefix="airlock-upstream-"))
        self.www = self.dir / "www"
        self.www.mkdir()
        self.proc = None

    def start(self):
        sweep_dead()
        try:
            sh("ip", "netns", "add", self.ns)
            sh("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
            sh("ip", "link", "set", self.veth_ns, "netns", self.ns)
            sh("ip", "addr", "add", f"{self.host_addr}/30", "dev", self.veth_host)
            sh("ip", "link", "set", self.veth_host, "up")
            sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.addr}/30", "dev",
               self.veth_ns)
            sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "up")
            sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
            cert, key = self.dir / "cert.pem", self.dir / "key.pem"
            sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-subj", "/CN=upstream.test", "-keyout", str(key), "-out", str(cert))
            (self.dir / "server.py").write_text(SERVER)
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, sys.executable, str(self.dir / "server.py"),
                 self.addr, str(self.www), str(cert), str(key)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            line = self.proc.stdout.readline()
            assert line.strip() == "ready", f"upstream did not start: {line}"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        sh("ip", "link", "del", self.veth_host, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def upstream(names=()):
    """An upstream host reachable under each of names (plus its address)."""
    u = Upstream().start()
    try:
        with hosts_entries([(u.addr, n) for n in names]):
            yield u
    finally:
        u.stop()


def unique_name(label):
    """A name under .test no other test uses."""
    return f"{label}-{secrets.token_hex(3)}.test"
