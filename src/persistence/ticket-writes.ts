import { v7 as uuidv7 } from 'uuid';
import type { NotificationPlan } from '../core/notifications.ts';

/*
 * SQL pieces that write what hangs off a ticket (attachments, audit events, notifications), for the
 * statements of intake and of ticket updates. Lists travel as one JSON parameter, expanded in the database,
 * so a ticket with five files is still one statement. Each piece inserts once per row of `from`: a CTE that
 * yields no row (a receipt that already existed) writes nothing.
 */

export type PlannedWithId = NotificationPlan & { id: string };

/** SQL that inserts the attachments given as a JSON array, for the message row of `source`. */
export function insertAttachments(org: string, ticket: string, source: string, json: string): string {
  return `INSERT INTO attachments (id, organization_id, ticket_id, message_id, filename, content_type, size, sha256, storage_key)
          SELECT a.id, ${org}, ${ticket}, ${source}.id, a.filename, a."contentType", a.size, a.sha256, a."storageKey"
            FROM ${source}, jsonb_to_recordset(${json}::jsonb)
                 AS a(id uuid, filename text, "contentType" text, size bigint, sha256 text, "storageKey" text)
          RETURNING id`;
}

export function insertEvent(org: string, ticket: string, user: string, reporter: string, channel: string, kind: string, changes: string, from: string): string {
  return `INSERT INTO ticket_events (id, organization_id, ticket_id, actor_user_id, actor_reporter_id, channel, kind, changes)
          SELECT gen_random_uuid(), ${org}, ${ticket}, ${user}::uuid, ${reporter}::uuid, ${channel}, ${kind}, ${changes}::jsonb
            FROM ${from}
          RETURNING id`;
}

export function insertNotifications(org: string, ticket: string, json: string, from: string): string {
  return `INSERT INTO notifications (id, organization_id, ticket_id, kind, recipient_reporter_id, recipient_user_id, preferred_kind, payload)
          SELECT n.id, ${org}, ${ticket}, n.kind, n.reporter_id, n.user_id, n.preferred_kind, n.payload
            FROM ${from}, jsonb_to_recordset(${json}::jsonb)
                 AS n(id uuid, kind text, reporter_id uuid, user_id uuid, preferred_kind text, payload jsonb)
          RETURNING id`;
}

export function withIds(plans: NotificationPlan[]): PlannedWithId[] {
  return plans.map((plan) => ({ ...plan, id: uuidv7() }));
}

export function notificationsJson(plans: PlannedWithId[]): string {
  return JSON.stringify(notificationRows(plans));
}

/** Notifications as the insert statements read them from JSON. */
export function notificationRows(plans: PlannedWithId[]) {
  return plans.map((plan) => {
    return {
      id: plan.id,
      kind: plan.kind,
      reporter_id: 'reporterId' in plan.recipient ? plan.recipient.reporterId : null,
      user_id: 'userId' in plan.recipient ? plan.recipient.userId : null,
      preferred_kind: plan.preferredKind,
      payload: plan.payload,
    };
  });
}

