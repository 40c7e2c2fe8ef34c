import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { MikroORM } from '@mikro-orm/postgresql';
import { testMailboxConnection } from '../channels/email/connection-test.ts';
import { isMailKind, TEMPLATE_VARIABLES } from '../channels/email/templates.ts';
import { DomainError } from '../core/errors.ts';
import { LOCALES } from '../core/vocabulary.ts';
import { Directory } from '../persistence/directory.ts';
import { Mailboxes } from '../persistence/mailboxes.ts';
import { MailStore } from '../persistence/mail-store.ts';
import { SecretBox } from '../security/secret-box.ts';

export interface CliContext {
  withDatabase<T>(fn: (orm: MikroORM, secret: string) => Promise<T>): Promise<T>;
  print(value: unknown): void;
}

/** `mailbox …`, `mail log` and `template …`: connecting mailboxes, seeing what became of mail, wording. */
export function addMailCommands(program: Command, cli: CliContext): void {
  const mailbox = program.command('mailbox').description('mailboxes an organization receives requests at');
  mailbox.command('add')
    .requiredOption('--org <org>', 'organization id or slug')
    .requiredOption('--address <address>', 'the address reporters write to, e.g. support@example.com')
    .requiredOption('--imap <url>', 'imaps://user:password@imap.example.com:993 (imap:// for no TLS)')
    .requiredOption('--smtp <url>', 'smtps://user:password@smtp.example.com:465 (smtp://…:587 for STARTTLS)')
    .option('--plus-addressing', 'replies go to support+t.<ticket>@…; only if the server delivers such addresses')
    .option('--no-test', 'add it without logging in first')
    .action(async (opts: { org: string; address: string; imap: string; smtp: string; plusAddressing?: boolean; test: boolean }) => {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(opts.address)) throw new InvalidArgumentError(`--address "${opts.address}" is not an email address.`);
      await cli.withDatabase(async (orm, secret) => {
        const org = await new Directory(orm).organization(opts.org);
        if (opts.test) {
          const report = await testMailboxConnection(opts.imap, opts.smtp);
          if (!report.imap.ok || !report.smtp.ok) {
            throw new DomainError('invalid', `The mailbox was not added. IMAP: ${report.imap.detail}. SMTP: ${report.smtp.detail}. Fix the URL, or pass --no-test to add it anyway.`);
          }
        }
        const added = await new Mailboxes(orm, new SecretBox(secret)).add({
          organizationId: org.id, address: opts.address, imapUrl: opts.imap, smtpUrl: opts.smtp, plusAddressing: Boolean(opts.plusAddressing),
        });
        cli.print({ id: added.id, organization: org.slug, address: added.address, plusAddressing: added.plusAddressing });
      });
    });
  mailbox.command('list')
    .option('--org <org>', 'only this organization (id or slug)')
    .action(async (opts: { org?: string }) => {
      await cli.withDatabase(async (orm, secret) => {
        const org = opts.org ? await new Directory(orm).organization(opts.org) : undefined;
        cli.print(await new Mailboxes(orm, new SecretBox(secret)).list(org?.id));
      });
    });
  mailbox.command('test')
    .argument('<address>', 'the mailbox address')
    .action(async (address: string) => {
      await cli.withDatabase(async (orm, secret) => {
        const m = await new Mailboxes(orm, new SecretBox(secret)).byAddress(address);
        if (!m) throw new DomainError('not_found', `No mailbox ${address}; see \`mailbox list\`.`);
        const report = await testMailboxConnection(m.imapUrl, m.smtpUrl);
        cli.print({ address: m.address, ...report });
        if (!report.imap.ok || !report.smtp.ok) process.exitCode = 1;
      });
    });
  mailbox.command('remove')
    .argument('<address>', 'the mailbox address')
    .action(async (address: string) => {
      await cli.withDatabase(async (orm, secret) => {
        if (!(await new Mailboxes(orm, new SecretBox(secret)).remove(address))) throw new DomainError('not_found', `No mailbox ${address}; see \`mailbox list\`.`);
        cli.print({ removed: address.toLowerCase() });
      });
    });

  program.command('mail').description('what became of incoming mail').command('log')
    .requiredOption('--org <org>', 'organization id or slug')
    .option('--status <status>', 'ticket, message, automatic, bounce, held or failed')
    .option('--limit <n>', 'how many, newest first', (v) => Number.parseInt(v, 10), 50)
    .action(async (opts: { org: string; status?: string; limit: number }) => {
      const statuses = ['ticket', 'message', 'automatic', 'bounce', 'held', 'failed'];
      if (opts.status && !statuses.includes(opts.status)) throw new InvalidArgumentError(`--status must be one of ${statuses.join(', ')}.`);
      if (!(opts.limit > 0)) throw new InvalidArgumentError('--limit must be a positive number.');
      await cli.withDatabase(async (orm) => {
        const org = await new Directory(orm).organization(opts.org);
        cli.print((await new MailStore(orm).log(org.id, { status: opts.status, limit: opts.limit })).map(({ total: _t, ...row }) => row));
      });
    });

  program.command('template').description("an organization's wording of the mails it sends").command('set')
    .requiredOption('--org <org>', 'organization id or slug')
    .requiredOption('--kind <kind>', 'ticket_received, agent_replied or status_changed')
    .requiredOption('--locale <locale>', LOCALES.join(', '))
    .requiredOption('--subject <text>', 'subject; placeholders like {{number}} and {{subject}}')
    .requiredOption('--body <text>', `body; placeholders: ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(' ')}`)
    .action(async (opts: { org: string; kind: string; locale: string; subject: string; body: string }) => {
      if (!isMailKind(opts.kind)) throw new InvalidArgumentError('--kind must be ticket_received, agent_replied or status_changed.');
      if (!(LOCALES as readonly string[]).includes(opts.locale)) throw new InvalidArgumentError(`--locale must be one of ${LOCALES.join(', ')}.`);
      const unknown = [...`${opts.subject} ${opts.body}`.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!)
        .filter((v) => !(TEMPLATE_VARIABLES as readonly string[]).includes(v));
      if (unknown.length) throw new InvalidArgumentError(`Unknown placeholders: ${unknown.join(', ')}. Known: ${TEMPLATE_VARIABLES.join(', ')}.`);
      await cli.withDatabase(async (orm) => {
        const org = await new Directory(orm).organization(opts.org);
        await new MailStore(orm).setTemplate(org.id, opts.kind, opts.locale, opts.subject, opts.body);
        cli.print({ organization: org.slug, kind: opts.kind, locale: opts.locale, saved: true });
      });
    });
}
