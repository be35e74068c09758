/**
 * The diagnostic jobs (queue `diagnostics`) that check a deployment end to end.
 *
 * Tasks:
 * 1. `EchoJob`: enqueue `EchoReplyJob` on `echo_replies` with `[<jid>, <args exactly as received>]`.
 *    "Exactly" means byte for byte: the reply splices the raw `args` text out of the payload rather
 *    than re-serialising parsed values, so big integers, `1.0`, `1.0e+20` and escapes survive.
 * 2. `FailJob`: the error to throw, whose message is `args[0]`.
 * 3. `SleepJob`: how long to sleep, from `args[0]` seconds.
 */
import type { Producer } from '../producer/producer.js';
import { RawJson, splitObject, writeObject } from '../protocol/json.js';
import { writeTimestamp } from '../protocol/time.js';
import { generateJid } from '../protocol/validate.js';

export const ECHO_REPLY_CLASS = 'EchoReplyJob';
export const ECHO_REPLY_QUEUE = 'echo_replies';

/**
 * The `EchoReplyJob` payload for an `EchoJob` payload, in Sidekiq's key order.
 *
 * @example
 * echoReplyPayload('{"class":"EchoJob","args":[1.0,12345678901234567890],"jid":"abc"}', 'abc', Date.now(), 7)
 * // '{"retry":true,"queue":"echo_replies","class":"EchoReplyJob","args":["abc",[1.0,12345678901234567890]],"jid":"…",…}'
 */
export function echoReplyPayload(payload: string, jid: string, now: number, version: Producer['version']): { json: string; jid: string } {
  const rawArgs = splitObject(payload).get('args');
  if (rawArgs === undefined) throw new Error('the EchoJob payload has no args');
  const replyJid = generateJid();
  const json = writeObject([
    ['retry', true],
    ['queue', ECHO_REPLY_QUEUE],
    ['class', ECHO_REPLY_CLASS],
    ['args', new RawJson(`[${JSON.stringify(jid)},${rawArgs}]`)],
    ['jid', replyJid],
    ['created_at', writeTimestamp(now, version)],
    ['enqueued_at', writeTimestamp(now, version)],
  ]);
  return { json, jid: replyJid };
}

/**
 * Enqueues the reply and returns its jid. It renders the payload itself, because `push`
 * re-serialises args, which would lose the exact spelling.
 *
 * @example
 * await enqueueEchoReply(job.client, job.payload, job.jid);
 */
export async function enqueueEchoReply(client: Producer, payload: string, jid: string): Promise<string> {
  const reply = echoReplyPayload(payload, jid, client.now(), client.version);
  await client.enqueueRaw({ queue: ECHO_REPLY_QUEUE, payload: reply.json });
  return reply.jid;
}

/**
 * The error `FailJob` throws: a plain `Error` whose message is `args[0]` (non-strings as JSON).
 *
 * @example
 * failError(['boom']).message // 'boom'
 */
export function failError(args: readonly unknown[]): Error {
  const m = args[0];
  if (typeof m === 'string') return new Error(m);
  return new Error(m === undefined ? 'FailJob failed (no message given in args[0])' : JSON.stringify(m, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

/**
 * The milliseconds `SleepJob` sleeps: `args[0]` seconds, a finite number ≥ 0.
 *
 * @example
 * sleepMs([1.5]) // 1500
 */
export function sleepMs(args: readonly unknown[]): number {
  const s = args[0];
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) {
    throw new TypeError(`SleepJob: args[0] must be a number of seconds ≥ 0, got ${s === undefined ? 'nothing' : typeof s === 'bigint' ? s.toString() : JSON.stringify(s)}`);
  }
  return Math.round(s * 1000);
}
