import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../../src/core/errors.ts';
import { DeliveryError } from '../../src/core/ports.ts';
import { backoffDelay, retryDecision } from '../../src/workers/retry-policy.ts';
import { loadConfig } from '../../src/config/index.ts';

const config = loadConfig({ JOB_LOCK_MS: '30000', JOB_BACKOFF_MS: '500', JOB_BACKOFF_MAX_MS: '60000' });
const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('retryDecision', () => {
  it('fails for good what another try cannot fix, saying why in words a client may read', () => {
    expect(retryDecision(new DomainError('not_found', 'Ticket #7 does not exist.'), config)).toEqual({ action: 'fail', reason: 'not_found: Ticket #7 does not exist.' });
    const refused = retryDecision(pgError('23503', 'violates foreign key constraint "x"'), config);
    expect(refused).toMatchObject({ action: 'fail' });
    expect((refused as { reason: string }).reason).toMatch(/^invalid: The data was refused by the database \(SQLSTATE 23503\)/);
    // Data a schema refuses (an event a channel built wrong) will be refused again.
    const schema = z.object({ subject: z.string().max(3) });
    const invalid = schema.safeParse({ subject: 'too long' });
    expect(retryDecision(invalid.error, config)).toEqual({ action: 'fail', reason: expect.stringMatching(/^invalid: subject: /) });
  });
  it('retries a unique violation: that is how concurrent duplicates meet', () => {
    expect(retryDecision(pgError('23505'), config)).toEqual({ action: 'retry' });
  });
  it('pauses the queue, under half the lock, while the database is away or a channel asks to slow down', () => {
    expect(retryDecision(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), config)).toEqual({ action: 'pause', ms: 2000 });
    expect(retryDecision(new Error('Connection terminated unexpectedly'), config)).toEqual({ action: 'pause', ms: 2000 });
    expect(retryDecision(new DeliveryError('slow down', 'rate_limited', 120_000), config)).toEqual({ action: 'pause', ms: 15_000 });
    expect(retryDecision(pgError('57P01'), loadConfig({ JOB_LOCK_MS: '2000' }))).toEqual({ action: 'pause', ms: 1000 });
  });
  it('retries anything else with backoff that grows and stays capped', () => {
    expect(retryDecision(new Error('socket hang up'), config)).toEqual({ action: 'retry' });
    for (let i = 0; i < 50; i++) {
      const first = backoffDelay(config, 1);
      expect(first).toBeGreaterThanOrEqual(250);
      expect(first).toBeLessThanOrEqual(500);
      expect(backoffDelay(config, 30)).toBeLessThanOrEqual(60_000);
    }
  });
});
