import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Queue } from 'bullmq';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { DomainError } from '../core/errors.ts';
import { PRIORITIES, ROLES, type Priority, type Role } from '../core/vocabulary.ts';
import { ObjectsStore } from '../persistence/objects.ts';
import { passportUrl } from '../passports/qr.ts';
import { ApiKeys } from '../persistence/api-keys.ts';
import { migrate } from '../persistence/database.ts';
import { Directory, referencedStorageKeys } from '../persistence/directory.ts';
import { sweepOrphanFiles } from '../storage/orphans.ts';
import { createLogger } from '../runtime/logger.ts';
import { resolveDatabase, resolveRedis, type Runtime } from '../runtime/runtime.ts';
import { QUEUES, apiKeyRevokedChannel } from '../workers/queues.ts';
import { resolveAppSecret } from '../security/app-secret.ts';
import { addMailCommands } from './mail-commands.ts';
import { addTelegramCommands } from './telegram-commands.ts';
import { addSlackCommands } from './slack-commands.ts';
import { createRedis } from '../workers/redis.ts';
import { SLACK_INBOUND, SLACK_OUTBOUND } from '../channels/slack/queues.ts';
import { TELEGRAM_QUEUE } from '../channels/telegram/updates-queue.ts';

/**
 * What an administrator does before there is a web console. Results are JSON on stdout, so scripts can
 * use them; logs and errors go to stderr.
 */
const program = new Command('helpdesk').description('Helpdesk administration').showHelpAfterError();

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function env(): Config {
  return loadConfig();
}

/** Opens the database (embedded when DATABASE_URL is unset), runs `fn`, closes everything. */
async function withDatabase<T>(fn: (orm: MikroORM) => Promise<T>, opts: { checkSchema?: boolean } = {}): Promise<T> {
  const config = env();
  const logger = createLogger(config, 2);
  const closers: Runtime['closers'] = [];
  if (!config.databaseUrl) {
    // Said every time: a terminal without the server's DATABASE_URL would otherwise edit another database.
    process.stderr.write(`note: DATABASE_URL is not set, so this uses the embedded database in ${config.dataDir}\n`);
  }
  try {
    const orm = await resolveDatabase(config, logger, closers, opts);
    return await fn(orm);
  } finally {
    for (const c of closers.reverse()) await c.close().catch(() => undefined);
  }
}

async function withQueue<T>(name: string, fn: (queue: Queue) => Promise<T>): Promise<T> {
  const config = env();
  const logger = createLogger(config, 2);
  const closers: Runtime['closers'] = [];
  try {
    const url = await resolveRedis(config, logger, closers);
    const redis = createRedis(url, 'blocking', 'helpdesk-cli');
    closers.push({ name: 'redis', close: async () => redis.disconnect() });
    const queue = new Queue(name, { connection: redis, prefix: config.queuePrefix });
    closers.push({ name: 'queue', close: () => queue.close() });
    return await fn(queue);
  } finally {
    for (const c of closers.reverse()) await c.close().catch(() => undefined);
  }
}

const role = (value: string): Role => {
  if (!(ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Use one of ${ROLES.join(', ')}.`);
  return value as Role;
};
/** Every queue whose failed jobs an operator may look at and replay: the core's and the channels'. */
const JOB_QUEUES: readonly string[] = [QUEUES.intake, QUEUES.notify, TELEGRAM_QUEUE, SLACK_INBOUND, SLACK_OUTBOUND];
const queueName = (value: string): string => {
  if (!JOB_QUEUES.includes(value)) throw new InvalidArgumentError(`Use one of ${JOB_QUEUES.join(', ')}.`);
  return value;
};

program.command('migrate')
  .description('apply pending database migrations (or revert the last one with --down)')
  .option('--down', 'revert the most recent migration')
  .action(async (opts: { down?: boolean }) => {
    await withDatabase(async (orm) => {
      if (opts.down) {
        const reverted = await orm.getMigrator().down();
        print({ reverted: reverted.map((m) => m.name) });
      } else {
        print({ applied: await migrate(orm) });
      }
    }, { checkSchema: false });
  });

const org = program.command('org').description('organizations (tenants)');
org.command('create')
  .requiredOption('--name <name>', 'display name')
  .option('--slug <slug>', 'short unique name (default: from the name)')
  .action(async (opts: { name: string; slug?: string }) => {
    await withDatabase(async (orm) => print(await new Directory(orm).createOrganization(opts.name, opts.slug)));
  });
org.command('list').action(async () => {
  await withDatabase(async (orm) => print(await new Directory(orm).organizations()));
});

program.command('user').description('users: admins, agents, customers').command('create')
  .requiredOption('--org <org>', 'organization id or slug')
  .requiredOption('--email <email>', 'email address')
  .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, role)
  .option('--name <name>', 'display name')
  .option('--locale <locale>', 'en, ru or de', 'en')
  .action(async (opts: { org: string; email: string; role: Role; name?: string; locale: string }) => {
    await withDatabase(async (orm) => print(await new Directory(orm).createUser(opts.org, opts)));
  });

const apikey = program.command('apikey').description('API keys (shown once, stored as a hash)');
apikey.command('create')
  .requiredOption('--user <user>', 'user id, or email (with --org when the email is in several organizations)')
  .option('--org <org>', 'organization id or slug')
  .option('--name <label>', 'what the key is for', '')
  .action(async (opts: { user: string; org?: string; name: string }) => {
    await withDatabase(async (orm) => {
      const user = await new Directory(orm).user(opts.user, opts.org);
      const created = await new ApiKeys(orm).create(user.id, opts.name);
      print({ ...created, role: user.role, note: 'Store this key now: it is not shown again.' });
    });
  });
apikey.command('revoke')
  .argument('<key>', 'the key id, or its prefix (the first 10 characters of the key)')
  .action(async (ref: string) => {
    await withDatabase(async (orm) => {
      const config = env();
      const closers: Runtime['closers'] = [];
      // Running web processes drop the key at once when they hear of it; otherwise within seconds.
      const announce = async (keyId: string) => {
        const url = await resolveRedis(config, createLogger({ logLevel: 'silent' }, 2), closers);
        const redis = createRedis(url, 'blocking', 'helpdesk-cli');
        closers.push({ name: 'redis', close: async () => redis.disconnect() });
        await redis.publish(apiKeyRevokedChannel(config.queuePrefix), keyId);
      };
      try {
        print(await new ApiKeys(orm, announce).revoke(ref));
      } finally {
        for (const c of closers.reverse()) await c.close().catch(() => undefined);
      }
    });
  });

program.command('category').command('create')
  .requiredOption('--org <org>', 'organization id or slug')
  .requiredOption('--name <name>', 'name')
  .option('--parent <id>', 'parent category id')
  .action(async (opts: { org: string; name: string; parent?: string }) => {
    await withDatabase(async (orm) => print(await new Directory(orm).createCategory(opts.org, opts.name, opts.parent)));
  });
program.command('service').command('create')
  .requiredOption('--org <org>', 'organization id or slug')
  .requiredOption('--name <name>', 'name')
  .option('--description <text>', 'description', '')
  .action(async (opts: { org: string; name: string; description: string }) => {
    await withDatabase(async (orm) => print(await new Directory(orm).createService(opts.org, opts.name, opts.description)));
  });
program.command('object').command('create')
  .requiredOption('--org <org>', 'organization id or slug')
  .requiredOption('--name <name>', 'name, e.g. "Lift 2, building A"')
  .option('--kind <kind>', 'kind, e.g. lift, printer, room', '')
  .option('--address <address>', 'where it is', '')
  .option('--description <text>', 'description', '')
  .option('--priority <priority>', `request template: default priority (${PRIORITIES.join(', ')})`)
  .option('--category <id>', 'request template: default category id')
  .option('--service <id>', 'request template: default service id')
  .option('--assignee <user>', 'request template: default assignee (agent or admin email or id)')
  .action(async (opts: { org: string; name: string; kind: string; address: string; description: string; priority?: string; category?: string; service?: string; assignee?: string }) => {
    if (opts.priority && !(PRIORITIES as readonly string[]).includes(opts.priority)) throw new InvalidArgumentError(`--priority must be one of ${PRIORITIES.join(', ')}.`);
    await withDatabase(async (orm) => {
      const directory = new Directory(orm);
      const object = await directory.createObject(opts.org, opts);
      const assignee = opts.assignee ? await directory.user(opts.assignee, opts.org) : undefined;
      const view = await new ObjectsStore(orm).update(object.organization, object.id, {
        defaultPriority: opts.priority as Priority | undefined, defaultCategoryId: opts.category, defaultServiceId: opts.service, defaultAssigneeId: assignee?.id,
      });
      const config = env();
      print({ ...view, passport_url: passportUrl(config.publicUrl, view!.passport_token) });
    });
  });

program.command('attachments').command('sweep')
  .description('remove stored files that no attachment points to (refused or abandoned uploads)')
  .option('--older-than-hours <n>', 'only files at least this old', (v) => Number.parseFloat(v), 24)
  .option('--dry-run', 'count, remove nothing')
  .action(async (opts: { olderThanHours: number; dryRun?: boolean }) => {
    if (!(opts.olderThanHours >= 0)) throw new InvalidArgumentError('--older-than-hours must be a number of hours, 0 or more.');
    const config = env();
    await withDatabase(async (orm) => {
      const root = path.join(config.dataDir, 'attachments');
      const result = await sweepOrphanFiles(root, (keys) => referencedStorageKeys(orm, keys), opts.olderThanHours * 3_600_000, {
        dryRun: opts.dryRun,
        onProgress: (r) => process.stderr.write(`scanned ${r.scanned}, removed ${r.removed}\r`),
      });
      print({ root, dryRun: Boolean(opts.dryRun), ...result });
    });
  });

const jobs = program.command('jobs').description('queued work that failed for good: inspect and replay');
jobs.command('failed')
  .option('--queue <queue>', `one of ${JOB_QUEUES.join(', ')}`, queueName, QUEUES.intake)
  .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 50)
  .action(async (opts: { queue: string; limit: number }) => {
    await withQueue(opts.queue, async (queue) => {
      const failed = await queue.getFailed(0, opts.limit - 1);
      print(failed.map((j) => ({
        id: j.id,
        failedReason: j.failedReason,
        attemptsMade: j.attemptsMade,
        failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
        data: j.data,
      })));
    });
  });
jobs.command('retry')
  .argument('[ids...]', 'job ids (from `jobs failed`)')
  .option('--all', 'retry every failed job of the queue')
  .option('--queue <queue>', `one of ${JOB_QUEUES.join(', ')}`, queueName, QUEUES.intake)
  .action(async (ids: string[], opts: { all?: boolean; queue: string }) => {
    if (!opts.all && ids.length === 0) throw new InvalidArgumentError('Name job ids or pass --all.');
    await withQueue(opts.queue, async (queue) => {
      if (opts.all) {
        const count = await queue.getFailedCount();
        await queue.retryJobs({ state: 'failed' });
        print({ retried: count });
        return;
      }
      const retried: string[] = [];
      for (const id of ids) {
        const job = await queue.getJob(id);
        if (!job) throw new DomainError('not_found', `No job ${id} in ${opts.queue}.`);
        await job.retry('failed');
        retried.push(id);
      }
      print({ retried });
    });
  });

const secretContext = {
  print,
  withDatabase: <T>(fn: (orm: MikroORM, secret: string) => Promise<T>) => withDatabase((orm) => {
    const config = env();
    return fn(orm, resolveAppSecret(config.appSecret, config.dataDir));
  }),
};
addMailCommands(program, secretContext);
addTelegramCommands(program, { ...secretContext, apiRoot: () => env().telegram.apiRoot });
addSlackCommands(program, { ...secretContext, apiUrl: () => env().slack.apiUrl, publicUrl: () => env().publicUrl, noteMarkers: () => env().slack.noteMarkers, language: () => env().slack.language });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const message = err instanceof DomainError || err instanceof ConfigError || err instanceof InvalidArgumentError
    ? err.message
    : String((err as Error)?.stack ?? err);
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = 1;
}
