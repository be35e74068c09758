/**
 * The user-tracking fan-out behind the `TrackUserJob` example job.
 *
 * Tasks:
 * 1. Read the job's arguments in either shape Rails sends: the list
 *    `[id, name, email, url, ip, controller, action]` or one hash with those keys.
 * 2. Read the endpoints from the environment (`TRACK_ENDPOINTS`, `TRACK_TIMEOUT_MS`), failing
 *    loudly on a malformed value.
 * 3. POST the event to every endpoint at once, each with a timeout; fail (so Sidekiq retries) if
 *    any endpoint failed, naming each one. With no endpoints, log what would be sent.
 */
import { stringify as losslessStringify } from 'lossless-json';
import type { Logger } from '../log.js';

export const TRACK_FIELDS = ['id', 'name', 'email', 'url', 'ip', 'controller', 'action'] as const;

/** One tracking event. `id` is a number, a BigInt (past 2^53) or a string; the rest strings or null. */
export interface TrackEvent {
  id: number | bigint | string;
  name: string | null;
  email: string | null;
  url: string | null;
  ip: string | null;
  controller: string | null;
  action: string | null;
}

/** The job's arguments are not a tracking event. */
export class TrackArgumentError extends Error {
  override name = 'ArgumentError';
}

/** One or more endpoints did not accept the event. */
export class TrackDeliveryError extends Error {
  override name = 'TrackDeliveryError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Reads `[id, name, email, url, ip, controller, action]` or `[{ id, name, … }]`. Missing trailing
 * fields are null; `id` is required.
 *
 * @example
 * readTrackArgs([{ id: 7, name: 'Ann', url: '/home' }]).url // '/home'
 */
export function readTrackArgs(args: readonly unknown[]): TrackEvent {
  const source: Record<string, unknown> =
    args.length === 1 && isRecord(args[0]) ? args[0] : Object.fromEntries(TRACK_FIELDS.map((f, i) => [f, args[i]]));
  if (args.length > TRACK_FIELDS.length) {
    throw new TrackArgumentError(`TrackUserJob takes at most ${TRACK_FIELDS.length} arguments (${TRACK_FIELDS.join(', ')}), got ${args.length}`);
  }
  const id = source.id;
  if (!(typeof id === 'number' || typeof id === 'bigint' || (typeof id === 'string' && id !== ''))) {
    throw new TrackArgumentError(`TrackUserJob: id must be a number or a non-empty string, got ${id === undefined ? 'nothing' : JSON.stringify(id)}`);
  }
  const event: TrackEvent = { id, name: null, email: null, url: null, ip: null, controller: null, action: null };
  for (const f of TRACK_FIELDS.slice(1) as Exclude<(typeof TRACK_FIELDS)[number], 'id'>[]) {
    const v = source[f];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      throw new TrackArgumentError(`TrackUserJob: ${f} must be a string or null, got ${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`);
    }
    event[f] = v ?? null;
  }
  return event;
}

export interface TrackConfig {
  /** @defaultValue [] — log what would be sent */
  readonly endpoints: readonly string[];
  /** @defaultValue 5000 */
  readonly timeoutMs: number;
}

/**
 * Reads `TRACK_ENDPOINTS` (comma-separated http(s) URLs) and `TRACK_TIMEOUT_MS`.
 *
 * @example
 * readTrackConfig({ TRACK_ENDPOINTS: 'https://a.example/t, https://b.example/t' }).endpoints.length // 2
 */
export function readTrackConfig(env: NodeJS.ProcessEnv = process.env): TrackConfig {
  const endpoints = (env.TRACK_ENDPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const e of endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(e);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new Error(`TRACK_ENDPOINTS must be comma-separated http(s) URLs; "${e}" is not one`);
    }
  }
  const timeoutText = env.TRACK_TIMEOUT_MS ?? '';
  const timeoutMs = timeoutText === '' ? 5000 : Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error(`TRACK_TIMEOUT_MS must be a positive whole number of ms, got "${timeoutText}"`);
  return { endpoints, timeoutMs };
}

export interface TrackDeps {
  readonly fetch: typeof fetch;
  readonly logger: Logger;
  /** Sent as `Idempotency-Key`, so an endpoint can drop the duplicates a retry sends. */
  readonly jid: string;
}

/**
 * Sends the event to every endpoint; resolves with the number of endpoints reached.
 *
 * @example
 * await sendTrackEvent(readTrackArgs(args), readTrackConfig(), { fetch, logger: job.logger, jid: job.jid });
 */
export async function sendTrackEvent(event: TrackEvent, config: TrackConfig, deps: TrackDeps): Promise<number> {
  const body = losslessStringify(event) ?? '{}';
  if (config.endpoints.length === 0) {
    deps.logger.info('no TRACK_ENDPOINTS configured; would send', { event });
    return 0;
  }
  const outcomes = await Promise.all(
    config.endpoints.map(async (endpoint) => {
      try {
        const res = await deps.fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': deps.jid },
          body,
          signal: AbortSignal.timeout(config.timeoutMs),
        });
        await res.body?.cancel();
        return res.ok ? undefined : `${endpoint}: HTTP ${res.status}`;
      } catch (e) {
        const err = e as Error;
        return err.name === 'TimeoutError' ? `${endpoint}: no answer within ${config.timeoutMs} ms` : `${endpoint}: ${err.message}`;
      }
    }),
  );
  const failed = outcomes.filter((o): o is string => o !== undefined);
  if (failed.length > 0) throw new TrackDeliveryError(`${failed.length} of ${config.endpoints.length} endpoints failed: ${failed.join('; ')}`);
  deps.logger.info('tracked', { endpoints: config.endpoints.length });
  return config.endpoints.length;
}
