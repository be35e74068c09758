/**
 * The example SudokuSolver, with no way to reach Redis, still answers Ruby: Rails enqueues the
 * puzzle, the poller runs the function, and the SolvedPuzzleJob it enqueues — carried in its answer
 * and written with its acknowledgement — runs on a real Sidekiq server, once. Every Sidekiq of the
 * matrix.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq } from '../support/ruby.js';
import { startStack, eventually, type Stack } from '../support/stack.js';

const t = useRedis();
const SUDOKU = fileURLToPath(new URL('../../functions/sudoku.ts', import.meta.url));
const PUZZLE = '530070000600195000098000060800060003400803001700020006060000280000419005000080079';
const SOLUTION = '534678912672195348198342567859761423426853791713924856961537284287419635345286179';

const WORKERS_RB = `
require "sidekiq"
require "json"
class SolvedPuzzleJob
  include Sidekiq::Worker
  def perform(id, solution)
    Sidekiq.redis { |c| c.rpush("interop:solved", JSON.generate([jid, id, solution])) }
  end
end
`;

forEachSidekiq((sk) => describe('a handler without Redis enqueues back to Ruby', () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let stack: Stack | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skl-enqueue-back-'));
    writeFileSync(join(dir, 'workers.rb'), WORKERS_RB);
    server = sk.spawn([sk.bin('sidekiq'), '-r', join(dir, 'workers.rb'), '-q', 'solved', '-c', '2', '-t', '3'], t.url);
    await eventually(async () => (await t.redis.scard('processes')) > 0, 30_000, 'sidekiq to start');
    stack = await startStack(t.url, [{ class: 'SudokuSolver', queue: 'unsolved_puzzles', handler: 'handler', entry: SUDOKU, environment: { REDIS_URL: 'redis://127.0.0.1:1/0', LOG_LEVEL: 'warn' } }]);
  });

  afterAll(async () => {
    await stack?.close();
    const s = server;
    if (s && s.exitCode === null) {
      const exited = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (s.exitCode === null) s.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('Ruby enqueues SudokuSolver; Ruby runs the SolvedPuzzleJob it answers, once', async () => {
    // Act: Rails enqueues the puzzle
    sk.run(`require "sidekiq"; Sidekiq::Client.push("class" => "SudokuSolver", "queue" => "unsolved_puzzles", "args" => ["p42", ${JSON.stringify(PUZZLE)}])`, t.url);
    // Assess: Ruby ran the answer, with the solution
    const solved = await eventually(async () => {
      const done = await t.redis.lrange('interop:solved', 0, -1);
      return done.length > 0 ? done : undefined;
    }, 30_000, 'Ruby to run SolvedPuzzleJob');
    await new Promise((r) => setTimeout(r, 500));
    expect((await t.redis.lrange('interop:solved', 0, -1)).length).toBe(1);
    const [, id, solution] = JSON.parse(solved[0]!) as [string, string, string];
    expect([id, solution]).toEqual(['p42', SOLUTION]);
    expect(await t.redis.zcard('retry')).toBe(0);
  });
}));
