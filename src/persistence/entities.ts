import { EntitySchema } from '@mikro-orm/core';
import { channelEntities } from './channel-entities.ts';

/*
 * The database schema, as MikroORM mappings. Relations are mapped to their primary key (`mapToPk`) so that
 * rows stay plain data: the core works with ids, and the hot intake path writes with SQL of its own.
 * Every table of tenant data carries organization_id, and every lookup filters on it.
 * Primary keys are UUIDv7 made by the application: unique across restores, and ordered by time.
 */

const uuid = { type: 'uuid', primary: true } as const;
const createdAt = { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' } as const;
const org = { kind: 'm:1', entity: 'Organization', mapToPk: true, deleteRule: 'cascade' } as const;

export interface Organization { id: string; name: string; slug: string; createdAt: Date }
export const OrganizationSchema = new EntitySchema<Organization>({
  name: 'Organization',
  tableName: 'organizations',
  properties: {
    id: uuid,
    name: { type: 'string', length: 200 },
    slug: { type: 'string', length: 100, unique: true },
    createdAt,
  },
});

export interface User {
  id: string; organization: string; email: string; name: string; role: string; locale: string; createdAt: Date;
}
export const UserSchema = new EntitySchema<User>({
  name: 'User',
  tableName: 'users',
  uniques: [{ properties: ['organization', 'email'] }],
  properties: {
    id: uuid,
    organization: org,
    email: { type: 'string', length: 320 },
    name: { type: 'string', length: 200 },
    role: { type: 'string', length: 20 },
    locale: { type: 'string', length: 5, default: 'en' },
    createdAt,
  },
});

export interface ApiKey {
  id: string; organization: string; user: string; name: string; prefix: string; tokenHash: string;
  createdAt: Date; revokedAt: Date | null; lastUsedAt: Date | null;
}
export const ApiKeySchema = new EntitySchema<ApiKey>({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: {
    id: uuid,
    organization: org,
    user: { kind: 'm:1', entity: 'User', mapToPk: true, deleteRule: 'cascade' },
    name: { type: 'string', length: 200, default: '' },
    prefix: { type: 'string', length: 20 },
    // SHA-256 of the key; the key itself is shown once and never stored.
    tokenHash: { type: 'string', length: 64, unique: true },
    createdAt,
    revokedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    lastUsedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
  },
});

export interface Category { id: string; organization: string; parent: string | null; name: string; createdAt: Date }
export const CategorySchema = new EntitySchema<Category>({
  name: 'Category',
  tableName: 'categories',
  indexes: [{
    name: 'categories_sibling_name_unique',
    // Root categories have no parent; NULLS NOT DISTINCT keeps two roots from sharing a name.
    expression: 'create unique index "categories_sibling_name_unique" on "categories" ("organization_id", "parent_id", "name") nulls not distinct',
  }],
  properties: {
    id: uuid,
    organization: org,
    parent: { kind: 'm:1', entity: 'Category', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    name: { type: 'string', length: 200 },
    createdAt,
  },
});

export interface Service { id: string; organization: string; name: string; description: string; createdAt: Date }
export const ServiceSchema = new EntitySchema<Service>({
  name: 'Service',
  tableName: 'services',
  uniques: [{ properties: ['organization', 'name'] }],
  properties: {
    id: uuid,
    organization: org,
    name: { type: 'string', length: 200 },
    description: { type: 'text', default: '' },
    createdAt,
  },
});

/** A physical thing (a lift, a printer, a room) that tickets can be about. */
export interface PhysicalObject {
  id: string; organization: string; name: string; kind: string; address: string; description: string;
  passportToken: string; photoStorageKey: string | null; photoContentType: string | null; defaultCategory: string | null; defaultService: string | null;
  defaultPriority: string | null; defaultAssignee: string | null; createdAt: Date;
}
export const PhysicalObjectSchema = new EntitySchema<PhysicalObject>({
  name: 'PhysicalObject',
  tableName: 'objects',
  properties: {
    id: uuid,
    organization: org,
    name: { type: 'string', length: 200 },
    kind: { type: 'string', length: 100, default: '' },
    address: { type: 'string', length: 500, default: '' },
    description: { type: 'text', default: '' },
    // Unguessable: it is printed in the object's QR code and Telegram deep link, and names the object there.
    passportToken: { type: 'string', length: 64, unique: true, defaultRaw: "replace((gen_random_uuid())::text, '-'::text, ''::text)" },
    photoStorageKey: { type: 'string', length: 200, nullable: true },
    photoContentType: { type: 'string', length: 100, nullable: true },
    // The request template: what tickets about this object get unless they say otherwise.
    defaultCategory: { kind: 'm:1', entity: 'Category', mapToPk: true, nullable: true, deleteRule: 'set null' },
    defaultService: { kind: 'm:1', entity: 'Service', mapToPk: true, nullable: true, deleteRule: 'set null' },
    defaultPriority: { type: 'string', length: 10, nullable: true },
    defaultAssignee: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null' },
    createdAt,
  },
});

export interface Reporter {
  id: string; organization: string; name: string; user: string | null; locale: string | null; createdAt: Date;
}
export const ReporterSchema = new EntitySchema<Reporter>({
  name: 'Reporter',
  tableName: 'reporters',
  properties: {
    id: uuid,
    organization: org,
    name: { type: 'string', length: 200, default: '' },
    user: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null', unique: true },
    locale: { type: 'string', length: 5, nullable: true },
    createdAt,
  },
});

export interface ReporterIdentity {
  id: string; organization: string; reporter: string; kind: string; address: string;
  deliverable: boolean; undeliverableReason: string | null; createdAt: Date;
}
export const ReporterIdentitySchema = new EntitySchema<ReporterIdentity>({
  name: 'ReporterIdentity',
  tableName: 'reporter_identities',
  uniques: [{ properties: ['organization', 'kind', 'address'] }],
  properties: {
    id: uuid,
    organization: org,
    reporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, deleteRule: 'cascade', index: true },
    kind: { type: 'string', length: 20 },
    address: { type: 'string', length: 320 },
    deliverable: { type: 'boolean', default: true },
    undeliverableReason: { type: 'text', nullable: true },
    createdAt,
  },
});

export interface Ticket {
  id: string; organization: string; number: number; subject: string; description: string; status: string;
  priority: string; deadline: Date | null; category: string | null; service: string | null;
  object: string | null; assignee: string | null; reporter: string; channel: string;
  followUpOf: string | null; rating: number | null; createdAt: Date; updatedAt: Date; search?: unknown;
}
export const TicketSchema = new EntitySchema<Ticket>({
  name: 'Ticket',
  tableName: 'tickets',
  uniques: [{ properties: ['organization', 'number'] }],
  indexes: [
    { properties: ['organization', 'status'] },
    { properties: ['organization', 'createdAt'] },
    { properties: ['organization', 'assignee'] },
    // The Slack channel reads changed tickets in this order.
    { properties: ['organization', 'updatedAt'] },
    { name: 'tickets_search_index', expression: 'create index "tickets_search_index" on "tickets" using gin ("search")' },
  ],
  properties: {
    id: uuid,
    organization: org,
    number: { type: 'integer' },
    subject: { type: 'string', length: 300 },
    description: { type: 'text', default: '' },
    status: { type: 'string', length: 20 },
    priority: { type: 'string', length: 10 },
    deadline: { type: 'Date', columnType: 'timestamptz', nullable: true },
    category: { kind: 'm:1', entity: 'Category', mapToPk: true, nullable: true, deleteRule: 'set null' },
    service: { kind: 'm:1', entity: 'Service', mapToPk: true, nullable: true, deleteRule: 'set null' },
    object: { kind: 'm:1', entity: 'PhysicalObject', mapToPk: true, nullable: true, deleteRule: 'set null' },
    assignee: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null' },
    reporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, index: true },
    channel: { type: 'string', length: 20 },
    // The earlier ticket this one continues (a reply that came after the reopen window, for example).
    followUpOf: { kind: 'm:1', entity: 'Ticket', mapToPk: true, nullable: true, deleteRule: 'set null' },
    // The reporter's rating of how it was handled, 1 to 5.
    rating: { type: 'smallint', nullable: true },
    createdAt,
    updatedAt: { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' },
    // 'simple' rather than a language's stemmer: subjects arrive in Russian, English and German alike.
    search: {
      type: 'string',
      columnType: 'tsvector',
      generated: "(to_tsvector('simple'::regconfig, (((subject)::text || ' '::text) || description))) stored",
      lazy: true,
      nullable: true,
    },
  },
});

export interface Message {
  id: string; organization: string; ticket: string; authorUser: string | null; authorReporter: string | null;
  visibility: string; channel: string; body: string; bodyHtml: string | null; metadata: Record<string, unknown>;
  createdAt: Date;
}
export const MessageSchema = new EntitySchema<Message>({
  name: 'Message',
  tableName: 'messages',
  indexes: [{ properties: ['ticket', 'createdAt'] }],
  properties: {
    id: uuid,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade' },
    authorUser: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null' },
    authorReporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, nullable: true, deleteRule: 'set null' },
    visibility: { type: 'string', length: 10 },
    channel: { type: 'string', length: 20 },
    body: { type: 'text' },
    // Sanitized HTML of a message that arrived as HTML (email); `body` holds its plain text.
    bodyHtml: { type: 'text', nullable: true },
    // What the channel knew about the message, e.g. an email's Message-ID and which threading rule matched.
    metadata: { type: 'json', columnType: 'jsonb', defaultRaw: "'{}'" } as never,
    createdAt,
  },
});

export interface Attachment {
  id: string; organization: string; ticket: string; message: string; filename: string; contentType: string;
  size: number; sha256: string; storageKey: string; createdAt: Date;
}
export const AttachmentSchema = new EntitySchema<Attachment>({
  name: 'Attachment',
  tableName: 'attachments',
  properties: {
    id: uuid,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade', index: true },
    message: { kind: 'm:1', entity: 'Message', mapToPk: true, deleteRule: 'cascade', index: true },
    filename: { type: 'string', length: 255 },
    contentType: { type: 'string', length: 200 },
    size: { type: 'bigint', mapToType: 'number' } as never,
    sha256: { type: 'string', length: 64 },
    storageKey: { type: 'string', length: 200 },
    createdAt,
  },
});

/** The audit trail: who changed what on a ticket, when, through which channel, before and after. */
export interface TicketEvent {
  id: string; organization: string; ticket: string; actorUser: string | null; actorReporter: string | null;
  channel: string; kind: string; changes: Record<string, unknown>; createdAt: Date;
}
export const TicketEventSchema = new EntitySchema<TicketEvent>({
  name: 'TicketEvent',
  tableName: 'ticket_events',
  indexes: [{ properties: ['ticket', 'createdAt'] }],
  properties: {
    id: uuid,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade' },
    actorUser: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'set null' },
    actorReporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, nullable: true, deleteRule: 'set null' },
    channel: { type: 'string', length: 20 },
    kind: { type: 'string', length: 40 },
    changes: { type: 'json', columnType: 'jsonb' },
    createdAt,
  },
});

/** One row per intake event processed: the database's half of idempotency. */
export interface IntakeReceipt {
  id: string; organization: string; channel: string; externalId: string; requestHash: string | null;
  ticket: string; message: string; openedTicket: boolean; createdAt: Date;
}
export const IntakeReceiptSchema = new EntitySchema<IntakeReceipt>({
  name: 'IntakeReceipt',
  tableName: 'intake_receipts',
  uniques: [{ properties: ['organization', 'channel', 'externalId'] }],
  properties: {
    id: uuid,
    organization: org,
    channel: { type: 'string', length: 20 },
    externalId: { type: 'string', length: 512 },
    requestHash: { type: 'string', length: 128, nullable: true },
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade', index: true },
    message: { kind: 'm:1', entity: 'Message', mapToPk: true, deleteRule: 'cascade', index: true },
    openedTicket: { type: 'boolean' },
    createdAt,
  },
});

/** What the core decided to tell someone, and what became of it. */
export interface Notification {
  id: string; organization: string; ticket: string | null; kind: string; recipientReporter: string | null;
  recipientUser: string | null; preferredKind: string | null; payload: Record<string, unknown>; status: string;
  deliveredKind: string | null; deliveredAddress: string | null; attempts: number; lastError: string | null;
  createdAt: Date; updatedAt: Date;
}
export const NotificationSchema = new EntitySchema<Notification>({
  name: 'Notification',
  tableName: 'notifications',
  indexes: [{ properties: ['status', 'createdAt'] }, { properties: ['ticket'] }],
  properties: {
    id: uuid,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    kind: { type: 'string', length: 40 },
    recipientReporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    recipientUser: { kind: 'm:1', entity: 'User', mapToPk: true, nullable: true, deleteRule: 'cascade' },
    preferredKind: { type: 'string', length: 20, nullable: true },
    payload: { type: 'json', columnType: 'jsonb' },
    // pending -> sent | recorded (no channel can deliver yet) | failed (tried, gave up)
    status: { type: 'string', length: 20, default: 'pending' },
    deliveredKind: { type: 'string', length: 20, nullable: true },
    deliveredAddress: { type: 'string', length: 320, nullable: true },
    attempts: { type: 'integer', default: 0 },
    lastError: { type: 'text', nullable: true },
    createdAt,
    updatedAt: { type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
});

/** People who said "I have the same problem" on a ticket: they hear what its reporter hears. */
export interface TicketFollower { id: string; organization: string; ticket: string; reporter: string; createdAt: Date }
export const TicketFollowerSchema = new EntitySchema<TicketFollower>({
  name: 'TicketFollower',
  tableName: 'ticket_followers',
  uniques: [{ properties: ['ticket', 'reporter'] }],
  properties: {
    id: uuid,
    organization: org,
    ticket: { kind: 'm:1', entity: 'Ticket', mapToPk: true, deleteRule: 'cascade' },
    reporter: { kind: 'm:1', entity: 'Reporter', mapToPk: true, deleteRule: 'cascade', index: true },
    createdAt,
  },
});

export const entities = [
  OrganizationSchema, UserSchema, ApiKeySchema, CategorySchema, ServiceSchema, PhysicalObjectSchema,
  ReporterSchema, ReporterIdentitySchema, TicketSchema, MessageSchema, AttachmentSchema, TicketEventSchema,
  IntakeReceiptSchema, NotificationSchema, TicketFollowerSchema, ...channelEntities,
];
