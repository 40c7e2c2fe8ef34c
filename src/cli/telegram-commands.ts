import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { Telegram, TelegramError } from 'telegraf';
import { DomainError } from '../core/errors.ts';
import { Directory } from '../persistence/directory.ts';
import { TelegramStore } from '../persistence/telegram-store.ts';
import { SecretBox } from '../security/secret-box.ts';
import type { CliContext } from './mail-commands.ts';

/** `telegram …`: connecting an organization's bot, checking it, removing it. */
export function addTelegramCommands(program: Command, cli: CliContext & { apiRoot: () => string }): void {
  const telegram = program.command('telegram').description("an organization's Telegram bot");
  telegram.command('add')
    .requiredOption('--org <org>', 'organization id or slug')
    .requiredOption('--token <token>', 'the bot token from @BotFather')
    .option('--mode <mode>', 'webhook (Telegram calls PUBLIC_URL/telegram/<bot id>; needs HTTPS) or polling', 'polling')
    .action(async (opts: { org: string; token: string; mode: string }) => {
      if (opts.mode !== 'webhook' && opts.mode !== 'polling') throw new InvalidArgumentError('--mode must be webhook or polling.');
      if (!/^\d+:[A-Za-z0-9_-]{20,}$/.test(opts.token)) throw new InvalidArgumentError('--token does not look like a bot token (123456:ABC-…); copy it from @BotFather.');
      const me = await getMe(opts.token, cli.apiRoot());
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        const bot = await new TelegramStore(orm, new SecretBox(secret)).addBot({
          organizationId: org.id, botId: String(me.id), username: me.username, token: opts.token, mode: opts.mode as 'webhook' | 'polling',
        });
        cli.print({
          organization: org.slug, bot: `@${bot.username}`, id: bot.botId, mode: bot.mode,
          note: bot.mode === 'webhook' ? 'a worker sets the webhook to PUBLIC_URL/telegram/<id> within seconds' : 'a worker starts polling within seconds',
        });
      });
    });
  telegram.command('list')
    .option('--org <org>', 'only this organization (id or slug)')
    .action(async (opts: { org?: string }) => {
      await cli.withDatabase(async (orm, secret) => {
        const org = opts.org ? await new Directory(orm).organization(opts.org) : undefined;
        cli.print(await new TelegramStore(orm, new SecretBox(secret)).list(org?.id));
      });
    });
  telegram.command('test')
    .argument('<bot>', '@username or bot id')
    .action(async (ref: string) => {
      await cli.withDatabase(async (orm, secret) => {
        const store = new TelegramStore(orm, new SecretBox(secret));
        const status = (await store.list()).find((b) => b.bot_id === ref || b.username.toLowerCase() === ref.replace(/^@/, '').toLowerCase());
        if (!status) throw new DomainError('not_found', `No bot ${ref}; see \`telegram list\`.`);
        const bot = await store.byId(status.id);
        const me = await getMe(bot!.token, cli.apiRoot());
        const info = await new Telegram(bot!.token, { apiRoot: cli.apiRoot() }).getWebhookInfo();
        cli.print({ bot: `@${me.username}`, id: me.id, mode: bot!.mode, webhook: info.url || null, pendingUpdates: info.pending_update_count, lastError: info.last_error_message ?? status.last_error });
      });
    });
  telegram.command('remove')
    .argument('<bot>', '@username or bot id')
    .action(async (ref: string) => {
      await cli.withDatabase(async (orm, secret) => {
        const removed = await new TelegramStore(orm, new SecretBox(secret)).remove(ref);
        if (!removed) throw new DomainError('not_found', `No bot ${ref}; see \`telegram list\`.`);
        // Telegram would keep calling a webhook nobody answers any more.
        if (removed.mode === 'webhook') await new Telegram(removed.token, { apiRoot: cli.apiRoot() }).deleteWebhook().catch(() => undefined);
        cli.print({ removed: `@${removed.username}` });
      });
    });
}

async function getMe(token: string, apiRoot: string): Promise<{ id: number; username: string }> {
  try {
    const me = await new Telegram(token, { apiRoot }).getMe();
    return { id: me.id, username: me.username };
  } catch (err) {
    if (err instanceof TelegramError && err.code === 401) throw new DomainError('invalid', 'Telegram refused the token (401 Unauthorized): copy it again from @BotFather.', 'token');
    throw new DomainError('invalid', `Telegram could not be reached at ${apiRoot}: ${(err as Error).message}`);
  }
}
