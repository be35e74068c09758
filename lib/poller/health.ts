/**
 * The poller's HTTP endpoint for ECS health checks and people.
 *
 * - `GET /healthz`: 200 `{"status":"ok"}` while Redis answers and the fetch loop is alive, else 503
 *   with the reason (ECS replaces the task).
 * - `GET /stats`: JSON — in flight per class, processed, failed, throttled, fetch lag.
 */
import http from 'node:http';

export interface HealthSource {
  /** Undefined when healthy, else why not. */
  problem(): string | undefined;
  stats(): unknown;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export function startHealthServer(source: HealthSource, port: number, host = '0.0.0.0'): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'GET only' });
    if (req.url === '/healthz') {
      const problem = source.problem();
      return problem ? send(503, { status: 'unhealthy', problem }) : send(200, { status: 'ok' });
    }
    if (req.url === '/stats') return send(200, source.stats());
    send(404, { error: 'try /healthz or /stats' });
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
