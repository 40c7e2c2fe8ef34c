/**
 * A worker process for tests that kill workers: `npx tsx tests/support/worker-process.ts`, configured by the
 * same environment variables as the app (DATABASE_URL, REDIS_URL, QUEUE_PREFIX, JOB_LOCK_MS, ...). Prints
 * `ready <pid>` on stdout once its workers take jobs; logs go to stderr. SIGTERM stops it gracefully.
 */
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { startRuntime, startWorkers, stopRuntime } from '../../src/runtime/runtime.ts';

const config = loadConfig(process.env);
const logger = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
const rt = await startRuntime(config, logger);
const workers = await startWorkers(rt);
process.stdout.write(`ready ${process.pid}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await workers.stop(2000);
    await stopRuntime(rt);
    process.exit(0);
  })();
});
