// Drives airlock's E2B-compatible API (docs/e2b.md) with the unmodified E2B SDKs, pointed at
// airlock by E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY. Prints one JSON line per scenario;
// any failure throws (exit 1). Usage: node sdk_e2b.mjs SCENARIO
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter'
import { Sandbox, CommandExitError } from 'e2b'

const scenario = process.argv[2]
const out = {}

async function basics() {
  const sbx = await Sandbox.create('python', { timeoutMs: 120_000, metadata: { suite: 'e2b' },
                                              envs: { FROM_CREATE: 'yes' } })
  out.sandboxId = sbx.sandboxId
  // Foreground, with the environment of create and of the command.
  const fg = await sbx.commands.run('echo hello $FROM_CREATE $X; echo oops >&2',
                                    { envs: { X: 'x1' } })
  out.fg = { exitCode: fg.exitCode, stdout: fg.stdout, stderr: fg.stderr }
  // A failing command throws CommandExitError with its exit code.
  try {
    await sbx.commands.run('exit 3')
    out.fail = 'no error'
  } catch (e) {
    out.fail = e instanceof CommandExitError ? e.exitCode : String(e)
  }
  // Streaming callbacks.
  const chunks = []
  await sbx.commands.run('for i in 1 2 3; do echo line$i; done', { onStdout: (d) => chunks.push(d) })
  out.streamed = chunks.join('')
  // Background with stdin: cat echoes what is sent, then is killed.
  const seen = []
  const bg = await sbx.commands.run('cat', { background: true, stdin: true,
                                             onStdout: (d) => seen.push(d) })
  out.bgPid = bg.pid
  await sbx.commands.sendStdin(bg.pid, 'ping-from-stdin\n')
  for (let i = 0; i < 100 && !seen.join('').includes('ping-from-stdin'); i++)
    await new Promise((r) => setTimeout(r, 100))
  out.bgEcho = seen.join('')
  out.listed = (await sbx.commands.list()).map((p) => p.pid)
  // connect to the running command from a second handle
  const again = await sbx.commands.connect(bg.pid)
  out.connected = again.pid
  out.killed = await bg.kill()
  try { await bg.wait(); out.bgExit = 'no error' } catch (e) { out.bgExit = e.exitCode ?? String(e) }
  out.listedAfter = (await sbx.commands.list()).map((p) => p.pid)
  // stdin closed: wc reads to the end
  const wc = await sbx.commands.run('wc -c', { background: true, stdin: true })
  await sbx.commands.sendStdin(wc.pid, 'abcd')
  await sbx.commands.closeStdin(wc.pid)
  out.wc = (await wc.wait()).stdout.trim()
  // Files.
  const dir = '/home/airlock/e2bdir'
  out.made = await sbx.files.makeDir(dir)
  out.madeAgain = await sbx.files.makeDir(dir)
  const info = await sbx.files.write(`${dir}/a.txt`, 'alpha\n')
  out.written = info.path
  await sbx.files.write('rel.txt', 'relative')
  out.read = await sbx.files.read(`${dir}/a.txt`)
  out.readRel = await sbx.files.read('/home/airlock/rel.txt')
  out.list = (await sbx.files.list(dir)).map((e) => `${e.name}:${e.type}`)
  out.exists = await sbx.files.exists(`${dir}/a.txt`)
  await sbx.files.rename(`${dir}/a.txt`, `${dir}/b.txt`)
  out.afterRename = (await sbx.files.list(dir)).map((e) => e.name)
  await sbx.files.remove(`${dir}/b.txt`)
  out.existsAfter = await sbx.files.exists(`${dir}/b.txt`)
  out.catWritten = (await sbx.commands.run(`ls ${dir} | wc -l`)).stdout.trim()
  // Control plane.
  out.listedSandboxes = (await Sandbox.list().nextItems()).map((s) => s.sandboxId)
  const info2 = await Sandbox.getInfo(sbx.sandboxId)
  out.info = { templateId: info2.templateId, metadata: info2.metadata, state: info2.state }
  const conn = await Sandbox.connect(sbx.sandboxId)
  out.viaConnect = (await conn.commands.run('echo via-connect')).stdout.trim()
  await sbx.setTimeout(60_000)
  out.running = await sbx.isRunning()
  await sbx.kill()
  out.afterKill = (await Sandbox.list().nextItems()).map((s) => s.sandboxId)
  try { await sbx.commands.run('echo nope'); out.deadRun = 'ran' } catch (e) { out.deadRun = e.name }
}

async function code() {
  const sbx = await CodeSandbox.create({ timeoutMs: 120_000 })
  out.sandboxId = sbx.sandboxId
  const stdout = []
  const first = await sbx.runCode('x = 20\nprint("hi from cell")\nx + 1',
                                  { onStdout: (m) => stdout.push(m.line) })
  out.text = first.text
  out.logs = first.logs.stdout.join('')
  out.onStdout = stdout.join('')
  const ctx = await sbx.createCodeContext({ language: 'python' })
  out.contextId = ctx.id
  await sbx.runCode('y = 5', { context: ctx })
  const y = await sbx.runCode('y * 7', { context: ctx })
  out.contextValue = y.text
  const other = await sbx.runCode('print(globals().get("y"))')
  out.defaultSeesY = other.logs.stdout.join('').trim()
  const plot = await sbx.runCode(
    'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\n' +
    'plt.plot([1, 2, 3], [1, 4, 9])\nplt.show()')
  out.pngs = plot.results.filter((r) => r.png).map((r) => r.png.length)
  const err = await sbx.runCode('1/0')
  out.error = err.error ? err.error.name : null
  out.contexts = (await sbx.listCodeContexts()).map((c) => c.id)
  await sbx.removeCodeContext(ctx)
  out.contextsAfter = (await sbx.listCodeContexts()).map((c) => c.id)
  await sbx.kill()
}

async function timeout() {
  const sbx = await Sandbox.create('bash', { timeoutMs: 60_000 })
  out.sandboxId = sbx.sandboxId
  await sbx.setTimeout(1_000)
  await new Promise((r) => setTimeout(r, 3_500))
  out.listed = (await Sandbox.list().nextItems()).map((s) => s.sandboxId)
  out.running = await sbx.isRunning()
}

async function bad() {
  try { await Sandbox.create('no-such-template'); out.badTemplate = 'created' } catch (e) {
    out.badTemplate = `${e.name}: ${e.message}` }
  try { await Sandbox.connect('e2b-0000000000000000'); out.unknown = 'connected' } catch (e) {
    out.unknown = e.name }
  try {
    await Sandbox.create('bash', { apiKey: 'alk_' + '0'.repeat(64) }); out.badKey = 'created'
  } catch (e) { out.badKey = `${e.name}: ${e.message}` }
}

const scenarios = { basics, code, timeout, bad }
await scenarios[scenario]()
console.log(JSON.stringify(out))
