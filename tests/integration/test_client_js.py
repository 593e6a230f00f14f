"""The JavaScript client (clients/js) against the real airlockd: its own node:test suite
(clients/js/test/), run with node's built-in test runner against a daemon started here."""
import os
import shutil
import subprocess

from conftest import ROOT


def test_js_client(make_daemon):
    node = shutil.which("node")
    assert node, "node is not installed (contrib/setup.sh installs nodejs)"
    d = make_daemon(conf_extra='[agent "bashonly"]\nruntimes = bash\n\n'
                                 '[agent "tinydisk"]\ndisk_mb = 2\n')
    p = subprocess.run([node, "--test", "--test-reporter=tap", "test/"],
                       cwd=ROOT / "clients" / "js", capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, AIRLOCK_SOCKET=d.sock))
    assert p.returncode == 0, p.stdout[-8000:] + p.stderr[-4000:]
    # Every test ran and passed: none skipped.
    assert "# pass 7" in p.stdout and "# fail 0" in p.stdout and "# skipped 0" in p.stdout, \
        p.stdout[-3000:]
