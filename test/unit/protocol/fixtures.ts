/**
 * The golden payloads of test/fixtures/sidekiq: exact bytes as each Sidekiq version stores them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../fixtures/sidekiq/', import.meta.url));

export const VERSIONS = ['6.4.1', '7.3.9', '7.3.10', '8.1.7'] as const;
export type FixtureVersion = (typeof VERSIONS)[number];

export interface Fixture {
  file: string;
  version: FixtureVersion;
  kind: string;
  /** The Redis key Sidekiq wrote it to. */
  key: string;
  /** The sorted-set score, as Redis returns it, for schedule/retry/dead entries. */
  score?: string;
  /** The exact payload bytes. */
  raw: string;
}

export function fixtures(): Fixture[] {
  return VERSIONS.flatMap((v) => {
    const index = JSON.parse(readFileSync(`${ROOT}${v}/index.json`, 'utf8')) as Omit<Fixture, 'raw'>[];
    return index.map((f) => ({ ...f, raw: readFileSync(`${ROOT}${f.file}`, 'utf8') }));
  });
}

export function fixture(version: FixtureVersion, kind: string): Fixture {
  const f = fixtures().find((x) => x.version === version && x.kind === kind);
  if (!f) throw new Error(`no fixture ${version}/${kind}`);
  return f;
}
