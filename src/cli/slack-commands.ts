import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DomainError } from '../core/errors.ts';
import { LOCALES, type Locale } from '../core/vocabulary.ts';
import { connectWorkspace } from '../channels/slack/index.ts';
import { platformError, slackClient } from '../channels/slack/web-api.ts';
import { Directory } from '../persistence/directory.ts';
import { SlackStore } from '../persistence/slack-store.ts';
import { withSql } from '../persistence/sql.ts';
import { SecretBox } from '../security/secret-box.ts';
import type { CliContext } from './mail-commands.ts';

const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;

/** `slack …`: connecting an organization's Slack workspace, routing tickets to channels, checking it, removing it. */
export function addSlackCommands(program: Command, cli: CliContext & { apiUrl: () => string; publicUrl: () => string; noteMarkers: () => readonly string[]; language: () => Locale }): void {
  const slack = program.command('slack').description("an organization's Slack workspace (agents answer tickets in threads)");
  slack.command('add')
    .requiredOption('--org <org>', 'organization id or slug')
    .requiredOption('--token <token>', "the app's Bot User OAuth Token (xoxb-...)")
    .requiredOption('--signing-secret <secret>', "the app's Signing Secret (Basic Information)")
    .requiredOption('--channel <id>', 'the triage channel id (C0123ABCD); invite the app to it')
    .option('--note-markers <list>', 'comma-separated prefixes that make a thread reply an internal note (with --replace: kept unless given)')
    .option('--language <code>', `what the app says to agents in: ${LOCALES.join(', ')} (default: SLACK_LANGUAGE, else en; with --replace: kept unless given)`)
    .option('--replace', 'replace the workspace the organization has')
    .action(async (opts: { org: string; token: string; signingSecret: string; channel: string; noteMarkers?: string; language?: string; replace?: boolean }) => {
      if (!/^xoxb-/.test(opts.token)) throw new InvalidArgumentError('--token must be the Bot User OAuth Token (xoxb-...), not a user or app token.');
      if (!/^[0-9a-f]{16,64}$/i.test(opts.signingSecret)) throw new InvalidArgumentError('--signing-secret is the hex string under Basic Information → App Credentials.');
      if (!CHANNEL_ID.test(opts.channel)) throw new InvalidArgumentError('--channel takes the channel id (like C0123ABCD: open the channel details in Slack), not its name.');
      // Without a marker, every reply is public: a colleague's note would go to the customer.
      const givenMarkers = opts.noteMarkers?.split(',').map((m) => m.trim()).filter(Boolean);
      if (opts.noteMarkers !== undefined && givenMarkers!.length === 0) {
        throw new InvalidArgumentError('--note-markers needs at least one marker, like "note:,//": without one, notes meant for colleagues would reach customers.');
      }
      if (opts.language !== undefined && !(LOCALES as readonly string[]).includes(opts.language)) {
        throw new InvalidArgumentError(`--language is one of ${LOCALES.join(', ')}.`);
      }
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        const store = new SlackStore(orm, new SecretBox(secret));
        // Replacing the token or the channel keeps the settings that were not named.
        const before = opts.replace ? await store.byOrganization(org.id) : null;
        const language = (opts.language as Locale | undefined) ?? before?.language ?? cli.language();
        const markers = givenMarkers ?? before?.noteMarkers ?? [...cli.noteMarkers()];
        const ws = await connectWorkspace(store, cli.apiUrl(), {
          organizationId: org.id, botToken: opts.token, signingSecret: opts.signingSecret, triageChannel: opts.channel, noteMarkers: markers, language,
        }, { replace: opts.replace });
        // Stored either way (the app may be invited later), but a channel it cannot post to is said at once.
        const { problem } = await checkTriageChannel(slackClient(opts.token, cli.apiUrl()), ws.triageChannel);
        cli.print({
          organization: org.slug, team: `${ws.teamName} (${ws.teamId})`, triageChannel: ws.triageChannel, noteMarkers: ws.noteMarkers, language: ws.language,
          requestUrl: `${cli.publicUrl()}/slack/events`,
          note: 'set the Request URL above for Event Subscriptions (message.channels, message.groups), Interactivity and the /ticket command',
          ...(problem ? { warning: problem } : {}),
        });
      });
    });
  slack.command('manifest')
    .description("prints a Slack app manifest for this helpdesk (paste it at api.slack.com/apps → Create New App → From a manifest)")
    .option('--name <name>', 'the app name people see in Slack', 'Helpdesk')
    .action((opts: { name: string }) => cli.print(appManifest(opts.name, `${cli.publicUrl()}/slack/events`)));
  slack.command('route')
    .requiredOption('--org <org>', 'organization id or slug')
    .option('--category <category>', 'category id or name')
    .option('--service <service>', 'service id or name')
    .option('--channel <id>', 'channel id for these tickets; leave out to send them back to the triage channel')
    .action(async (opts: { org: string; category?: string; service?: string; channel?: string }) => {
      if (Boolean(opts.category) === Boolean(opts.service)) throw new InvalidArgumentError('Give either --category or --service.');
      if (opts.channel && !CHANNEL_ID.test(opts.channel)) throw new InvalidArgumentError('--channel takes the channel id (like C0123ABCD), not its name.');
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        const table = opts.category ? 'categories' : 'services';
        const ref = (opts.category ?? opts.service)!;
        const row = await withSql(orm, (sql) => sql.one<{ id: string }>(
          `SELECT id FROM ${table} WHERE organization_id = $1 AND (id::text = $2 OR lower(name) = lower($2)) LIMIT 1`, [org.id, ref]));
        if (!row) throw new DomainError('not_found', `No ${opts.category ? 'category' : 'service'} "${ref}" in ${org.slug}.`);
        await new SlackStore(orm, new SecretBox(secret)).setRoute(org.id, opts.category ? { categoryId: row.id } : { serviceId: row.id }, opts.channel ?? null);
        cli.print({ organization: org.slug, [opts.category ? 'category' : 'service']: ref, channel: opts.channel ?? 'triage channel' });
      });
    });
  slack.command('list').action(async () => {
    await cli.withDatabase(async (orm, secret) => cli.print(await new SlackStore(orm, new SecretBox(secret)).list()));
  });
  slack.command('test')
    .requiredOption('--org <org>', 'organization id or slug')
    .action(async (opts: { org: string }) => {
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        const ws = await new SlackStore(orm, new SecretBox(secret)).byOrganization(org.id);
        if (!ws) throw new DomainError('not_found', `${org.slug} has no Slack workspace; see \`slack add\`.`);
        const client = slackClient(ws.botToken, cli.apiUrl());
        const auth = await client.auth.test().catch((err) => {
          const refused = platformError(err);
          throw new DomainError('invalid', refused
            ? `Slack refused the stored token (${refused}): connect it again with slack add --replace.`
            : `Slack could not be reached at ${cli.apiUrl()} (${(err as Error).message}): check the network or SLACK_API_URL; the token was not checked.`);
        });
        const { channel, problem } = await checkTriageChannel(client, ws.triageChannel, auth.user);
        cli.print({ team: auth.team, bot: auth.user, triageChannel: { id: ws.triageChannel, ...channel }, ...(problem ? { problem } : {}) });
        // A workspace that cannot post tickets is a failed test, for scripts as for people.
        if (problem) process.exitCode = 1;
      });
    });
  slack.command('remove')
    .requiredOption('--org <org>', 'organization id or slug')
    .action(async (opts: { org: string }) => {
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        if (!(await new SlackStore(orm, new SecretBox(secret)).remove(org.id))) throw new DomainError('not_found', `${org.slug} has no Slack workspace.`);
        cli.print({ removed: org.slug });
      });
    });
}

/** Whether the app can see the triage channel and is in it; what to do when not. */
async function checkTriageChannel(client: ReturnType<typeof slackClient>, channelId: string, botName?: string) {
  const channel = await client.conversations.info({ channel: channelId }).then(
    (r) => ({ ok: true, name: (r.channel as { name?: string })?.name, member: Boolean((r.channel as { is_member?: boolean })?.is_member) }),
    (err) => ({ ok: false, error: platformError(err) ?? (err as Error).message }));
  const problem = !channel.ok
    ? `Slack cannot show the triage channel ${channelId} (${'error' in channel ? channel.error : ''}): check the id, and that the app has the channels:read scope.`
    : !('member' in channel && channel.member)
      ? `The app is not in the triage channel: invite it there (/invite @${botName ?? 'the app'}), or it cannot post tickets.`
      : undefined;
  return { channel, problem };
}

/**
 * The app this channel expects: the events and scopes it uses, the /ticket command, the Create ticket
 * shortcut, and one Request URL for all of them.
 */
export function appManifest(name: string, requestUrl: string): unknown {
  return {
    display_information: { name, description: 'Tickets from email, Telegram, QR codes and the web, answered in threads.' },
    features: {
      bot_user: { display_name: name, always_online: true },
      slash_commands: [{ command: '/ticket', url: requestUrl, description: 'Show a ticket, or create one', usage_hint: '1042 | new', should_escape: false }],
      shortcuts: [{ name: 'Create ticket', type: 'message', callback_id: 'create_ticket', description: 'Turn this message into a ticket' }],
    },
    oauth_config: {
      scopes: { bot: ['chat:write', 'chat:write.public', 'channels:history', 'groups:history', 'channels:read', 'groups:read', 'files:read', 'files:write', 'reactions:write', 'users:read', 'users:read.email', 'commands'] },
    },
    settings: {
      event_subscriptions: { request_url: requestUrl, bot_events: ['message.channels', 'message.groups'] },
      interactivity: { is_enabled: true, request_url: requestUrl },
      org_deploy_enabled: false,
      socket_mode_enabled: false,
      token_rotation_enabled: false,
    },
  };
}
