/**
 * Trace context in a job payload (sidekiq-protocol.md §13.5): the W3C `traceparent` / `tracestate`
 * (and `baggage`) keys that Ruby's OpenTelemetry Sidekiq instrumentation writes into the job hash
 * (its client middleware calls `OpenTelemetry.propagation.inject(job)`), and their AWS X-Ray form.
 *
 * Tasks:
 * 1. Read a payload's trace context as OpenTelemetry Ruby's `TraceParent.from_string` does (the
 *    same accepted spellings; ids lower-cased), or nothing when absent or invalid.
 * 2. Turn it into Lambda's `X-Amzn-Trace-Id` header, as AWS documents the conversion: the W3C trace
 *    id `4efaaf4d1e8720b39541901950019ee5` is the X-Ray trace id `1-4efaaf4d-1e8720b39541901950019ee5`
 *    (the first 8 hex digits, then the other 24); the span id is the `Parent`; the sampled flag `Sampled`.
 * 3. Pick the header for one Invoke of a batch: its first job that carries a trace context.
 * 4. Make a fresh X-Ray header, for an invocation that arrives without one (Lambda starts a trace then).
 *
 * Pure: no clock or randomness of its own.
 */

/** A job's trace context, as the handler sees it (`job.trace`). */
export interface TraceContext {
  /** The `traceparent` value exactly as the payload holds it, e.g. `00-4bf9…4736-00f0…02b7-01`. */
  readonly traceparent: string;
  /** The `tracestate` value as the payload holds it (vendor data), when there is one. */
  readonly tracestate?: string;
  /** The W3C `baggage` value as the payload holds it, when there is one. */
  readonly baggage?: string;
  /** The trace id: 32 lower-case hex digits. */
  readonly traceId: string;
  /** The id of the span that enqueued the job (the parent of whatever runs it): 16 lower-case hex digits. */
  readonly spanId: string;
  /** The trace flags' sampled bit: the enqueuing side records this trace. */
  readonly sampled: boolean;
}

/** OpenTelemetry Ruby's `TraceParent::REGEXP` (it accepts upper case and a suffix after the flags). */
const TRACEPARENT = /^([A-Fa-f0-9]{2})-([A-Fa-f0-9]{32})-([A-Fa-f0-9]{16})-([A-Fa-f0-9]{2})(-.*)?$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * Parses a `traceparent` value as OpenTelemetry Ruby does; undefined when Ruby would reject it
 * (version `ff`, an all-zero id, a newer version shorter than 55 characters, bad characters).
 *
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true }
 */
export function parseTraceparent(value: unknown): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const version = parseInt(m[1]!, 16);
  if (version > 254 || (version > 0 && value.length < 55)) return undefined;
  const traceId = m[2]!.toLowerCase();
  const spanId = m[3]!.toLowerCase();
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return undefined;
  return { traceId, spanId, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
}

/**
 * The trace context a payload carries, or undefined when it has no valid `traceparent` (then its
 * `tracestate` means nothing either, as in the W3C rules).
 *
 * @example
 * readTraceContext(JSON.parse(payload))?.traceId // '4bf92f3577b34da6a3ce929d0e0e4736'
 */
export function readTraceContext(job: { readonly [key: string]: unknown }): TraceContext | undefined {
  const parsed = parseTraceparent(job.traceparent);
  if (!parsed) return undefined;
  const { tracestate, baggage } = job;
  return {
    traceparent: job.traceparent as string,
    ...(typeof tracestate === 'string' && tracestate !== '' && { tracestate }),
    ...(typeof baggage === 'string' && baggage !== '' && { baggage }),
    ...parsed,
  };
}

/**
 * The X-Ray trace id for a W3C trace id: `1-` + its first 8 hex digits + `-` + the other 24.
 *
 * @example xrayTraceId('4efaaf4d1e8720b39541901950019ee5') // '1-4efaaf4d-1e8720b39541901950019ee5'
 */
export function xrayTraceId(traceId: string): string {
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}

/**
 * Lambda's `X-Amzn-Trace-Id` header for a trace context: Lambda's segment (with active tracing)
 * joins that trace as a child of the span that enqueued the job, and the function sees the header
 * in `_X_AMZN_TRACE_ID`.
 *
 * @example
 * xrayHeader({ traceId: '4efaaf4d1e8720b39541901950019ee5', spanId: '53995c3f42cd8ad8', sampled: true })
 * // 'Root=1-4efaaf4d-1e8720b39541901950019ee5;Parent=53995c3f42cd8ad8;Sampled=1'
 */
export function xrayHeader(trace: Pick<TraceContext, 'traceId' | 'spanId' | 'sampled'>): string {
  return `Root=${xrayTraceId(trace.traceId)};Parent=${trace.spanId};Sampled=${trace.sampled ? 1 : 0}`;
}

/**
 * The `X-Amzn-Trace-Id` for one Invoke: the trace of the first job of the batch that has one (an
 * Invoke carries one header; each job's own context still reaches the handler in its payload).
 *
 * @example invocationTraceHeader(jobs.map((j) => j.job)) // 'Root=1-…;Parent=…;Sampled=1' or undefined
 */
export function invocationTraceHeader(jobs: readonly { readonly [key: string]: unknown }[]): string | undefined {
  for (const job of jobs) {
    const trace = readTraceContext(job);
    if (trace) return xrayHeader(trace);
  }
  return undefined;
}

/**
 * A new, unsampled X-Ray header (what Lambda's pass-through tracing starts for an invocation that
 * arrives without one): the time in epoch seconds as 8 hex digits, then 96 random bits.
 *
 * @example freshXrayHeader(Date.now(), randomBytes(20).toString('hex'))
 */
export function freshXrayHeader(nowMs: number, randomHex: string): string {
  const seconds = Math.floor(nowMs / 1000).toString(16).padStart(8, '0').slice(-8);
  return `Root=1-${seconds}-${randomHex.slice(0, 24)};Parent=${randomHex.slice(24, 40)};Sampled=0`;
}
