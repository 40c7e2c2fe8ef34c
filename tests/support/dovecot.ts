import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { freePort, type TestServer } from './redis-server.ts';

export interface TestImapServer extends TestServer {
  user: string;
  password: string;
  /** imap://user:password@127.0.0.1:port */
  imapUrl: string;
  /** A client logged in as the test user (for appending mail and looking at flags). */
  client(): Promise<ImapFlow>;
}

/**
 * Debian's dovecot on a free port, with one passwd-file user and a maildir in a folder of its own. `stop`
 * ends the whole process group (the master and its imap processes), so connected clients see the server go.
 */
export async function startDovecot(): Promise<TestImapServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hd-dovecot-'));
  // Dovecot drops privileges; every folder on the way to the mail must be readable.
  await fs.chmod(dir, 0o755);
  const port = await freePort();
  const user = 'support';
  const password = 'secret-pass';
  const root = process.getuid?.() === 0;
  const uid = root ? 65534 : process.getuid!();
  const gid = root ? 65534 : process.getgid!();
  await fs.mkdir(path.join(dir, 'mail', user), { recursive: true });
  if (root) await fs.chown(path.join(dir, 'mail', user), uid, gid);
  await fs.chown(path.join(dir, 'mail'), uid, gid).catch(() => undefined);
  await fs.writeFile(path.join(dir, 'passwd'), `${user}:{PLAIN}${password}:${uid}:${gid}::${path.join(dir, 'mail', user)}::\n`);
  const nonRoot = root ? '' : `
default_login_user = ${os.userInfo().username}
default_internal_user = ${os.userInfo().username}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
service auth {
  unix_listener auth-userdb {
    group =
  }
}`;
  await fs.writeFile(path.join(dir, 'dovecot.conf'), `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u/Maildir
first_valid_uid = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/passwd
}
service imap-login {
  inet_listener imap {
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
${nonRoot}
`);
  let child: ChildProcess | undefined;
  const running = () => Boolean(child && child.exitCode === null && child.signalCode === null);
  const imapUrl = `imap://${user}:${password}@127.0.0.1:${port}`;
  const client = async () => {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: password }, logger: false });
    await c.connect();
    return c;
  };

  const start = async (): Promise<void> => {
    if (running()) throw new Error('dovecot is already running');
    const proc = spawn('dovecot', ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: 'ignore', detached: true });
    child = proc;
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const c = await client();
        await c.logout();
        return;
      } catch (err) {
        if (proc.exitCode !== null || Date.now() > deadline) {
          const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
          throw new Error(`dovecot did not start: ${String(err)}\n${log.slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || !running()) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      proc.kill('SIGKILL');
    }
    await exited;
    // Its imap processes are in the same group; give the kernel a moment to close their sockets.
    await new Promise((r) => setTimeout(r, 100));
  };

  await start();
  return {
    port, dir, user, password, imapUrl,
    url: imapUrl,
    get running() { return running(); },
    start, stop, client,
    async dispose() {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
