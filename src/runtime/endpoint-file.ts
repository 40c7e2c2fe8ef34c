import fs from 'node:fs';
import path from 'node:path';

/**
 * Embedded services (PGlite, a private Redis) belong to the process that started them. It records where
 * they listen in `<dataDir>/<name>.endpoint`, so that the CLI and further processes on the same data folder
 * connect to them instead of opening the files a second time.
 */
export function writeEndpoint(dataDir: string, name: string, url: string): () => void {
  const file = path.join(dataDir, `${name}.endpoint`);
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ url, pid: process.pid }));
  return () => {
    try {
      const current = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number };
      if (current.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  };
}

/** The URL a live process recorded for `name`, or undefined when there is none or it has died. */
export function readLiveEndpoint(dataDir: string, name: string): string | undefined {
  try {
    const { url, pid } = JSON.parse(fs.readFileSync(path.join(dataDir, `${name}.endpoint`), 'utf8')) as { url: string; pid: number };
    // Our own pid in the file means a process that died with the same pid (a container restarts its
    // app as pid 1 every time), not a live owner.
    if (pid === process.pid) return undefined;
    process.kill(pid, 0);
    return url;
  } catch {
    return undefined;
  }
}
