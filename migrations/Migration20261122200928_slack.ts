import { Migration } from '@mikro-orm/migrations';

export class Migration20261122200928_slack extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "slack_routes" ("id" uuid not null, "organization_id" uuid not null, "category_id" uuid null, "service_id" uuid null, "channel_id" varchar(32) not null, "created_at" timestamptz not null default now(), constraint "slack_routes_pkey" primary key ("id"));`);
    this.addSql(`alter table "slack_routes" add constraint "slack_routes_organization_id_category_id_service_id_unique" unique ("organization_id", "category_id", "service_id");`);

    this.addSql(`create table "slack_workspaces" ("id" uuid not null, "organization_id" uuid not null, "team_id" varchar(32) not null, "team_name" varchar(200) not null default '', "bot_user_id" varchar(32) not null, "bot_token" text not null, "signing_secret" text not null, "triage_channel" varchar(32) not null, "note_markers" jsonb not null, "language" varchar(5) not null default 'en', "sync_cursor" timestamptz not null default now(), "enabled" boolean not null default true, "last_error" text null, "created_at" timestamptz not null default now(), constraint "slack_workspaces_pkey" primary key ("id"));`);
    this.addSql(`alter table "slack_workspaces" add constraint "slack_workspaces_organization_id_unique" unique ("organization_id");`);
    this.addSql(`alter table "slack_workspaces" add constraint "slack_workspaces_team_id_unique" unique ("team_id");`);

    this.addSql(`create table "slack_threads" ("ticket_id" uuid not null, "organization_id" uuid not null, "channel_id" varchar(32) not null, "ts" varchar(32) not null, "rendered_hash" varchar(64) not null, "last_error" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "slack_threads_pkey" primary key ("ticket_id"));`);
    this.addSql(`alter table "slack_threads" add constraint "slack_threads_channel_id_ts_unique" unique ("channel_id", "ts");`);

    this.addSql(`create table "slack_posts" ("message_id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid not null, "channel_id" varchar(32) not null, "ts" varchar(32) not null, "direction" varchar(3) not null, "created_at" timestamptz not null default now(), constraint "slack_posts_pkey" primary key ("message_id"));`);
    this.addSql(`create index "slack_posts_ticket_id_index" on "slack_posts" ("ticket_id");`);

    this.addSql(`alter table "slack_routes" add constraint "slack_routes_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "slack_routes" add constraint "slack_routes_category_id_foreign" foreign key ("category_id") references "categories" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "slack_routes" add constraint "slack_routes_service_id_foreign" foreign key ("service_id") references "services" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "slack_workspaces" add constraint "slack_workspaces_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "slack_threads" add constraint "slack_threads_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "slack_threads" add constraint "slack_threads_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "slack_posts" add constraint "slack_posts_message_id_foreign" foreign key ("message_id") references "messages" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "slack_posts" add constraint "slack_posts_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "slack_posts" add constraint "slack_posts_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);

    this.addSql(`create index "tickets_organization_id_updated_at_index" on "tickets" ("organization_id", "updated_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "slack_routes" cascade;`);

    this.addSql(`drop table if exists "slack_workspaces" cascade;`);

    this.addSql(`drop table if exists "slack_threads" cascade;`);

    this.addSql(`drop table if exists "slack_posts" cascade;`);

    this.addSql(`drop index "tickets_organization_id_updated_at_index";`);
  }

}
