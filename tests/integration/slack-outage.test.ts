import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWorkspace } from '../../src/channels/slack/index.ts';
import { SlackStore } from '../../src/persistence/slack-store.ts';
import { SecretBox } from '../../src/security/secret-box.ts';
import { seedOrganization, startTestApp, type TestApp } from '../support/app.ts';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.ts';
import { FORM, blockAction, eventCallback, postToSlackApp, threadReply, type Team } from '../support/slack-payloads.ts';

/*
 * What Slack sent is answered only once it is queued: with Redis away, the Request URL answers 500 (Slack
 * retries events, and tells the person who clicked), never 200 for work that went nowhere.
 */

let redis: TestRedisServer;
let slack: FakeSlack;
let app: TestApp;
const team: Team = { teamId: 'T0OUTAGE', secret: 'fedcba9876543210fedcba9876543210' };

beforeAll(async () => {
  [redis, slack] = await Promise.all([startRedisServer(), startFakeSlack()]);
  app = await startTestApp({ env: { REDIS_URL: redis.url, SLACK_API_URL: slack.url, APP_SECRET: 'test-secret-test-secret', JOB_LOCK_MS: '2000' } });
  const seed = await seedOrganization(app, 'Outage Slack Org');
  await connectWorkspace(new SlackStore(app.rt.orm, new SecretBox(app.rt.secret)), slack.url, {
    organizationId: seed.org.id, botToken: slack.addWorkspace(team.teamId, 'U0OUTBOT'), signingSecret: team.secret, triageChannel: 'C0OUT', noteMarkers: ['note:'],
  });
}, 60_000);

afterAll(async () => {
  if (redis && !redis.running) await redis.start().catch(() => undefined);
  await app?.stop();
  await Promise.all([redis?.dispose(), slack?.close()]);
});

describe('Slack while Redis is away', () => {
  it('answers 500 instead of acknowledging what it could not queue, and 200 to the retry once Redis is back', async () => {
    const event = eventCallback(team, threadReply({ channel: 'C0OUT', user: 'U0AGENT', text: 'queued or refused', threadTs: '1700000000.000100', team: team.teamId }));
    const click = blockAction(team, { user: 'U0AGENT', channel: 'C0OUT', messageTs: '1700000000.000100', actionId: 'ticket_take', number: 1001, responseUrl: `${slack.base}/response/x` });
    await redis.stop();
    try {
      const started = Date.now();
      expect((await postToSlackApp(app.baseUrl, team, event.body, 'application/json')).status).toBe(500);
      expect((await postToSlackApp(app.baseUrl, team, click, FORM)).status).toBe(500);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await redis.start();
    }
    // Slack's retry of the event (and the person's second click) goes through.
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await postToSlackApp(app.baseUrl, team, event.body, 'application/json', { retryNum: 1 })).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(status).toBe(200);
    expect((await postToSlackApp(app.baseUrl, team, click, FORM)).status).toBe(200);
    const jobs = await app.rt.slackInboundQueue.getJobCounts();
    expect(Object.values(jobs).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
