/**
 * The one logger: the poller's, dev's, the scheduler's, and the one a job handler gets as
 * `job.logger`.
 *
 * Tasks:
 * 1. Write one JSON object a line — `level`, `time`, `msg`, the stamped fields and the caller's —
 *    so CloudWatch Logs Insights reads every field; or one readable line (dev mode).
 * 2. Filter by level; say whether a level is on, so hot paths skip building a line.
 * 3. Render BigInt exactly (as a JSON number) and survive fields that cannot be serialised.
 *
 * Job arguments are never logged unless asked for (`SIDEKIQ_LAMBDA_LOG_ARGS=true`): they hold
 * customer data. Which level applies is read from the environment in `lib/config.ts`.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
/** Where log lines go: one line per call, no trailing newline. */
export type LogSink = (line: string) => void;

/** The levels, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that stamps these fields too. */
  child(fields: LogFields): Logger;
  /** Whether a line at this level would be written (skip building it otherwise). */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** @defaultValue 'info' */
  readonly level?: LogLevel;
  /** @defaultValue 'json' */
  readonly format?: 'json' | 'pretty';
  /** @defaultValue {@link stdoutSink} */
  readonly sink?: LogSink;
  /** Fields stamped on every line. @defaultValue {} */
  readonly fields?: LogFields;
}

/** Writes to stdout directly, so Lambda does not prefix the JSON with its own text. */
export const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + '\n');
};

/** JSON with BigInt as exact integers (`12345678901234567890`, not a string). */
export function logJson(value: LogFields): string {
  const marks: string[] = [];
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v !== 'bigint') return v;
      marks.push(v.toString());
      return `\u0000bigint${marks.length - 1}\u0000`;
    });
  } catch (e) {
    return JSON.stringify({ level: value.level, time: value.time, msg: value.msg, logError: `fields not serialisable: ${(e as Error).message}` });
  }
  return marks.length === 0 ? text : text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? 'null');
}

/** `12:34:56.789 WARN msg key=value …` for a terminal. */
function pretty(e: LogFields): string {
  const { level, msg, time, ...rest } = e;
  const tail = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`)
    .join(' ');
  const tag = level === 'error' ? 'ERROR ' : level === 'warn' ? 'WARN ' : '';
  return `${String(time).slice(11, 23)} ${tag}${String(msg)}${tail ? ` ${tail}` : ''}`;
}

/**
 * A logger.
 *
 * @example
 * const log = createLogger({ fields: { jid: 'abc', class: 'TrackUserJob' } });
 * log.info('posted', { endpoint: 'https://example.com', ms: 41 });
 * // {"level":"info","time":"…","msg":"posted","jid":"abc","class":"TrackUserJob","endpoint":"https://example.com","ms":41}
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const sink = opts.sink ?? stdoutSink;
  const stamp = opts.fields ?? {};
  const render = opts.format === 'pretty' ? pretty : logJson;
  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    sink(render({ level, time: new Date().toISOString(), msg, ...stamp, ...fields }));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...opts, fields: { ...stamp, ...fields } }),
    enabled: (level) => RANK[level] >= min,
  };
}
