import { describe, expect, it } from 'vitest';
import { InvalidPuzzleError, UnsolvablePuzzleError, parsePuzzle, solveSudoku } from '../../lib/examples/sudoku.js';
import { TrackArgumentError, TrackDeliveryError, readTrackArgs, readTrackConfig, sendTrackEvent } from '../../lib/examples/track-user.js';
import { echoReplyPayload, failError, sleepMs } from '../../lib/examples/diagnostics.js';
import { createLogger } from '../../lib/handler.js';
import { runJob } from '../../lib/testing.js';
import { fail, sleep } from '../../functions/diagnostics.js';
import { fixture } from './protocol/fixtures.js';

/** True when `solution` is a complete, valid grid that keeps every given of `puzzle`. */
function isSolutionOf(puzzle: string, solution: string): boolean {
  if (!/^[1-9]{81}$/.test(solution)) return false;
  for (let i = 0; i < 81; i++) if (/[1-9]/.test(puzzle[i]!) && puzzle[i] !== solution[i]) return false;
  for (let k = 0; k < 9; k++) {
    const row = new Set<string>();
    const col = new Set<string>();
    const box = new Set<string>();
    for (let j = 0; j < 9; j++) {
      row.add(solution[k * 9 + j]!);
      col.add(solution[j * 9 + k]!);
      box.add(solution[(Math.floor(k / 3) * 3 + Math.floor(j / 3)) * 9 + (k % 3) * 3 + (j % 3)]!);
    }
    if (row.size !== 9 || col.size !== 9 || box.size !== 9) return false;
  }
  return true;
}

const EASY = '53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79';
const EASY_SOLUTION = '534678912672195348198342567859761423426853791713924856961537284287419635345286179';
/** Arto Inkala's "world's hardest sudoku" (2012), blanks as 0. */
const INKALA = '800000000003600000070090200050007000000045700000100030001000068008500010090000400';
const INKALA_SOLUTION = '812753649943682175675491283154237896369845721287169534521974368438526917796318452';
/** Norvig's hard1: propagation alone does not finish it. */
const HARD1 = '4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......';

const sink = () => {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ sink: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>), level: 'debug' }) };
};

describe('examples', () => {
  describe('sudoku', () => {
    describe('solveSudoku', () => {
      it.each([
        ['an easy puzzle', EASY, EASY_SOLUTION],
        ["Inkala's hardest puzzle", INKALA, INKALA_SOLUTION],
      ])('solves %s', (_name, puzzle, solution) => {
        expect(solveSudoku(puzzle)).toBe(solution);
      });

      it('solves a puzzle that needs search, quickly', () => {
        const started = performance.now();
        const solution = solveSudoku(HARD1);
        expect(isSolutionOf(HARD1, solution)).toBe(true);
        expect(performance.now() - started).toBeLessThan(1000);
      });

      it('keeps a full valid grid as it is', () => {
        expect(solveSudoku(EASY_SOLUTION)).toBe(EASY_SOLUTION);
      });

      it('reports a puzzle without solution', () => {
        // No given repeats in a unit, yet row 1's last cell can only be 9 and column 9 already has one.
        const puzzle = '12345678.' + '........9' + '.'.repeat(63);
        expect(() => solveSudoku(puzzle)).toThrow(UnsolvablePuzzleError);
        expect(() => solveSudoku(puzzle)).toThrow('puzzle has no solution');
      });

      it('reports an unsolvable puzzle that needs search to prove it', () => {
        const puzzle = '.....5.8....6.1.43..........1.5........1.6...3.......553.....61........4.........';
        expect(() => solveSudoku(puzzle)).toThrow(UnsolvablePuzzleError);
      });
    });

    describe('parsePuzzle', () => {
      it('reads 0 and . as blanks', () => {
        expect(parsePuzzle(INKALA.replace(/0/g, '.'))).toEqual(parsePuzzle(INKALA));
        expect(parsePuzzle(INKALA).filter((d) => d === 0)).toHaveLength(60);
      });

      it.each([
        ['a wrong length', EASY.slice(1), 'puzzle must be 81 characters (9 rows of 9), got 80'],
        ['a wrong character', 'x' + EASY.slice(1), 'puzzle has "x" at row 1, column 1; use 1-9 for givens and 0 or . for blanks'],
        ['not a string', 12, 'puzzle must be a string of 81 characters, got number'],
        ['a repeated given in a row', '11' + '.'.repeat(79), 'contradictory givens: 1 appears twice in row 1 (at row 1, column 1 and row 1, column 2)'],
        ['a repeated given in a column', '1' + '.'.repeat(8) + '1' + '.'.repeat(71), 'contradictory givens: 1 appears twice in column 1'],
        ['a repeated given in a box', '1' + '.'.repeat(9) + '1' + '.'.repeat(70), 'contradictory givens: 1 appears twice in box 1'],
      ])('rejects %s', (_name, puzzle, message) => {
        expect(() => parsePuzzle(puzzle)).toThrow(InvalidPuzzleError);
        expect(() => parsePuzzle(puzzle)).toThrow(message);
      });
    });
  });

  describe('track-user', () => {
    const fields = { id: 7, name: 'Ann', email: 'ann@example.com', url: '/home', ip: '10.0.0.1', controller: 'home', action: 'show' };

    describe('readTrackArgs', () => {
      it('reads the argument list and the one-hash shape alike', () => {
        expect(readTrackArgs([7, 'Ann', 'ann@example.com', '/home', '10.0.0.1', 'home', 'show'])).toEqual(fields);
        expect(readTrackArgs([fields])).toEqual(fields);
      });

      it('fills missing fields with null and keeps a big id exact', () => {
        expect(readTrackArgs([{ id: 2n ** 64n, url: '/x' }])).toEqual({ id: 2n ** 64n, name: null, email: null, url: '/x', ip: null, controller: null, action: null });
      });

      it.each([
        [[], 'TrackUserJob: id must be a number or a non-empty string, got nothing'],
        [[{ name: 'Ann' }], 'TrackUserJob: id must be a number or a non-empty string, got nothing'],
        [[1, 2], 'TrackUserJob: name must be a string or null, got 2'],
        [[1, 'a', 'b', 'c', 'd', 'e', 'f', 'g'], 'TrackUserJob takes at most 7 arguments'],
      ])('rejects %j', (args, message) => {
        expect(() => readTrackArgs(args)).toThrow(TrackArgumentError);
        expect(() => readTrackArgs(args)).toThrow(message);
      });
    });

    describe('readTrackConfig', () => {
      it('reads comma-separated endpoints and the timeout', () => {
        expect(readTrackConfig({ TRACK_ENDPOINTS: ' https://a.example/t ,http://b.example/t,', TRACK_TIMEOUT_MS: '250' })).toEqual({
          endpoints: ['https://a.example/t', 'http://b.example/t'],
          timeoutMs: 250,
        });
        expect(readTrackConfig({})).toEqual({ endpoints: [], timeoutMs: 5000 });
      });

      it('fails loudly on a malformed value', () => {
        expect(() => readTrackConfig({ TRACK_ENDPOINTS: 'ftp://x' })).toThrow('TRACK_ENDPOINTS must be comma-separated http(s) URLs; "ftp://x" is not one');
        expect(() => readTrackConfig({ TRACK_TIMEOUT_MS: 'soon' })).toThrow('TRACK_TIMEOUT_MS must be a positive whole number of ms, got "soon"');
      });
    });

    describe('sendTrackEvent', () => {
      it('posts the event as JSON to every endpoint, with the jid as idempotency key', async () => {
        // Prepare
        const calls: { url: string; init: RequestInit }[] = [];
        const fakeFetch = (async (url: string, init: RequestInit) => {
          calls.push({ url, init });
          return new Response(null, { status: 204 });
        }) as unknown as typeof fetch;
        const { logger } = sink();

        // Act
        const sent = await sendTrackEvent(readTrackArgs([{ ...fields, id: 2n ** 64n }]), { endpoints: ['https://a/t', 'https://b/t'], timeoutMs: 100 }, { fetch: fakeFetch, logger, jid: 'j1' });

        // Assess
        expect(sent).toBe(2);
        expect(calls.map((c) => c.url)).toEqual(['https://a/t', 'https://b/t']);
        expect(calls[0]!.init.method).toBe('POST');
        expect(calls[0]!.init.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'j1' });
        expect(calls[0]!.init.body).toBe('{"id":18446744073709551616,"name":"Ann","email":"ann@example.com","url":"/home","ip":"10.0.0.1","controller":"home","action":"show"}');
      });

      it('fails naming each endpoint that refused, timed out or was unreachable', async () => {
        // Prepare
        const fakeFetch = (async (url: string, init: RequestInit) => {
          if (url.includes('slow')) {
            return new Promise((_res, rej) => init.signal!.addEventListener('abort', () => rej(init.signal!.reason)));
          }
          if (url.includes('down')) throw new TypeError('fetch failed');
          return new Response('no', { status: url.includes('err') ? 503 : 200 });
        }) as unknown as typeof fetch;

        // Act
        const send = sendTrackEvent(readTrackArgs([1]), { endpoints: ['https://ok/t', 'https://err/t', 'https://slow/t', 'https://down/t'], timeoutMs: 20 }, { fetch: fakeFetch, logger: sink().logger, jid: 'j' });

        // Assess
        await expect(send).rejects.toThrow(TrackDeliveryError);
        await expect(send).rejects.toThrow('3 of 4 endpoints failed: https://err/t: HTTP 503; https://slow/t: no answer within 20 ms; https://down/t: fetch failed');
      });

      it('logs what it would send when no endpoint is configured', async () => {
        const { lines, logger } = sink();
        const sent = await sendTrackEvent(readTrackArgs([fields]), { endpoints: [], timeoutMs: 100 }, { fetch: () => Promise.reject(new Error('no fetch expected')), logger, jid: 'j' });
        expect(sent).toBe(0);
        expect(lines[0]).toMatchObject({ msg: 'no TRACK_ENDPOINTS configured; would send', event: fields });
      });
    });

    describe('handler', () => {
      it('runs both argument shapes and kills malformed arguments', async () => {
        // Prepare: the function reads TRACK_ENDPOINTS at import.
        delete process.env.TRACK_ENDPOINTS;
        const { handler } = await import('../../functions/track-user.js');

        // Act
        const list = await runJob(handler, { class: 'TrackUserJob', queue: 'track', args: [7, 'Ann', 'ann@example.com', '/home', '10.0.0.1', 'home', 'show'] });
        const hash = await runJob(handler, { class: 'TrackUserJob', queue: 'track', args: [fields] });
        const bad = await runJob(handler, { class: 'TrackUserJob', queue: 'track', args: [{ name: 'no id' }] });

        // Assess
        for (const out of [list, hash]) {
          expect(out.status).toBe('ok');
          expect(out.logs.find((l) => l.msg === 'no TRACK_ENDPOINTS configured; would send')).toMatchObject({ class: 'TrackUserJob', event: fields });
        }
        expect(bad).toMatchObject({ status: 'failed', action: 'kill', error: { class: 'ArgumentError' } });
      });
    });
  });

  describe('diagnostics', () => {
    it('FailJob fails with an Error whose message is args[0]', async () => {
      const out = await runJob(fail, { class: 'FailJob', queue: 'diagnostics', args: ['deliberate failure', 2] });
      expect(out).toMatchObject({ status: 'failed', error: { class: 'Error', message: 'deliberate failure' } });
      expect(out.status === 'failed' && out.action).toBeUndefined();
      expect(failError([{ a: 1n }]).message).toBe('{"a":"1"}');
    });

    it('SleepJob sleeps args[0] seconds', async () => {
      const started = Date.now();
      const out = await runJob(sleep, { class: 'SleepJob', queue: 'diagnostics', args: [0.2] });
      expect(out.status).toBe('ok');
      expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    });

    it('SleepJob rejects a non-number', async () => {
      const out = await runJob(sleep, { class: 'SleepJob', queue: 'diagnostics', args: ['long'] });
      expect(out).toMatchObject({ status: 'failed', error: { class: 'TypeError', message: 'SleepJob: args[0] must be a number of seconds ≥ 0, got "long"' } });
      expect(sleepMs([1.5])).toBe(1500);
    });

    it('EchoReplyJob splices the EchoJob args byte for byte', () => {
      // Prepare: Sidekiq 6.4.1's own bytes: a big integer, 1.0, 1.0e+20, 1.0e-07, non-ASCII.
      const raw = fixture('6.4.1', 'immediate').raw.replace('"HardWorker"', '"EchoJob"');
      const argsText = raw.slice(raw.indexOf('"args":') + 7, raw.indexOf(',"class"'));

      // Act
      const reply = echoReplyPayload(raw, '13e3862c6bc0c10228e8bad0', 1795337503527, 7);

      // Assess
      expect(reply.json).toContain(`"class":"EchoReplyJob","args":["13e3862c6bc0c10228e8bad0",${argsText}],"jid":"${reply.jid}"`);
      expect(argsText).toContain('12345678901234567890,1.0,1.0e+20,1.0e-07');
      expect(reply.json).toMatch(/^\{"retry":true,"queue":"echo_replies",.*"created_at":1795337503\.527,"enqueued_at":1795337503\.527\}$/s);
    });
  });
});
