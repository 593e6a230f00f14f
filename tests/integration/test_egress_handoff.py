"""The handoff on the real engines (docs/egress.md, "The path"): the agent's relay passes the
code's TCP connection itself to airlockd's proxy, which serves it with no relay hop; and
whatever an untrusted client passes on egress.sock instead (no fd, a file, a pipe, a listening
or a UDP or a UNIX socket, two fds, hundreds) is refused on that connection alone, with no fd
left in airlockd and the daemon serving."""
import array
import glob
import json
import os
import socket
import threading
import time

from conftest import engine_inspect
from egress_net import TEST_CIDR, unique_name, upstream
from test_egress import conf

MARKER = b"\xfd"

# Run in the sandbox: a CONNECT tunnel through the proxy, held open until /tmp/go appears,
# then used for one request.
HOLD = r'''
import os, socket, sys, time
name = sys.argv[1]
s = socket.create_connection(("127.0.0.1", 3128), timeout=30)
s.sendall(f"CONNECT {name}:80 HTTP/1.1\r\nHost: {name}:80\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1024)
# The request's first line now (not TLS: the tunnel carries it on at once), the rest later.
s.sendall(f"GET /hello.txt HTTP/1.1\r\nHost: {name}\r\n".encode())
for _ in range(1200):
    if os.path.exists("/tmp/go"):
        break
    time.sleep(0.1)
s.sendall(b"Connection: close\r\n\r\n")
body = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    body += b
print(head.split(b"\r\n")[0].decode(), "|", body.split(b"\r\n")[0].decode(), "|",
      body.rsplit(b"\r\n\r\n", 1)[-1].decode())
'''


REFUSED = r'''
import socket
s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
s.sendall(b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
out = b""
while (b := s.recv(4096)):
    out += b
print(out.decode())
'''


def fd_links(pid):
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return out


def sandbox_sockets(pid, port=3128):
    """Inodes of the established TCP sockets on the relay's port in the sandbox's netns."""
    found = set()
    for table in ("tcp", "tcp6"):
        for row in open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]:
            f = row.split()
            if f[1].endswith(f":{port:04X}") and f[3] == "01":
                found.add(f[9])
    return found


def handoff(path, fds, data=MARKER):
    """Connect to egress.sock, send data with fds attached; the whole reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(path)
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        s.sendmsg([data], anc)
        reply = b""
        while True:
            b = s.recv(4096)
            if not b:
                return reply.decode(errors="replace")
            reply += b


def reason_of(reply):
    for line in reply.split("\r\n"):
        if line.lower().startswith("x-airlock-egress-reason:"):
            return line.split(":", 1)[1].strip()
    return None


def test_handoff_and_bad_handoffs(engine, make_daemon, tmp_path):
    name = unique_name("hand")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("handed over")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        first = d.client.exec(runtime="python", session="h", argv=["true"])
        agent_pid = engine_inspect(engine, first["sandbox_id"])["State"]["Pid"]
        daemon_pid = d.proc.pid
        out = {}

        def hold():
            out["res"] = d.client.exec(runtime="python", network=True, session="h",
                                       timeout_s=80, argv=["python3", "-c", HOLD, name])

        t = threading.Thread(target=hold)
        t.start()
        try:
            # The tunnel is up: the code's connection (the relay's side of it, port 3128 in the
            # sandbox) is held by airlockd itself, not relayed.
            held = set()
            for _ in range(600):
                ours = {v for v in fd_links(daemon_pid).values()}
                held = {i for i in sandbox_sockets(agent_pid) if f"socket:[{i}]" in ours}
                if held or not t.is_alive():
                    break
                time.sleep(0.1)
            assert held, "airlockd holds no TCP socket of the sandbox: no handoff"
            time.sleep(1)  # the tunnel's relay under way (its pipes open) before the count

            paths = glob.glob(str(d.state / "run" / "*" / "egress.sock"))
            assert len(paths) == 1, paths
            path = paths[0]
            before_links = fd_links(daemon_pid)
            before = len(before_links)

            # An agent-less client that passes a connected TCP socket of its own is served on
            # it like the relay (the proxy's side of the protocol, not the agent's).
            lis = socket.create_server(("127.0.0.1", 0))
            mine = socket.create_connection(lis.getsockname())
            theirs, _ = lis.accept()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(20)
                s.connect(path)
                s.sendmsg([MARKER], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      array.array("i", [theirs.fileno()]))])
                theirs.close()
                assert s.recv(100) == b"", "the UNIX connection should end once taken"
            mine.settimeout(20)
            mine.sendall(f"GET http://{name}/hello.txt HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
            got = b""
            while (b := mine.recv(4096)):
                got += b
            mine.close()
            assert got.startswith(b"HTTP/1.") and b" 200 " in got.split(b"\r\n")[0], got
            assert got.endswith(b"handed over"), got

            # Bad handoffs: each refused on its own connection with its reason.
            f = open(tmp_path / "a-file", "w")
            r, w = os.pipe()
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            ua, ub = socket.socketpair()
            c2 = socket.create_connection(lis.getsockname())
            s2, _ = lis.accept()
            passed = [f.fileno(), r, lis.fileno(), udp.fileno(), ua.fileno(), s2.fileno(),
                      c2.fileno()]
            targets = {os.readlink(f"/proc/self/fd/{fd}") for fd in passed}
            cases = [
                ([], MARKER, "handoff_no_fd"),
                ([f.fileno()], MARKER, "handoff_not_socket"),
                ([r], MARKER, "handoff_not_socket"),
                ([lis.fileno()], MARKER, "handoff_bad_socket"),
                ([udp.fileno()], MARKER, "handoff_bad_socket"),
                ([ua.fileno()], MARKER, "handoff_bad_socket"),
                ([s2.fileno(), c2.fileno()], MARKER, "handoff_extra_fds"),
                ([s2.fileno()] * 250, MARKER, "handoff_extra_fds"),
                ([s2.fileno()], MARKER + b"GET / HTTP/1.1\r\n\r\n", "bad_request"),
                ([s2.fileno()], b"GET http://" + name.encode() + b"/x HTTP/1.1", None),
            ]
            for fds, data, want in cases:
                reply = handoff(path, fds, data)
                if want is None:  # an HTTP request with an fd: served, the fd dropped
                    continue
                assert reply.startswith("HTTP/1.1 400 Bad Request\r\n"), (want, reply)
                assert reason_of(reply) == want, (want, reply)
            for x in (f, udp, ua, ub, c2, s2, lis):
                x.close()
            os.close(r)
            os.close(w)
            # Nothing passed is left in airlockd, and its fd count comes back.
            for _ in range(100):
                now = fd_links(daemon_pid)
                if len(now) <= before:
                    break
                time.sleep(0.1)
            assert not targets & set(now.values()), targets & set(now.values())
            assert len(now) <= before, sorted(set(now.items()) ^ set(before_links.items()))
        finally:
            d.client.exec(runtime="python", session="h", argv=["touch", "/tmp/go"])
            t.join(120)
    res = out["res"]
    assert res["exit_code"] == 0, res
    connect_line, status_line, body = res["stdout"].strip().split(" | ")
    assert "200" in connect_line and "200" in status_line and body == "handed over", res
    reasons = {x["reason"] for x in res["egress_denied"]}
    assert {"handoff_no_fd", "handoff_not_socket", "handoff_bad_socket",
            "handoff_extra_fds"} <= reasons, res["egress_denied"]
    # On the record: the tunnel (the code's connection, served after the handoff) with its
    # bytes both ways, and each bad handoff as a refusal.
    st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
    assert st == 200, doc
    conns = doc["connections"]
    tunnel = [c for c in conns if c["protocol"] == "connect"]
    assert len(tunnel) == 1 and tunnel[0]["allowed"] and tunnel[0]["host"] == name, conns
    assert tunnel[0]["bytes_in"] > 0 and tunnel[0]["bytes_out"] > 0, conns
    assert tunnel[0]["duration_ms"] > 0, conns
    assert sum(1 for c in conns if (c["reason"] or "").startswith("handoff_")) == 8, conns
    # A refusal the proxy sends instead of taking the connection (no exec with the network
    # runs now) reaches the code through the relay's fallback.
    res = d.client.exec(runtime="python", session="h", argv=["python3", "-c", REFUSED])
    assert res["stdout"].startswith("HTTP/1.1 403 "), res
    assert "X-Airlock-Egress-Reason: no_network_exec" in res["stdout"], res
