"""Isolation tiers (docs/isolation.md) on the real engines: the gvisor tier (runsc, registered
with Docker by contrib/runsc.sh) passes the hardening and limit checks the container tier
passes, each protection checked from inside; a SELECTIVE gvisor rule sends untrusted code to
gVisor; the agent, files, contexts and the egress path work in it; a tier that is not in force
is refused with 503 tier_unavailable, never handed out weaker."""
from urllib.parse import quote

import pytest

from conftest import ENGINE_SOCKETS, Daemon, engine_inspect
from egress_net import TEST_CIDR, unique_name, upstream

HOST_KERNEL = open("/proc/version").read().split("\n")[0]

CONF = """
[engine]
kind = {engine}
socket = {socket}

[sandbox]
mode = {mode}
pool_size = 0
isolation = {tier}
{sandbox}

[limits]
cpu_cores = 1
memory_mb = 256
disk_mb = 64
max_processes = 32
timeout_s = 60

{extra}
"""


def conf(tier, engine="docker", mode="all", sandbox="", extra=""):
    return CONF.format(engine=engine, socket=ENGINE_SOCKETS[engine], mode=mode, tier=tier,
                       sandbox=sandbox, extra=extra)


@pytest.fixture(scope="module", params=["container", "gvisor"])
def tiered(request, tmp_path_factory):
    """One Docker daemon per tier, the same settings otherwise."""
    d = Daemon(tmp_path_factory.mktemp(f"iso-{request.param}"),
               conf=conf(request.param)).start()
    d.tier = request.param
    yield d
    d.stop()


def run(d, code=None, runtime="bash", **kw):
    key = "command" if runtime == "bash" else "code"
    return d.client.exec(agent="iso", runtime=runtime, **{key: code}, **kw)


# --- the same hardening in both tiers, each protection seen from inside ---------------------

def test_hardening_inside(tiered):
    r = run(tiered, "head -1 /proc/version; id -u; grep -E '^(CapEff|Seccomp):' /proc/self/status;"
                    " awk '$2 == \"/\" {print \"root\", substr($4, 1, 3)}' /proc/mounts;"
                    " touch /usr/x 2>&1; echo rc=$?", session="hard")
    lines = r["stdout"].splitlines()
    assert r["isolation"] == tiered.tier, r
    # the kernel the code talks to: the host's in the container tier, gVisor's Sentry else
    assert (lines[0] == HOST_KERNEL) == (tiered.tier == "container"), lines
    assert lines[1] == "2000100000"  # never root
    assert "CapEff:\t0000000000000000" in lines and "Seccomp:\t2" in lines, lines
    # a read-only root (gVisor says EACCES before EROFS to a non-root user)
    assert "root ro," in lines and "rc=1" in r["stdout"], r
    insp = engine_inspect("docker", r["sandbox_id"])
    hc = insp["HostConfig"]
    assert hc["CapDrop"] == ["ALL"] and hc["ReadonlyRootfs"] is True
    assert hc["NetworkMode"] == "none" and "no-new-privileges" in hc["SecurityOpt"]
    if tiered.tier == "gvisor":
        # airlock's table: runsc, and room for runsc's own tasks in the pids cgroup
        assert hc["Runtime"] == "airlock-runsc" and hc["PidsLimit"] == 100 + 32 * 6, hc
    else:
        assert hc.get("Runtime") in (None, "", "runc") and hc["PidsLimit"] == 32, hc


def test_no_network_but_through_egress(tiered):
    r = run(tiered, runtime="python", code="""
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("1.1.1.1", 53)); print("connected")
except OSError as e:
    print("refused", e.errno)
""")
    assert r["stdout"].startswith("refused"), r


def test_limits(tiered):
    # timeout: the whole tree, a setsid'd child included, and the sandbox serves on
    r = run(tiered, "(setsid sh -c 'sleep 300' &) ; sleep 300", session="lim", timeout_s=2)
    assert r["timed_out"] is True and r["duration_ms"] < 5000, r
    r2 = run(tiered, "for p in /proc/[0-9]*; do cat $p/comm; done", session="lim")
    assert "sleep" not in r2["stdout"].split(), r2
    assert r2["sandbox_id"] == r["sandbox_id"]
    # memory: 600 MiB does not fit in 256
    r = run(tiered, "x = bytearray(1024*1024*600); print('survived')", runtime="python")
    assert "survived" not in r["stdout"], r
    assert r["exit_code"] != 0 and (r["oom_killed"] or r["signal"] == 9 or "MemoryError"
                                    in r["stderr"]), r
    # processes: a fork bomb stops at the limit; in gVisor the host's pids cgroup (with room for
    # runsc's own tasks) is the limit, and reaching it ends the whole sandbox, said so
    r = run(tiered, runtime="python", timeout_s=60, code="""
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        n += 1
except OSError as e:
    print("stopped", n, flush=True)
os.killpg(0, 9)
""")
    words = r["stdout"].split()
    if tiered.tier == "gvisor":
        assert r["signal"] == 9 and "process limit" in r["sandbox_lost"], r
    else:
        assert words[:1] == ["stopped"] and 8 < int(words[1]) < 32, r
    assert run(tiered, "echo ok")["stdout"] == "ok\n"


# --- files, contexts and background processes through the agent, in both tiers ---------------

def test_files_and_contexts(tiered):
    q = "agent=iso&session=fc&runtime=python&path=" + quote("/home/airlock/in.txt", safe="/")
    st, _, _ = tiered.client.request("PUT", "/v1/files?" + q, body=b"from the host\n",
                                     headers={"Content-Type": "application/octet-stream"})
    assert st in (200, 201)
    r = run(tiered, "print(open('/home/airlock/in.txt').read().strip())", runtime="python",
            session="fc")
    assert r["stdout"] == "from the host\n" and r["isolation"] == tiered.tier
    st, _, data = tiered.client.request("GET", "/v1/files?" + q)
    assert st == 200 and data == b"from the host\n"
    st, ctx = tiered.client.json("POST", "/v1/contexts",
                                 {"agent": "iso", "session": "ctx", "language": "python"})
    assert st == 201, ctx
    tiered.client.exec(agent="iso", context=ctx["id"], code="x = 6")
    r = tiered.client.exec(agent="iso", context=ctx["id"], code="x * 7")
    assert [x["data"]["text/plain"] for x in r["results"]] == ["42"], r
    # an interrupt reaches the interpreter (in gVisor through the agent's SIGNAL)
    r = tiered.client.exec(agent="iso", context=ctx["id"], code="import time; time.sleep(30)",
                           timeout_s=2)
    assert r["timed_out"] is True
    r = tiered.client.exec(agent="iso", context=ctx["id"], code="x")
    assert [x["data"]["text/plain"] for x in r["results"]] == ["6"], r


def test_audit_names_the_tier(tiered):
    r = run(tiered, "true")
    st, row = tiered.client.json("GET", f"/v1/executions/{r['execution_id']}")
    assert st == 200 and row["isolation"] == tiered.tier, row
    st, health = tiered.client.json("GET", "/v1/health")
    iso = health["checks"]["isolation"]
    assert iso["status"] == "ok" and iso["tiers"][tiered.tier]["state"] == "available", iso
    assert iso["used"] == [tiered.tier]


def test_execs_are_spawned_without_a_copy_of_the_agent(tiered):
    """gVisor runs the agent's clone(CLONE_VM) spawn too (no fallback to fork)."""
    import glob
    from test_agent import agent_ping
    assert run(tiered, "true", session="spawn")["transport"] == "agent"
    socks = glob.glob(str(tiered.state / "run" / "*" / "agent.sock"))
    pongs = [agent_ping(sock) for sock in socks]
    assert pongs and all(p["spawns"]["fork"] == 0 for p in pongs), pongs
    assert any(p["spawns"]["shared_vm"] >= 1 for p in pongs), pongs


# --- gVisor-only paths ------------------------------------------------------------------------

def test_egress_relay_in_gvisor(make_daemon):
    name = unique_name("iso")
    with upstream([name]) as u:
        (u.www / "hello.txt").write_text("hello through the relay")
        d = make_daemon(conf=conf("gvisor", extra=f"""[network]
tier = standard
allowed_domains = {name}
allowed_cidrs = {TEST_CIDR}
"""))
        r = d.client.exec(agent="iso", runtime="python", network=True, code=f"""
import urllib.request
print(urllib.request.urlopen("http://{name}/hello.txt", timeout=10).read().decode())
try:
    urllib.request.urlopen("http://other-{name}/", timeout=10)
except Exception as e:
    print("refused", getattr(e, "code", e))
""")
    assert r["isolation"] == "gvisor", r
    assert r["stdout"].splitlines() == ["hello through the relay", "refused 403"], r


def test_selective_rule_sends_untrusted_code_to_gvisor(make_daemon, tmp_path):
    rules = tmp_path / "iso.rules"
    rules.write_text("host readonly word ls cat echo\n"
                     "gvisor untrusted-code flag untrusted\n")
    rules.chmod(0o644)
    d = make_daemon(conf=conf("container", mode="selective",
                              sandbox=f"selective_rules = {rules}"))
    r = d.client.exec(agent="iso", runtime="python", code="print(open('/proc/version').read())")
    assert r["isolation"] == "container" and r["stdout"].startswith(HOST_KERNEL), r
    r = d.client.exec(agent="iso", runtime="python", untrusted=True,
                      code="print(open('/proc/version').read())")
    assert r["isolation"] == "gvisor", r
    assert not r["stdout"].startswith(HOST_KERNEL), r
    assert "gvisor tier by rule untrusted-code (iso.rules:2)" in r["decision"]["reason"], r
    # even what the rules would let run on the host is raised into a gVisor sandbox
    r = d.client.exec(agent="iso", runtime="bash", untrusted=True, command="cat /proc/version")
    assert r["sandboxed"] is True and r["isolation"] == "gvisor", r


def test_agent_override_and_sandboxes_per_tier(make_daemon):
    d = make_daemon(conf=conf("container", extra='[agent "risky"]\nisolation = gvisor\n'))
    a = d.client.exec(agent="plain", session="s", runtime="bash", command="head -1 /proc/version")
    b = d.client.exec(agent="risky", session="s", runtime="bash", command="head -1 /proc/version")
    assert a["isolation"] == "container" and a["stdout"].strip() == HOST_KERNEL
    assert b["isolation"] == "gvisor" and b["stdout"].strip() != HOST_KERNEL
    assert a["sandbox_id"] != b["sandbox_id"]


def test_unavailable_tier_is_refused_on_podman(make_daemon):
    d = make_daemon(engine="podman", conf=conf("container", engine="podman",
                                               extra='[agent "risky"]\nisolation = gvisor\n'))
    st, doc = d.client.json("POST", "/v1/exec", {"agent": "risky", "runtime": "bash",
                                                  "command": "echo never"})
    assert st == 503 and doc["error"]["code"] == "tier_unavailable", doc
    assert "Podman" in doc["error"]["message"], doc
    # the container tier serves on
    assert d.client.exec(agent="plain", runtime="bash", command="echo ok")["stdout"] == "ok\n"
    st, health = d.client.json("GET", "/v1/health")
    iso = health["checks"]["isolation"]
    assert iso["tiers"]["gvisor"]["state"] == "unavailable", iso
    assert iso["status"] == "degraded", iso
