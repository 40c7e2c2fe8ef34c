import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** True between `cut()` and `restore()`. */
  readonly isCut: boolean;
  /** How many client connections the proxy has accepted, in total. */
  readonly accepted: number;
  /** Destroys every open connection (both sides) and destroys new ones as they arrive, until `restore()`. */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 (a free port) to `target`, for simulating a network outage between the app and a
 * server without stopping the server itself (which other tests share).
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let isCut = false;
  let accepted = 0;

  const server = net.createServer((client) => {
    accepted++;
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const destroyAll = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };

  return {
    port,
    get isCut() {
      return isCut;
    },
    get accepted() {
      return accepted;
    },
    cut() {
      isCut = true;
      destroyAll();
    },
    restore() {
      isCut = false;
    },
    close: () => new Promise<void>((resolve) => {
      destroyAll();
      server.close(() => resolve());
    }),
  };
}
