"""The airlock command-line client against the real airlockd: what a user typing the
documented commands sees on stdout, stderr and in the exit status."""
import json
import os
import subprocess
import time

import pytest

from conftest import AIRLOCK


def run(daemon, *args, input=None, timeout=90, socket=None):
    env = dict(os.environ, AIRLOCK_SOCKET=socket or daemon.sock)
    env.pop("AIRLOCK_AGENT", None)
    env.pop("AIRLOCK_SESSION", None)
    # stdin: the given text, else /dev/null, never the test runner's own stdin.
    return subprocess.run([str(AIRLOCK), *args], input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, env=env, timeout=timeout)


def test_documented_examples(daemon):
    p = run(daemon, "exec", "--runtime", "python", "-c", "print(6*7)")
    assert (p.returncode, p.stdout) == (0, b"42\n"), p
    p = run(daemon, "exec", "--runtime", "bash", "--", "ls", "-d", "/tmp")
    assert (p.returncode, p.stdout) == (0, b"/tmp\n"), p
    p = run(daemon, "exec", "--runtime", "bash", "--", "cat", input=b"hi\n")
    assert (p.returncode, p.stdout) == (0, b"hi\n"), p
    p = run(daemon, "exec", "--runtime", "bash", "--command", "printf 'a\\nb\\nc\\n' | wc -l")
    assert p.returncode == 0 and p.stdout.strip() == b"3", p
    # Without "--" the first non-option still starts the program's argv.
    p = run(daemon, "exec", "--runtime", "bash", "echo", "-n", "x")
    assert (p.returncode, p.stdout) == (0, b"x"), p


@pytest.mark.parametrize("mode", [[], ["--no-stream"]])
def test_streams_and_exit_code(daemon, mode):
    p = run(daemon, "exec", *mode, "--runtime", "bash", "--command",
            "echo out; echo err >&2; exit 3")
    assert p.returncode == 3, p
    assert p.stdout == b"out\n"
    assert p.stderr == b"err\n"


def test_stdin_env_and_code_reading_stdin(daemon):
    # Options may follow -c CODE: only a bare word starts a program's argv.
    p = run(daemon, "exec", "--runtime", "python", "-c",
            "import sys, os; print(sys.stdin.read().upper(), os.environ['FOO'])",
            "-e", "FOO=bar", input=b"shout")
    assert (p.returncode, p.stdout) == (0, b"SHOUT bar\n"), p


def test_output_arrives_while_the_program_runs(daemon):
    env = dict(os.environ, AIRLOCK_SOCKET=daemon.sock)
    proc = subprocess.Popen([str(AIRLOCK), "exec", "--runtime", "bash", "--command",
                             "echo first; sleep 3; echo second"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    try:
        start = time.monotonic()
        assert proc.stdout.readline() == b"first\n"
        first_at = time.monotonic() - start
        assert proc.stdout.readline() == b"second\n"
        second_at = time.monotonic() - start
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert second_at - first_at > 2, (first_at, second_at)


def test_signal_timeout_and_oom_statuses(daemon):
    p = run(daemon, "exec", "--runtime", "bash", "--command", "kill -TERM $$")
    assert p.returncode == 128 + 15, p
    p = run(daemon, "exec", "--timeout", "1", "--runtime", "bash", "--", "sleep", "10")
    assert p.returncode == 124, p
    assert b"airlock: timed out after 1s" in p.stderr
    # The test settings give sandboxes 256 MiB; touching 1 GiB gets the process OOM-killed.
    p = run(daemon, "exec", "--runtime", "python", "-c", "x = bytearray(1 << 30)")
    assert p.returncode == 137, p
    assert b"out of memory" in p.stderr


def test_json_prints_the_result_and_keeps_the_status(daemon):
    p = run(daemon, "exec", "--json", "--runtime", "bash", "--command", "echo hi; exit 5")
    assert p.returncode == 5, p
    doc = json.loads(p.stdout)
    assert doc["stdout"] == "hi\n" and doc["exit_code"] == 5
    assert doc["sandboxed"] is True and doc["backend"] == daemon.engine
    assert p.stderr == b""


def test_failures_of_airlock_itself_exit_125(daemon):
    p = run(daemon, "exec", "--runtime", "cobol", "--", "true")
    assert p.returncode == 125, p
    assert p.stderr.startswith(b"airlock: ") and b"(invalid_request)" in p.stderr
    p = run(daemon, "exec", "--runtime", "bash", "--", "cat", input=b"\xff\xfe")
    assert p.returncode == 125 and b"not valid UTF-8" in p.stderr, p
    p = run(daemon, "exec", "--runtime", "bash")
    assert p.returncode == 125 and b"nothing to run" in p.stderr, p
    p = run(daemon, "exec", "-c", "x", "--", "ls")
    assert p.returncode == 125 and b"only one of" in p.stderr, p
    p = run(daemon, "exec", "--", "true", socket="/nonexistent/airlock.sock")
    assert p.returncode == 125, p
    assert b"cannot reach airlockd at /nonexistent/airlock.sock" in p.stderr


def test_version_and_help(daemon):
    p = run(daemon, "version")
    assert p.returncode == 0, p
    assert p.stdout.startswith(b"Client: airlock ")
    assert b"Daemon: airlockd " in p.stdout
    p = run(daemon, "version", "--json")
    doc = json.loads(p.stdout)
    assert doc["daemon"]["api"] == "v1" and doc["client"]["version"]
    for args in (["--help"], ["exec", "--help"], ["help", "exec"]):
        p = run(daemon, *args)
        assert p.returncode == 0 and p.stdout.startswith(b"Usage: airlock"), (args, p)
    p = run(daemon, "frobnicate")
    assert p.returncode == 125 and b"unknown command" in p.stderr
