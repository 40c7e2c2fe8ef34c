import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-process.ts');
const repoRoot = path.resolve(path.dirname(script), '../..');

export interface WorkerChild {
  pid: number;
  child: ChildProcess;
  /** Resolves once the process has exited, with its exit code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The end of what it wrote to stderr (its logs), for failure messages. */
  logTail(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM (a graceful stop), then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `worker-process.ts` in a Node process of its own (node itself with tsx's loader, no npx in between, so
 * that a signal reaches the worker and not a wrapper), and resolves once its workers take jobs.
 */
export async function startWorkerChild(env: Record<string, string>, timeoutMs = 30_000): Promise<WorkerChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-8000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };

  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the worker process was not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
      lines.on('line', (line) => {
        if (line.startsWith('ready ')) resolve();
      });
      void exited.then(({ code, signal }) => reject(new Error(`the worker process exited (${code ?? signal}) before it was ready:\n${log}`)));
    });
  } catch (err) {
    await kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const stop = async (graceMs = 5000) => {
    const timer = setTimeout(() => void kill('SIGKILL'), graceMs);
    await kill('SIGTERM');
    clearTimeout(timer);
  };
  return { pid: child.pid!, child, exited, logTail: () => log, kill, stop };
}
