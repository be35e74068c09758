/**
 * The Sudoku solver behind the `SudokuSolver` example job.
 *
 * Tasks:
 * 1. Read a puzzle: 81 characters, `1`–`9` for givens, `0` or `.` for blanks; reject a wrong
 *    length, a wrong character or contradictory givens with a message that says where.
 * 2. Solve it by constraint propagation (a cell with one candidate left is assigned; a digit with
 *    one place left in a row, column or box is placed there) and depth-first search on the
 *    choice with the fewest alternatives: a cell's candidates, or a digit's places in a unit.
 *    Candidates are 9-bit masks, so a search branch copies 81 numbers.
 * 3. Report an unsolvable puzzle as such.
 */

/** The puzzle text is not a valid puzzle. */
export class InvalidPuzzleError extends Error {
  override name = 'InvalidPuzzleError';
}

/** The puzzle is well formed but has no solution. */
export class UnsolvablePuzzleError extends Error {
  override name = 'UnsolvablePuzzleError';
}

const ALL = 0x1ff;
const CELLS = Array.from({ length: 81 }, (_, i) => i);
const UNITS: number[][] = [
  ...Array.from({ length: 9 }, (_, r) => CELLS.filter((c) => Math.floor(c / 9) === r)),
  ...Array.from({ length: 9 }, (_, k) => CELLS.filter((c) => c % 9 === k)),
  ...Array.from({ length: 9 }, (_, b) => CELLS.filter((c) => boxOf(c) === b)),
];
const UNITS_OF: number[][][] = CELLS.map((c) => UNITS.filter((u) => u.includes(c)));
const PEERS: number[][] = CELLS.map((c) => [...new Set(UNITS_OF[c]!.flat())].filter((p) => p !== c));

function boxOf(c: number): number {
  return Math.floor(Math.floor(c / 9) / 3) * 3 + Math.floor((c % 9) / 3);
}

function popcount(m: number): number {
  let n = 0;
  for (let v = m; v; v &= v - 1) n++;
  return n;
}

/** The digit (1–9) of a single-bit mask. */
function digitOf(m: number): number {
  return 32 - Math.clz32(m);
}

function where(c: number): string {
  return `row ${Math.floor(c / 9) + 1}, column ${(c % 9) + 1}`;
}

/**
 * Reads a puzzle into 81 numbers, 0 for a blank. Throws {@link InvalidPuzzleError}.
 *
 * @example
 * parsePuzzle('53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79')[0] // 5
 */
export function parsePuzzle(puzzle: unknown): number[] {
  if (typeof puzzle !== 'string') throw new InvalidPuzzleError(`puzzle must be a string of 81 characters, got ${puzzle === null ? 'null' : typeof puzzle}`);
  const chars = Array.from(puzzle);
  if (chars.length !== 81) throw new InvalidPuzzleError(`puzzle must be 81 characters (9 rows of 9), got ${chars.length}`);
  const grid = chars.map((ch, c) => {
    if (ch === '.' || ch === '0') return 0;
    if (ch >= '1' && ch <= '9') return Number(ch);
    throw new InvalidPuzzleError(`puzzle has ${JSON.stringify(ch)} at ${where(c)}; use 1-9 for givens and 0 or . for blanks`);
  });
  for (const [i, unit] of UNITS.entries()) {
    const seen = new Map<number, number>();
    for (const c of unit) {
      const d = grid[c]!;
      if (d === 0) continue;
      const first = seen.get(d);
      if (first !== undefined) {
        const kind = i < 9 ? 'row' : i < 18 ? 'column' : 'box';
        throw new InvalidPuzzleError(`contradictory givens: ${d} appears twice in ${kind} ${(i % 9) + 1} (at ${where(first)} and ${where(c)})`);
      }
      seen.set(d, c);
    }
  }
  return grid;
}

/** Removes digit-bit `b` from cell `s` and propagates; false on a contradiction. */
function eliminate(cand: Uint16Array, s: number, b: number): boolean {
  if (!(cand[s]! & b)) return true;
  const left = (cand[s] = cand[s]! & ~b);
  if (left === 0) return false;
  if ((left & (left - 1)) === 0) {
    for (const p of PEERS[s]!) if (!eliminate(cand, p, left)) return false;
  }
  for (const unit of UNITS_OF[s]!) {
    let place = -1;
    let n = 0;
    for (const q of unit) {
      if (cand[q]! & b) {
        place = q;
        if (++n > 1) break;
      }
    }
    if (n === 0) return false;
    if (n === 1 && !assign(cand, place, b)) return false;
  }
  return true;
}

/** Makes digit-bit `b` the only candidate of cell `s`; false on a contradiction. */
function assign(cand: Uint16Array, s: number, b: number): boolean {
  for (let others = cand[s]! & ~b; others; others &= others - 1) {
    if (!eliminate(cand, s, others & -others)) return false;
  }
  return true;
}

/**
 * The branch with the fewest alternatives (Knuth's "S" heuristic): either a cell's candidates or,
 * when fewer, the places left for a digit in a unit. Undefined when every cell is solved.
 */
function choose(cand: Uint16Array): { cells: number[]; bits: number[] } | undefined {
  let best = -1;
  let fewest = 10;
  for (let s = 0; s < 81; s++) {
    const n = popcount(cand[s]!);
    if (n > 1 && n < fewest) {
      best = s;
      fewest = n;
    }
  }
  if (best < 0) return undefined;
  const bits: number[] = [];
  for (let m = cand[best]!; m; m &= m - 1) bits.push(m & -m);
  let branch = { cells: bits.map(() => best), bits };
  if (fewest <= 2) return branch;
  for (const unit of UNITS) {
    for (let b = 1; b <= 0x100; b <<= 1) {
      const places: number[] = [];
      let placed = false;
      for (const q of unit) {
        if (!(cand[q]! & b)) continue;
        placed ||= cand[q] === b;
        places.push(q);
      }
      if (!placed && places.length < branch.cells.length) branch = { cells: places, bits: places.map(() => b) };
    }
  }
  return branch;
}

function search(cand: Uint16Array): Uint16Array | undefined {
  const branch = choose(cand);
  if (!branch) return cand;
  for (const [i, s] of branch.cells.entries()) {
    const copy = cand.slice();
    if (assign(copy, s, branch.bits[i]!)) {
      const solved = search(copy);
      if (solved) return solved;
    }
  }
  return undefined;
}

/**
 * Solves a puzzle; returns the 81-digit solution. Throws {@link InvalidPuzzleError} or
 * {@link UnsolvablePuzzleError}. When a puzzle has several solutions, one of them.
 *
 * @example
 * solveSudoku('53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79')
 * // '534678912672195348198342567859761423426853791713924856961537284287419635345286179'
 */
export function solveSudoku(puzzle: unknown): string {
  const grid = parsePuzzle(puzzle);
  const cand = new Uint16Array(81).fill(ALL);
  for (const [s, d] of grid.entries()) {
    if (d !== 0 && !assign(cand, s, 1 << (d - 1))) throw new UnsolvablePuzzleError('puzzle has no solution: its givens rule out every digit somewhere');
  }
  const solved = search(cand);
  if (!solved) throw new UnsolvablePuzzleError('puzzle has no solution');
  return Array.from(solved, digitOf).join('');
}
