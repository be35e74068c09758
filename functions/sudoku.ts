/**
 * SudokuSolver (queue `unsolved_puzzles`): solves `[id, puzzle]` and enqueues
 * `SolvedPuzzleJob` `[id, solution]` on queue `solved` for Ruby. An invalid or unsolvable puzzle
 * can never succeed, so it is killed (dead set at once) with an error that says why.
 */
import { defineJob, jobHandler, kill } from '../lib/handler.js';
import { InvalidPuzzleError, UnsolvablePuzzleError, solveSudoku } from '../lib/examples/sudoku.js';

const SolvedPuzzle = defineJob<[id: string | number, solution: string]>('SolvedPuzzleJob', { queue: 'solved' });

export const handler = jobHandler<[id: string | number, puzzle: string]>(async ([id, puzzle], job) => {
  let solution: string;
  try {
    solution = solveSudoku(puzzle);
  } catch (e) {
    throw e instanceof InvalidPuzzleError || e instanceof UnsolvablePuzzleError ? kill(e) : e;
  }
  const jid = await SolvedPuzzle.set({ client: job.client }).performAsync(id, solution);
  job.logger.info('solved', { id, solvedPuzzleJid: jid });
});
