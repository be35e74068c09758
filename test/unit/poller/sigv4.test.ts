import { describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { signPost } from '../../../lib/lambda/sigv4.js';

const sdk = new LambdaClient({ region: 'eu-west-1' });

async function sdkHeaders(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, path: string, body: Buffer, now: Date) {
  const signer = new SignatureV4({ credentials: creds, region: 'eu-west-1', service: 'lambda', sha256: sdk.config.sha256, uriEscapePath: true });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: 'lambda.eu-west-1.amazonaws.com',
      path,
      query: {},
      headers: { host: 'lambda.eu-west-1.amazonaws.com', 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
      body,
    },
    { signingDate: now },
  );
  return signed.headers;
}

describe('sigv4', () => {
  describe('signPost', () => {
    for (const [name, creds] of [
      ['long-term credentials', { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }],
      ['temporary credentials (session token)', { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars==' }],
    ] as const) {
      it(`signs an Invoke exactly as the SDK's SignatureV4 does, with ${name}`, async () => {
        // Prepare: a function name that needs encoding, as an ARN with a qualifier
        const path = `/2015-03-31/functions/${encodeURIComponent('arn:aws:lambda:eu-west-1:123456789012:function:my-fn:live')}/invocations`;
        const body = Buffer.from('{"sidekiqLambda":2,"jobs":[{"payload":"{\\"class\\":\\"É\\"}","queue":"q"}]}');
        const now = new Date('2026-11-22T09:30:00.123Z');
        // Act
        const ours = signPost({ host: 'lambda.eu-west-1.amazonaws.com', path, body, region: 'eu-west-1', service: 'lambda', credentials: creds, amzHeaders: { 'x-amz-invocation-type': 'RequestResponse' }, contentType: 'application/json', now });
        const theirs = await sdkHeaders(creds, path, body, now);
        // Assess
        expect(ours.authorization).toBe(theirs.authorization);
        expect(ours['x-amz-date']).toBe(theirs['x-amz-date']);
        if ('sessionToken' in creds) expect(ours['x-amz-security-token']).toBe(creds.sessionToken);
      });
    }
  });
});
