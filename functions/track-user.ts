/**
 * TrackUserJob (queue `track`): user-tracking fan-out to the analytics endpoints in
 * `TRACK_ENDPOINTS`; logs what it would send when none is configured. Declared with `batchSize: 10`.
 */
import { jobHandler, kill } from '../lib/handler.js';
import { TrackArgumentError, readTrackArgs, readTrackConfig, sendTrackEvent } from '../lib/examples/track-user.js';

const config = readTrackConfig(process.env);

type TrackArgs = [id: number | string, name?: string, email?: string, url?: string, ip?: string, controller?: string, action?: string] | [Record<string, unknown>];

export const handler = jobHandler<TrackArgs>(async (args, job) => {
  let event;
  try {
    event = readTrackArgs(args);
  } catch (e) {
    // Malformed arguments never get better: straight to the dead set instead of 25 retries.
    throw e instanceof TrackArgumentError ? kill(e) : e;
  }
  await sendTrackEvent(event, config, { fetch, logger: job.logger, jid: job.jid });
});
