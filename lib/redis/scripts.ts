/**
 * Lua scripts, registered once per connection with `defineCommand` under a versioned name
 * (BullMQ's habit): a changed script gets a new name, so two releases sharing a Redis never call
 * each other's version. Each `.lua` file opens with its KEYS / ARGV / return contract and is loaded
 * as text by esbuild (and by vitest's `lua-as-text` plugin).
 *
 * To add a script: import its text, add one `SCRIPTS` entry, and type the command in the
 * `declare module 'ioredis'` block below.
 */
import type { Redis } from 'ioredis';

interface ScriptDef {
  /** The command name on the client: `<name>_v<version>`. */
  readonly name: string;
  readonly numberOfKeys: number;
  readonly source: string;
}

/** Every script, in one list. */
export const SCRIPTS: ScriptDef[] = [];

const registered = new WeakSet<Redis>();

/** Defines every script on a connection (idempotent). */
export function registerScripts(redis: Redis): Redis {
  if (registered.has(redis)) return redis;
  for (const s of SCRIPTS) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.source });
  registered.add(redis);
  return redis;
}
