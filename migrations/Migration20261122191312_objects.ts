import { Migration } from '@mikro-orm/migrations';

/** Objects: a photo and a request template (default category, service, priority, assignee) for their tickets; followers of tickets ("I have the same problem"); website request forms. */
export class Migration20261122191312_objects extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "objects" add column "photo_storage_key" varchar(200) null, add column "photo_content_type" varchar(100) null, add column "default_category_id" uuid null, add column "default_service_id" uuid null, add column "default_priority" varchar(10) null, add column "default_assignee_id" uuid null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_category_id_foreign" foreign key ("default_category_id") references "categories" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_service_id_foreign" foreign key ("default_service_id") references "services" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_assignee_id_foreign" foreign key ("default_assignee_id") references "users" ("id") on update cascade on delete set null;`);

    this.addSql(`create table "ticket_followers" ("id" uuid not null, "organization_id" uuid not null, "ticket_id" uuid not null, "reporter_id" uuid not null, "created_at" timestamptz not null default now(), constraint "ticket_followers_pkey" primary key ("id"));`);
    this.addSql(`create index "ticket_followers_reporter_id_index" on "ticket_followers" ("reporter_id");`);
    this.addSql(`alter table "ticket_followers" add constraint "ticket_followers_ticket_id_reporter_id_unique" unique ("ticket_id", "reporter_id");`);
    this.addSql(`alter table "ticket_followers" add constraint "ticket_followers_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "ticket_followers" add constraint "ticket_followers_ticket_id_foreign" foreign key ("ticket_id") references "tickets" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "ticket_followers" add constraint "ticket_followers_reporter_id_foreign" foreign key ("reporter_id") references "reporters" ("id") on update cascade on delete cascade;`);

    this.addSql(`create table "web_forms" ("id" uuid not null, "organization_id" uuid not null, "token" varchar(64) not null, "title" varchar(200) not null default '', "fields" jsonb not null, "created_at" timestamptz not null default now(), constraint "web_forms_pkey" primary key ("id"));`);
    this.addSql(`alter table "web_forms" add constraint "web_forms_token_unique" unique ("token");`);
    this.addSql(`alter table "web_forms" add constraint "web_forms_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "objects" drop constraint "objects_default_category_id_foreign";`);
    this.addSql(`alter table "objects" drop constraint "objects_default_service_id_foreign";`);
    this.addSql(`alter table "objects" drop constraint "objects_default_assignee_id_foreign";`);

    this.addSql(`alter table "objects" drop column "photo_storage_key", drop column "photo_content_type", drop column "default_category_id", drop column "default_service_id", drop column "default_priority", drop column "default_assignee_id";`);

    this.addSql(`drop table if exists "ticket_followers" cascade;`);

    this.addSql(`drop table if exists "web_forms" cascade;`);
  }

}
