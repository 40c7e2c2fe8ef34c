import { Migration } from '@mikro-orm/migrations';

/** Email: mailboxes, the log of mails taken, Message-IDs of threads, templates; HTML and metadata on messages; linked tickets. */
export class Migration20261122175527_email extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "message_templates" ("id" uuid not null, "organization_id" uuid not null, "kind" varchar(40) not null, "locale" varchar(5) not null, "subject" text not null, "body" text not null, "created_at" timestamptz not null default now(), constraint "message_templates_pkey" primary key ("id"));`);
    this.addSql(`alter table "message_templates" add constraint "message_templates_organization_id_kind_locale_unique" unique ("organization_id", "kind", "locale");`);

    this.addSql(`create table "mailboxes" ("id" uuid not null, "organization_id" uuid not null, "address" varchar(320) not null, "imap_url" text not null, "smtp_url" text not null, "plus_addressing" boolean not null default false, "enabled" boolean not null default true, "uid_validity" varchar(20) null, "last_uid" bigint not null default 0, "last_error" text null, "last_sync_at" timestamptz null, "created_at" timestamptz not null default now(), constraint "mailboxes_pkey" primary key ("id"));`);
    this.addSql(`alter table "mailboxes" add constraint "mailboxes_address_unique" unique ("address");`);

    this.addSql(`create table "mail_thread_ids" ("id" uuid not null, "organization_id" uuid not null, "message_id_header" varchar(998) not null, "ticket_id" uuid not null, "direction" varchar(3) not null, "created_at" timestamptz not null default now(), constraint "mail_thread_ids_pkey" primary key ("id"));`);
    this.addSql(`create index "mail_thread_ids_ticket_id_index" on "mail_thread_ids" ("ticket_id");`);
    this.addSql(`alter table "mail_thread_ids" add constraint "mail_thread_ids_organization_id_message_id_header_unique" unique ("organization_id", "message_id_header");`);

    this.addSql(`create table "inbound_mails" ("id" uuid not null, "organization_id" uuid not null, "mailbox_id" uuid null, "message_id_header" varchar(998) not null, "from_address" varchar(320) not null, "subject" text not null default '', "status" varchar(20) not null, "reason" text null, "thread_rule" varchar(40) null, "ticket_id" uuid null, "raw_storage_key" varchar(200) null, "created_at" timestamptz not null default now(), constraint "inbound_mails_pkey" primary key ("id"));`);
    this.addSql(`create index "inbound_mails_organization_id_from_address_created_at_index" on "inbound_mails" ("organization_id", "from_address", "created_at");`);
    this.addSql(`create index "inbound_mails_organization_id_status_created_at_index" on "inbound_mails" ("organization_id", "status", "created_at");`);
    this.addSql(`alter table "inbound_mails" add constraint "inbound_mails_organization_id_message_id_header_unique" unique ("organization_id", "message_id_header");`);

    this.addSql(`alter table "message_templates" add constraint "message_templates_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "mailboxes" add constraint "mailboxes_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "mail_thread_ids" add constraint "mail_thread_ids_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "mail_thread_ids" add constraint "mail_thread_ids_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "inbound_mails" add constraint "inbound_mails_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "inbound_mails" add constraint "inbound_mails_mailbox_id_foreign" foreign key ("mailbox_id") references "mailboxes" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "inbound_mails" add constraint "inbound_mails_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "tickets" add column "follow_up_of_id" uuid null;`);
    this.addSql(`alter table "tickets" add constraint "tickets_follow_up_of_id_foreign" foreign key ("follow_up_of_id") references "tickets" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "messages" add column "body_html" text null, add column "metadata" jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "inbound_mails" drop constraint "inbound_mails_mailbox_id_foreign";`);

    this.addSql(`drop table if exists "message_templates" cascade;`);

    this.addSql(`drop table if exists "mailboxes" cascade;`);

    this.addSql(`drop table if exists "mail_thread_ids" cascade;`);

    this.addSql(`drop table if exists "inbound_mails" cascade;`);

    this.addSql(`alter table "tickets" drop constraint "tickets_follow_up_of_id_foreign";`);

    this.addSql(`alter table "messages" drop column "body_html", drop column "metadata";`);

    this.addSql(`alter table "tickets" drop column "follow_up_of_id";`);
  }

}
