import http from 'node:http';

/** Keep-alive HTTP for the benchmarks: one POST, and a closed loop of `concurrency` clients over a list. */
export function httpLoad(concurrency: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (url: string, body: string | Buffer, headers: Record<string, string | number>): Promise<number> => new Promise((resolve, reject) => {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
  /** Sends every item, `concurrency` at a time; each must be answered 200. Returns the milliseconds it took. */
  const drive = async <T>(items: readonly T[], send: (item: T) => Promise<number>): Promise<number> => {
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const status = await send(items[next++]!);
        if (status !== 200) throw new Error(`the endpoint answered ${status}`);
      }
    }));
    return performance.now() - started;
  };
  return { post, drive, close: () => agent.destroy() };
}
