import { setTimeout as sleep } from 'node:timers/promises';
import { webApi } from '@slack/bolt';
import type { Redis } from 'ioredis';
import { DeliveryError } from '../../core/ports.ts';

export type WebClient = InstanceType<typeof webApi.WebClient>;

/**
 * A Web API client that reports Slack's 429 instead of sleeping through it, and does not retry by itself:
 * retries, waits and the per-channel pace are the queue's business, so that a waiting call holds no worker.
 */
export function slackClient(token: string, apiUrl: string, timeoutMs = 20_000): WebClient {
  return new webApi.WebClient(token, {
    slackApiUrl: apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    logLevel: webApi.LogLevel.ERROR,
    timeout: timeoutMs,
  });
}

/**
 * Whether an address found in a payload (a file's download URL, a response URL) is Slack's own, or the
 * configured Web API's host. A payload is only as trustworthy as whoever holds the signing secret: an address
 * elsewhere (the cloud's metadata service, an internal admin page) is never fetched with the bot token.
 */
export function isSlackAddress(address: string, apiUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return false;
  }
  const api = new URL(apiUrl);
  if (url.protocol === api.protocol && url.host === api.host) return true;
  return url.protocol === 'https:' && !url.port && /(^|\.)(slack\.com|slack-edge\.com|slack-files\.com)$/i.test(url.hostname);
}

/** An address in a payload that is not Slack's (see isSlackAddress). */
export class NotSlackAddress extends Error {
  constructor(address: string) {
    super(`${safeOrigin(address)} is not a Slack address`);
    this.name = 'NotSlackAddress';
  }
}

function safeOrigin(address: string): string {
  try {
    return new URL(address).origin;
  } catch {
    return 'the address';
  }
}

/** fetch() that follows redirects only while they stay on Slack's hosts. */
export async function fetchFromSlack(address: string, init: RequestInit, apiUrl: string, maxRedirects = 5): Promise<Response> {
  let at = address;
  for (let hop = 0; ; hop++) {
    if (!isSlackAddress(at, apiUrl)) throw new NotSlackAddress(at);
    const res = await fetch(at, { ...init, redirect: 'manual' });
    const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    if (!location) return res;
    await res.body?.cancel();
    if (hop >= maxRedirects) throw new Error(`Slack redirected ${maxRedirects} times`);
    at = new URL(location, at).toString();
  }
}

/** Slack's answers that another try would get again: the post is refused as it is, or the app cannot post there. */
const PERMANENT = new Set([
  'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'account_inactive', 'token_revoked', 'token_expired',
  'not_authed', 'missing_scope', 'no_permission', 'msg_too_long', 'invalid_blocks', 'invalid_blocks_format', 'no_text',
  'restricted_action', 'restricted_action_read_only_channel', 'cant_update_message', 'edit_window_closed', 'team_access_not_granted',
  'ekm_access_denied', 'user_not_found', 'user_not_in_channel', 'invalid_arguments', 'message_not_found',
  'file_uploads_disabled', 'file_upload_size_restricted', 'file_uploads_except_images_disabled', 'invalid_file_type',
]);

/** The error code of a Slack answer with `ok: false`, or undefined for any other failure. */
export function platformError(err: unknown): string | undefined {
  const e = err as { code?: string; data?: { error?: string } };
  return e?.code === webApi.ErrorCode.PlatformError ? e.data?.error : undefined;
}

/**
 * What a failed call means for the job that made it: wait as long as Slack asked (`rate_limited`), give up at
 * once (`SlackRefusal`: Slack will refuse it again), or try again later (anything else).
 */
export function classifySlackError(err: unknown): Error {
  const e = err as { code?: string; retryAfter?: number; statusCode?: number; message?: string };
  if (e?.code === webApi.ErrorCode.RateLimitedError) {
    const ms = Math.max(1, e.retryAfter ?? 1) * 1000;
    return new DeliveryError(`Slack asks to wait ${ms / 1000} s (429)`, 'rate_limited', ms);
  }
  const code = platformError(err);
  if (code && PERMANENT.has(code)) return new SlackRefusal(code);
  if (code) return new DeliveryError(`Slack answered ${code}`, 'transient');
  return new DeliveryError(`Slack could not be reached: ${e?.message ?? String(err)}`, 'transient');
}

/** Slack refused a call for a reason that no retry changes. */
export class SlackRefusal extends Error {
  constructor(readonly slackError: string) {
    super(`Slack refused: ${slackError}${HINTS[slackError] ? ` (${HINTS[slackError]})` : ''}`);
    this.name = 'SlackRefusal';
  }
}

const HINTS: Record<string, string> = {
  not_in_channel: 'invite the app to the channel: /invite @yourapp',
  channel_not_found: 'check the channel id, and that the app was invited to it',
  is_archived: 'the channel is archived: route the tickets to another one',
  invalid_auth: 'the bot token is wrong: connect the workspace again (slack add)',
  token_revoked: 'the app was uninstalled: install it again and run slack add',
  missing_scope: 'add the missing scope to the app (chat:write, files:write, reactions:write, users:read, users:read.email) and reinstall it',
};

const PACE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nextAt > now then return nextAt - now end
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return 0`;
const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nextAt = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], nextAt, 'PX', nextAt - now + 60000)
return nextAt - now`;

/**
 * About one call per interval into each Slack channel, across every worker process (the next free moment is
 * kept in Redis, by Redis's clock). A short wait is slept; a longer one (after a 429) hands the job back.
 */
export class ChannelPace {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly intervalMs: number, private readonly maxSleepMs = 3000) {}

  private key(teamId: string, channelId: string): string {
    return `${this.prefix}:slack:pace:${teamId}:${channelId}`;
  }

  async take(teamId: string, channelId: string): Promise<void> {
    for (;;) {
      const wait = Number(await this.redis.eval(PACE, 1, this.key(teamId, channelId), String(this.intervalMs)));
      if (wait <= 0) return;
      if (wait > this.maxSleepMs) throw new DeliveryError(`channel ${channelId} is paused for ${wait} ms`, 'rate_limited', wait);
      await sleep(wait);
    }
  }

  /** Slack said 429: nobody posts into this channel before it said to come back. */
  async hold(teamId: string, channelId: string, ms: number): Promise<void> {
    await this.redis.eval(HOLD, 1, this.key(teamId, channelId), String(ms));
  }
}
