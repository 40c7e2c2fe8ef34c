import type { Locale } from '../../core/vocabulary.ts';
import type { SlackStore, WorkspaceConfig } from '../../persistence/slack-store.ts';
import { slackText } from './texts.ts';
import { platformError, type WebClient } from './web-api.ts';

export interface SlackPerson { staff: { userId: string; name: string; role: string } | null; email: string | null; name: string; member: boolean }

/** Who a Slack user is, kept a minute: a demoted agent stops speaking for the helpdesk within it. */
const PEOPLE_CACHE_MS = 60_000;

/**
 * Slack users as the helpdesk knows them: a full member of the workspace whose email (users.info) is an agent's
 * or admin's of the organization speaks for the helpdesk; anyone else does not.
 */
export class SlackPeople {
  private readonly cache = new Map<string, { at: number; person: SlackPerson }>();

  constructor(private readonly store: Pick<SlackStore, 'staffByEmail'>) {}

  /** Who a Slack user is: their email and name from users.info, and the agent or admin with that email. */
  async who(ws: WorkspaceConfig, client: WebClient, slackUserId: string): Promise<SlackPerson> {
    const key = `${ws.id}:${slackUserId}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < PEOPLE_CACHE_MS) return hit.person;
    // Someone Slack will not show this app (another organization's user in a shared channel) is nobody's agent.
    const info = await client.users.info({ user: slackUserId }).catch((err) => {
      if (['user_not_found', 'user_not_visible'].includes(platformError(err) ?? '')) return { user: undefined };
      throw err;
    });
    const u = info.user as {
      is_bot?: boolean; deleted?: boolean; is_restricted?: boolean; is_ultra_restricted?: boolean; is_stranger?: boolean; team_id?: string;
      enterprise_user?: { teams?: string[] }; real_name?: string; name?: string; profile?: { email?: string; real_name?: string; display_name?: string };
    } | undefined;
    // Only full members of this workspace can be agents: a guest's or a Slack Connect stranger's email is
    // set by someone else's admin.
    const member = u && !u.is_bot && !u.deleted && !u.is_restricted && !u.is_ultra_restricted && !u.is_stranger
      && (u.team_id === ws.teamId || Boolean(u.enterprise_user?.teams?.includes(ws.teamId)));
    const email = u && !u.is_bot ? (u.profile?.email ?? null) : null;
    const name = u?.profile?.real_name || u?.real_name || u?.profile?.display_name || u?.name || slackUserId;
    const staff = member && email ? await this.store.staffByEmail(ws.organizationId, email) : null;
    const person = { staff, email, name, member: Boolean(member) };
    if (this.cache.size > 5000) this.cache.clear();
    this.cache.set(key, { at: Date.now(), person });
    return person;
  }
}

/** Why someone who is not an agent cannot act, in the workspace's language. */
export function notAgent(p: SlackPerson, locale: Locale): string {
  if (!p.member) return slackText('notMember', locale);
  return p.email ? slackText('notAgent', locale, { email: p.email }) : slackText('noEmail', locale);
}
