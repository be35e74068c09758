/**
 * Lossless JSON for Sidekiq payloads.
 *
 * Tasks:
 * 1. Split a job's JSON object into its top-level keys and the *raw text* of each value, so a
 *    read-modify-write (adding error fields, setting `enqueued_at`) changes only the fields it
 *    touches: big integers, Ruby float spellings (`1.0`, `1.0e+20`) and unknown keys survive byte
 *    for byte (sidekiq-protocol.md §3.1, Pitfalls 2–4).
 * 2. Write a payload from ordered entries, where a value may be pre-rendered JSON text
 *    (`RawJson`), e.g. a float-seconds timestamp that must keep its decimal point.
 * 3. Parse a payload for a handler without rounding integers past 2^53: those become `BigInt`.
 */
import { parse as losslessParse, isSafeNumber, isInteger } from 'lossless-json';

/** Pre-rendered JSON text, emitted verbatim by {@link writeObject}. */
export class RawJson {
  constructor(readonly text: string) {}
  toJSON(): never {
    throw new Error('RawJson must be written with writeObject, not JSON.stringify');
  }
}

/** An ordered view of a JSON object's top-level members: key → raw value text. */
export type RawEntries = Map<string, string>;

/** Thrown when a payload is not a JSON object; `reason` says why, for the dead-set log line. */
export class PayloadSyntaxError extends Error {
  override name = 'PayloadSyntaxError';
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string literal starting at `i` (which must be `"`). */
function skipString(s: string, i: number): number {
  i++;
  for (;;) {
    const q = s.indexOf('"', i);
    if (q < 0) throw new PayloadSyntaxError('unterminated string');
    let bs = 0;
    for (let j = q - 1; j >= i && s.charCodeAt(j) === 0x5c; j--) bs++;
    if (bs % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** Index just past the JSON value starting at `i`. Validation of the value is left to JSON.parse. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < s.length) {
      const ch = s[i];
      if (ch === '"') {
        i = skipString(s, i);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new PayloadSyntaxError('unbalanced brackets');
  }
  let j = i;
  while (j < s.length && !',}] \t\n\r'.includes(s[j]!)) j++;
  if (j === i) throw new PayloadSyntaxError(`unexpected character at ${i}`);
  return j;
}

/**
 * Splits a JSON object into its top-level entries, keeping each value's exact text.
 * The input must already be known to be valid JSON (callers JSON.parse it first).
 */
export function splitObject(json: string): RawEntries {
  const out: RawEntries = new Map();
  let i = skipWs(json, 0);
  if (json[i] !== '{') throw new PayloadSyntaxError('payload is not a JSON object');
  i = skipWs(json, i + 1);
  if (json[i] === '}') return out;
  for (;;) {
    if (json[i] !== '"') throw new PayloadSyntaxError(`expected a key at ${i}`);
    const keyEnd = skipString(json, i);
    const key = JSON.parse(json.slice(i, keyEnd)) as string;
    i = skipWs(json, keyEnd);
    if (json[i] !== ':') throw new PayloadSyntaxError(`expected ':' at ${i}`);
    i = skipWs(json, i + 1);
    const valueEnd = skipValue(json, i);
    out.set(key, json.slice(i, valueEnd));
    i = skipWs(json, valueEnd);
    if (json[i] === ',') {
      i = skipWs(json, i + 1);
      continue;
    }
    if (json[i] === '}') return out;
    throw new PayloadSyntaxError(`expected ',' or '}' at ${i}`);
  }
}

/** Renders one value: `RawJson` verbatim, anything else through JSON.stringify. */
export function writeValue(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('value is not representable in JSON');
  return text;
}

/** Writes an object from ordered entries whose values are raw JSON text. */
export function joinEntries(entries: RawEntries): string {
  let out = '{';
  let first = true;
  for (const [k, v] of entries) {
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + v;
    first = false;
  }
  return out + '}';
}

/** Writes an object from ordered key/value pairs, honouring `RawJson` values; `undefined` skips a key. */
export function writeObject(fields: Iterable<readonly [string, unknown]>): string {
  const entries: RawEntries = new Map();
  for (const [k, v] of fields) if (v !== undefined) entries.set(k, writeValue(v));
  return joinEntries(entries);
}

function parseNumber(text: string): number | bigint {
  if (isInteger(text) && !isSafeNumber(text)) return BigInt(text);
  return Number(text);
}

/**
 * Parses JSON without losing integers: integers beyond ±(2^53−1) become `BigInt`, everything else
 * is what `JSON.parse` gives.
 *
 * @example
 * parseLossless('[12345678901234567890, 1.5]') // [12345678901234567890n, 1.5]
 */
export function parseLossless(text: string): unknown {
  // Fast path: without a run of 16 digits no integer can pass 2^53, and JSON.parse is exact.
  if (!MAYBE_UNSAFE.test(text)) return JSON.parse(text);
  return losslessParse(text, null, parseNumber);
}

/** A run of 16 digits: the shortest integer that can exceed 2^53 − 1 (9007199254740991). */
const MAYBE_UNSAFE = /\d{16}/;

/** True when the JSON text contains an integer literal that `JSON.parse` would round. */
export function hasUnsafeInteger(text: string): boolean {
  // Fast path: no run of 16+ digits means no integer beyond 2^53 (9007199254740991 has 16 digits).
  if (!MAYBE_UNSAFE.test(text)) return false;
  let found = false;
  losslessParse(text, null, (n: string) => {
    if (isInteger(n) && !isSafeNumber(n)) found = true;
    return 0;
  });
  return found;
}
