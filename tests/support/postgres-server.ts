import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/runtime/private-redis.ts';
import type { TestServer } from './redis-server.ts';

/**
 * A private Postgres cluster. `url` is the `postgres` database as the superuser (trust auth); `stop()` is
 * `pg_ctl stop -m fast`, which ends open sessions (57P01).
 */
export interface TestPostgresServer extends TestServer {
  /** The end of the server's log, for failure messages. */
  logTail(chars?: number): Promise<string>;
}

const START_TIMEOUT_S = 20;
const STOP_TIMEOUT_S = 15;

/** The bin folder of the newest PostgreSQL Debian installed (`/usr/lib/postgresql/<ver>/bin`); PG_BIN overrides. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`No PostgreSQL server binaries under ${root} (apt-get install postgresql), and PG_BIN is not set.`);
  return path.join(root, versions[0]!, 'bin');
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Runs a PostgreSQL binary, as the `postgres` OS user when this process is root (initdb and postgres refuse
 * to run as root). Rejects on a non-zero exit, or when it has not exited within `timeoutMs` (then killed).
 */
function runPg(bin: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    // pg_ctl starts the server with its output sent to the log file and stdin from /dev/null, so these pipes
    // close when pg_ctl exits even though the server keeps running.
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out = (out + c.toString('utf8')).slice(-4000); });
    child.stderr!.on('data', (c: Buffer) => { out = (out + c.toString('utf8')).slice(-4000); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(bin)} ${args.join(' ')} took longer than ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(bin)} ${args.join(' ')} exited with ${code ?? signal}:\n${out}`));
    });
  });
}

/** Servers not disposed yet: stopped at once if the test process exits without disposing them. */
const live = new Set<{ dir: string; dataDir: string }>();
let exitHookInstalled = false;
function installExitHook(pgCtl: string): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const s of live) {
      const args = ['-D', s.dataDir, 'stop', '-m', 'immediate', '-w', '-t', '5'];
      spawnSync(asRoot ? 'runuser' : pgCtl, asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args, { stdio: 'ignore', timeout: 7000 });
      spawnSync('rm', ['-rf', s.dir], { stdio: 'ignore', timeout: 7000 });
    }
  });
}

/**
 * A PostgreSQL cluster of the test's own (the Debian-installed version), on a free port on 127.0.0.1 with trust
 * auth and fsync off, so that a test can stop and start a real server without disturbing the shared one.
 * initdb takes ~1–2 s.
 */
export async function startPostgresServer(): Promise<TestPostgresServer> {
  const bin = postgresBinDir();
  const initdb = path.join(bin, 'initdb');
  const pgCtl = path.join(bin, 'pg_ctl');
  // mkdtemp makes a mode-700 folder; the postgres user must be able to reach the data folder inside it.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'log');
  const entry = { dir, dataDir };
  try {
    await fs.chmod(dir, 0o755);
    if (asRoot) {
      const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gr = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      if (pw.status !== 0) throw new Error('Running as root, and there is no `postgres` OS user to run the server as.');
      await fs.chown(dir, Number(pw.stdout.trim()), Number(gr.stdout.trim()));
    }
    await runPg(initdb, ['-D', dataDir, '--auth=trust', '-U', 'postgres', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'], dir, 60_000);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  live.add(entry);
  installExitHook(pgCtl);

  const port = await freePort();
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let running = false;

  const logTail = async (chars = 3000) => (await fs.readFile(logFile, 'utf8').catch(() => '')).slice(-chars);

  const start = async () => {
    if (running) throw new Error('this Postgres is already running');
    const options = [
      `-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off',
      '-c full_page_writes=off', '-c max_connections=100',
    ].join(' ');
    try {
      await runPg(pgCtl, ['-D', dataDir, '-o', options, '-l', logFile, '-w', '-t', String(START_TIMEOUT_S), 'start'], dir, (START_TIMEOUT_S + 5) * 1000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- server log ---\n${await logTail()}`);
    }
    running = true;
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await runPg(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', String(STOP_TIMEOUT_S), 'stop'], dir, (STOP_TIMEOUT_S + 5) * 1000);
    running = false;
  };

  try {
    await start();
  } catch (err) {
    live.delete(entry);
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    port,
    url,
    dir,
    get running() {
      return running;
    },
    stop: () => stop('fast'),
    start,
    logTail,
    async dispose() {
      if (!live.has(entry)) return;
      try {
        if (running) await stop('fast').catch(() => stop('immediate'));
      } finally {
        // A server that did not stop still holds its folder; the exit hook tries again then.
        if (!running) {
          live.delete(entry);
          await fs.rm(dir, { recursive: true, force: true });
        }
      }
    },
  };
}
