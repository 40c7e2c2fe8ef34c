import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, redisAnswers } from '../../src/runtime/private-redis.ts';

export { freePort };

/** A server process of a test's own, which the test can stop and start again to make an outage. */
export interface TestServer {
  port: number;
  url: string;
  /** Its folder (data, socket, log). */
  dir: string;
  /** True while the server runs. */
  readonly running: boolean;
  /** Stops it; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder, with the data it kept; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

/** redis-server: stop() is a SIGTERM; start() reloads its append-only file. */
export type TestRedisServer = TestServer;

/**
 * A redis-server of the test's own on a free port, with an append-only file fsynced on every write, so that
 * whatever it acknowledged survives a stop and start.
 */
export async function startRedisServer(): Promise<TestRedisServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('redis-server is already running');
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
    ], { stdio: 'ignore' });
    child = proc;
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(url, 300))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        const log = await fs.readFile(path.join(dir, 'redis.log'), 'utf8').catch(() => '');
        throw new Error(`redis-server on port ${port} did not start:\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => new Promise<void>((resolve) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });

  await start();
  return {
    port,
    url,
    dir,
    get running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    stop: () => stop(),
    start,
    async dispose() {
      const proc = child;
      const exited = stop();
      // A server that does not end on SIGTERM within 5 s is killed.
      const timer = setTimeout(() => proc?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
