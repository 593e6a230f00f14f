// airlock's MCP server driven by the official MCP TypeScript SDK client, unmodified.
//   node sdk_client.mjs stdio AIRLOCK_CLI SOCKET [AGENT]   (airlock mcp as a subprocess)
//   node sdk_client.mjs http URL TOKEN                      (Streamable HTTP, the TCP listener)
// Asserts what a framework would rely on and prints a JSON summary on the last line of
// stdout; exits non-zero on the first failed assertion. Run by tests/integration/test_mcp.py.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, a, b, c] = process.argv.slice(2);
let transport;
if (mode === "stdio") {
  const args = ["--socket", b, "mcp"];
  if (c) args.push("--agent", c);
  transport = new StdioClientTransport({ command: a, args, stderr: "inherit" });
} else if (mode === "http") {
  transport = new StreamableHTTPClientTransport(new URL(a), {
    requestInit: { headers: { Authorization: `Bearer ${b}` } },
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const client = new Client({ name: "airlock-test", version: "1.0.0" });
await client.connect(transport);
const summary = { server: client.getServerVersion(), protocol: transport.protocolVersion ?? null };

// The tools and their schemas.
const { tools } = await client.listTools();
summary.tools = tools.map((t) => t.name).sort();
for (const name of ["run_code", "run_command", "list_sessions", "end_session", "list_sandboxes",
  "remove_sandbox", "list_processes", "read_process", "kill_process"]) {
  assert.ok(summary.tools.includes(name), `tool ${name} listed`);
}
const runCode = tools.find((t) => t.name === "run_code");
assert.deepEqual(runCode.inputSchema.required, ["code"]);
assert.equal(runCode.inputSchema.properties.language.type, "string");

// Run code, in a session so that a second call sees the first one's file.
const session = `mcp-${mode}-${process.pid}`;
let r = await client.callTool({ name: "run_code", arguments: {
  language: "python", session, code: "open('/tmp/x','w').write('kept'); print(6*7)" } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.content[0].type, "text");
assert.match(r.content[0].text, /^42\n/);
assert.equal(r.structuredContent.stdout, "42\n");
assert.equal(r.structuredContent.exit_code, 0);
summary.run_code = r.structuredContent;
r = await client.callTool({ name: "run_command", arguments: { session, runtime: "python", command: "cat /tmp/x" } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.structuredContent.stdout, "kept");

// A plot comes back as MCP image content (a PNG), after the text.
r = await client.callTool({ name: "run_code", arguments: { language: "python", code:
  "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nprint('plotted')" } });
assert.equal(r.isError, false, JSON.stringify(r).slice(0, 2000));
assert.equal(r.content[0].type, "text");
const img = r.content.find((x) => x.type === "image");
assert.ok(img, "an image content item");
assert.equal(img.mimeType, "image/png");
const png = Buffer.from(img.data, "base64");
assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), "PNG signature");
assert.ok(png.length > 1000, `PNG of ${png.length} bytes`);
summary.image_bytes = png.length;

// A failing run is a tool error with the reason: exit status, then a timeout.
r = await client.callTool({ name: "run_command", arguments: { command: "echo oops >&2; exit 3" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /oops/);
assert.match(r.content[0].text, /exit code 3/);
r = await client.callTool({ name: "run_code", arguments: {
  language: "python", code: "import time; time.sleep(30)", timeout_s: 1 } });
assert.equal(r.isError, true);
assert.equal(r.structuredContent.timed_out, true);
assert.match(r.content[0].text, /timed out/);
summary.timeout_text = r.content[0].text;

// Bad arguments: a tool error naming the problem; an unknown runtime: the daemon's reason.
r = await client.callTool({ name: "run_code", arguments: { code: 1 } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /'code' must be a string/);
r = await client.callTool({ name: "run_code", arguments: { language: "cobol", code: "x" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /invalid_request/);

// An unknown tool is a protocol error (JSON-RPC -32602).
await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }),
  (e) => e.code === -32602 && /Unknown tool/.test(e.message));

// Sessions and sandboxes of this agent, then the session's end.
r = await client.callTool({ name: "list_sandboxes", arguments: {} });
assert.equal(r.isError, false);
const mine = r.structuredContent.sandboxes.filter((s) => s.session === session);
assert.equal(mine.length, 1, JSON.stringify(r.structuredContent));
r = await client.callTool({ name: "list_sessions", arguments: {} });
assert.ok(r.structuredContent.sessions.some((s) => s.session === session));

// A background process: started, listed, killed.
r = await client.callTool({ name: "run_command", arguments: {
  session, runtime: "python", command: "sleep 300", background: true } });
assert.equal(r.isError, false, JSON.stringify(r));
const pid = r.structuredContent.pid;
const sandbox = r.structuredContent.sandbox_id;
assert.ok(pid > 0);
r = await client.callTool({ name: "list_processes", arguments: { sandbox_id: sandbox } });
assert.ok(r.structuredContent.processes.some((p) => p.pid === pid && p.state === "running"));
r = await client.callTool({ name: "kill_process", arguments: { sandbox_id: sandbox, pid } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.structuredContent.killed, true);

// Files of the session's sandbox: write, read back, list; bytes up and down as base64; a
// directory as a tar; a path outside the file areas or with ".." is a tool error.
for (const name of ["read_file", "write_file", "list_files", "upload_file", "download_file"]) {
  assert.ok(summary.tools.includes(name), `tool ${name} listed`);
}
const where = { session, runtime: "python" };
const text = "hello\nwörld\n";
r = await client.callTool({ name: "write_file", arguments: { ...where, path: "/home/airlock/notes.txt", content: text } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.structuredContent.size, Buffer.byteLength(text));
r = await client.callTool({ name: "read_file", arguments: { ...where, path: "/home/airlock/notes.txt" } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.content[0].text, text);
r = await client.callTool({ name: "list_files", arguments: { ...where, path: "/home/airlock" } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.ok(r.structuredContent.entries.some((e) => e.name === "notes.txt" && e.type === "file"),
  JSON.stringify(r.structuredContent));
const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10]);
r = await client.callTool({ name: "upload_file", arguments: { ...where, path: "/tmp/bin.dat", data: bytes.toString("base64"), mode: "600" } });
assert.equal(r.isError, false, JSON.stringify(r));
r = await client.callTool({ name: "download_file", arguments: { ...where, path: "/tmp/bin.dat" } });
assert.equal(r.isError, false, JSON.stringify(r));
const res = r.content.find((x) => x.type === "resource");
assert.ok(Buffer.from(res.resource.blob, "base64").equals(bytes), JSON.stringify(r));
r = await client.callTool({ name: "read_file", arguments: { ...where, path: "/tmp/bin.dat" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /not UTF-8/);
r = await client.callTool({ name: "download_file", arguments: { ...where, path: "/home/airlock" } });
assert.equal(r.isError, false, JSON.stringify(r).slice(0, 500));
const tar = r.content.find((x) => x.type === "resource");
assert.equal(tar.resource.mimeType, "application/x-tar");
assert.ok(Buffer.from(tar.resource.blob, "base64").includes("airlock/notes.txt"), "the tar holds the file");
r = await client.callTool({ name: "read_file", arguments: { ...where, path: "/etc/passwd" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /^forbidden:/);
r = await client.callTool({ name: "read_file", arguments: { ...where, path: "/tmp/../etc/passwd" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /^invalid_request:/);
r = await client.callTool({ name: "read_file", arguments: { ...where, path: "/tmp/none" } });
assert.equal(r.structuredContent.error.code, "not_found", JSON.stringify(r));

// A context keeps its state across runs and returns a plot as a PNG.
r = await client.callTool({ name: "create_context", arguments: { session, language: "python" } });
assert.equal(r.isError, false, JSON.stringify(r));
const ctx = r.structuredContent.id;
r = await client.callTool({ name: "run_in_context", arguments: { context_id: ctx, code: "x = 21" } });
assert.equal(r.isError, false, JSON.stringify(r));
r = await client.callTool({ name: "run_in_context", arguments: { context_id: ctx, code:
  "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nx * 2" } });
assert.equal(r.isError, false, JSON.stringify(r).slice(0, 2000));
assert.match(r.content[0].text, /\[result\] 42/);
const plot = r.content.filter((x) => x.type === "image");
assert.equal(plot.length, 1, "one image for one figure");
assert.ok(Buffer.from(plot[0].data, "base64").subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47])));
r = await client.callTool({ name: "run_in_context", arguments: { context_id: ctx, code: "1/0" } });
assert.equal(r.isError, true);
assert.match(r.content[0].text, /ZeroDivisionError/);
r = await client.callTool({ name: "list_contexts", arguments: {} });
assert.ok(r.structuredContent.contexts.some((x) => x.id === ctx), JSON.stringify(r.structuredContent));
r = await client.callTool({ name: "interrupt_context", arguments: { context_id: ctx } });
assert.equal(r.isError, false, JSON.stringify(r));
assert.equal(r.structuredContent.interrupted, false);
r = await client.callTool({ name: "delete_context", arguments: { context_id: ctx } });
assert.equal(r.structuredContent.deleted, true, JSON.stringify(r));
r = await client.callTool({ name: "run_in_context", arguments: { context_id: ctx, code: "x" } });
assert.equal(r.isError, true);
assert.equal(r.structuredContent.error.code, "not_found");
summary.context = ctx;

r = await client.callTool({ name: "end_session", arguments: { session } });
assert.equal(r.isError, false);
assert.equal(r.structuredContent.sandboxes_removed, 1);
r = await client.callTool({ name: "list_sandboxes", arguments: {} });
assert.equal(r.structuredContent.sandboxes.filter((s) => s.session === session).length, 0);

await client.ping();
await client.close();
console.log(JSON.stringify(summary));
