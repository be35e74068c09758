/**
 * A local stand-in for AWS Secrets Manager's `GetSecretValue` (JSON 1.1 over HTTP), so the real
 * `@aws-sdk/client-secrets-manager` can be driven in tests: point it here with
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`. It counts reads per secret and serves whatever value the test set.
 */
import http from 'node:http';

export interface LocalSecrets {
  readonly url: string;
  /** Sets (or rotates) a secret's string. */
  set(secretId: string, value: string): void;
  /** GetSecretValue calls seen for a secret. */
  reads(secretId: string): number;
  close(): Promise<void>;
}

export async function startLocalSecrets(): Promise<LocalSecrets> {
  const values = new Map<string, string>();
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const send = (status: number, doc: object): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(doc));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        return send(400, { __type: 'InvalidRequestException', message: `not supported here: ${String(req.headers['x-amz-target'])}` });
      }
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      counts.set(SecretId, (counts.get(SecretId) ?? 0) + 1);
      const value = values.get(SecretId);
      if (value === undefined) return send(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
      send(200, { ARN: SecretId, Name: SecretId.split(':').at(-1), SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: Date.now() / 1000 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (id, value) => values.set(id, value),
    reads: (id) => counts.get(id) ?? 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
