"""Issue 13 on the real engines: network tiers enforced through airlock's egress proxy.

Upstreams are the suite's own hosts in network namespaces (egress_net.py) on a private range
that is reachable only where a test lists it in allowed_cidrs; nothing leaves the machine."""
import json
import subprocess
import threading
import time

import pytest

from conftest import ENGINE_SOCKETS
from egress_net import TEST_CIDR, unique_name, upstream


def conf(engine, network, sandbox="", extra=""):
    return f"""
[engine]
kind = {engine}
socket = {ENGINE_SOCKETS[engine]}

[sandbox]
pool_size = 0
{sandbox}

[limits]
timeout_s = 90
memory_mb = 256

[network]
{network}
{extra}
"""


# Run in the sandbox: fetch each URL through the proxy the environment names (urllib honours
# http_proxy), print one JSON line per URL: status, body or the proxy's reason.
FETCH = r'''
import json, sys, urllib.request, urllib.error
for url in sys.argv[1:]:
    try:
        r = urllib.request.urlopen(url, timeout=10)
        print(json.dumps({"url": url, "status": r.status, "body": r.read().decode()}))
    except urllib.error.HTTPError as e:
        print(json.dumps({"url": url, "status": e.code,
                          "reason": e.headers.get("X-Airlock-Egress-Reason")}))
    except Exception as e:
        print(json.dumps({"url": url, "status": None, "error": repr(e)}))
'''


def fetch(d, urls, **kw):
    res = d.client.exec(runtime="python", network=True, argv=["python3", "-c", FETCH, *urls],
                        **kw)
    assert res["exit_code"] == 0, res
    rows = [json.loads(l) for l in res["stdout"].splitlines()]
    return res, {r["url"]: r for r in rows}


def test_standard_tier(engine, make_daemon):
    allowed, wild_sub, both, other = (unique_name("ok"), "api." + unique_name("gh"),
                                      unique_name("both"), unique_name("no"))
    wild = wild_sub.split(".", 1)[1]
    loop = unique_name("loop")
    with upstream([allowed, wild_sub, wild, both, other]) as u:
        (u.www / "hello.txt").write_text("hello from upstream")
        from egress_net import hosts_entries
        with hosts_entries([("127.0.0.1", loop)]):
            # A name on both lists is refused by the parser (unit tests); here the blocked
            # one is a subdomain of an allowed wildcard.
            d = make_daemon(conf=conf(engine, f"""tier = standard
allowed_domains = {allowed}, *.{wild}, {loop}, {both}
blocked_domains = deny.{wild}
allowed_cidrs = {TEST_CIDR}
"""))
            urls = {
                "allowed": f"http://{allowed}/hello.txt",
                "wildcard": f"http://{wild_sub}/hello.txt",
                "wild_apex": f"http://{wild}/hello.txt",
                "blocked_sub": f"http://deny.{wild}/hello.txt",
                "other": f"http://{other}/hello.txt",
                "literal_listed": f"http://{u.addr}/hello.txt",
                "literal": "http://10.9.9.9/",
                "metadata": "http://169.254.169.254/latest/meta-data/",
                "loopback_name": f"http://{loop}/",
                "upper": f"http://{allowed.upper()}./hello.txt",
            }
            res, out = fetch(d, list(urls.values()), agent="tiers")
    assert out[urls["allowed"]] == {"url": urls["allowed"], "status": 200,
                                    "body": "hello from upstream"}
    assert out[urls["wildcard"]]["status"] == 200
    assert out[urls["upper"]]["status"] == 200
    # A literal passes only inside allowed_cidrs (an internal mirror).
    assert out[urls["literal_listed"]]["status"] == 200
    expect = {"wild_apex": "not_allowed", "blocked_sub": "blocked_domain",
              "other": "not_allowed", "literal": "ip_literal", "metadata": "ip_literal",
              "loopback_name": "address_loopback"}
    for k, reason in expect.items():
        assert out[urls[k]]["status"] == 403, (k, out[urls[k]])
        assert out[urls[k]]["reason"] == reason, (k, out[urls[k]])
    # The result names what was refused; the record has every attempt with its exec.
    denied = {(x["host"], x["reason"]) for x in res["egress_denied"]}
    assert (other, "not_allowed") in denied and (loop, "address_loopback") in denied
    assert ("169.254.169.254", "ip_literal") in denied
    st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
    assert st == 200
    conns = doc["connections"]
    ok = [c for c in conns if c["allowed"]]
    assert {c["host"] for c in ok} == {allowed, wild_sub, u.addr}
    assert all(c["address"] == u.addr and c["bytes_in"] > 0 and c["bytes_out"] > 0 for c in ok)
    assert len(conns) == len(urls)
    st, doc = d.client.json("GET", "/v1/executions?egress=refused&agent=tiers")
    assert [e["id"] for e in doc["executions"]] == [res["execution_id"]]
    st, doc = d.client.json("GET", f"/v1/executions?egress_host={other}")
    assert [e["id"] for e in doc["executions"]] == [res["execution_id"]]
    st, _, metrics = d.client.request("GET", "/metrics")
    m = metrics.decode()
    assert 'airlock_egress_connections_total{result="refused",reason="not_allowed"} 2' in m, m
    assert 'airlock_egress_connections_total{result="allowed",reason="none"} 4' in m


# No way around the proxy: only loopback, no route, no resolver.
AROUND = r'''
import json, socket
out = {"ifaces": [n for _, n in socket.if_nameindex()]}
try:
    socket.create_connection((ADDR, 80), timeout=3); out["tcp"] = "connected"
except OSError as e:
    out["tcp"] = e.errno
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", (ADDR, 53)); out["udp"] = "sent"
except OSError as e:
    out["udp"] = e.errno
try:
    out["dns"] = socket.getaddrinfo(NAME, 80)
except OSError as e:
    out["dns"] = "failed"
print(json.dumps(out))
'''


def test_no_way_around(engine, make_daemon):
    name = unique_name("dns")
    with upstream([name]) as u:
        d = make_daemon(conf=conf(engine, f"tier = elevated\nallowed_cidrs = {TEST_CIDR}"))
        code = AROUND.replace("ADDR", repr(u.addr)).replace("NAME", repr(name))
        res = d.client.exec(runtime="python", network=True, code=code)
    out = json.loads(res["stdout"])
    assert out["ifaces"] == ["lo"], out
    assert out["tcp"] != "connected" and out["udp"] != "sent", out
    assert out["dns"] == "failed", out


def test_allowed_cidrs_per_agent(engine, make_daemon):
    """An agent's allowed_cidrs replaces the global one: the internal mirror is reachable for
    that agent only, and an agent's empty list takes the global one away."""
    name = unique_name("mirror")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("from the mirror")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}",
                                  extra=f"""[agent "builder"]
allowed_cidrs = {TEST_CIDR}
[agent "walled"]
allowed_cidrs =
"""))
        url = f"http://{name}/hello.txt"
        _, out = fetch(d, [url], agent="builder")
        assert out[url]["status"] == 200 and out[url]["body"] == "from the mirror", out
        for agent in ("other", "walled"):
            res, out = fetch(d, [url], agent=agent)
            assert out[url]["status"] == 403 and out[url]["reason"] == "address_private", out
            assert {(x["host"], x["reason"]) for x in res["egress_denied"]} == \
                {(name, "address_private")}, res
        # The effective policy shows it.
        st, doc = d.client.json("GET", "/v1/policy?agent=builder")
        assert st == 200 and TEST_CIDR in json.dumps(doc), doc


def test_restricted_refuses_network(engine, make_daemon):
    d = make_daemon(conf=conf(engine, "tier = restricted"))
    st, doc = d.client.json("POST", "/v1/exec", {"runtime": "python", "network": True,
                                                 "code": "print(1)"})
    assert st == 403 and "restricted" in doc["error"]["message"]


# CONNECT with a ClientHello naming another host than the one asked for.
SNI = r'''
import json, socket, ssl, sys
def tunnel(host, sni):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = s.recv(4096).decode()
    ctx = ssl._create_unverified_context()
    try:
        t = ctx.wrap_socket(s, server_hostname=sni)
        t.sendall(f"GET /hello.txt HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        return head.split("\r\n")[0], t.recv(4096).decode().split("\r\n")[0]
    except (OSError, ssl.SSLError) as e:
        return head.split("\r\n")[0], "tls failed"
print(json.dumps([tunnel(sys.argv[1], sys.argv[1]), tunnel(sys.argv[1], sys.argv[2])]))
'''


def test_sni_mismatch(engine, make_daemon):
    good, evil = unique_name("sni"), unique_name("evil")
    with upstream([good, evil]) as u:
        (u.www / "hello.txt").write_text("tls hello")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {good}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        res = d.client.exec(runtime="python", network=True, argv=["python3", "-c", SNI, good, evil])
    same, other = json.loads(res["stdout"])
    assert same == ["HTTP/1.1 200 Connection established", "HTTP/1.0 200 OK"], res
    assert other == ["HTTP/1.1 200 Connection established", "tls failed"], res
    assert {"host": good, "port": 443, "reason": "sni_mismatch"} in res["egress_denied"]


SOCKS = r'''
import json, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"\x05\x01\x00"); assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", port))
rep = s.recv(10)
out = {"rep": rep[1]}
if rep[1] == 0:
    s.sendall(b"ping over socks"); out["echo"] = s.recv(100).decode()
print(json.dumps(out))
'''


@pytest.mark.parametrize("tier", ["elevated", "standard"])
def test_socks5(engine, make_daemon, tier):
    name = unique_name("socks")
    with upstream([name]) as u:
        d = make_daemon(conf=conf(engine, f"tier = {tier}\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        res = d.client.exec(runtime="python", network=True,
                            argv=["python3", "-c", SOCKS, name, "7"])
    out = json.loads(res["stdout"])
    if tier == "elevated":
        assert out == {"rep": 0, "echo": "ping over socks"}, res
        assert res["egress_denied"] == []
    else:
        assert out == {"rep": 2}, res
        assert res["egress_denied"] == [{"host": name, "port": 7,
                                         "reason": "socks_needs_elevated"}]


SLOW = r'''
import time, urllib.request, sys
t = time.time(); n = 0
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=20)
    while r.read(1):
        n += 1
except Exception as e:
    pass
print(n, round(time.time() - t, 1))
'''


WAIT_CONNECTED = r'''
import time
for _ in range(600):
    rows = [l.split() for l in open("/proc/net/tcp").read().splitlines()[1:]]
    if any(r[1].endswith(":0C38") and r[3] == "01" for r in rows):
        break
    time.sleep(0.1)
'''


def test_reload_cuts_open_connections(engine, make_daemon):
    name = unique_name("cut")
    with upstream([name]) as u:
        net = f"tier = standard\nallowed_domains = {name}\nallowed_cidrs = {TEST_CIDR}"
        d = make_daemon(conf=conf(engine, net))
        out = {}

        def run():
            out["res"] = d.client.exec(runtime="python", network=True, session="cut",
                                       argv=["python3", "-c", SLOW, f"http://{name}/slow"])

        t = threading.Thread(target=run)
        t.start()
        # The reload comes once the stream flows (a connection to the relay's port, 3128 =
        # 0C38, established in the sandbox), however long the sandbox and Python took to start
        # on a loaded machine: a connection opened after the reload is refused, not cut.
        d.client.exec(runtime="python", session="cut", argv=["python3", "-c", WAIT_CONNECTED])
        time.sleep(2)
        d.conf_path.write_text(conf(engine, f"tier = standard\nallowed_domains = other.test\n"
                                            f"allowed_cidrs = {TEST_CIDR}"))
        st, doc = d.client.json("POST", "/v1/policy/reload")
        assert st == 200, doc
        t.join(60)
    res = out["res"]
    n, secs = res["stdout"].split()
    # The stream runs 30 s; cut by the reload after ~4 s.
    assert float(secs) < 15 and 0 < int(n) < 200, res
    assert {"host": name, "port": 80, "reason": "not_allowed"} in res["egress_denied"]


def test_proxy_down_then_restart(engine, make_daemon):
    """The daemon killed: the sandbox has no way out (and is told why); started again, the
    adopted sandbox gets its way out back."""
    name = unique_name("back")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("again")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}", sandbox="scope = agent"))
        url = f"http://{name}/hello.txt"
        res, out = fetch(d, [url], agent="keeper")
        assert out[url]["status"] == 200
        cid = res["sandbox_id"]
        d.kill()
        cli = "docker" if engine == "docker" else "podman"
        p = subprocess.run([cli, "exec", "-e", "http_proxy=http://127.0.0.1:3128", cid,
                            "python3", "-c", FETCH, url], capture_output=True, text=True,
                           timeout=60)
        down = json.loads(p.stdout)
        assert down["status"] == 503 and down["reason"] == "proxy_unavailable", p
        d.start()
        res, out = fetch(d, [url], agent="keeper")
        assert res["sandbox_id"] == cid
        assert out[url] == {"url": url, "status": 200, "body": "again"}


NODE_CLIENTS = r"""
const http = require('http'), https = require('https');
const get = (mod, url) => new Promise((ok) => {
  mod.get(url, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => ok(`${r.statusCode} ${b}`)); })
    .on('error', (e) => ok(`error ${e.message}`));
});
(async () => {
  const out = {};
  out.http = await get(http, 'http://NAME/hello.txt');
  out.https = await get(https, 'https://NAME/hello.txt');
  out.fetch_http = await fetch('http://NAME/hello.txt').then((r) => r.text());
  out.fetch_https = await fetch('https://NAME/hello.txt').then(async (r) => `${r.status} ${await r.text()}`);
  out.refused = await fetch('http://BLOCKED/').then((r) => `${r.status}`, (e) => `error ${e.cause && e.cause.message}`);
  console.log(JSON.stringify(out));
})();
"""


@pytest.mark.parametrize("runtime", ["node", "node18", "node22"])
def test_unmodified_node_http_https_and_fetch(engine, make_daemon, runtime):
    """Node's own http, https and fetch, unmodified: Node 22 reads the proxy variables itself,
    Node 18 and 20 through airlock's preload."""
    name, blocked = unique_name("node"), unique_name("nodeblocked")
    with upstream([name, blocked]) as u:
        (u.www / "hello.txt").write_text("node hello")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        code = NODE_CLIENTS.replace("BLOCKED", blocked).replace("NAME", name)
        res = d.client.exec(runtime=runtime, network=True, code=code,
                            env={"NODE_TLS_REJECT_UNAUTHORIZED": "0"})
        assert res["exit_code"] == 0 and res["stdout"].strip(), (res["stdout"], res["stderr"])
        out = json.loads(res["stdout"].strip().splitlines()[-1])
        assert out["http"] == "200 node hello", out
        assert out["https"] == "200 node hello", out
        assert out["fetch_http"] == "node hello", out
        assert out["fetch_https"] == "200 node hello", out
        # Refused by policy: a 403 from the proxy or an error, whichever the client makes of it.
        assert out["refused"] == "403" or out["refused"].startswith("error"), out
        assert [x["host"] for x in res["egress_denied"]] == [blocked], res["egress_denied"]


def test_npm_install_from_a_registry(engine, make_daemon):
    """npm, unmodified, installs from a registry served by a test host through the standard
    tier (npm reads npm_config_proxy); the package is required in the next exec."""
    import hashlib
    from native_pkg import build_npm_tarball
    reg = unique_name("npmreg")
    with upstream([reg]) as u:
        tgz = build_npm_tarball(name="airlock-npm-demo", version="1.0.0", answer=4242)
        (u.www / "tarballs").mkdir()
        (u.www / "tarballs" / "airlock-npm-demo-1.0.0.tgz").write_bytes(tgz)
        meta = {"name": "airlock-npm-demo", "dist-tags": {"latest": "1.0.0"},
                "versions": {"1.0.0": {
                    "name": "airlock-npm-demo", "version": "1.0.0", "main": "index.js",
                    "dist": {"tarball": f"http://{reg}/tarballs/airlock-npm-demo-1.0.0.tgz",
                             "shasum": hashlib.sha1(tgz).hexdigest()}}}}
        (u.www / "airlock-npm-demo").write_text(json.dumps(meta))
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {reg}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        res = d.client.exec(agent="npm", session="s", runtime="node", network=True, timeout_s=90,
                            command=f"cd /home/airlock && npm install --no-audit --no-fund "
                                    f"--registry http://{reg}/ airlock-npm-demo 2>&1")
        assert res["exit_code"] == 0, res["stdout"]
        assert res["egress_denied"] == [], res
        res2 = d.client.exec(agent="npm", session="s", runtime="node",
                             code="process.chdir('/home/airlock');"
                                  "console.log(require('/home/airlock/node_modules/airlock-npm-demo')"
                                  ".answer())")
        assert res2["stdout"].strip() == "4242", res2
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert any(c["host"] == reg and c["allowed"] for c in doc["connections"]), doc


def test_pip_install_native_package(engine, make_daemon, tmp_path):
    """The seed's flow: pip install from a package index (a test host), allowed through the
    standard tier, importable in the next exec of the same scope."""
    from native_pkg import build_wheel
    NAME = "airlock_native"
    index = unique_name("pypi")
    with upstream([index]) as u:
        wheel = build_wheel(tmp_path / "wheel", name=NAME)
        (u.www / "packages").mkdir()
        (u.www / "packages" / wheel.name).write_bytes(wheel.read_bytes())
        proj = u.www / "simple" / NAME.replace("_", "-")
        proj.mkdir(parents=True)
        (proj / "index.html").write_text(
            f'<html><body><a href="../../packages/{wheel.name}">{wheel.name}</a></body></html>')
        root = tmp_path / "ws"
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {index}\n"
                                          f"allowed_cidrs = {TEST_CIDR}",
                                  sandbox=f"scope = session\nworkspace = rw\n"
                                          f"workspace_root = {root}"))
        res = d.client.exec(agent="pip", session="s", runtime="python", network=True,
                            timeout_s=60,
                            command=f"pip install --no-cache-dir --index-url http://{index}/simple/"
                                    f" --trusted-host {index} {NAME} 2>&1")
        assert res["exit_code"] == 0, res["stdout"]
        assert f"Successfully installed {NAME}" in res["stdout"], res
        assert res["egress_denied"] == [], res
        res2 = d.client.exec(agent="pip", session="s", runtime="python",
                             code=f"import {NAME}; print({NAME}.answer(), {NAME}.__file__)")
        # Plain `pip install` lands in the install home, where native code may load.
        assert res2["stdout"].startswith("42 /home/airlock/"), res2
        assert res2["sandbox_id"] == res["sandbox_id"]
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert any(c["host"] == index and c["allowed"] for c in doc["connections"]), doc


HOST_CONF = """
[engine]
kind = docker
socket = {engine_socket}

[sandbox]
mode = off

[limits]
memory_mb = 256
max_processes = 64
timeout_s = 30

[network]
{network}
"""


def test_host_backend_through_proxy(make_daemon):
    """mode off with "network": true: the code runs on the host in a namespace whose only way
    out is the proxy, with the same decisions and records."""
    allowed, other = unique_name("host"), unique_name("hostno")
    with upstream([allowed, other]) as u:
        (u.www / "hello.txt").write_text("host hello")
        d = make_daemon(conf=HOST_CONF.format(
            engine_socket=ENGINE_SOCKETS["docker"],
            network=f"tier = standard\nallowed_domains = {allowed}\nallowed_cidrs = {TEST_CIDR}"))
        ok, no = f"http://{allowed}/hello.txt", f"http://{other}/hello.txt"
        res = d.client.exec(network=True, argv=["python3", "-c", FETCH, ok, no])
        assert res["backend"] == "host" and "egress" in res["isolation"], res
        out = {r["url"]: r for r in map(json.loads, res["stdout"].splitlines())}
        assert out[ok]["status"] == 200 and out[ok]["body"] == "host hello", res
        assert out[no]["status"] == 403 and out[no]["reason"] == "not_allowed", res
        assert res["egress_denied"] == [{"host": other, "port": 80, "reason": "not_allowed"}]
        # No way around: the upstream's address is not reachable directly, names do not
        # resolve through the host's resolver... except /etc/hosts, which is a file, not DNS.
        code = AROUND.replace("ADDR", repr(u.addr)).replace("NAME", repr("nonexistent.invalid"))
        res = d.client.exec(network=True, code=code, runtime="python")
        around = json.loads(res["stdout"])
        assert around["ifaces"] == ["lo"] and around["tcp"] != "connected", around
        assert around["dns"] == "failed", around
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert doc["connections"] == []


def test_unmodified_clients(engine, make_daemon):
    """Clients that only read the proxy variables: busybox wget (http), Python urllib over
    https (CONNECT, through the tunnel to the TLS upstream)."""
    name = unique_name("tools")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("tools hello")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        res = d.client.exec(runtime="sh", network=True,
                            command=f"wget -q -O - http://{name}/hello.txt")
        assert res["exit_code"] == 0 and res["stdout"] == "tools hello", res
        code = (f"import ssl, urllib.request\n"
                f"ctx = ssl._create_unverified_context()\n"
                f"print(urllib.request.urlopen('https://{name}/hello.txt', context=ctx).read()"
                f".decode())")
        res = d.client.exec(runtime="python", network=True, code=code)
        assert res["stdout"] == "tools hello\n", res
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert [(c["protocol"], c["port"], c["allowed"]) for c in doc["connections"]] == \
            [("connect", 443, True)]


def git_repo(www, name, text):
    """A bare repository with one commit in www, served by git's dumb HTTP protocol (static
    files: update-server-info writes the refs and pack lists it reads)."""
    work = www.parent / f"{name}-work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.test", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    (work / "README").write_text(text)
    subprocess.run([*git, "-C", str(work), "add", "README"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(www / f"{name}.git")], check=True)
    subprocess.run(["git", "-C", str(www / f"{name}.git"), "update-server-info"], check=True)


def test_curl_git_requests(engine, make_daemon):
    """curl (http, and https through CONNECT), git clone over https and Python requests, all
    unmodified, reading only the proxy variables; a refused host gives curl the proxy's 403."""
    name, blocked = unique_name("clients"), unique_name("clientsno")
    with upstream([name, blocked]) as u:
        (u.www / "hello.txt").write_text("clients hello")
        git_repo(u.www, "repo", "cloned through the proxy")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        res = d.client.exec(runtime="bash", network=True, command=f"""
set -e
curl -sS http://{name}/hello.txt; echo
curl -sSk https://{name}/hello.txt; echo
git -c http.sslVerify=false clone -q https://{name}/repo.git /tmp/repo; cat /tmp/repo/README; echo
curl -s -o /dev/null -D - http://{blocked}/ | tr -d '\\r' | grep -i -e '^HTTP/' -e '^x-airlock-egress-reason'
""")
        assert res["exit_code"] == 0, res
        assert res["stdout"].splitlines() == [
            "clients hello", "clients hello", "cloned through the proxy",
            "HTTP/1.1 403 Forbidden", "X-Airlock-Egress-Reason: not_allowed"], res
        assert res["egress_denied"] == [{"host": blocked, "port": 80, "reason": "not_allowed"}]
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert st == 200, doc
        seen = {(c["host"], c["protocol"], c["port"], c["allowed"]) for c in doc["connections"]}
        assert seen == {(name, "http", 80, True), (name, "connect", 443, True),
                        (blocked, "http", 80, False)}, doc
        code = (f"import requests, warnings\nwarnings.simplefilter('ignore')\n"
                f"r = requests.get('https://{name}/hello.txt', verify=False, timeout=20)\n"
                f"print(r.status_code, r.text)")
        res = d.client.exec(runtime="python", network=True, code=code)
        assert res["stdout"] == "200 clients hello\n", res
        st, doc = d.client.json("GET", f"/v1/executions/{res['execution_id']}/egress")
        assert [(c["host"], c["protocol"], c["port"], c["allowed"]) for c in doc["connections"]] \
            == [(name, "connect", 443, True)], doc


# A background process with the network: a few fetches, a slow stream (cut by a reload), then
# fetches until it is ended. One line per event.
BG_LOOP = r'''
import sys, time, urllib.error, urllib.request
url, slow = sys.argv[1:3]
def get(u):
    try:
        return str(urllib.request.urlopen(u, timeout=10).read().decode())
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.headers.get('X-Airlock-Egress-Reason')}"
    except Exception as e:
        return f"error {e!r}"
for _ in range(3):
    print("get", get(url), flush=True)
    time.sleep(0.2)
t = time.time(); n = 0
try:
    r = urllib.request.urlopen(slow, timeout=20)
    print("slow open", flush=True)
    while r.read(1):
        n += 1
except Exception:
    pass
print("streamed", n, round(time.time() - t, 1), flush=True)
while True:
    print("after", get(url), flush=True)
    time.sleep(0.5)
'''


def test_background_process_with_network(engine, make_daemon):
    """"background": true with "network": true: the process has its way out for as long as it
    runs, its connections are on the record under its own execution id, a reload cuts them,
    and once it is ended a connection from an exec without the network is refused."""
    name = unique_name("bg")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("bg hello")
        d = make_daemon(conf=conf(engine, f"tier = standard\nallowed_domains = {name}\n"
                                          f"allowed_cidrs = {TEST_CIDR}"))
        c = d.client
        r = c.exec(session="bg", runtime="python", network=True, background=True,
                   argv=["python3", "-c", BG_LOOP, f"http://{name}/hello.txt",
                         f"http://{name}/slow"])
        assert r["background"] is True and "egress_error" not in r, r
        sid, pid, xid = r["sandbox_id"], r["pid"], r["execution_id"]

        def output_until(pred, secs=60):
            deadline = time.time() + secs
            while True:
                one = c.json("GET", f"/v1/sandboxes/{sid}/processes/{pid}")[1]
                if pred(one["stdout"]) or time.time() > deadline:
                    return one
                time.sleep(0.2)

        one = output_until(lambda o: "slow open" in o)
        assert one["stdout"].startswith("get bg hello\n" * 3 + "slow open\n"), one
        time.sleep(1)
        # Stricter rules: the open stream is cut, new connections refused.
        d.conf_path.write_text(conf(engine, f"tier = standard\nallowed_domains = other.test\n"
                                            f"allowed_cidrs = {TEST_CIDR}"))
        st, doc = c.json("POST", "/v1/policy/reload")
        assert st == 200, doc
        one = output_until(lambda o: "after " in o)
        lines = one["stdout"].splitlines()
        slow = next(l for l in lines if l.startswith("streamed ")).split()
        # The stream runs 30 s unless cut.
        assert float(slow[2]) < 15 and 0 < int(slow[1]) < 200, one
        assert "after 403 not_allowed" in lines, one
        st, doc = c.json("GET", f"/v1/executions/{xid}/egress")
        rows = [(x["host"], x["allowed"], x["reason"]) for x in doc["connections"]]
        # Three fetches, the stream cut by the reload (with the bytes it carried), and the
        # fetches refused after it.
        assert rows.count((name, True, None)) == 3, rows
        cut = [x for x in doc["connections"] if x["reason"] == "not_allowed" and x["bytes_in"]]
        assert len(cut) == 1 and not cut[0]["allowed"], doc
        assert set(rows) == {(name, True, None), (name, False, "not_allowed")}, rows

        # Ended: its audit row is finished, and the sandbox has no way out any more.
        st, _ = c.json("DELETE", f"/v1/sandboxes/{sid}/processes/{pid}")
        assert st == 200
        deadline = time.time() + 30
        while c.json("GET", f"/v1/executions/{xid}")[1]["state"] != "done":
            assert time.time() < deadline, "the background process's row was not finished"
            time.sleep(0.2)
        res = c.exec(session="bg", runtime="python", env={"http_proxy": "http://127.0.0.1:3128"},
                     argv=["python3", "-c", FETCH, f"http://{name}/hello.txt"])
        assert res["sandbox_id"] == sid, res
        out = json.loads(res["stdout"])
        # The proxy refuses at once (403, no_network_exec) and closes; the relay passes the
        # answer on even when the code's request meets the closed socket.
        assert out["status"] == 403 and out["reason"] == "no_network_exec", out
        m = c.request("GET", "/metrics")[2].decode()
        assert 'airlock_egress_connections_total{result="refused",reason="no_network_exec"} 1' \
            in m, m


def test_upstreams_of_a_killed_test_process_are_swept():
    """A test process killed with its upstream up (no finally ran) leaves a namespace, a veth,
    a server and hosts lines; the next upstream started removes them, never a live one's."""
    import os
    import sys
    from pathlib import Path
    here = Path(__file__).parent
    name = unique_name("orphan")
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom egress_net import upstream\n"
         f"with upstream([{name!r}]) as u:\n"
         "    print(u.ns, u.veth_host, u.proc.pid, flush=True)\n    time.sleep(600)\n"],
        cwd=here, stdout=subprocess.PIPE, text=True)
    try:
        ns, veth, server = child.stdout.readline().split()
    finally:
        child.kill()
        child.wait()
    assert ns == f"alx{child.pid}-{ns.split('-')[1]}"

    def left():
        return {"ns": ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                           text=True).stdout,
                "veth": subprocess.run(["ip", "link", "show", veth],
                                       capture_output=True).returncode == 0,
                "hosts": name in Path("/etc/hosts").read_text(),
                "server": alive(server)}

    def alive(pid):
        # Killed but not yet reaped by whoever inherited it: a zombie is not alive.
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    assert left() == {"ns": True, "veth": True, "hosts": True, "server": True}
    with upstream() as u:
        assert u.ns.startswith(f"alx{os.getpid()}-")
        assert left() == {"ns": False, "veth": False, "hosts": False, "server": False}
