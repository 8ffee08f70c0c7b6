/**
 * The test side of `unsynced-journal.mjs`: after a `bitraft serve` process that ran with
 * that preload was SIGKILLed, cuts every file under its data directory back to the size
 * it last had when fsynced (0 if it never was), as a power loss would leave it: appended
 * data not yet fsynced is gone. The journal accumulates over every process of a test, so
 * files synced by an earlier one keep their synced size.
 *
 * The model: appends not covered by an fsync are lost; renames and removals are durable
 * (as ext4's data=ordered mostly makes a rename over an fsynced file); bytes overwritten
 * in place are not restored. What it cuts is returned, for the test's report.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The preload module to pass to `node --import`. */
export const UNSYNCED_PRELOAD = new URL('./unsynced-journal.mjs', import.meta.url).pathname;

/** The synced size of every file the journal knows. */
function syncedSizes(journal: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const text = fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (line.startsWith('sync ')) {
      const sp = line.indexOf(' ', 5);
      sizes.set(line.slice(sp + 1), Number(line.slice(5, sp)));
    } else if (line.startsWith('rename ')) {
      const [from, to] = line.slice(7).split('\t') as [string, string];
      const size = sizes.get(from);
      sizes.delete(from);
      if (size === undefined) sizes.delete(to);
      else sizes.set(to, size);
    } else if (line.startsWith('unlink ')) {
      const gone = line.slice(7);
      for (const p of [...sizes.keys()]) if (p === gone || p.startsWith(`${gone}/`)) sizes.delete(p);
    }
  }
  return sizes;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** What `rollBackUnsynced` did. */
export interface Rollback {
  /** Files cut, with the bytes dropped. */
  cut: { file: string; dropped: number }[];
  bytesDropped: number;
}

/** Cuts every file under `dir` back to its last synced size according to `journal`. */
export function rollBackUnsynced(dir: string, journal: string): Rollback {
  const sizes = syncedSizes(journal);
  const cut: Rollback['cut'] = [];
  for (const file of filesUnder(path.resolve(dir))) {
    const size = fs.statSync(file).size;
    const keep = Math.min(size, sizes.get(file) ?? 0);
    if (keep === size) continue;
    fs.truncateSync(file, keep);
    cut.push({ file: path.relative(dir, file), dropped: size - keep });
  }
  return { cut, bytesDropped: cut.reduce((n, c) => n + c.dropped, 0) };
}
