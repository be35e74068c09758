/**
 * The structured logger a job handler gets as `job.logger`.
 *
 * Tasks:
 * 1. Write one JSON object per line — `level`, `time`, `msg`, the stamped fields (`jid`, `class`,
 *    `queue`) and the caller's fields — so CloudWatch Logs Insights reads every field.
 * 2. Filter by `LOG_LEVEL` (`debug` | `info` | `warn` | `error`, default `info`), failing loudly on
 *    anything else.
 * 3. Render BigInt exactly (as a JSON number) and survive fields that cannot be serialised.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where log lines go: one JSON text per call, no trailing newline. */
export type LogSink = (line: string) => void;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that stamps these fields too. */
  child(fields: Record<string, unknown>): Logger;
}

/** Reads `LOG_LEVEL`. @defaultValue 'info' */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = (env.LOG_LEVEL ?? '').toLowerCase();
  if (v === '') return 'info';
  if (v in RANK) return v as LogLevel;
  throw new Error(`LOG_LEVEL must be debug, info, warn or error, got "${env.LOG_LEVEL}"`);
}

/** Writes to stdout directly, so Lambda does not prefix the JSON with its own text. */
export const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + '\n');
};

/** JSON with BigInt as exact integers (`12345678901234567890`, not a string). */
export function logJson(value: Record<string, unknown>): string {
  const marks: string[] = [];
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v !== 'bigint') return v;
      marks.push(v.toString());
      return `\u0000bigint${marks.length - 1}\u0000`;
    });
  } catch (e) {
    return JSON.stringify({ level: value.level, msg: value.msg, logError: `fields not serialisable: ${(e as Error).message}` });
  }
  return marks.length === 0 ? text : text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? 'null');
}

/**
 * A JSON-lines logger.
 *
 * @example
 * const log = createLogger({ jid: 'abc', class: 'TrackUserJob' });
 * log.info('posted', { endpoint: 'https://example.com', ms: 41 });
 * // {"level":"info","time":"…","msg":"posted","jid":"abc","class":"TrackUserJob","endpoint":"https://example.com","ms":41}
 */
export function createLogger(stamp: Record<string, unknown> = {}, sink: LogSink = stdoutSink, level: LogLevel = logLevelFromEnv()): Logger {
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < RANK[level]) return;
    sink(logJson({ level: lvl, time: new Date().toISOString(), msg, ...stamp, ...fields }));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...stamp, ...fields }, sink, level),
  };
}
