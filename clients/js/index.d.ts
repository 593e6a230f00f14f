// Types of @airlock/client (index.js). Field names are the daemon's (docs/api.md).

export const DEFAULT_SOCKET: string;

export interface ClientOptions {
  /** airlockd's socket (default $AIRLOCK_SOCKET, else /run/airlock/airlock.sock) */
  socketPath?: string;
  /** a bearer token (default $AIRLOCK_TOKEN): requests act only as its agent */
  token?: string;
  /** defaults for the calls that take them */
  agent?: string;
  session?: string;
  /** socket inactivity limit in ms (default none: an exec runs as long as it runs) */
  timeoutMs?: number;
}

export type Runnable = { code: string } | { argv: string[] } | { command: string };

export interface ExecOptions {
  runtime?: string;
  agent?: string;
  session?: string;
  stdin?: string;
  env?: Record<string, string>;
  timeoutS?: number;
  network?: boolean;
  untrusted?: boolean;
}

export interface Decision { mode: string | null; sandboxed: boolean; reason: string }

export interface ExecResult {
  execution_id: string;
  exit_code: number;
  signal: number | null;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  timed_out: boolean;
  oom_killed: boolean;
  duration_ms: number;
  sandboxed: boolean;
  backend: string;
  sandbox_id: string | null;
  decision: Decision;
  transport?: "agent" | "engine";
  aborted?: boolean;
  sandbox_lost?: string;
  sandbox_replaced?: string;
  artifacts?: Artifact[];
  /** A context's cell: its values and displays, and how it went. */
  results?: CellResult[] | null;
  context?: CellInfo;
}

export interface Artifact {
  name: string;
  mime: string;
  size: number;
  sha256: string;
  path?: string;
  /** base64, when small enough to come inline */
  data?: string;
}

export interface CellResult {
  kind: "result" | "display";
  /** by MIME type; binary ones base64 */
  data: Record<string, string>;
}

export interface CellInfo {
  id: string;
  language: "python" | "node" | "bash";
  execution_count?: number;
  status: "ok" | "error" | "ended";
  interrupted: boolean;
  error: { name: string; value: string; traceback: string } | null;
  [key: string]: unknown;
}

export interface Context {
  id: string;
  language: "python" | "node" | "bash";
  agent: string;
  session: string | null;
  runtime: string;
  sandbox_id?: string;
  state: "idle" | "busy" | "ended";
  default: boolean;
  execution_count: number;
  cells: number;
  created_ms: number;
  idle_ms: number;
  ended: string | null;
}

export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "fifo" | "socket" | "device" | "other";
  size: number;
  /** permission bits (420 is 0o644) */
  mode: number;
  /** seconds since the epoch */
  mtime: number;
  target?: string;
  path?: string;
}

/** Which sandbox a files call works in: by id, or the one of (agent, session, runtime). */
export type Where = { sandboxId: string } | { session?: string; runtime?: string; agent?: string };

export type StreamEvent =
  | { type: "start"; execution_id: string; sandbox_id: string | null }
  | { type: "stdout" | "stderr"; data: string }
  | ({ type: "exit" } & Omit<ExecResult, "stdout" | "stderr">);

export interface BackgroundProcess {
  execution_id: string;
  background: true;
  pid: number;
  sandboxed: boolean;
  backend: string;
  sandbox_id: string | null;
  decision: Decision;
}

export interface Process {
  pid: number;
  command: string;
  started_ms: number;
  state: "running" | "exited" | "killed";
  exit_code?: number | null;
  signal?: number | null;
  duration_ms?: number | null;
  stdout?: string;
  stderr?: string;
  stdout_truncated?: boolean;
  stderr_truncated?: boolean;
}

export interface Sandbox {
  id: string;
  backend: string;
  scope: "session" | "agent" | "shared";
  agent: string | null;
  session: string | null;
  image: string;
  created_ms: number;
  last_used_ms: number;
  execs_running: number;
}

export interface Session {
  agent: string;
  session: string;
  created_at: number;
  last_used_at: number;
  ended_at: number | null;
}

export interface Execution {
  id: string;
  agent: string;
  session: string | null;
  peer_uid: number | null;
  peer_pid: number | null;
  decision: Decision;
  backend: string | null;
  runtime: string | null;
  sandbox_id: string | null;
  code_preview: string;
  code_sha256: string;
  code_bytes: number;
  state: "running" | "done" | "failed" | "aborted";
  exit_code: number | null;
  signal: number | null;
  timed_out: boolean;
  oom_killed: boolean;
  cancelled: boolean;
  duration_ms: number | null;
  error: string | null;
  started_at: number;
  finished_at: number | null;
  [key: string]: unknown;
}

export interface ExecutionFilters {
  agent?: string;
  session?: string;
  state?: "running" | "done" | "failed" | "aborted";
  backend?: string;
  /** ms since the epoch */
  since?: number;
  until?: number;
  limit?: number;
  cursor?: string;
}

export class AirlockError extends Error {
  static code: string;
  code: string;
  status: number;
  retryAfter?: number;
  raw: Record<string, unknown>;
}
export class InvalidRequest extends AirlockError {}
export class Unauthorized extends AirlockError {}
export class Forbidden extends AirlockError {}
export class NotFound extends AirlockError {}
export class MethodNotAllowed extends AirlockError {}
export class Conflict extends AirlockError {}
export class TooLarge extends AirlockError {}
export class RateLimited extends AirlockError {}
export class EngineError extends AirlockError {}
export class EngineUnavailable extends AirlockError {}
export class NotSupported extends AirlockError {}
export class InvalidPolicy extends AirlockError {}
export class Timeout extends AirlockError {}
export class InternalError extends AirlockError {}
export class InsufficientStorage extends AirlockError {}
export class ConnectionFailed extends AirlockError {}
export const ERRORS: Record<string, typeof AirlockError>;
/** A cell's value: the text/plain of its last "result". */
export function resultText(res: ExecResult): string | undefined;
/** The images a run made, each once. */
export function images(res: ExecResult): { mime: string; data: Buffer }[];

export class Client {
  constructor(opts?: ClientOptions);
  socketPath: string;
  token?: string;
  agent?: string;
  session?: string;
  /** The one door: a request with a JSON body (or none), resolving with the JSON answer. */
  request<T = unknown>(method: string, path: string, body?: unknown,
    query?: Record<string, string | number | boolean | undefined>): Promise<T>;
  exec(what: Runnable, opts?: ExecOptions): Promise<ExecResult>;
  runCode(code: string, language?: string, opts?: ExecOptions): Promise<ExecResult>;
  execStream(what: Runnable, opts?: ExecOptions): AsyncGenerator<StreamEvent>;
  startBackground(what: Runnable, opts?: Omit<ExecOptions, "timeoutS">): Promise<BackgroundProcess>;
  processes(sandboxId: string): Promise<Process[]>;
  process(sandboxId: string, pid: number): Promise<Process>;
  killProcess(sandboxId: string, pid: number): Promise<void>;
  sandboxes(agent?: string): Promise<Sandbox[]>;
  removeSandbox(sandboxId: string): Promise<void>;
  sessions(agent?: string, opts?: { ended?: boolean }): Promise<Session[]>;
  endSession(session?: string, agent?: string): Promise<number>;
  executions(filters?: ExecutionFilters): Promise<{ executions: Execution[]; next_cursor?: string }>;
  iterExecutions(filters?: Omit<ExecutionFilters, "cursor">): AsyncGenerator<Execution>;
  execution(id: string): Promise<Execution>;
  requestBytes(method: string, path: string, opts?: { query?: Record<string, string | number | boolean | undefined>;
    raw?: Buffer | string; contentType?: string }): Promise<Buffer>;
  upload(path: string, data: Buffer | string, where?: Where, opts?: { mode?: number }): Promise<{ path: string; written: boolean; size: number }>;
  uploadTar(path: string, tar: Buffer, where?: Where): Promise<{ path: string; files: number; directories: number }>;
  download(path: string, where?: Where): Promise<Buffer>;
  listFiles(path: string, where?: Where): Promise<FileEntry[]>;
  stat(path: string, where?: Where): Promise<FileEntry>;
  mkdir(path: string, where?: Where): Promise<boolean>;
  remove(path: string, where?: Where, opts?: { recursive?: boolean }): Promise<void>;
  move(from: string, to: string, where?: Where): Promise<void>;
  createContext(language?: "python" | "node" | "bash", opts?: { session?: string; runtime?: string; agent?: string }): Promise<Context>;
  contexts(): Promise<Context[]>;
  context(ctx: string | Context): Promise<Context>;
  runInContext(ctx: string | Context, code: string, opts?: { timeoutS?: number }): Promise<ExecResult>;
  interruptContext(ctx: string | Context): Promise<boolean>;
  restartContext(ctx: string | Context): Promise<Context>;
  deleteContext(ctx: string | Context): Promise<void>;
  version(): Promise<{ version: string; api: string; instance: string; engine: { kind: string; socket: string } }>;
  health(): Promise<Record<string, unknown>>;
}
