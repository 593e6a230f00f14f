// airlock's Node context driver (docs/contexts.md): a persistent vm context in a sandbox.
//
//     node /.airlock/lib/airlock_ctx.js SOCKET
//
// Listens on the UNIX socket SOCKET and serves one cell per connection in the frames of
// airlock's agent protocol: CTX_RUN (0x40) {"code"} in; STDOUT (0x83), STDERR (0x84),
// CTX_RESULT (0xC0) {"kind","data"} and CTX_DONE (0xC1) {"execution_count","status","error"}
// out. What the code writes through process.stdout, process.stderr and console goes into
// frames; nothing it prints can be taken for one. Node cannot read SO_PEERCRED: the socket is
// the exec user's (mode 0600 in a 0700 directory), as is every process of the sandbox. The
// daemon trusts nothing said here.
'use strict';
const net = require('net');
const vm = require('vm');
const fs = require('fs');
const util = require('util');

const CTX_RUN = 0x40, STDOUT = 0x83, STDERR = 0x84, CTX_RESULT = 0xc0, CTX_DONE = 0xc1;
const PAYLOAD_MAX = 1 << 20, CHUNK = 64 << 10, REPR_MAX = 768 << 10;

let cur = null; // the connection of the cell that runs now
let count = 0;

function send(type, payload) {
  if (!cur || cur.destroyed) return;
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload), 'utf8');
  for (let off = 0; off < b.length || (off === 0 && b.length === 0); off += CHUNK) {
    const part = type === STDOUT || type === STDERR ? b.subarray(off, off + CHUNK) : b;
    if (part.length > PAYLOAD_MAX) return;
    const h = Buffer.alloc(5);
    h.writeUInt32BE(part.length + 1, 0);
    h[4] = type;
    cur.write(Buffer.concat([h, part]));
    if (part === b) break;
  }
}

function writer(type) {
  return (chunk, enc, cb) => {
    send(type, Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk),
      typeof enc === 'string' ? enc : 'utf8'));
    if (typeof enc === 'function') enc();
    else if (typeof cb === 'function') cb();
    return true;
  };
}
process.stdout.write = writer(STDOUT);
process.stderr.write = writer(STDERR);

function bundle(v) {
  const data = {};
  try {
    data['text/plain'] = typeof v === 'string' ? util.inspect(v) : util.inspect(v, {depth: 4});
  } catch (e) {
    data['text/plain'] = '<unrepresentable>';
  }
  // Plain objects and arrays as JSON too (their prototypes are the context's, not ours).
  const proto = v !== null && typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto !== undefined && (Array.isArray(v) || proto === null ||
                              Object.getPrototypeOf(proto) === null)) {
    try {
      const j = JSON.stringify(v);
      if (j !== undefined) data['application/json'] = j;
    } catch (e) { /* cyclic: text only */ }
  }
  if (v !== null && typeof v === 'object') {
    for (const [mime, name] of [['text/html', '_repr_html_'], ['image/svg+xml', '_repr_svg_'],
                                ['image/png', '_repr_png_']]) {
      try {
        if (typeof v[name] === 'function') {
          const r = v[name]();
          if (typeof r === 'string') data[mime] = r;
          else if (Buffer.isBuffer(r)) data[mime] = r.toString('base64');
        }
      } catch (e) { /* that representation is left out */ }
    }
  }
  for (const k of Object.keys(data))
    if (data[k].length > REPR_MAX) {
      if (k === 'text/plain') data[k] = data[k].slice(0, REPR_MAX) + '...';
      else delete data[k];
    }
  return data;
}

function result(kind, v) {
  send(CTX_RESULT, JSON.stringify({kind, data: bundle(v)}));
}

const sandbox = {
  console: new console.Console({stdout: process.stdout, stderr: process.stderr}),
  process, Buffer, require, URL, TextEncoder, TextDecoder, setTimeout, clearTimeout,
  setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask,
  display: (...objs) => objs.forEach((o) => result('display', o)),
};
const context = vm.createContext(sandbox);
let interruptCell = null; // while a cell awaits a promise: ends it on SIGINT

process.on('SIGINT', () => {
  if (interruptCell) interruptCell();
});
process.on('uncaughtException', (e) => {
  send(STDERR, 'Uncaught ' + ((e && e.stack) || String(e)) + '\n');
});
process.on('unhandledRejection', (e) => {
  send(STDERR, 'Unhandled rejection ' + ((e && e.stack) || String(e)) + '\n');
});

function errorDoc(e) {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    const stack = String(e.stack || '').split('\n').filter((l) => !l.includes('airlock_ctx.js'));
    return {name: String(e.name || 'Error'), value: String(e.message).slice(0, 4096),
            traceback: stack.join('\n').slice(-65536)};
  }
  return {name: 'Error', value: util.inspect(e).slice(0, 4096), traceback: ''};
}

// A cell with a top-level await runs as an async function: one expression gives its value;
// statements run in the function's scope (their declarations do not persist).
function run(code) {
  const opts = {filename: '<cell>', breakOnSigint: true};
  try {
    return vm.runInContext(code, context, opts);
  } catch (e) {
    if (!e || e.name !== 'SyntaxError' || !/await/.test(code))
      throw e;
  }
  try {
    return vm.runInContext('(async () => (' + code + '\n))()', context, opts);
  } catch (e) {
    return vm.runInContext('(async () => {' + code + '\n})()', context, opts);
  }
}

async function runCell(sock, code) {
  count++;
  cur = sock;
  let error = null;
  try {
    let v = run(code);
    if (v && typeof v.then === 'function') {
      v = await new Promise((resolve, reject) => {
        interruptCell = () => reject(Object.assign(new Error('interrupted'),
                                                   {name: 'KeyboardInterrupt'}));
        v.then(resolve, reject);
      });
    }
    if (v !== undefined) result('result', v);
  } catch (e) {
    error = errorDoc(e);
    if (/interrupted by `SIGINT`/.test(error.value)) error.name = 'KeyboardInterrupt';
  }
  interruptCell = null;
  const done = {execution_count: count, status: error ? 'error' : 'ok'};
  if (error) done.error = error;
  send(CTX_DONE, JSON.stringify(done));
  cur = null;
  sock.end();
}

const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  let taken = false;
  sock.on('error', () => {});
  sock.on('data', (d) => {
    if (taken) return;
    buf = Buffer.concat([buf, d]);
    if (buf.length < 5) return;
    const len = buf.readUInt32BE(0);
    if (buf[4] !== CTX_RUN || len < 1 || len - 1 > PAYLOAD_MAX || cur) {
      sock.destroy();
      return;
    }
    if (buf.length < 4 + len) return;
    taken = true;
    let req;
    try {
      req = JSON.parse(buf.subarray(5, 4 + len).toString('utf8'));
    } catch (e) {
      sock.destroy();
      return;
    }
    if (!req || typeof req.code !== 'string') {
      sock.destroy();
      return;
    }
    runCell(sock, req.code);
  });
});

const path = process.argv[2];
try {
  if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
} catch (e) { /* not there */ }
const old = process.umask(0o177);
server.listen(path, () => process.umask(old));
