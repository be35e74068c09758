/**
 * The cron grammar of fugit 1.5.2 (`Fugit::Cron::Parser`, a raabro PEG), ported rule for rule so
 * that the same strings parse, and parse to the same pieces.
 *
 * Tasks:
 * 1. Parse a whole expression with raabro's semantics: ordered choice (the first alternative that
 *    matches wins), `?` items, lists joined by commas, and the whole input consumed.
 * 2. Rewrite the tree as fugit's `rewrite_cron` does: per field, a list of elements
 *    `{ from, to, step, nth, modulo }` with names (`jan`, `mon`, `L`) turned into numbers.
 * 3. Parse one field alone, which `cron.ts` uses to name the part of a refused expression.
 *
 * Nothing here checks ranges or builds value lists: `cron.ts` does that as fugit's `init` does.
 */

/**
 * One comma-separated element of a field, as fugit's `rewrite_elt` leaves it.
 *
 * @example
 * parseElement('dom', 'L') // { text: 'L', from: -1, to: null, step: null, nth: null, modulo: null }
 */
export interface RawElement {
  /** The text of the element, e.g. `10-50/7`. */
  readonly text: string;
  readonly from: number | null;
  readonly to: number | null;
  readonly step: number | null;
  /** `mon#2` → 2, `fri#L` → -1. */
  readonly nth: number | null;
  /** `tue%2+1` → [2, 1]. */
  readonly modulo: readonly [number, number] | null;
}

/**
 * A field, by fugit's name for it.
 *
 * @example
 * const key: FieldKey = 'dow'; // day of week
 */
export type FieldKey = 'sec' | 'min' | 'hou' | 'dom' | 'mon' | 'dow';

/**
 * A parsed expression: its fields (seconds absent in the 5-field form) and its zone text.
 *
 * @example
 * parseGrammar('0 9 * * * UTC') // { fields: { min: […], hou: […], dom: […], mon: […], dow: […] }, zone: 'UTC' }
 */
export interface RawCron {
  readonly fields: Partial<Record<FieldKey, readonly RawElement[]>>;
  readonly zone: string | undefined;
}

interface Node {
  readonly name: string | null;
  readonly offset: number;
  readonly length: number;
  readonly children: readonly Node[];
}
interface Input {
  readonly s: string;
  off: number;
}
type Parser = (input: Input) => Node | null;
type Item = Parser | { optional: Parser };

const node = (name: string | null, offset: number, length: number, children: readonly Node[] = []): Node => ({ name, offset, length, children });

function rex(name: string | null, source: string, flags = ''): Parser {
  const re = new RegExp(source, `y${flags}`);
  return (input) => {
    re.lastIndex = input.off;
    const m = re.exec(input.s);
    if (!m) return null;
    const n = node(name, input.off, m[0].length);
    input.off += m[0].length;
    return n;
  };
}

function seq(name: string | null, ...items: Item[]): Parser {
  return (input) => {
    const start = input.off;
    const children: Node[] = [];
    for (const item of items) {
      const c = typeof item === 'function' ? item(input) : item.optional(input);
      if (c) children.push(c);
      else if (typeof item === 'function') {
        input.off = start;
        return null;
      }
    }
    return node(name, start, input.off - start, children);
  };
}

function alt(name: string | null, ...parsers: Parser[]): Parser {
  return (input) => {
    const start = input.off;
    for (const p of parsers) {
      const c = p(input);
      if (c) return node(name, start, c.length, [c]);
      input.off = start;
    }
    return null;
  };
}

/** raabro's `jseq`: elt (sep elt)*; a separator not followed by an element is given back. */
function jseq(name: string, elt: Parser, sep: Parser): Parser {
  return (input) => {
    const start = input.off;
    const children: Node[] = [];
    for (let onElt = true; ; onElt = !onElt) {
      const c = (onElt ? elt : sep)(input);
      if (!c) {
        if (onElt && children.length > 0) input.off = children.pop()!.offset;
        break;
      }
      children.push(c);
    }
    if (children.length === 0) return null;
    return node(name, start, input.off - start, children);
  };
}

const opt = (optional: Parser): Item => ({ optional });

// Pieces, bottom to top, in fugit's order and with fugit's regular expressions.
const s = rex(null, '[ \\t]+');
const star = rex(null, '\\*');
const hyphen = rex(null, '-');
const comma = rex(null, ',');
const slash = rex('slash', '\\/\\d\\d?');
const MONTHS = ['-', 'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const bounds: Record<Exclude<FieldKey, 'sec'> | 'mos', Parser> = {
  mos: rex('mos', '[0-5]?\\d'),
  min: rex('mos', '[0-5]?\\d'),
  hou: rex('hou', '(2[0-4]|[01]?[0-9])'),
  dom: rex('dom', '(-?(3[01]|[12][0-9]|0?[1-9])|last|l)', 'i'),
  mon: rex('mon', `(1[0-2]|0?[1-9]|${MONTHS.slice(1).join('|')})`, 'i'),
  dow: rex('dow', `([0-7]|${WEEKDS.join('|')})`, 'i'),
};
const dowHash = rex('hash', '#(-?[1-5]|last|l)', 'i');
const mod = rex('mod', '%\\d+(\\+\\d+)?');

function element(bound: Parser): Parser {
  const range = seq(null, bound, opt(seq(null, hyphen, bound)));
  const starOrRange = alt(null, star, range);
  return alt('elt', slash, seq(null, starOrRange, opt(slash)));
}

const ELEMENT: Record<FieldKey, Parser> = {
  sec: element(bounds.mos),
  min: element(bounds.min),
  hou: element(bounds.hou),
  dom: element(bounds.dom),
  mon: element(bounds.mon),
  dow: alt(null, seq('elt', bounds.dow, dowHash), seq('elt', bounds.dow, mod), element(bounds.dow)),
};
const LIST: Record<FieldKey, Parser> = {
  sec: jseq('sec', ELEMENT.sec, comma),
  min: jseq('min', ELEMENT.min, comma),
  hou: jseq('hou', ELEMENT.hou, comma),
  dom: jseq('dom', ELEMENT.dom, comma),
  mon: jseq('mon', ELEMENT.mon, comma),
  dow: jseq('dow', ELEMENT.dow, comma),
};
const spaced = (k: FieldKey): Parser => seq(null, LIST[k], s);
const tz = alt('tz', rex(null, ' +[-+]([01][0-9]|2[0-4]):?(00|15|30|45)'), rex(null, ' +[A-Z][a-zA-Z0-9+\\-]+(\\/[A-Z][a-zA-Z0-9+\\-_]+){0,2}'));
const classic = seq('ccron', spaced('min'), spaced('hou'), spaced('dom'), spaced('mon'), LIST.dow, opt(tz));
const seconds = seq('scron', spaced('sec'), spaced('min'), spaced('hou'), spaced('dom'), spaced('mon'), LIST.dow, opt(tz));
const cron = alt('cron', seconds, classic);

function parseAll(p: Parser, text: string): Node | null {
  const input: Input = { s: text, off: 0 };
  const n = p(input);
  return n && n.length === text.length ? n : null;
}

/** raabro's `gather`: named nodes, not looking inside a named node. */
function gather(n: Node, name: string | null, acc: Node[] = []): Node[] {
  if (n.name !== null && (name === null || n.name === name)) acc.push(n);
  else for (const c of n.children) gather(c, name, acc);
  return acc;
}
const subgather = (n: Node, name: string | null): Node[] => n.children.flatMap((c) => gather(c, name));

function rewriteBound(k: FieldKey, text: string): number {
  const low = text.toLowerCase();
  if (k === 'mon' && MONTHS.includes(low)) return MONTHS.indexOf(low);
  if (k === 'dow' && WEEKDS.includes(low)) return WEEKDS.indexOf(low);
  if (k === 'dom' && low.startsWith('l')) return -1;
  return Number.parseInt(text, 10);
}

function rewriteElement(k: FieldKey, elt: Node, text: string): RawElement {
  let from: number | null = null;
  let to: number | null = null;
  let step: number | null = null;
  let nth: number | null = null;
  let modulo: [number, number] | null = null;
  for (const t of subgather(elt, null)) {
    const str = text.slice(t.offset, t.offset + t.length);
    if (t.name === 'slash') step = Number.parseInt(str.slice(1), 10);
    else if (t.name === 'hash') nth = /^#l/i.test(str) ? -1 : Number.parseInt(str.slice(1), 10);
    else if (t.name === 'mod') {
      const [m, plus] = str.split(/[%+]/).filter((x) => x !== '').map(Number);
      modulo = [m!, plus ?? 0];
    } else if (from === null) from = rewriteBound(k, str);
    else to ??= rewriteBound(k, str);
  }
  return { text: text.slice(elt.offset, elt.offset + elt.length), from, to, step, nth, modulo };
}

function rewriteField(k: FieldKey, list: Node, text: string): RawElement[] {
  return gather(list, 'elt').map((elt) => rewriteElement(k, elt, text));
}

/**
 * Parses an expression as fugit 1.5.2's grammar does (after `@daily` and friends are expanded);
 * undefined where fugit's parser returns nil.
 *
 * @example
 * parseGrammar('*\/5 9-17 * * mon-fri Europe/Berlin')!.zone          // 'Europe/Berlin'
 * parseGrammar('*\/5 9-17 * * mon-fri')!.fields.dow![0]              // { text: 'mon-fri', from: 1, to: 5, … }
 * parseGrammar('* * * *')                                           // undefined
 */
export function parseGrammar(text: string): RawCron | undefined {
  const tree = parseAll(cron, text);
  if (!tree) return undefined;
  const fields: Partial<Record<FieldKey, RawElement[]>> = {};
  let zone: string | undefined;
  for (const part of subgather(tree.children[0]!, null)) {
    if (part.name === 'tz') zone = text.slice(part.offset, part.offset + part.length).trim();
    else fields[part.name as FieldKey] = rewriteField(part.name as FieldKey, part, text);
  }
  return { fields, zone };
}

/**
 * Parses one field alone (`10-50/7`, `mon#2,fri`), or undefined when fugit's grammar refuses it.
 *
 * @example
 * parseField('dow', 'mon#2')  // [{ text: 'mon#2', from: 1, to: null, step: null, nth: 2, modulo: null }]
 * parseField('min', '60')     // undefined
 */
export function parseField(k: FieldKey, text: string): RawElement[] | undefined {
  const tree = parseAll(LIST[k], text);
  return tree ? rewriteField(k, tree, text) : undefined;
}

/**
 * Parses one element of a field alone, or undefined when fugit's grammar refuses it.
 *
 * @example
 * parseElement('hou', '22-2/2') // { text: '22-2/2', from: 22, to: 2, step: 2, nth: null, modulo: null }
 */
export function parseElement(k: FieldKey, text: string): RawElement | undefined {
  const tree = parseAll(ELEMENT[k], text);
  return tree ? rewriteField(k, tree, text)[0] : undefined;
}

/**
 * Whether a token reads as fugit's zone syntax (`Europe/Berlin`, `UTC`, `+09:00`).
 *
 * @example
 * looksLikeZone('Europe/Berlin') // true
 * looksLikeZone('europe/berlin') // false
 */
export function looksLikeZone(token: string): boolean {
  return parseAll(tz, ` ${token}`) !== null;
}
