// @airlock/client against the real airlockd whose socket is $AIRLOCK_SOCKET (started by
// tests/integration/test_client_js.py, which runs `node --test`). The daemon's settings give
// agent "bashonly" the bash runtime only.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import * as airlock from "../index.js";

const { Client } = airlock;
const socketPath = process.env.AIRLOCK_SOCKET;
assert.ok(socketPath, "AIRLOCK_SOCKET must name the daemon under test");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("exec: plain, argv with stdin, a failing run, a timeout", async () => {
  const c = new Client({ socketPath, agent: "js" });
  let r = await c.runCode("console.log(6*7); console.error('e')", "node");
  assert.equal(r.stdout, "42\n");
  assert.equal(r.stderr, "e\n");
  assert.equal(r.exit_code, 0);
  assert.equal(r.decision.mode, "all");
  r = await c.exec({ argv: ["cat"] }, { runtime: "bash", stdin: "piped" });
  assert.equal(r.stdout, "piped");
  r = await c.exec({ command: "exit 4" }, { runtime: "bash" });
  assert.equal(r.exit_code, 4);
  r = await c.exec({ command: "sleep 10" }, { runtime: "bash", timeoutS: 1 });
  assert.equal(r.timed_out, true);
});

test("execStream yields events as they come", async () => {
  const c = new Client({ socketPath, agent: "js" });
  const t0 = Date.now();
  const events = [];
  for await (const ev of c.execStream({ command: "echo a; sleep 2; echo b >&2" }, { runtime: "bash" })) {
    events.push({ ...ev, at: Date.now() - t0 });
  }
  assert.equal(events[0].type, "start");
  assert.equal(events.at(-1).type, "exit");
  assert.equal(events.at(-1).exit_code, 0);
  const a = events.find((e) => e.type === "stdout" && e.data === "a\n");
  assert.ok(a && a.at < 2000, JSON.stringify(events));
  assert.ok(events.some((e) => e.type === "stderr" && e.data === "b\n"));
});

test("sessions, sandboxes, background processes, the audit log", async () => {
  const c = new Client({ socketPath, agent: "js2", session: "s1" });
  const r = await c.exec({ command: "echo kept > /tmp/f" }, { runtime: "bash" });
  assert.equal((await c.exec({ command: "cat /tmp/f" }, { runtime: "bash" })).stdout, "kept\n");
  const boxes = await c.sandboxes("js2");
  assert.deepEqual(boxes.map((b) => b.id.slice(0, 12)), [r.sandbox_id.slice(0, 12)]);
  assert.deepEqual((await c.sessions("js2")).map((s) => s.session), ["s1"]);

  const bg = await c.startBackground({ command: "echo started; sleep 300" }, { runtime: "bash" });
  assert.ok(bg.pid > 0);
  const procs = await c.processes(bg.sandbox_id);
  assert.deepEqual(procs.map((p) => [p.pid, p.state]), [[bg.pid, "running"]]);
  for (let i = 0; i < 50 && (await c.process(bg.sandbox_id, bg.pid)).stdout !== "started\n"; i++) await sleep(200);
  assert.equal((await c.process(bg.sandbox_id, bg.pid)).stdout, "started\n");
  await c.killProcess(bg.sandbox_id, bg.pid);
  for (let i = 0; i < 50 && (await c.process(bg.sandbox_id, bg.pid)).state === "running"; i++) await sleep(200);
  assert.equal((await c.process(bg.sandbox_id, bg.pid)).state, "killed");

  const page = await c.executions({ agent: "js2", limit: 2 });
  assert.equal(page.executions.length, 2);
  assert.ok(page.next_cursor);
  const all = [];
  for await (const e of c.iterExecutions({ agent: "js2", limit: 1 })) all.push(e.id);
  assert.ok(all.includes(r.execution_id) && all.length >= 3);
  const e = await c.execution(r.execution_id);
  assert.equal(e.code_preview, "echo kept > /tmp/f");

  assert.equal(await c.endSession(), 1);
  assert.deepEqual(await c.sandboxes("js2"), []);
  const r2 = await c.exec({ command: "true" }, { runtime: "bash", session: "s9" });
  await c.removeSandbox(r2.sandbox_id);
  assert.deepEqual(await c.sandboxes("js2"), []);
});

test("files and contexts", async () => {
  const c = new Client({ socketPath, agent: "js3", session: "f1" });
  const where = { runtime: "python" };
  const bytes = Buffer.from([0, 1, 2, 0xff]);
  assert.equal((await c.upload("/home/airlock/a/b.bin", bytes, where, { mode: 0o600 })).written, true);
  assert.ok((await c.download("/home/airlock/a/b.bin", where)).equals(bytes));
  await c.upload("/home/airlock/a/t.txt", "wörld\n", where);
  const st = await c.stat("/home/airlock/a/b.bin", where);
  assert.deepEqual([st.type, st.size, st.mode], ["file", 4, 0o600]);
  assert.deepEqual((await c.listFiles("/home/airlock/a", where)).map((e) => e.name), ["b.bin", "t.txt"]);
  assert.equal(await c.mkdir("/home/airlock/a/d", where), true);
  assert.equal(await c.mkdir("/home/airlock/a/d", where), false);
  await c.move("/home/airlock/a/t.txt", "/home/airlock/a/d/t.txt", where);
  const tar = await c.download("/home/airlock/a", where);
  assert.ok(tar.includes("a/d/t.txt"), "a directory comes as a tar");
  await c.uploadTar("/home/airlock/copy", tar, where);
  assert.equal((await c.download("/home/airlock/copy/a/d/t.txt", where)).toString(), "wörld\n");
  await c.remove("/home/airlock/a", where, { recursive: true });
  await assert.rejects(c.stat("/home/airlock/a", where), airlock.NotFound);
  await assert.rejects(c.download("/etc/passwd", where), airlock.Forbidden);
  const [box] = await c.sandboxes("js3");
  assert.equal((await c.download("/home/airlock/copy/a/d/t.txt", { sandboxId: box.id })).toString(), "wörld\n");

  const ctx = await c.createContext("python");
  assert.equal(ctx.agent, "js3");
  assert.equal((await c.runInContext(ctx, "x = 20")).exit_code, 0);
  let r = await c.runInContext(ctx.id, "x + 22");
  assert.equal(airlock.resultText(r), "42");
  r = await c.runInContext(ctx, "1/0");
  assert.equal(r.context.error.name, "ZeroDivisionError");
  r = await c.runInContext(ctx, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()");
  const imgs = airlock.images(r);
  assert.equal(imgs.length, 1);
  assert.ok(imgs[0].data.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47])));
  r = await c.runInContext(ctx, "import time; time.sleep(30)", { timeoutS: 1 });
  assert.equal(r.timed_out, true);
  assert.equal(airlock.resultText(await c.runInContext(ctx, "x")), "20");
  assert.equal(await c.interruptContext(ctx), false);
  assert.ok((await c.contexts()).some((x) => x.id === ctx.id));
  assert.equal((await c.restartContext(ctx)).execution_count, 0);
  await c.deleteContext(ctx);
  await assert.rejects(c.context(ctx.id), airlock.NotFound);
  assert.equal(await c.endSession(), 1);

  const full = new Client({ socketPath, agent: "tinydisk", session: "full" });
  await assert.rejects(full.upload("/tmp/big", Buffer.alloc(2 << 20), { runtime: "bash" }),
    (e) => e instanceof airlock.InsufficientStorage && e.status === 507);
  await full.endSession();
});

test("one error class per code", async () => {
  const c = new Client({ socketPath });
  await assert.rejects(c.runCode("x", "cobol"),
    (e) => e instanceof airlock.InvalidRequest && e.status === 400 && /cobol/.test(e.message));
  assert.throws(() => c.exec({ code: "x", command: "y" }), airlock.InvalidRequest);
  await assert.rejects(c.execution("0".repeat(32)), airlock.NotFound);
  await assert.rejects(c.runCode("print(1)", "python", { agent: "bashonly" }),
    (e) => e instanceof airlock.Forbidden && e.code === "forbidden" && /runtime 'python'/.test(e.message));
  await assert.rejects(new Client({ socketPath, token: "alk_" + "3".repeat(64) }).sandboxes(),
    airlock.Unauthorized);
  await assert.rejects(c.request("PUT", "/v1/exec", {}), airlock.MethodNotAllowed);
  await assert.rejects(new Client({ socketPath: "/nonexistent/airlock.sock" }).version(),
    airlock.ConnectionFailed);
  assert.ok(new airlock.RateLimited("x") instanceof airlock.AirlockError);
  assert.equal((await c.version()).api, "v1");
});

test("the run-code tool example", async () => {
  const { stdout } = await promisify(execFile)(process.execPath,
    [new URL("../examples/run-code-tool.mjs", import.meta.url).pathname, "console.log(45)"],
    { env: { ...process.env, AIRLOCK_SOCKET: socketPath } });
  assert.equal(stdout.trim(), "45");
});

test("the notebook tool example keeps state and returns a plot", async () => {
  const { stdout } = await promisify(execFile)(process.execPath,
    [new URL("../examples/notebook-tool.mjs", import.meta.url).pathname, "x = 6", "x * 7",
      "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"],
    { env: { ...process.env, AIRLOCK_SOCKET: socketPath } });
  assert.deepEqual(stdout.split("\n").filter((l) => l.trim()), ["42", "[image image/png]"]);
});
