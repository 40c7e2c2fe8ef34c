import Router from '@koa/router';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import { databaseAnswers } from '../../persistence/database.ts';

/** Liveness (the process answers) and readiness (its database and Redis answer too). */
export function healthRoutes(deps: { orm: MikroORM; redis: Redis }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [database, redis] = await Promise.all([databaseAnswers(deps.orm, 1000), pingRedis(deps.redis, 1000)]);
    ctx.status = database && redis ? 200 : 503;
    ctx.body = { status: database && redis ? 'ready' : 'not_ready', database: database ? 'up' : 'down', redis: redis ? 'up' : 'down' };
  });
  return router;
}

async function pingRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<string>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeoutMs); }),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
