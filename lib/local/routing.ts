/**
 * Which function an Invoke request names. Pure: no I/O.
 *
 * Tasks:
 * 1. Match `POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=…]`.
 * 2. Accept every form Lambda accepts for `FunctionName`: `name`, `name:qualifier`,
 *    `123456789012:function:name[:qualifier]`, `arn:aws:lambda:region:acct:function:name[:qualifier]`.
 * 3. Build the function ARN Lambda reports (`context.invokedFunctionArn`, the 404 message).
 */

const PREFIX = '/2015-03-31/functions/';
const SUFFIX = '/invocations';

/** A parsed Invoke target. */
export interface InvokeTarget {
  readonly name: string;
  readonly qualifier?: string;
  /** From an ARN, when the caller used one. */
  readonly region?: string;
  readonly accountId?: string;
}

/**
 * Parses an Invoke request's path and query; `null` when the path is not an Invoke.
 *
 * @example parseInvokeUrl('/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Aecho%3Alive/invocations')
 * // { name: 'echo', qualifier: 'live', region: 'eu-west-1', accountId: '1' }
 */
export function parseInvokeUrl(url: string): InvokeTarget | null {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.startsWith(PREFIX) || !path.endsWith(SUFFIX)) return null;
  const raw = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (raw === '' || raw.includes('/')) return null;
  let decoded: string;
  try {
    decoded = raw.includes('%') ? decodeURIComponent(raw) : raw;
  } catch {
    return null;
  }
  const target = parseFunctionName(decoded);
  if (!target || q < 0) return target;
  const qualifier = new URLSearchParams(url.slice(q + 1)).get('Qualifier');
  return qualifier ? { ...target, qualifier } : target;
}

/** Parses a `FunctionName` parameter in any of its forms; `null` when it is malformed. */
export function parseFunctionName(value: string): InvokeTarget | null {
  const parts = value.split(':');
  if (parts.length <= 2) return target(parts[0], parts[1]);
  if (parts[0] === 'arn' && parts.length >= 7 && parts[2] === 'lambda' && parts[5] === 'function') {
    return target(parts[6], parts[7], parts[3], parts[4], parts.length <= 8);
  }
  if (parts[1] === 'function' && parts.length <= 4) return target(parts[2], parts[3], undefined, parts[0]);
  return null;
}

function target(
  name: string | undefined,
  qualifier: string | undefined,
  region?: string,
  accountId?: string,
  wellFormed = true,
): InvokeTarget | null {
  if (!wellFormed || !name) return null;
  return {
    name,
    ...(qualifier ? { qualifier } : {}),
    ...(region ? { region } : {}),
    ...(accountId ? { accountId } : {}),
  };
}

/**
 * The ARN Lambda reports for a target, filling region and account from the endpoint's defaults.
 *
 * @example functionArn({ name: 'echo' }, 'us-east-1', '000000000000') // 'arn:aws:lambda:us-east-1:000000000000:function:echo'
 */
export function functionArn(t: InvokeTarget, region: string, accountId: string): string {
  const base = `arn:aws:lambda:${t.region ?? region}:${t.accountId ?? accountId}:function:${t.name}`;
  return t.qualifier ? `${base}:${t.qualifier}` : base;
}
