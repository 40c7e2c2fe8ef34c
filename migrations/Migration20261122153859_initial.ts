import { Migration } from '@mikro-orm/migrations';

/** The whole first schema: organizations, people, tickets and their trail, intake receipts, notifications. */
export class Migration20261122153859_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "organizations" ("id" uuid not null, "name" varchar(200) not null, "slug" varchar(100) not null, "created_at" timestamptz not null default now(), constraint "organizations_pkey" primary key ("id"));`);
    this.addSql(`alter table "organizations" add constraint "organizations_slug_unique" unique ("slug");`);

    this.addSql(`create table "categories" ("id" uuid not null, "organization_id" uuid not null, "parent_id" uuid null, "name" varchar(200) not null, "created_at" timestamptz not null default now(), constraint "categories_pkey" primary key ("id"));`);
    this.addSql(`create unique index "categories_sibling_name_unique" on "categories" ("organization_id", "parent_id", "name") nulls not distinct;`);

    this.addSql(`create table "objects" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(200) not null, "kind" varchar(100) not null default '', "address" varchar(500) not null default '', "description" text not null default '', "created_at" timestamptz not null default now(), constraint "objects_pkey" primary key ("id"));`);

    this.addSql(`create table "services" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(200) not null, "description" text not null default '', "created_at" timestamptz not null default now(), constraint "services_pkey" primary key ("id"));`);
    this.addSql(`alter table "services" add constraint "services_organization_id_name_unique" unique ("organization_id", "name");`);

    this.addSql(`create table "users" ("id" uuid not null, "organization_id" uuid not null, "email" varchar(320) not null, "name" varchar(200) not null, "role" varchar(20) not null, "locale" varchar(5) not null default 'en', "created_at" timestamptz not null default now(), constraint "users_pkey" primary key ("id"));`);
    this.addSql(`alter table "users" add constraint "users_organization_id_email_unique" unique ("organization_id", "email");`);

    this.addSql(`create table "reporters" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(200) not null default '', "user_id" uuid null, "locale" varchar(5) null, "created_at" timestamptz not null default now(), constraint "reporters_pkey" primary key ("id"));`);
    this.addSql(`alter table "reporters" add constraint "reporters_user_id_unique" unique ("user_id");`);

    this.addSql(`create table "tickets" ("id" uuid not null, "organization_id" uuid not null, "number" int not null, "subject" varchar(300) not null, "description" text not null default '', "status" varchar(20) not null, "priority" varchar(10) not null, "deadline" timestamptz null, "category_id" uuid null, "service_id" uuid null, "object_id" uuid null, "assignee_id" uuid null, "reporter_id" uuid not null, "channel" varchar(20) not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "search" tsvector generated always as (to_tsvector('simple'::regconfig, (((subject)::text || ' '::text) || description))) stored null, constraint "tickets_pkey" primary key ("id"));`);
    this.addSql(`create index "tickets_reporter_id_index" on "tickets" ("reporter_id");`);
    this.addSql(`create index "tickets_organization_id_status_index" on "tickets" ("organization_id", "status");`);
    this.addSql(`create index "tickets_organization_id_created_at_index" on "tickets" ("organization_id", "created_at");`);
    this.addSql(`create index "tickets_organization_id_assignee_id_index" on "tickets" ("organization_id", "assignee_id");`);
    this.addSql(`create index "tickets_search_index" on "tickets" using gin ("search");`);
    this.addSql(`alter table "tickets" add constraint "tickets_organization_id_number_unique" unique ("organization_id", "number");`);

    this.addSql(`create table "ticket_events" ("id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid not null, "actor_user_id" uuid null, "actor_reporter_id" uuid null, "channel" varchar(20) not null, "kind" varchar(40) not null, "changes" jsonb not null, "created_at" timestamptz not null default now(), constraint "ticket_events_pkey" primary key ("id"));`);
    this.addSql(`create index "ticket_events_ticket_id_created_at_index" on "ticket_events" ("ticket_id", "created_at");`);

    this.addSql(`create table "reporter_identities" ("id" uuid not null, "organization_id" uuid not null, "reporter_id" uuid not null, "kind" varchar(20) not null, "address" varchar(320) not null, "deliverable" boolean not null default true, "undeliverable_reason" text null, "created_at" timestamptz not null default now(), constraint "reporter_identities_pkey" primary key ("id"));`);
    this.addSql(`create index "reporter_identities_reporter_id_index" on "reporter_identities" ("reporter_id");`);
    this.addSql(`alter table "reporter_identities" add constraint "reporter_identities_organization_id_kind_address_unique" unique ("organization_id", "kind", "address");`);

    this.addSql(`create table "notifications" ("id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid null, "kind" varchar(40) not null, "recipient_reporter_id" uuid null, "recipient_user_id" uuid null, "preferred_kind" varchar(20) null, "payload" jsonb not null, "status" varchar(20) not null default 'pending', "delivered_kind" varchar(20) null, "delivered_address" varchar(320) null, "attempts" int not null default 0, "last_error" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "notifications_pkey" primary key ("id"));`);
    this.addSql(`create index "notifications_status_created_at_index" on "notifications" ("status", "created_at");`);
    this.addSql(`create index "notifications_ticket_id_index" on "notifications" ("ticket_id");`);

    this.addSql(`create table "messages" ("id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid not null, "author_user_id" uuid null, "author_reporter_id" uuid null, "visibility" varchar(10) not null, "channel" varchar(20) not null, "body" text not null, "created_at" timestamptz not null default now(), constraint "messages_pkey" primary key ("id"));`);
    this.addSql(`create index "messages_ticket_id_created_at_index" on "messages" ("ticket_id", "created_at");`);

    this.addSql(`create table "intake_receipts" ("id" uuid not null, "organization_id" uuid not null, "channel" varchar(20) not null, "external_id" varchar(512) not null, "request_hash" varchar(128) null, "ticket_id" uuid not null, "message_id" uuid not null, "opened_ticket" boolean not null, "created_at" timestamptz not null default now(), constraint "intake_receipts_pkey" primary key ("id"));`);
    this.addSql(`create index "intake_receipts_ticket_id_index" on "intake_receipts" ("ticket_id");`);
    this.addSql(`create index "intake_receipts_message_id_index" on "intake_receipts" ("message_id");`);
    this.addSql(`alter table "intake_receipts" add constraint "intake_receipts_organization_id_channel_external_id_unique" unique ("organization_id", "channel", "external_id");`);

    this.addSql(`create table "attachments" ("id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid not null, "message_id" uuid not null, "filename" varchar(255) not null, "content_type" varchar(200) not null, "size" bigint not null, "sha256" varchar(64) not null, "storage_key" varchar(200) not null, "created_at" timestamptz not null default now(), constraint "attachments_pkey" primary key ("id"));`);
    this.addSql(`create index "attachments_ticket_id_index" on "attachments" ("ticket_id");`);
    this.addSql(`create index "attachments_message_id_index" on "attachments" ("message_id");`);

    this.addSql(`create table "api_keys" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "name" varchar(200) not null default '', "prefix" varchar(20) not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null default now(), "revoked_at" timestamptz null, "last_used_at" timestamptz null, constraint "api_keys_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_token_hash_unique" unique ("token_hash");`);

    this.addSql(`alter table "categories" add constraint "categories_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "categories" add constraint "categories_parent_id_foreign" foreign key ("parent_id") references "categories" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "objects" add constraint "objects_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "services" add constraint "services_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "users" add constraint "users_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "reporters" add constraint "reporters_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "reporters" add constraint "reporters_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "tickets" add constraint "tickets_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "tickets" add constraint "tickets_category_id_foreign" foreign key ("category_id") references "categories" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "tickets" add constraint "tickets_service_id_foreign" foreign key ("service_id") references "services" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "tickets" add constraint "tickets_object_id_foreign" foreign key ("object_id") references "objects" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "tickets" add constraint "tickets_assignee_id_foreign" foreign key ("assignee_id") references "users" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "tickets" add constraint "tickets_reporter_id_foreign" foreign key ("reporter_id") references "reporters" ("id") on update cascade;`);

    this.addSql(`alter table "ticket_events" add constraint "ticket_events_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "ticket_events" add constraint "ticket_events_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "ticket_events" add constraint "ticket_events_actor_user_id_foreign" foreign key ("actor_user_id") references "users" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "ticket_events" add constraint "ticket_events_actor_reporter_id_foreign" foreign key ("actor_reporter_id") references "reporters" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "reporter_identities" add constraint "reporter_identities_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "reporter_identities" add constraint "reporter_identities_reporter_id_foreign" foreign key ("reporter_id") references "reporters" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "notifications" add constraint "notifications_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "notifications" add constraint "notifications_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "notifications" add constraint "notifications_recipient_reporter_id_foreign" foreign key ("recipient_reporter_id") references "reporters" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "notifications" add constraint "notifications_recipient_user_id_foreign" foreign key ("recipient_user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "messages" add constraint "messages_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "messages" add constraint "messages_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "messages" add constraint "messages_author_user_id_foreign" foreign key ("author_user_id") references "users" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "messages" add constraint "messages_author_reporter_id_foreign" foreign key ("author_reporter_id") references "reporters" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "intake_receipts" add constraint "intake_receipts_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "intake_receipts" add constraint "intake_receipts_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "intake_receipts" add constraint "intake_receipts_message_id_foreign" foreign key ("message_id") references "messages" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "attachments" add constraint "attachments_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attachments" add constraint "attachments_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attachments" add constraint "attachments_message_id_foreign" foreign key ("message_id") references "messages" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "api_keys" add constraint "api_keys_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    // Each organization's ticket-number sequence (tn_<id>), made on demand, goes with the tables.
    this.addSql(`do $$ declare s record; begin for s in select sequencename from pg_sequences where schemaname = 'public' and sequencename like 'tn\\_%' loop execute format('drop sequence %I', s.sequencename); end loop; end $$;`);
    this.addSql(`drop table if exists "api_keys" cascade;`);
    this.addSql(`drop table if exists "attachments" cascade;`);
    this.addSql(`drop table if exists "intake_receipts" cascade;`);
    this.addSql(`drop table if exists "messages" cascade;`);
    this.addSql(`drop table if exists "notifications" cascade;`);
    this.addSql(`drop table if exists "reporter_identities" cascade;`);
    this.addSql(`drop table if exists "ticket_events" cascade;`);
    this.addSql(`drop table if exists "tickets" cascade;`);
    this.addSql(`drop table if exists "reporters" cascade;`);
    this.addSql(`drop table if exists "users" cascade;`);
    this.addSql(`drop table if exists "services" cascade;`);
    this.addSql(`drop table if exists "objects" cascade;`);
    this.addSql(`drop table if exists "categories" cascade;`);
    this.addSql(`drop table if exists "organizations" cascade;`);
  }
}
