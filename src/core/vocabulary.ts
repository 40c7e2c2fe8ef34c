/** The words of the domain, as closed sets. Stored as text in the database; the lists here are the truth. */

export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const ROLES = ['admin', 'agent', 'customer'] as const;
export type Role = (typeof ROLES)[number];

/** The ways a ticket or message can arrive (and a notification can leave). */
export const CHANNELS = ['api', 'email', 'telegram', 'slack', 'web', 'qr', 'system'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The kinds of address a reporter can be reached at; one reporter may have several. */
export const IDENTITY_KINDS = ['email', 'telegram', 'phone', 'api', 'slack', 'web'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export const VISIBILITIES = ['public', 'internal'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const LOCALES = ['en', 'ru', 'de'] as const;
export type Locale = (typeof LOCALES)[number];

/** Normalizes an identity address so that one person maps to one row (emails are case-insensitive). */
export function normalizeAddress(kind: IdentityKind, address: string): string {
  const trimmed = address.trim();
  if (kind === 'email') return trimmed.toLowerCase();
  if (kind === 'phone') {
    // "+49 (30) 123-45" and "+4930 12345" are one number; a phone number has digits, at least five.
    const normalized = trimmed.replace(/[^\d+]/g, '');
    return normalized.replace(/\D/g, '').length >= 5 ? normalized : '';
  }
  return trimmed;
}

/** The identity kind a reply should go back on, for a ticket that came in by `channel`. */
export function identityKindOf(channel: Channel): IdentityKind | null {
  switch (channel) {
    case 'email':
    case 'telegram':
    case 'slack':
    case 'web':
    case 'api':
      return channel;
    case 'qr':
      return 'web';
    default:
      return null;
  }
}
