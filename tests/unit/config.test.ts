import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    const c = loadConfig({});
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.redisIsDefault).toBe(true);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.port).toBe(3000);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('names the variable and the value at fault', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT.*"eighty"/);
    expect(() => loadConfig({ QUEUE_PREFIX: 'a:b' })).toThrow(/QUEUE_PREFIX/);
  });
  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).toBeUndefined();
  });
  it('takes a mailbox from the environment only when all four variables are set', () => {
    const mail = { MAIL_IMAP_URL: 'imaps://u:p@imap.x.test', MAIL_SMTP_URL: 'smtps://u:p@smtp.x.test', MAIL_ADDRESS: 'help@x.test', MAIL_ORGANIZATION: 'x' };
    expect(loadConfig(mail).mail).toMatchObject({ imapUrl: mail.MAIL_IMAP_URL, address: 'help@x.test', plusAddressing: false, reopenDays: 7 });
    expect(() => loadConfig({ ...mail, MAIL_ORGANIZATION: '' })).toThrow(/set all four or none/);
    expect(() => loadConfig({ MAIL_ADDRESS: 'not an address' })).toThrow(/MAIL_ADDRESS/);
    expect(loadConfig({ PUBLIC_URL: 'https://help.x.test/' }).publicUrl).toBe('https://help.x.test');
    expect(() => loadConfig({ APP_SECRET: 'short' })).toThrow(/APP_SECRET/);
  });
  it('takes a Telegram bot from the environment only with its organization', () => {
    const c = loadConfig({ TELEGRAM_BOT_TOKEN: '123456:AAHabcdefghijklmnopqrstuvwxyz', TELEGRAM_ORGANIZATION: 'acme', TELEGRAM_MODE: 'webhook' });
    expect(c.telegram).toMatchObject({ organization: 'acme', mode: 'webhook', apiRoot: 'https://api.telegram.org', joinWindowMs: 120_000 });
    expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: '123456:AAHabcdefghijklmnopqrstuvwxyz' })).toThrow(/set both or neither/);
    expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: 'nonsense', TELEGRAM_ORGANIZATION: 'acme' })).toThrow(/TELEGRAM_BOT_TOKEN/);
  });
});
