import type { Logger } from 'pino';

/**
 * Runs `task` now and then every `everyMs`, one run at a time (a slow run delays the next, never overlaps it).
 * `stop` ends the schedule and waits for a run in progress. A failed run is logged and the schedule goes on.
 */
export function every(everyMs: number, task: () => Promise<void>, log: Logger, what: string): { stop(): Promise<void> } {
  let stopped = false;
  const run = () => task().catch((err) => log.warn({ err: String((err as Error)?.message ?? err) }, `could not ${what}`));
  let running: Promise<void> = run();
  const timer = setInterval(() => {
    running = running.then(() => (stopped ? undefined : run()));
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
