import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections, one kind per use:
 * - `producer`: what web requests enqueue with. No offline queue and a short command timeout, so that a
 *   request fails at once (503) when Redis is away instead of hanging until it returns.
 * - `blocking`: what workers and queue-event listeners block on. BullMQ requires unlimited retries there.
 */
export function createRedis(url: string, use: 'producer' | 'blocking', name: string): Redis {
  const common: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 6), 5000),
  };
  const options: RedisOptions = use === 'producer'
    ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 3000, connectTimeout: 2000 }
    : { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
  const redis = new Redis(url, options);
  // ioredis emits 'error' on every failed reconnect; the readiness probe and logs report outages instead.
  redis.on('error', () => undefined);
  return redis;
}

/** Policies that let Redis drop keys lose queued jobs silently. */
const EVICTING = new Set(['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl']);

export interface RedisCheck {
  /** Why the app must not run against this Redis, if it must not. */
  refusal?: string;
  /** What an operator should know but that does not stop the app. */
  warnings: string[];
}

/** Checks that this Redis keeps what is queued: no eviction policy (refused), and persistence (warned). */
export async function checkRedis(redis: Redis): Promise<RedisCheck> {
  const warnings: string[] = [];
  const policy = await configValue(redis, 'maxmemory-policy');
  if (policy && EVICTING.has(policy)) {
    return {
      refusal: `Redis has maxmemory-policy=${policy}, so it may evict queued jobs and lose tickets. ` +
        'Set `maxmemory-policy noeviction` in redis.conf (or `CONFIG SET maxmemory-policy noeviction`) and start again.',
      warnings,
    };
  }
  const aof = await configValue(redis, 'appendonly');
  const save = await configValue(redis, 'save');
  if (aof === 'no' && (save === '' || save === undefined)) {
    warnings.push('Redis keeps nothing on disk (appendonly no, no save points): queued jobs are lost if Redis restarts. ' +
      'Enable `appendonly yes` in production.');
  }
  return { warnings };
}

async function configValue(redis: Redis, key: string): Promise<string | undefined> {
  try {
    const pair = (await redis.config('GET', key)) as string[];
    return pair[1];
  } catch {
    // Managed Redis services often disable CONFIG; nothing to check then.
    return undefined;
  }
}
