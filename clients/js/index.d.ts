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
}

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
export class ConnectionFailed extends AirlockError {}
export const ERRORS: Record<string, typeof AirlockError>;

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
  version(): Promise<{ version: string; api: string; instance: string; engine: { kind: string; socket: string } }>;
  health(): Promise<Record<string, unknown>>;
}
