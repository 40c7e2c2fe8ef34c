import { ConfigError, loadConfig } from './config/index.ts';
import { countOrganizations } from './persistence/directory.ts';
import { createLogger } from './runtime/logger.ts';
import { startRuntime, startWeb, startWorkers, stopRuntime, type WebServer, type Workers } from './runtime/runtime.ts';

/**
 * `tsx src/main.ts all|web|worker`: the web server, the workers, or both in one process.
 * SIGTERM/SIGINT: stop taking HTTP requests, let workers finish or hand back their jobs, close the
 * queues, then the connections.
 */
const role = process.argv[2] ?? 'all';
if (!['all', 'web', 'worker'].includes(role)) {
  console.error(`Unknown role "${role}": use all, web or worker.`);
  process.exit(2);
}

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}
const logger = createLogger(config);

let runtime: Awaited<ReturnType<typeof startRuntime>>;
try {
  runtime = await startRuntime(config, logger);
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'cannot start');
  logger.flush();
  console.error(`Cannot start: ${(err as Error).message}`);
  process.exit(1);
}

let workers: Workers | undefined;
let web: WebServer | undefined;
try {
  if (role !== 'web') workers = await startWorkers(runtime);
  if (role !== 'worker') web = await startWeb(runtime);
} catch (err) {
  console.error(`Cannot start: ${(err as Error).message}`);
  await workers?.stop(1000);
  await stopRuntime(runtime);
  process.exit(1);
}
if (web) {
  console.error(`Helpdesk is running: http://localhost:${web.port}/api/v1/openapi.json`);
  if ((await countOrganizations(runtime.orm).catch(() => -1)) === 0) {
    console.error('No organization yet. In another terminal: npm run cli -- org create --name "Acme", then a user and an API key (README, "Walk-through").');
  }
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const hardStop = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, config!.shutdownTimeoutMs + 10_000);
  hardStop.unref();
  if (web) {
    await web.stop();
    logger.info('web server stopped');
  }
  if (workers) {
    await workers.stop(config!.shutdownTimeoutMs);
    logger.info('workers stopped');
  }
  await stopRuntime(runtime);
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
const onSignal = (signal: string) => shutdown(signal).catch((err: unknown) => {
  logger.error({ err: String(err) }, 'shutdown failed');
  logger.flush();
  process.exit(1);
});
process.on('SIGTERM', () => void onSignal('SIGTERM'));
process.on('SIGINT', () => void onSignal('SIGINT'));
