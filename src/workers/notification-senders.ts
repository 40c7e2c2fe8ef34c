import type { NotificationSender, OutgoingNotification } from '../core/ports.ts';
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

  private readonly listeners: Array<(settled: SettledNotification) => Promise<void>> = [];

  /** Channels that show what became of a notification (Slack marks the reply it carried) listen here. */
  onSettled(listener: (settled: SettledNotification) => Promise<void>): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Tells the listeners; a listener that fails is reported to `onError`, never to the delivery. */
  async settled(settled: SettledNotification, onError: (err: unknown) => void): Promise<void> {
    for (const listener of this.listeners) await listener(settled).catch(onError);
  }
}

export interface SettledNotification {
  notification: OutgoingNotification;
  status: 'sent' | 'recorded' | 'failed';
}
