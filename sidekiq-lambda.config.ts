/**
 * The jobs this project runs on Lambda — read by `sidekiq-lambda dev`, the poller's routing and
 * the CDK construct. Entries are relative to this file (the repo root).
 */
import { defineJobs } from './lib/jobs.js';

export default defineJobs([
  // Analytics fan-out: many small jobs, so up to 10 per invocation, each with its own outcome.
  { class: 'TrackUserJob', queue: 'track', entry: 'functions/track-user.ts', timeoutSeconds: 30, concurrency: 20, batchSize: 10 },
  // CPU-bound; more memory buys more CPU on Lambda. Enqueues SolvedPuzzleJob back to Ruby.
  { class: 'SudokuSolver', queue: 'unsolved_puzzles', entry: 'functions/sudoku.ts', timeoutSeconds: 60, memoryMb: 1024, concurrency: 10 },
  // Diagnostics: one entry file, one function per class.
  { class: 'EchoJob', queue: 'diagnostics', entry: 'functions/diagnostics.ts', handlerExport: 'echo', timeoutSeconds: 10, concurrency: 5 },
  { class: 'FailJob', queue: 'diagnostics', entry: 'functions/diagnostics.ts', handlerExport: 'fail', timeoutSeconds: 10, concurrency: 5 },
  // Long enough to sleep a while, short enough that `SleepJob 120` shows a Lambda timeout.
  { class: 'SleepJob', queue: 'diagnostics', entry: 'functions/diagnostics.ts', handlerExport: 'sleep', timeoutSeconds: 60, concurrency: 5 },
]);
