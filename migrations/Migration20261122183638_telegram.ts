import { Migration } from '@mikro-orm/migrations';

/** Telegram: bots of organizations (sealed tokens, webhook secrets, polling offsets), the chat messages of tickets; ticket ratings; one-time codes linking a chat to a reporter; passport tokens of objects. */
export class Migration20261122183638_telegram extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "telegram_bots" ("id" uuid not null, "organization_id" uuid not null, "bot_id" bigint not null, "username" varchar(64) not null, "token" text not null, "webhook_secret" varchar(64) not null, "mode" varchar(10) not null, "update_offset" bigint not null default 0, "enabled" boolean not null default true, "last_error" text null, "created_at" timestamptz not null default now(), constraint "telegram_bots_pkey" primary key ("id"));`);
    this.addSql(`alter table "telegram_bots" add constraint "telegram_bots_bot_id_unique" unique ("bot_id");`);

    this.addSql(`create table "telegram_messages" ("id" uuid not null, "organization_id" uuid not null, "bot_id" uuid not null, "chat_id" bigint not null, "telegram_message_id" bigint not null, "ticket_id" uuid not null, "message_id" uuid null, "direction" varchar(3) not null, "created_at" timestamptz not null default now(), constraint "telegram_messages_pkey" primary key ("id"));`);
    this.addSql(`create index "telegram_messages_ticket_id_created_at_index" on "telegram_messages" ("ticket_id", "created_at");`);
    this.addSql(`alter table "telegram_messages" add constraint "telegram_messages_bot_id_chat_id_telegram_message_id_unique" unique ("bot_id", "chat_id", "telegram_message_id");`);

    this.addSql(`alter table "telegram_bots" add constraint "telegram_bots_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "telegram_messages" add constraint "telegram_messages_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "telegram_messages" add constraint "telegram_messages_bot_id_foreign" foreign key ("bot_id") references "telegram_bots" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "telegram_messages" add constraint "telegram_messages_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "telegram_messages" add constraint "telegram_messages_message_id_foreign" foreign key ("message_id") references "messages" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "tickets" add column "rating" smallint null;`);

    this.addSql(`create table "reporter_link_codes" ("id" uuid not null, "organization_id" uuid not null, "reporter_id" uuid not null, "code_hash" varchar(64) not null, "expires_at" timestamptz not null, "used_at" timestamptz null, "created_at" timestamptz not null default now(), constraint "reporter_link_codes_pkey" primary key ("id"));`);
    this.addSql(`create index "reporter_link_codes_reporter_id_index" on "reporter_link_codes" ("reporter_id");`);
    this.addSql(`alter table "reporter_link_codes" add constraint "reporter_link_codes_code_hash_unique" unique ("code_hash");`);
    this.addSql(`alter table "reporter_link_codes" add constraint "reporter_link_codes_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "reporter_link_codes" add constraint "reporter_link_codes_reporter_id_foreign" foreign key ("reporter_id") references "reporters" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "objects" add column "passport_token" varchar(64) not null default replace(gen_random_uuid()::text, '-', '');`);
    this.addSql(`alter table "objects" add constraint "objects_passport_token_unique" unique ("passport_token");`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "telegram_messages" drop constraint "telegram_messages_bot_id_foreign";`);

    this.addSql(`drop table if exists "telegram_bots" cascade;`);

    this.addSql(`drop table if exists "telegram_messages" cascade;`);

    this.addSql(`alter table "tickets" drop column "rating";`);

    this.addSql(`drop table if exists "reporter_link_codes" cascade;`);

    this.addSql(`alter table "objects" drop constraint "objects_passport_token_unique";`);
    this.addSql(`alter table "objects" drop column "passport_token";`);
  }

}
