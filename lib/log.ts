/**
 * Structured logs: one JSON object a line (CloudWatch), or one readable line (dev mode).
 * Job arguments are never logged unless asked for (`SIDEKIQ_LAMBDA_LOG_ARGS=true`): they hold
 * customer data.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Logger = ((entry: { level?: Level; msg: string; [k: string]: unknown }) => void) & {
  /** Whether a line at this level would be written (skip building it otherwise). */
  enabled?: (level: Level) => boolean;
};

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  /** @defaultValue 'json' */
  readonly format?: 'json' | 'pretty';
  /** @defaultValue 'info' */
  readonly level?: Level;
  readonly write?: (line: string) => void;
}

function pretty(e: Record<string, unknown>): string {
  const { level, msg, time: _t, ...rest } = e;
  const tail = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const tag = level === 'error' ? 'ERROR ' : level === 'warn' ? 'WARN ' : '';
  return `${new Date().toISOString().slice(11, 23)} ${tag}${msg}${tail ? ` ${tail}` : ''}`;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const format = opts.format ?? 'json';
  const log: Logger = (entry) => {
    const level = entry.level ?? 'info';
    if (ORDER[level] < min) return;
    const e = { time: new Date().toISOString(), ...entry, level };
    write(format === 'json' ? JSON.stringify(e) : pretty(e));
  };
  log.enabled = (level) => ORDER[level] >= min;
  return log;
}

/** Reads `SIDEKIQ_LAMBDA_LOG_LEVEL`. */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env): Level {
  const l = env.SIDEKIQ_LAMBDA_LOG_LEVEL;
  if (l === undefined || l === '') return 'info';
  if (l in ORDER) return l as Level;
  throw new Error(`SIDEKIQ_LAMBDA_LOG_LEVEL must be debug, info, warn or error, got "${l}"`);
}
