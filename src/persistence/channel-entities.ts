import { EntitySchema } from '@mikro-orm/core';

/*
 * The tables of the channels (email, Telegram, web forms, links between channels), apart from the core's.
 * The same conventions as entities.ts: relations mapped to their primary key, organization_id on every row.
 */

const uuid = { type: 'uuid', primary: true } as const;
const createdAt = { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' } as const;
const org = { kind: 'm:1', entity: 'Organization', mapToPk: true, deleteRule: 'cascade' } as const;

/** A mailbox an organization receives requests at (IMAP) and answers from (SMTP). Passwords are encrypted. */
export interface Mailbox {
  id: string; organization: string; address: string; imapUrl: string; smtpUrl: string; plusAddressing: boolean;
  enabled: boolean; uidValidity: string | null; lastUid: number; lastError: string | null; lastSyncAt: Date | null;
  createdAt: Date;
}
export const MailboxSchema = new EntitySchema<Mailbox>({
  name: 'Mailbox',
  tableName: 'mailboxes',
  properties: {
    id: uuid,
    organization: org,
    address: { type: 'string', length: 320, unique: true },
    // Connection URLs with the password encrypted in place (see secret-box.ts).
    imapUrl: { type: 'text' },
    smtpUrl: { type: 'text' },
    plusAddressing: { type: 'boolean', default: false },
    enabled: { type: 'boolean', default: true },
    // The IMAP checkpoint: messages up to lastUid of this UIDVALIDITY have been taken.
    uidValidity: { type: 'string', length: 20, nullable: true },
    lastUid: { type: 'bigint', mapToType: 'number', default: 0 } as never,
    lastError: { type: 'text', nullable: true },
    lastSyncAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    createdAt,
  },
});

/**
 * Every mail taken from a mailbox and what became of it: a ticket, a message, or why not (automatic mail,
 * bounce, held by the sender limit, failed to parse). One row per Message-ID and organization.
 */
export interface InboundMail {
  id: string; organization: string; mailbox: string | null; messageIdHeader: string; fromAddress: string;
  subject: string; status: string; reason: string | null; threadRule: string | null; ticket: string | null;
  rawStorageKey: string | null; createdAt: Date;
}
export const InboundMailSchema = new EntitySchema<InboundMail>({
  name: 'InboundMail',
  tableName: 'inbound_mails',
  uniques: [{ properties: ['organization', 'messageIdHeader'] }],
  indexes: [{ properties: ['organization', 'fromAddress', 'createdAt'] }, { properties: ['organization', 'status', 'createdAt'] }],
  properties: {
    id: uuid,
    organization: org,
    mailbox: { kind: 'm:1', entity: 'Mailbox', mapToPk: true, nullable: true, deleteRule: 'set null' },
    messageIdHeader: { type: 'string', length: 998 },
    fromAddress: { type: 'string', length: 320 },
    subject: { type: 'text', default: '' },
    // ticket | message | automatic | bounce | held | failed
    status: { type: 'string', length: 20 },
    reason: { type: 'text', nullable: true },
    threadRule: { type: 'string', length: 40, nullable: true },
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, nullable: true, deleteRule: 'set null' },
    rawStorageKey: { type: 'string', length: 200, nullable: true },
    createdAt,
  },
});

/** The Message-IDs of a ticket's mails, received and sent, which replies name in In-Reply-To/References. */
export interface MailThreadId {
  id: string; organization: string; messageIdHeader: string; ticket: string; direction: string; createdAt: Date;
}
export const MailThreadIdSchema = new EntitySchema<MailThreadId>({
  name: 'MailThreadId',
  tableName: 'mail_thread_ids',
  uniques: [{ properties: ['organization', 'messageIdHeader'] }],
  properties: {
    id: uuid,
    organization: org,
    messageIdHeader: { type: 'string', length: 998 },
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade', index: true },
    direction: { type: 'string', length: 3 },
    createdAt,
  },
});

/** An organization's own wording of a notification, replacing the built-in text for one language. */
export interface MessageTemplate {
  id: string; organization: string; kind: string; locale: string; subject: string; body: string; createdAt: Date;
}
export const MessageTemplateSchema = new EntitySchema<MessageTemplate>({
  name: 'MessageTemplate',
  tableName: 'message_templates',
  uniques: [{ properties: ['organization', 'kind', 'locale'] }],
  properties: {
    id: uuid,
    organization: org,
    kind: { type: 'string', length: 40 },
    locale: { type: 'string', length: 5 },
    subject: { type: 'text' },
    body: { type: 'text' },
    createdAt,
  },
});

/** A Telegram bot of an organization. The token is sealed like mailbox passwords. */
export interface TelegramBot {
  id: string; organization: string; botId: string; username: string; token: string; webhookSecret: string;
  mode: string; updateOffset: string; enabled: boolean; lastError: string | null; createdAt: Date;
}
export const TelegramBotSchema = new EntitySchema<TelegramBot>({
  name: 'TelegramBot',
  tableName: 'telegram_bots',
  properties: {
    id: uuid,
    organization: org,
    // Telegram's id of the bot (the number before the colon of its token).
    botId: { type: 'bigint', unique: true },
    username: { type: 'string', length: 64 },
    token: { type: 'text' },
    // What Telegram must send in X-Telegram-Bot-Api-Secret-Token with every webhook call.
    webhookSecret: { type: 'string', length: 64 },
    // webhook | polling
    mode: { type: 'string', length: 10 },
    // Long polling: the next update_id to ask for.
    updateOffset: { type: 'bigint', default: 0 },
    enabled: { type: 'boolean', default: true },
    lastError: { type: 'text', nullable: true },
    createdAt,
  },
});

/**
 * Telegram messages that belong to a ticket, in and out: a reporter's reply to one of them names the ticket,
 * an edit finds the message it changes, and answers are sent as replies to the bot's last message.
 */
export interface TelegramMessage {
  id: string; organization: string; bot: string; chatId: string; telegramMessageId: number; ticket: string;
  message: string | null; direction: string; createdAt: Date;
}
export const TelegramMessageSchema = new EntitySchema<TelegramMessage>({
  name: 'TelegramMessage',
  tableName: 'telegram_messages',
  uniques: [{ properties: ['bot', 'chatId', 'telegramMessageId'] }],
  indexes: [{ properties: ['ticket', 'createdAt'] }],
  properties: {
    id: uuid,
    organization: org,
    bot: { kind: 'm:1', entity: 'TelegramBot', mapToPk: true, deleteRule: 'cascade' },
    chatId: { type: 'bigint' },
    telegramMessageId: { type: 'bigint', mapToType: 'number' } as never,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade' },
    // Our message it carried (an inbound message), so that an edit in Telegram changes it.
    message: { kind: 'm:1', entity: 'Message', mapToPk: true, nullable: true, deleteRule: 'set null' },
    direction: { type: 'string', length: 3 },
    createdAt,
  },
});

/**
 * One-time codes that link a chat (Telegram, later others) to a reporter who exists on another channel, so
 * one person stays one reporter. Only the code's hash is kept.
 */
export interface ReporterLinkCode {
  id: string; organization: string; reporter: string; codeHash: string; expiresAt: Date; usedAt: Date | null; createdAt: Date;
}
export const ReporterLinkCodeSchema = new EntitySchema<ReporterLinkCode>({
  name: 'ReporterLinkCode',
  tableName: 'reporter_link_codes',
  properties: {
    id: uuid,
    organization: org,
    reporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, deleteRule: 'cascade', index: true },
    codeHash: { type: 'string', length: 64, unique: true },
    expiresAt: { type: 'Date', columnType: 'timestamptz' },
    usedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    createdAt,
  },
});

/** A request form an organization puts on its own website (an iframe or a script tag), with the fields it chose. */
export interface WebForm { id: string; organization: string; token: string; title: string; fields: string[]; createdAt: Date }
export const WebFormSchema = new EntitySchema<WebForm>({
  name: 'WebForm',
  tableName: 'web_forms',
  properties: {
    id: uuid,
    organization: org,
    token: { type: 'string', length: 64, unique: true },
    title: { type: 'string', length: 200, default: '' },
    fields: { type: 'json', columnType: 'jsonb' },
    createdAt,
  },
});

/**
 * A Slack workspace an organization connected (its own Slack app): the bot token and signing secret sealed
 * under APP_SECRET, the triage channel, and how far the ticket feed has been read.
 */
export interface SlackWorkspace {
  id: string; organization: string; teamId: string; teamName: string; botUserId: string; botToken: string;
  signingSecret: string; triageChannel: string; noteMarkers: string[]; language: string; syncCursor: Date; enabled: boolean;
  lastError: string | null; createdAt: Date;
}
export const SlackWorkspaceSchema = new EntitySchema<SlackWorkspace>({
  name: 'SlackWorkspace',
  tableName: 'slack_workspaces',
  properties: {
    id: uuid,
    // One workspace per organization: a ticket has one place in Slack.
    organization: { ...org, unique: true },
    teamId: { type: 'string', length: 32, unique: true },
    teamName: { type: 'string', length: 200, default: '' },
    botUserId: { type: 'string', length: 32 },
    botToken: { type: 'text' },
    signingSecret: { type: 'text' },
    triageChannel: { type: 'string', length: 32 },
    noteMarkers: { type: 'json', columnType: 'jsonb' },
    // What the app says to agents in (en, ru, de): one language for the workspace's shared channels.
    language: { type: 'string', length: 5, default: 'en' },
    // Tickets changed after this moment (less a margin for transactions still committing) are synced.
    syncCursor: { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' },
    enabled: { type: 'boolean', default: true },
    lastError: { type: 'text', nullable: true },
    createdAt,
  },
});

/** Tickets of a category or a service that go to a channel of their own instead of the triage channel. */
export interface SlackRoute { id: string; organization: string; category: string | null; service: string | null; channelId: string; createdAt: Date }
export const SlackRouteSchema = new EntitySchema<SlackRoute>({
  name: 'SlackRoute',
  tableName: 'slack_routes',
  uniques: [{ properties: ['organization', 'category', 'service'] }],
  properties: {
    id: uuid,
    organization: org,
    category: { kind: 'm:1', entity: 'Category', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    service: { kind: 'm:1', entity: 'Service', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    channelId: { type: 'string', length: 32 },
    createdAt,
  },
});

/** The Slack message that stands for a ticket; its thread carries the conversation. */
export interface SlackThread {
  ticket: string; organization: string; channelId: string; ts: string; renderedHash: string; lastError: string | null;
  createdAt: Date; updatedAt: Date;
}
export const SlackThreadSchema = new EntitySchema<SlackThread>({
  name: 'SlackThread',
  tableName: 'slack_threads',
  uniques: [{ properties: ['channelId', 'ts'] }],
  properties: {
    ticket: { kind: '1:1', entity: 'Ticket', mapToPk: true, primary: true, deleteRule: 'cascade', owner: true } as never,
    organization: org,
    channelId: { type: 'string', length: 32 },
    ts: { type: 'string', length: 32 },
    // Hash of what the message shows, so that an unchanged ticket costs no chat.update.
    renderedHash: { type: 'string', length: 64 },
    lastError: { type: 'text', nullable: true },
    createdAt,
    updatedAt: { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});

/**
 * Ticket messages posted into their ticket's thread ('out'), so that each is posted once. (Replies taken from a
 * thread carry their channel and ts in the message's metadata instead, written with the message.)
 */
export interface SlackPost {
  message: string; organization: string; ticket: string; channelId: string; ts: string; direction: string; createdAt: Date;
}
export const SlackPostSchema = new EntitySchema<SlackPost>({
  name: 'SlackPost',
  tableName: 'slack_posts',
  properties: {
    message: { kind: '1:1', entity: 'Message', mapToPk: true, primary: true, deleteRule: 'cascade', owner: true } as never,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade', index: true },
    channelId: { type: 'string', length: 32 },
    ts: { type: 'string', length: 32 },
    direction: { type: 'string', length: 3 },
    createdAt,
  },
});

export const channelEntities = [
  MailboxSchema, InboundMailSchema, MailThreadIdSchema, MessageTemplateSchema, TelegramBotSchema, TelegramMessageSchema,
  ReporterLinkCodeSchema, WebFormSchema, SlackWorkspaceSchema, SlackRouteSchema, SlackThreadSchema, SlackPostSchema,
];
