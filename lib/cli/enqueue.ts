/**
 * `sidekiq-lambda enqueue`: push one job from the shell and print its jid.
 */
import { parseArgs } from 'node:util';
import { Client } from '../client.js';
import { redisUrlOf } from '../config.js';
import { JobValidationError } from '../protocol/validate.js';
import { hasUnsafeInteger } from '../protocol/json.js';

const HELP = `Usage: sidekiq-lambda enqueue --class CLASS --args JSON_ARRAY [options]

  --class C          job class (required)
  --args JSON        arguments as a JSON array, e.g. '[1,"two"]' (default [])
  --queue Q          queue (default "default")
  --in SECONDS       run after this many seconds
  --at TIME          run at epoch seconds or an ISO-8601 time
  --retry R          N | true | false (default true: 25 retries)
  --redis URL        default REDIS_URL, else redis://127.0.0.1:6379/0
  --namespace NS     redis-namespace prefix (Sidekiq 6)
  --sidekiq-version  6 | 7 | 8: the oldest Sidekiq reading this Redis (default 7)`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses `--retry`. */
export function parseRetry(text: string): boolean | number {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^\d+$/.test(text)) return Number(text);
  throw new UsageError(`--retry must be a non-negative integer, true or false, got "${text}"`);
}

/** Parses `--at`: epoch seconds or an ISO-8601 time. */
export function parseAt(text: string): Date {
  const asNumber = Number(text);
  const d = text.trim() !== '' && Number.isFinite(asNumber) ? new Date(asNumber * 1000) : new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--at must be epoch seconds or an ISO-8601 time, got "${text}"`);
  return d;
}

export async function enqueueCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      class: { type: 'string' },
      args: { type: 'string', default: '[]' },
      queue: { type: 'string' },
      in: { type: 'string' },
      at: { type: 'string' },
      retry: { type: 'string' },
      redis: { type: 'string' },
      namespace: { type: 'string' },
      'sidekiq-version': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.class) throw new UsageError('--class is required (the job class to run)');
  let args: unknown;
  if (hasUnsafeInteger(values.args!)) {
    throw new UsageError('--args holds an integer beyond ±(2^53−1), which would be rounded on the way to Redis; pass it as a string');
  }
  try {
    args = JSON.parse(values.args!);
  } catch (e) {
    throw new UsageError(`--args is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(args)) throw new UsageError(`--args must be a JSON array, e.g. '[1,"two"]', got ${values.args}`);
  if (values.in !== undefined && values.at !== undefined) throw new UsageError('give --in or --at, not both');
  let when: number | Date | undefined;
  if (values.in !== undefined) {
    const s = Number(values.in);
    if (!Number.isFinite(s) || values.in.trim() === '') throw new UsageError(`--in must be a number of seconds, got "${values.in}"`);
    when = s;
  } else if (values.at !== undefined) when = parseAt(values.at);
  const version = values['sidekiq-version'];
  if (version !== undefined && !['6', '7', '8'].includes(version)) throw new UsageError(`--sidekiq-version must be 6, 7 or 8, got "${version}"`);
  const client = new Client({
    redis: values.redis ?? redisUrlOf(process.env),
    namespace: values.namespace,
    sidekiqVersion: version === undefined ? undefined : (Number(version) as 6 | 7 | 8),
  });
  try {
    const item = { class: values.class, args, queue: values.queue, retry: values.retry === undefined ? undefined : parseRetry(values.retry) };
    const jid = await (when === undefined ? client.push(item) : client.push(client.scheduled(item, when)));
    console.log(jid);
    return 0;
  } catch (e) {
    if (e instanceof JobValidationError) throw new UsageError(e.message);
    throw e;
  } finally {
    await client.close();
  }
}
