import type { ApiResponse, TestApp } from './app.ts';
import { query } from './database.ts';

/* What the outage tests share: bounded waits, and counting what each request made in the database. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Timed<T> { value: T; ms: number }

export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: Math.round(performance.now() - started) };
}

/** Rejects when `promise` takes longer than `ms`: a hung request fails the test with a message, not a timeout. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true or the deadline passes; returns whether it did. A check that throws counts as false. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** How many tickets, messages and receipts each subject made. */
export async function committedBySubject(dbUrl: string, organizationId: string, subjects: readonly string[]) {
  const rows = await query<{ subject: string; tickets: string; messages: string; receipts: string }>(
    dbUrl,
    `SELECT t.subject, count(DISTINCT t.id) AS tickets, count(DISTINCT m.id) AS messages, count(DISTINCT r.id) AS receipts
       FROM tickets t
       LEFT JOIN messages m ON m.ticket_id = t.id
       LEFT JOIN intake_receipts r ON r.ticket_id = t.id
      WHERE t.organization_id = $1 AND t.subject = ANY($2::text[])
      GROUP BY t.subject`,
    [organizationId, subjects],
  );
  return new Map(rows.map((r) => [r.subject, { tickets: Number(r.tickets), messages: Number(r.messages), receipts: Number(r.receipts) }]));
}

/** Subjects that made anything other than exactly one ticket with one message and one receipt. */
export function notExactlyOnce(made: Awaited<ReturnType<typeof committedBySubject>>, subjects: readonly string[]): string[] {
  return subjects.filter((s) => {
    const m = made.get(s);
    return !m || m.tickets !== 1 || m.messages !== 1 || m.receipts !== 1;
  });
}

/** True when the app's intake queue has nothing waiting, running or delayed. */
export async function queueIsDry(app: TestApp): Promise<boolean> {
  const counts = await app.rt.intakeQueue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).every((n) => n === 0);
}

export function errorBodyOf(res: ApiResponse): { code?: string; message?: string } | undefined {
  return (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
}
