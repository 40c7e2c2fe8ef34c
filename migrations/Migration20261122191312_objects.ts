import { Migration } from '@mikro-orm/migrations';

/** Objects: a photo and a request template (default category, service, priority, assignee) for their tickets. */
export class Migration20261122191312_objects extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "objects" add column "photo_storage_key" varchar(200) null, add column "photo_content_type" varchar(100) null, add column "default_category_id" uuid null, add column "default_service_id" uuid null, add column "default_priority" varchar(10) null, add column "default_assignee_id" uuid null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_category_id_foreign" foreign key ("default_category_id") references "categories" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_service_id_foreign" foreign key ("default_service_id") references "services" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "objects" add constraint "objects_default_assignee_id_foreign" foreign key ("default_assignee_id") references "users" ("id") on update cascade on delete set null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "objects" drop constraint "objects_default_category_id_foreign";`);
    this.addSql(`alter table "objects" drop constraint "objects_default_service_id_foreign";`);
    this.addSql(`alter table "objects" drop constraint "objects_default_assignee_id_foreign";`);

    this.addSql(`alter table "objects" drop column "photo_storage_key", drop column "photo_content_type", drop column "default_category_id", drop column "default_service_id", drop column "default_priority", drop column "default_assignee_id";`);
  }

}
