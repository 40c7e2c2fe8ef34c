import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The core speaks the domain only: no channel, web, worker, persistence, ORM or vendor SDK. */
const FORBIDDEN = /(?:from|import\()\s*['"](?:(?:\.\.\/)+(?:channels|web|workers|persistence|runtime|storage|cli|config)\/|telegraf|@slack\/|imapflow|nodemailer|koa|@koa\/|bullmq|ioredis|pg|@mikro-orm\/|pino)/;

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

describe('architecture', () => {
  it('src/core imports nothing from the outer layers', () => {
    const offenders = files(path.resolve('src/core')).filter((f) => FORBIDDEN.test(fs.readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
  it('src/core never reads the environment', () => {
    const offenders = files(path.resolve('src/core')).filter((f) => fs.readFileSync(f, 'utf8').includes('process.env'));
    expect(offenders).toEqual([]);
  });
});
