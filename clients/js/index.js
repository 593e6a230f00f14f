// @airlock/client: airlockd's HTTP API (docs/api.md) over its UNIX socket with node's http
// module (socketPath). No dependencies. Every call is one request; results are the daemon's
// JSON (typed in index.d.ts); every error answer is thrown as the AirlockError subclass named
// after its code. Client#request() is the one door every JSON method goes through,
// Client#requestBytes() the same for raw bodies (the files API).
import http from "node:http";

export const DEFAULT_SOCKET = "/run/airlock/airlock.sock";
const MAX_BODY = 64 << 20; // a reply body is not buffered past this
const MAX_LINE = 16 << 20; // one NDJSON event

export class AirlockError extends Error {
  constructor(message, { status = 0, code, retryAfter, raw } = {}) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code ?? new.target.code ?? "error";
    this.retryAfter = retryAfter;
    this.raw = raw ?? {};
  }
}
const errorClass = (name, code) => {
  const C = { [name]: class extends AirlockError {} }[name];
  C.code = code;
  return C;
};
export const InvalidRequest = errorClass("InvalidRequest", "invalid_request");
export const Unauthorized = errorClass("Unauthorized", "unauthorized");
export const Forbidden = errorClass("Forbidden", "forbidden");
export const NotFound = errorClass("NotFound", "not_found");
export const MethodNotAllowed = errorClass("MethodNotAllowed", "method_not_allowed");
export const Conflict = errorClass("Conflict", "conflict");
export const TooLarge = errorClass("TooLarge", "too_large");
export const RateLimited = errorClass("RateLimited", "rate_limited");
export const EngineError = errorClass("EngineError", "engine_error");
export const EngineUnavailable = errorClass("EngineUnavailable", "engine_unavailable");
export const NotSupported = errorClass("NotSupported", "not_supported");
export const InvalidPolicy = errorClass("InvalidPolicy", "invalid_policy");
export const Timeout = errorClass("Timeout", "timeout");
export const InternalError = errorClass("InternalError", "internal_error");
export const InsufficientStorage = errorClass("InsufficientStorage", "insufficient_storage");
export const ConnectionFailed = errorClass("ConnectionFailed", "connection_failed");
export const ERRORS = Object.fromEntries([InvalidRequest, Unauthorized, Forbidden, NotFound,
  MethodNotAllowed, Conflict, TooLarge, RateLimited, EngineError, EngineUnavailable,
  NotSupported, InvalidPolicy, Timeout, InternalError, InsufficientStorage].map((C) => [C.code, C]));

function errorFrom(status, headers, body) {
  let doc = {};
  try { doc = body.length ? JSON.parse(body) : {}; } catch { doc = {}; }
  const e = (doc && doc.error) || {};
  const C = ERRORS[e.code] ?? AirlockError;
  const retry = headers["retry-after"];
  return new C(e.message || body.toString("utf8", 0, 500) || `HTTP ${status}`, {
    status, code: e.code, raw: doc, retryAfter: retry && /^\d+$/.test(retry) ? Number(retry) : undefined,
  });
}

const seg = (s) => encodeURIComponent(String(s));
const ctxId = (c) => seg(typeof c === "object" ? c.id : c);

/** A cell's value: the text/plain of its last "result", or undefined. */
export function resultText(res) {
  return (res.results ?? []).filter((r) => r.kind === "result").at(-1)?.data["text/plain"];
}

/** The images a run made (plots, image artifacts, image results), each once:
 * [{ mime, data: Buffer }]. */
export function images(res) {
  const seen = new Set();
  const out = [];
  const add = (mime, b64) => {
    if (!mime?.startsWith("image/") || mime.includes("svg") || !b64 || seen.has(b64)) return;
    seen.add(b64);
    out.push({ mime, data: Buffer.from(b64, "base64") });
  };
  for (const a of res.artifacts ?? []) add(a.mime, a.data);
  for (const r of res.results ?? []) for (const [mime, d] of Object.entries(r.data ?? {})) add(mime, d);
  return out;
}

export class Client {
  /** @param {import("./index").ClientOptions} [opts] */
  constructor(opts = {}) {
    this.socketPath = opts.socketPath || process.env.AIRLOCK_SOCKET || DEFAULT_SOCKET;
    this.token = opts.token ?? process.env.AIRLOCK_TOKEN;
    this.agent = opts.agent;
    this.session = opts.session;
    this.timeoutMs = opts.timeoutMs; // undefined: as long as an exec runs
  }

  // Open a request; resolves with the response of a 2xx, rejects with the error of any other.
  _open(method, path, body, query, accept = "application/json", raw, contentType) {
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v !== undefined && v !== null && v !== false) q.set(k, v === true ? "1" : String(v));
      }
      const s = q.toString();
      if (s) path += `?${s}`;
    }
    const headers = { Accept: accept, "User-Agent": "airlock-js/0.1.0" };
    const data = body !== undefined ? Buffer.from(JSON.stringify(body))
      : raw !== undefined ? Buffer.from(raw) : undefined;
    if (data) {
      headers["Content-Type"] = body !== undefined ? "application/json"
        : contentType ?? "application/octet-stream";
      headers["Content-Length"] = data.length;
    }
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      // agent: false: a connection of its own, without the global agent's keep-alive socket
      // timeout (5 s since Node 19), which would cut an exec that is quiet for longer.
      const req = http.request({ socketPath: this.socketPath, path, method, headers, agent: false,
        timeout: this.timeoutMs }, (res) => {
        if (res.statusCode >= 200 && res.statusCode < 300) return resolve(res);
        readAll(res).then((buf) => reject(errorFrom(res.statusCode, res.headers, buf)), reject);
      });
      req.on("timeout", () => req.destroy(new ConnectionFailed("airlockd did not answer in time")));
      req.on("error", (e) => reject(e instanceof AirlockError ? e
        : new ConnectionFailed(`cannot reach airlockd at ${this.socketPath}: ${e.message}`)));
      req.end(data);
    });
  }

  /** The one door: a request with a JSON body (or none), resolving with the JSON answer. */
  async request(method, path, body, query) {
    const res = await this._open(method, path, body, query);
    const buf = await readAll(res);
    return buf.length ? JSON.parse(buf) : null;
  }

  /** The same with a raw body (a Buffer or a string, of contentType) and the raw answer. */
  async requestBytes(method, path, { query, raw, contentType } = {}) {
    const res = await this._open(method, path, undefined, query, "*/*", raw, contentType);
    return readAll(res);
  }

  _execBody(what, opts = {}, background = false) {
    const body = {};
    const add = (k, v) => { if (v !== undefined && v !== null) body[k] = v; };
    add("agent", opts.agent ?? this.agent);
    add("session", opts.session ?? this.session);
    add("runtime", opts.runtime);
    const n = ["code", "argv", "command"].filter((k) => what[k] !== undefined).length;
    if (n !== 1) throw new InvalidRequest("give exactly one of code, argv and command");
    add("code", what.code);
    add("argv", what.argv);
    add("command", what.command);
    add("stdin", opts.stdin);
    add("env", opts.env);
    add("timeout_s", opts.timeoutS);
    add("network", opts.network);
    add("untrusted", opts.untrusted);
    if (background) body.background = true;
    return body;
  }

  /** Run code, argv or a shell command and wait for the result. */
  exec(what, opts) {
    return this.request("POST", "/v1/exec", this._execBody(what, opts));
  }

  /** Run source code with a language's runtime ("python", "node", "bash"). */
  runCode(code, language, opts = {}) {
    return this.exec({ code }, { ...opts, runtime: language ?? opts.runtime });
  }

  /** Run it and yield its NDJSON events ("start", "stdout", "stderr", "exit"). Breaking out
   * of the loop closes the connection: the daemon then aborts the exec. */
  async *execStream(what, opts) {
    const res = await this._open("POST", "/v1/exec", this._execBody(what, opts), undefined,
      "application/x-ndjson");
    let pending = "";
    try {
      for await (const chunk of res) {
        pending += chunk.toString("utf8");
        if (pending.length > MAX_LINE) throw new TooLarge("a stream event is larger than the client's cap");
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!line.trim()) continue;
          const ev = JSON.parse(line);
          if (ev.type === "error") {
            const C = ERRORS[ev.error?.code] ?? AirlockError;
            throw new C(ev.error?.message ?? "stream failed", { code: ev.error?.code, raw: ev });
          }
          yield ev;
        }
      }
    } finally {
      res.destroy();
    }
  }

  /** Start it as a background process of the session's sandbox; returns at once. */
  startBackground(what, opts) {
    return this.request("POST", "/v1/exec", this._execBody(what, opts, true));
  }

  async processes(sandboxId) {
    return (await this.request("GET", `/v1/sandboxes/${seg(sandboxId)}/processes`)).processes;
  }
  process(sandboxId, pid) {
    return this.request("GET", `/v1/sandboxes/${seg(sandboxId)}/processes/${Number(pid)}`);
  }
  async killProcess(sandboxId, pid) {
    await this.request("DELETE", `/v1/sandboxes/${seg(sandboxId)}/processes/${Number(pid)}`);
  }

  async sandboxes(agent) {
    return (await this.request("GET", "/v1/sandboxes", undefined, { agent })).sandboxes;
  }
  async removeSandbox(sandboxId) {
    await this.request("DELETE", `/v1/sandboxes/${seg(sandboxId)}`);
  }
  async sessions(agent, { ended = false } = {}) {
    return (await this.request("GET", "/v1/sessions", undefined, { agent, ended })).sessions;
  }
  /** End a session; resolves with the number of sandboxes removed. */
  async endSession(session = this.session, agent = this.agent ?? "default") {
    if (!session) throw new InvalidRequest("which session?");
    const doc = await this.request("POST", `/v1/sessions/${seg(session)}/end`, { agent });
    return doc.sandboxes_removed;
  }

  // -- files (docs/files.md): where = { sandboxId } or { session, runtime, agent } --

  _files(route, path, where = {}, extra = {}) {
    const query = { path, ...extra };
    if (where.sandboxId) return [`/v1/sandboxes/${seg(where.sandboxId)}/files${route}`, query];
    Object.assign(query, { agent: where.agent ?? this.agent, session: where.session ?? this.session,
      runtime: where.runtime });
    return [`/v1/files${route}`, query];
  }
  /** Write data (a Buffer, or a string as UTF-8) to the file path (parents made); mode: the
   * permission bits (e.g. 0o755). Resolves with { path, written, size }. */
  async upload(path, data, where = {}, { mode } = {}) {
    const [route, query] = this._files("", path, where,
      { mode: mode === undefined ? undefined : mode.toString(8) });
    return JSON.parse(await this.requestBytes("PUT", route, { query, raw: data }));
  }
  /** Unpack a tar (regular files and directories only) into the directory path. */
  async uploadTar(path, tar, where = {}) {
    const [route, query] = this._files("", path, where);
    return JSON.parse(await this.requestBytes("PUT", route,
      { query, raw: tar, contentType: "application/x-tar" }));
  }
  /** A file's bytes (a Buffer); a directory comes as a tar. */
  download(path, where = {}) {
    const [route, query] = this._files("", path, where);
    return this.requestBytes("GET", route, { query });
  }
  async listFiles(path, where = {}) {
    const [route, query] = this._files("/list", path, where);
    return (await this.request("GET", route, undefined, query)).entries;
  }
  stat(path, where = {}) {
    const [route, query] = this._files("/stat", path, where);
    return this.request("GET", route, undefined, query);
  }
  /** Make a directory and its parents; resolves false when it was there. */
  async mkdir(path, where = {}) {
    const [route, query] = this._files("/mkdir", path, where);
    return (await this.request("POST", route, undefined, query)).created;
  }
  async remove(path, where = {}, { recursive = false } = {}) {
    const [route, query] = this._files("", path, where, { recursive });
    await this.request("DELETE", route, undefined, query);
  }
  async move(from, to, where = {}) {
    const [route, query] = this._files("/move", undefined, where);
    await this.request("POST", route, { from, to }, query);
  }

  // -- code contexts (docs/contexts.md) --

  /** Start a live interpreter ("python", "node" or "bash") in the session's sandbox. */
  createContext(language = "python", { session, runtime, agent } = {}) {
    const body = { language, agent: agent ?? this.agent ?? "default" };
    if (session ?? this.session) body.session = session ?? this.session;
    if (runtime) body.runtime = runtime;
    return this.request("POST", "/v1/contexts", body);
  }
  async contexts() { return (await this.request("GET", "/v1/contexts")).contexts; }
  context(ctx) { return this.request("GET", `/v1/contexts/${ctxId(ctx)}`); }
  /** Run a cell: state persists between cells. The result has `results` (values and
   * displays by MIME type), `context` (status, error) and `artifacts`; see images(). */
  async runInContext(ctx, code, { timeoutS } = {}) {
    const agent = typeof ctx === "object" ? ctx.agent : (await this.context(ctx)).agent;
    const body = { agent, context: typeof ctx === "object" ? ctx.id : String(ctx), code };
    if (timeoutS) body.timeout_s = timeoutS;
    return this.request("POST", "/v1/exec", body);
  }
  /** KeyboardInterrupt to the running cell; resolves false when none was running. */
  async interruptContext(ctx) {
    return (await this.request("POST", `/v1/contexts/${ctxId(ctx)}/interrupt`)).interrupted;
  }
  /** A fresh interpreter: the state is cleared. */
  restartContext(ctx) { return this.request("POST", `/v1/contexts/${ctxId(ctx)}/restart`); }
  async deleteContext(ctx) { await this.request("DELETE", `/v1/contexts/${ctxId(ctx)}`); }

  /** One page of the audit log, newest first: { executions, next_cursor }. */
  executions(filters = {}) {
    return this.request("GET", "/v1/executions", undefined, filters);
  }
  /** Every matching row, page after page. */
  async *iterExecutions(filters = {}) {
    let cursor;
    do {
      const page = await this.executions({ ...filters, cursor });
      yield* page.executions;
      cursor = page.next_cursor;
    } while (cursor);
  }
  execution(id) {
    return this.request("GET", `/v1/executions/${seg(id)}`);
  }

  version() { return this.request("GET", "/v1/version"); }
  health() { return this.request("GET", "/v1/health"); }
}

async function readAll(res) {
  const parts = [];
  let n = 0;
  for await (const chunk of res) {
    n += chunk.length;
    if (n > MAX_BODY) {
      res.destroy();
      throw new TooLarge("airlockd's answer is larger than the client's cap");
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
