/**
 * Validation of what a producer enqueues (sidekiq-protocol.md §4.1, Pitfalls 5 and 20).
 *
 * Tasks:
 * 1. Check a job's class, queue and jid.
 * 2. Check that args hold only values Ruby's JSON reads back as the same thing, and name the
 *    offending path when they do not (`args[2].when: Date objects are not JSON-native; …`).
 */
import { randomBytes } from 'node:crypto';

/** A validation failure; `path` names the offending field, e.g. `args[2].when`. */
export class JobValidationError extends Error {
  override name = 'JobValidationError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** A fresh jid: 24 lowercase hex characters, as `SecureRandom.hex(12)`. */
export function generateJid(): string {
  return randomBytes(12).toString('hex');
}

const JID = /^[0-9a-f]{24}$/;
/** Queue names the Web UI can show (a queue page exists only for these; Pitfall 15). */
const QUEUE_NAME = /^[A-Za-z0-9_:.-]+$/;

export function validateClass(value: unknown, path = 'class'): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new JobValidationError(path, 'must be a non-empty string naming the job class');
  }
  validateJsonNative(value, path);
  return value;
}

export function validateQueue(value: unknown, path = 'queue'): string {
  if (typeof value !== 'string' || value === '') throw new JobValidationError(path, 'must be a non-empty string');
  if (!QUEUE_NAME.test(value)) {
    throw new JobValidationError(path, `"${value}" may only contain letters, digits and _ : . - (the Web UI cannot show other names)`);
  }
  return value;
}

export function validateJid(value: unknown, path = 'jid'): string {
  if (typeof value !== 'string' || !JID.test(value)) {
    throw new JobValidationError(path, 'must be 24 lowercase hex characters');
  }
  return value;
}

function describe(value: object): string {
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name ? `${name} instances` : 'objects without a plain prototype';
}

/** Whether `s` holds a lone UTF-16 surrogate (Ruby's JSON parser rejects the whole payload). */
export function hasLoneSurrogate(s: string): boolean {
  // String.prototype.isWellFormed is Node 20+.
  return !(s as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Throws a {@link JobValidationError} naming the first value that is not JSON-native.
 *
 * @example
 * validateJsonNative([1, { when: new Date() }], 'args')
 * // JobValidationError: args[1].when: Date objects are not JSON-native; pass an ISO-8601 string or epoch seconds
 */
export function validateJsonNative(value: unknown, path: string, seen = new Set<object>()): void {
  switch (typeof value) {
    case 'string':
      if (hasLoneSurrogate(value)) {
        throw new JobValidationError(path, 'contains a lone UTF-16 surrogate, which Ruby\'s JSON parser rejects; clean it with String.prototype.toWellFormed()');
      }
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new JobValidationError(path, `${value} is not JSON-native (Ruby cannot read NaN or Infinity)`);
      return;
    case 'undefined':
      throw new JobValidationError(path, 'undefined is not JSON-native; use null');
    case 'bigint':
      throw new JobValidationError(path, 'BigInt is not JSON-native; pass a number up to 2^53−1 or a string');
    case 'function':
      throw new JobValidationError(path, 'functions are not JSON-native');
    case 'symbol':
      throw new JobValidationError(path, 'symbols are not JSON-native; pass a string');
  }
  if (value === null) return;
  const obj = value as object;
  if (seen.has(obj)) throw new JobValidationError(path, 'is a circular reference');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      obj.forEach((v, i) => validateJsonNative(v, `${path}[${i}]`, seen));
      return;
    }
    if (obj instanceof Date) {
      throw new JobValidationError(path, 'Date objects are not JSON-native; pass an ISO-8601 string or epoch seconds');
    }
    if (obj instanceof Map || obj instanceof Set) {
      throw new JobValidationError(path, `${obj instanceof Map ? 'Map' : 'Set'} objects are not JSON-native; pass a plain object or an array`);
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw new JobValidationError(path, `${describe(obj)} are not JSON-native; pass a plain object`);
    }
    for (const [k, v] of Object.entries(obj)) {
      if (hasLoneSurrogate(k)) throw new JobValidationError(`${path}.${k}`, 'key contains a lone UTF-16 surrogate');
      validateJsonNative(v, `${path}.${k}`, seen);
    }
  } finally {
    seen.delete(obj);
  }
}

/** Validates `args`: an array of JSON-native values. */
export function validateArgs(args: unknown, path = 'args'): unknown[] {
  if (!Array.isArray(args)) throw new JobValidationError(path, 'must be an array of arguments');
  validateJsonNative(args, path);
  return args;
}

/** Validates a `retry` option: true, false or a non-negative integer. */
export function validateRetry(value: unknown, path = 'retry'): boolean | number {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  throw new JobValidationError(path, 'must be true, false or a non-negative integer');
}
