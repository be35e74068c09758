// The pure parts of the local endpoint: how an Invoke URL names a function, and Lambda's error bodies.
import { describe, expect, it } from 'vitest';
import { exitBody, rapidErrorBody, timeoutBody } from '../../lib/local/errors.js';
import { functionArn, parseInvokeUrl } from '../../lib/local/routing.js';

describe('local lambda: routing', () => {
  describe('parseInvokeUrl', () => {
    it.each([
      ['/2015-03-31/functions/echo/invocations', { name: 'echo' }],
      ['/2015-03-31/functions/echo%3Alive/invocations', { name: 'echo', qualifier: 'live' }],
      ['/2015-03-31/functions/echo/invocations?Qualifier=7', { name: 'echo', qualifier: '7' }],
      ['/2015-03-31/functions/1234%3Afunction%3Aecho/invocations', { name: 'echo', accountId: '1234' }],
      [
        '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1234%3Afunction%3Aecho%3A%24LATEST/invocations',
        { name: 'echo', qualifier: '$LATEST', region: 'eu-west-1', accountId: '1234' },
      ],
    ])('parses %s', (url, expected) => {
      expect(parseInvokeUrl(url)).toEqual(expected);
    });

    it.each([
      '/2015-03-31/functions/echo',
      '/2015-03-31/functions//invocations',
      '/2015-03-31/functions/a/b/invocations',
      '/2015-03-31/functions/%E0%A4%A/invocations',
      '/2015-03-31/functions/arn%3Aaws%3As3%3A%3A%3Abucket/invocations',
      '/2018-01-01/functions/echo/invocations',
    ])('refuses %s', (url) => {
      expect(parseInvokeUrl(url)).toBeNull();
    });
  });

  describe('functionArn', () => {
    it('fills region and account from the endpoint unless the caller gave an ARN', () => {
      expect(functionArn({ name: 'echo', qualifier: 'live' }, 'us-east-1', '000000000000')).toBe(
        'arn:aws:lambda:us-east-1:000000000000:function:echo:live',
      );
      expect(functionArn({ name: 'echo', region: 'eu-west-1', accountId: '1' }, 'us-east-1', '0')).toBe(
        'arn:aws:lambda:eu-west-1:1:function:echo',
      );
    });
  });
});

describe('local lambda: error bodies', () => {
  it('serialises a thrown Error as the Node.js runtime does: name, message, stack lines', () => {
    const error = new TypeError('bad');
    expect(JSON.parse(rapidErrorBody(error))).toEqual({
      errorType: 'TypeError',
      errorMessage: 'bad',
      trace: (error.stack as string).split('\n'),
    });
  });

  it('serialises a thrown non-Error by its type', () => {
    expect(JSON.parse(rapidErrorBody('just a string'))).toEqual({ errorType: 'string', errorMessage: 'just a string', trace: [] });
    expect(JSON.parse(rapidErrorBody(42))).toEqual({ errorType: 'number', errorMessage: '42', trace: [] });
  });

  it('formats the timeout with two decimals, as Lambda does', () => {
    expect(JSON.parse(timeoutBody('abc', 900))).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'RequestId: abc Error: Task timed out after 900.00 seconds',
    });
    expect(JSON.parse(exitBody('abc', 129)).errorMessage).toBe('RequestId: abc Error: Runtime exited with error: exit status 129');
  });
});
