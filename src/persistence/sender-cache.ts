import type { Actor } from '../core/ports.ts';

export interface ResolvedSender { reporterId: string; author: Actor | null }

/**
 * Recently resolved senders (identity → reporter, and the author's role), so that a reporter who writes
 * again does not cost the intake a database round trip. An identity keeps its reporter for good; a role
 * change reaches intake within `ttlMs`. Entries are dropped when a write using them fails.
 */
export class SenderCache {
  private readonly entries = new Map<string, { value: ResolvedSender; expires: number }>();

  constructor(private readonly ttlMs = 30_000, private readonly maxEntries = 20_000) {}

  static key(organizationId: string, kind: string, address: string, authorUserId: string | undefined): string {
    return `${organizationId}\u0000${kind}\u0000${address}\u0000${authorUserId ?? ''}`;
  }

  get(key: string): ResolvedSender | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: ResolvedSender): void {
    if (this.entries.size >= this.maxEntries) {
      // Oldest first: Map keeps insertion order.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
