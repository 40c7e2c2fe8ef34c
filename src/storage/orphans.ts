import fs from 'node:fs/promises';
import path from 'node:path';

export interface SweepResult { scanned: number; removed: number; removedBytes: number; kept: number; tmpRemoved: number }

/**
 * Removes attachment files that no attachment row points to: uploads of requests that were refused (a
 * forbidden action, a file over the limit next to a good one) or never committed. Only files older than
 * `olderThanMs` go, so that an upload whose intake job is still queued keeps its file. Leftovers of
 * interrupted uploads in `tmp/` go after the same age.
 */
export async function sweepOrphanFiles(
  root: string,
  referenced: (keys: string[]) => Promise<Set<string>>,
  olderThanMs: number,
  opts: { dryRun?: boolean; onProgress?: (r: SweepResult) => void } = {},
): Promise<SweepResult> {
  const result: SweepResult = { scanned: 0, removed: 0, removedBytes: 0, kept: 0, tmpRemoved: 0 };
  const cutoff = Date.now() - olderThanMs;
  const dirs = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  for (const dir of dirs) {
    if (!dir.isDirectory()) continue;
    const folder = path.join(root, dir.name);
    if (dir.name === 'tmp') {
      for (const name of await fs.readdir(folder)) {
        const file = path.join(folder, name);
        const stat = await fs.stat(file).catch(() => undefined);
        if (stat && stat.mtimeMs < cutoff) {
          if (!opts.dryRun) await fs.rm(file, { force: true });
          result.tmpRemoved++;
        }
      }
      continue;
    }
    if (!/^[0-9a-f]{2}$/.test(dir.name)) continue;
    const candidates: Array<{ key: string; size: number }> = [];
    for (const name of await fs.readdir(folder)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      result.scanned++;
      const stat = await fs.stat(path.join(folder, name)).catch(() => undefined);
      if (stat && stat.mtimeMs < cutoff) candidates.push({ key: `${dir.name}/${name}`, size: stat.size });
      else result.kept++;
    }
    if (candidates.length === 0) continue;
    const inUse = await referenced(candidates.map((c) => c.key));
    for (const c of candidates) {
      if (inUse.has(c.key)) {
        result.kept++;
        continue;
      }
      if (!opts.dryRun) await fs.rm(path.join(root, c.key), { force: true });
      result.removed++;
      result.removedBytes += c.size;
    }
    opts.onProgress?.(result);
  }
  return result;
}
