import type { NotificationSender } from '../core/ports.ts';
import type { IdentityKind } from '../core/vocabulary.ts';

/** The senders channels have plugged in, one per identity kind. */
export class NotificationSenders {
  private readonly byKind = new Map<IdentityKind, NotificationSender>();

  register(sender: NotificationSender): void {
    if (this.byKind.has(sender.kind)) throw new Error(`A notification sender for ${sender.kind} is already registered.`);
    this.byKind.set(sender.kind, sender);
  }

  get(kind: IdentityKind): NotificationSender | undefined {
    return this.byKind.get(kind);
  }

  has = (kind: IdentityKind): boolean => this.byKind.has(kind);
}
