/**
 * Diagnostic jobs on queue `diagnostics`, to check a deployment end to end. One file, three
 * Lambda handlers (the declarations pick one each with `handlerExport`):
 * - `echo`  — EchoJob: enqueues EchoReplyJob `[<jid>, <args exactly as received>]` on `echo_replies`;
 * - `fail`  — FailJob: throws an Error whose message is `args[0]`;
 * - `sleep` — SleepJob: sleeps `args[0]` seconds.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { jobHandler } from '../lib/handler.js';
import { enqueueEchoReply, failError, sleepMs } from '../lib/examples/diagnostics.js';

export const echo = jobHandler(async (_args, job) => {
  const replyJid = await enqueueEchoReply(job.client, job.payload, job.jid);
  job.logger.info('echoed', { replyJid });
});

export const fail = jobHandler((args) => {
  throw failError(args);
});

export const sleep = jobHandler<[seconds: number]>(async (args, job) => {
  const ms = sleepMs(args);
  if (ms > job.remainingTimeMs()) job.logger.warn('sleeping past the function timeout', { ms, remainingMs: job.remainingTimeMs() });
  await sleepFor(ms);
});
