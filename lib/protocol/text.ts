/**
 * Text Sidekiq stores and Ruby reads back (sidekiq-protocol.md §5.3): cut by characters as Ruby
 * counts them, and never a lone UTF-16 surrogate, which Ruby's JSON parser rejects
 * ("incomplete surrogate pair") — a retry entry holding one reads as an empty job in `RetrySet` and
 * is dropped by Ruby's own scheduler.
 *
 * Pure.
 */

/** Sidekiq cuts `error_message` to this many characters (`job_retry.rb`: `message[0, 10_000]`). */
export const MAX_ERROR_MESSAGE = 10_000;

/**
 * `text` with every lone surrogate replaced by U+FFFD, as Ruby's `String#scrub` would.
 *
 * @example wellFormed('a\ud83d') // 'a\ufffd'
 */
export function wellFormed(text: string): string {
  // String.prototype.toWellFormed is Node 20+; the ES2023 lib does not type it.
  return (text as string & { toWellFormed(): string }).toWellFormed();
}

/**
 * The first `max` characters of `text`, counted as Ruby counts them (code points, so a pair is
 * never split), well-formed.
 *
 * @example cutCharacters('ab😀c', 3) // 'ab😀'
 */
export function cutCharacters(text: string, max: number): string {
  if (text.length <= max) return wellFormed(text);
  let end = 0;
  for (let n = 0; n < max && end < text.length; n++) {
    const c = text.charCodeAt(end);
    const next = end + 1 < text.length ? text.charCodeAt(end + 1) : 0;
    end += c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  return wellFormed(text.slice(0, end));
}

/**
 * `error_message` as Sidekiq writes it: at most 10,000 characters, well-formed.
 *
 * @example errorMessage('x'.repeat(9_999) + '😀' + 'y') // 'x'.repeat(9_999) + '😀'
 */
export function errorMessage(message: string): string {
  return cutCharacters(message, MAX_ERROR_MESSAGE);
}
