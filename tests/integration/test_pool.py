"""Issue 11, item 4: warm pools. Ready sandboxes are kept per runtime; a new session's first exec
and a one-off claim one; the pool refills; a sandbox is never handed out twice; pooled sandboxes
count against the caps, die and are replaced, are drained when a reload changes their spec, and
are removed at shutdown and after a crash. Real airlockd, real Docker and Podman."""
import json
import threading
import time

from conftest import DEFAULT_CONF, ENGINE_SOCKETS, engine_inspect, labelled_containers
from conftest import remove_container


def pool_conf(engine, size=2, extra=""):
    conf = DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine])
    conf = conf.replace("pool_size = 0", f"pool_size = {size}\ndefault_runtime = bash")
    return conf + extra


def pools(d):
    doc = d.client.json("GET", "/v1/health")[1]
    return doc["checks"]["sandboxes"]


def wait_ready(d, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = pools(d)
        if s["pooled"] == n:
            return s
        time.sleep(0.2)
    raise AssertionError(f"pool did not reach {n} ready: {pools(d)}")


def pooled_ids(engine, d):
    """Containers of this daemon that no scope holds: the pooled ones."""
    inst = d.instance()
    held = {s["id"] for s in d.client.json("GET", "/v1/sandboxes")[1]["sandboxes"]}
    return {c for c in labelled_containers(engine, f"airlock.instance={inst}") if c not in held}


def test_sessions_and_one_offs_claim_pooled_sandboxes(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 2))
    s = wait_ready(d, 2)
    assert s["pools"][0]["runtime"] == "bash" and s["pools"][0]["size"] == 2, s
    ready = pooled_ids(engine, d)
    assert len(ready) == 2
    # A new session's first exec runs in one of them.
    r = d.client.exec(session="s1", command="echo hi")
    assert r["stdout"] == "hi\n"
    assert any(cid.startswith(r["sandbox_id"]) for cid in ready), (r["sandbox_id"], ready)
    # The pool refills in the background.
    wait_ready(d, 2)
    # A one-off runs in a pooled sandbox too, which goes with it.
    ready = pooled_ids(engine, d)
    o = d.client.exec(command="echo once")
    assert o["stdout"] == "once\n"
    one = [cid for cid in ready if cid.startswith(o["sandbox_id"])]
    assert one, (o["sandbox_id"], ready)
    # It is removed in the background, right after the answer.
    deadline = time.time() + 15
    while one[0] in labelled_containers(engine, f"airlock.instance={d.instance()}"):
        assert time.time() < deadline, "the one-off's pooled sandbox was not removed"
        time.sleep(0.2)
    metrics = d.client.request("GET", "/metrics")[2].decode()
    assert 'airlock_pool_claims_total{result="hit"} 2' in metrics, metrics


def test_a_pooled_sandbox_is_never_handed_out_twice(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 3))
    wait_ready(d, 3)
    out = {}

    def first_exec(i):
        out[i] = d.client.exec(session=f"c{i}", command="echo $$ > /tmp/mine; cat /tmp/mine")

    threads = [threading.Thread(target=first_exec, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids = [out[i]["sandbox_id"] for i in range(6)]
    assert len(set(ids)) == 6, ids
    for i in range(6):
        again = d.client.exec(session=f"c{i}", command="cat /tmp/mine")
        assert again["sandbox_id"] == ids[i] and again["stdout"] == out[i]["stdout"]


def test_pooled_sandboxes_count_against_the_caps(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 2).replace(
        "[limits]", "[daemon]\nmax_sandboxes = 2\n\n[limits]"))
    wait_ready(d, 2)
    # Claiming one moves it from the pool to the session: the total stays 2.
    d.client.exec(session="a", command="true")
    time.sleep(2)
    s = pools(d)
    assert s["total"] + s["pooled"] <= 2, s
    d.client.exec(session="b", command="true")
    st, doc = d.client.json("POST", "/v1/exec", {"session": "c", "command": "true"})
    assert st == 429, doc


def test_a_pooled_sandbox_that_dies_is_replaced(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 1))
    wait_ready(d, 1)
    (victim,) = pooled_ids(engine, d)
    remove_container(engine, victim)
    deadline = time.time() + 30
    while time.time() < deadline:
        ids = pooled_ids(engine, d)
        if ids and victim not in ids and pools(d)["pools"][0]["died"] == 1:
            break
        time.sleep(0.5)
    assert victim not in pooled_ids(engine, d)
    assert pools(d)["pools"][0]["died"] == 1, pools(d)
    wait_ready(d, 1)
    # And a session still gets a working sandbox.
    assert d.client.exec(session="after", command="echo ok")["stdout"] == "ok\n"


def test_reload_drains_stale_pool_members(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 1))
    wait_ready(d, 1)
    (old,) = pooled_ids(engine, d)
    d.conf_path.write_text(d.conf_path.read_text().replace("memory_mb = 256", "memory_mb = 192"))
    st, doc = d.client.json("POST", "/v1/policy/reload")
    assert st == 200, doc
    # The reload gave the pool a new target: its first member is made from the new spec.
    deadline = time.time() + 30
    while time.time() < deadline:
        p = pools(d)["pools"][0]
        if p["made"] >= 1 and p["ready"] == 1:
            break
        time.sleep(0.3)
    new = pooled_ids(engine, d)
    assert new and old not in new, (old, new, pools(d))
    (cid,) = new
    assert engine_inspect(engine, cid)["HostConfig"]["Memory"] == 192 << 20
    # A new session never gets a sandbox made from the old spec.
    r = d.client.exec(session="fresh", command="true")
    got = [c for c in labelled_containers(engine, f"airlock.instance={d.instance()}")
           if c.startswith(r["sandbox_id"])]
    assert got and engine_inspect(engine, got[0])["HostConfig"]["Memory"] == 192 << 20, \
        json.dumps([cid, r, pools(d)])
    # And it is the pooled one: no miss after the reload (the health document the wait above
    # reads is not one cached from before the reload).
    assert cid.startswith(r["sandbox_id"]), json.dumps([cid, r, pools(d)])


def test_pooled_sandboxes_go_at_shutdown_and_after_a_crash(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 2))
    wait_ready(d, 2)
    inst = d.instance()
    d.stop()
    assert labelled_containers(engine, f"airlock.instance={inst}") == []
    d.start()
    wait_ready(d, 2)
    d.kill()  # a crash leaves them; the next start removes them as orphans
    d.proc.wait()
    left = set(labelled_containers(engine, f"airlock.instance={inst}"))
    assert len(left) == 2
    d.start()
    wait_ready(d, 2)
    now = set(labelled_containers(engine, f"airlock.instance={inst}"))
    assert not (left & now), (left, now)


def test_pool_size_zero_and_mode_off_keep_nothing(make_daemon, engine):
    d = make_daemon(engine=engine, conf=pool_conf(engine, 0))
    time.sleep(1)
    assert pools(d)["pooled"] == 0 and pooled_ids(engine, d) == set()
    st, doc = d.client.json("GET", "/v1/policy")
    assert doc["sandbox"]["pool_size"] == 0
