import { describe, expect, it } from 'vitest';
import { Client } from '../../lib/client.js';
import { splitObject } from '../../lib/protocol/json.js';
import { runJob } from '../../lib/testing.js';
import { handler as sudoku } from '../../functions/sudoku.js';
import { echo } from '../../functions/diagnostics.js';
import { fixture } from '../unit/protocol/fixtures.js';
import { useRedis } from '../support/redis.js';

const t = useRedis();

const INKALA = '8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..';
const INKALA_SOLUTION = '812753649943682175675491283154237896369845721287169534521974368438526917796318452';

describe('example jobs against Redis', () => {
  describe('SudokuSolver', () => {
    it('enqueues SolvedPuzzleJob [id, solution] on queue solved for Ruby', async () => {
      // Prepare
      const client = new Client({ redis: t.redis });

      // Act
      const out = await runJob(sudoku, { class: 'SudokuSolver', queue: 'unsolved_puzzles', args: ['puzzle-42', INKALA] }, { client });

      // Assess
      expect(out.status).toBe('ok');
      const queued = await t.redis.lrange('queue:solved', 0, -1);
      expect(queued).toHaveLength(1);
      const job = JSON.parse(queued[0]!) as Record<string, unknown>;
      expect(job).toMatchObject({ retry: true, queue: 'solved', class: 'SolvedPuzzleJob', args: ['puzzle-42', INKALA_SOLUTION] });
      expect(job.jid).toMatch(/^[0-9a-f]{24}$/);
      expect(await t.redis.smembers('queues')).toEqual(['solved']);
      expect(out.logs.find((l) => l.msg === 'solved')).toMatchObject({ id: 'puzzle-42', solvedPuzzleJid: job.jid });
    });

    it('kills an invalid puzzle and enqueues nothing', async () => {
      const out = await runJob(sudoku, { class: 'SudokuSolver', queue: 'unsolved_puzzles', args: [7, '123'] }, { client: new Client({ redis: t.redis }) });
      expect(out).toMatchObject({ status: 'failed', action: 'kill', error: { class: 'InvalidPuzzleError', message: 'puzzle must be 81 characters (9 rows of 9), got 3' } });
      expect(await t.redis.exists('queue:solved')).toBe(0);
    });

    it('kills an unsolvable puzzle', async () => {
      const out = await runJob(sudoku, { class: 'SudokuSolver', queue: 'unsolved_puzzles', args: [8, '12345678.........9' + '.'.repeat(63)] }, { client: new Client({ redis: t.redis }) });
      expect(out).toMatchObject({ status: 'failed', action: 'kill', error: { class: 'UnsolvablePuzzleError' } });
      expect(await t.redis.exists('queue:solved')).toBe(0);
    });
  });

  describe('EchoJob', () => {
    it('enqueues EchoReplyJob [jid, args] with the args byte for byte (big integers, float spellings)', async () => {
      // Prepare: Sidekiq 6.4.1's bytes for a job with 12345678901234567890, 1.0, 1.0e+20, 1.0e-07, "é😀\u2028".
      const raw = fixture('6.4.1', 'immediate').raw.replace('"queue":"default"', '"queue":"diagnostics"').replace('"HardWorker"', '"EchoJob"');
      const rawArgs = splitObject(raw).get('args')!;

      // Act
      const out = await runJob(echo, raw, { client: new Client({ redis: t.redis }) });

      // Assess
      expect(out.status).toBe('ok');
      const queued = await t.redis.lrange('queue:echo_replies', 0, -1);
      expect(queued).toHaveLength(1);
      const reply = splitObject(queued[0]!);
      expect(reply.get('class')).toBe('"EchoReplyJob"');
      expect(reply.get('queue')).toBe('"echo_replies"');
      expect(reply.get('args')).toBe(`["13e3862c6bc0c10228e8bad0",${rawArgs}]`);
      expect(rawArgs).toContain('12345678901234567890,1.0,1.0e+20,1.0e-07');
      expect(reply.get('created_at')).toMatch(/^\d{10}\.\d+$/);
      expect(await t.redis.smembers('queues')).toEqual(['echo_replies']);
    });

    it('writes Sidekiq 8 timestamps and namespaced keys when the client says so', async () => {
      // Prepare
      const client = new Client({ redis: t.redis, namespace: 'myapp', sidekiqVersion: 8 });

      // Act
      const out = await runJob(echo, { class: 'EchoJob', queue: 'diagnostics', jid: 'abcdefabcdefabcdefabcdef', args: [1, 'two'] }, { client });

      // Assess
      expect(out.status).toBe('ok');
      const [payload] = await t.redis.lrange('myapp:queue:echo_replies', 0, -1);
      const reply = splitObject(payload!);
      expect(reply.get('args')).toBe('["abcdefabcdefabcdefabcdef",[1,"two"]]');
      expect(reply.get('enqueued_at')).toMatch(/^\d{13}$/);
      expect(await t.redis.smembers('myapp:queues')).toEqual(['echo_replies']);
    });
  });
});
