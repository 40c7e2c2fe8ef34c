import type { MikroORM } from '@mikro-orm/postgresql';
import type { RecipientAddress } from '../core/notifications.ts';
import type { OutgoingNotification } from '../core/ports.ts';
import type { IdentityKind } from '../core/vocabulary.ts';
import { inTransaction, withSql } from './sql.ts';

export interface StoredNotification extends OutgoingNotification {
  status: string;
  preferredKind: IdentityKind | null;
  addresses: RecipientAddress[];
}

/** Reads notifications with their recipient's addresses and records what became of them. */
export class NotificationStore {
  constructor(private readonly orm: MikroORM) {}

  /** The notification with its recipient's addresses, in one round trip. */
  load(id: string): Promise<StoredNotification | null> {
    return withSql(this.orm, async (sql) => {
      const n = await sql.one<{
        id: string; organization_id: string; kind: string; status: string; preferred_kind: IdentityKind | null;
        payload: Record<string, unknown>; number: number | null; locale: string | null; recipient_reporter_id: string | null;
        addresses: Array<{ id: string | null; kind: IdentityKind; address: string; deliverable: boolean }> | null;
      }>(
        `SELECT n.id, n.organization_id, n.kind, n.status, n.preferred_kind, n.payload, t.number, n.recipient_reporter_id,
                coalesce(r.locale, u.locale) AS locale,
                CASE WHEN n.recipient_reporter_id IS NOT NULL THEN
                       (SELECT json_agg(json_build_object('id', i.id, 'kind', i.kind, 'address', i.address, 'deliverable', i.deliverable)
                                        ORDER BY i.created_at, i.id)
                          FROM reporter_identities i WHERE i.reporter_id = n.recipient_reporter_id)
                     ELSE json_build_array(json_build_object('id', NULL, 'kind', 'email', 'address', u.email, 'deliverable', true))
                END AS addresses
           FROM notifications n
           LEFT JOIN tickets t ON t.id = n.ticket_id
           LEFT JOIN reporters r ON r.id = n.recipient_reporter_id
           LEFT JOIN users u ON u.id = n.recipient_user_id
          WHERE n.id = $1`,
        [id],
      );
      if (!n) return null;
      return {
        id: n.id,
        organizationId: n.organization_id,
        recipientReporterId: n.recipient_reporter_id,
        kind: n.kind,
        ticketNumber: n.number,
        locale: n.locale ?? 'en',
        payload: n.payload,
        status: n.status,
        preferredKind: n.preferred_kind,
        addresses: (n.addresses ?? []).filter((a) => a.address).map((a) => ({ identityId: a.id, kind: a.kind, address: a.address, deliverable: a.deliverable })),
      };
    });
  }

  finish(id: string, status: 'sent' | 'recorded' | 'failed', outcome: { kind?: string; address?: string; error?: string }): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows(
        `UPDATE notifications SET status = $2, delivered_kind = $3, delivered_address = $4, last_error = $5,
                attempts = attempts + 1, updated_at = now() WHERE id = $1`,
        [id, status, outcome.kind ?? null, outcome.address ?? null, outcome.error ?? null],
      );
    });
  }

  /** Marks a notification whose job failed for good, unless something already settled it. */
  giveUp(id: string, error: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows(`UPDATE notifications SET status = 'failed', last_error = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`, [id, error]);
    });
  }

  noteAttempt(id: string, error: string): Promise<void> {
    return withSql(this.orm, async (sql) => {
      await sql.rows('UPDATE notifications SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1', [id, error]);
    });
  }

  /** Marks an address that refused for good, and records it on the ticket the notification was about. */
  markUndeliverable(identityId: string, reason: string, notificationId?: string): Promise<void> {
    return inTransaction(this.orm, async (sql) => {
      const identity = await sql.one<{ kind: string; address: string }>(
        'UPDATE reporter_identities SET deliverable = false, undeliverable_reason = $2 WHERE id = $1 RETURNING kind, address',
        [identityId, reason]);
      if (!identity || !notificationId) return;
      await sql.rows(
        `INSERT INTO ticket_events (id, organization_id, ticket_id, channel, kind, changes)
         SELECT gen_random_uuid(), n.organization_id, n.ticket_id, $2, 'delivery_failed', $3::jsonb
           FROM notifications n WHERE n.id = $1 AND n.ticket_id IS NOT NULL`,
        [notificationId, identity.kind, JSON.stringify({ address: identity.address, notification: notificationId, reason })]);
    });
  }

  /** Notifications still pending after `olderThanMs`: their job was lost between commit and enqueue. */
  stale(olderThanMs: number, limit = 500): Promise<string[]> {
    return withSql(this.orm, async (sql) => (await sql.rows<{ id: string }>(
      `SELECT id FROM notifications WHERE status = 'pending' AND created_at < now() - ($1::int * interval '1 millisecond')
        ORDER BY created_at LIMIT $2`,
      [olderThanMs, limit],
    )).map((r) => r.id));
  }
}
