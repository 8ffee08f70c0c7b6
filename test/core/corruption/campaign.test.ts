/**
 * The corruption campaign: seeded trials, each damaging one file of a fresh copy of a
 * node's data directory — a data file (the active one half of the time), a hint, the
 * Raft log, a snapshot's state.bin or meta.json, or the Raft state or applied-index file
 * — with one bit flip, one byte set to another value, or a cut of its last 1 to 1,024
 * bytes, then opening the node with the real code, replaying its log and reading every
 * key back (see `trial.ts` for the outcomes allowed). The directories are those of
 * `node-image.ts`: with and without a compacted log, as a clean stop and as a crash left
 * them.
 *
 * `npm test` runs 10,000 trials from a fixed seed; BITRAFT_CORRUPTION_TRIALS=n runs n,
 * BITRAFT_CORRUPTION_SEED=s starts from another seed. A failure prints its seed, trial,
 * image, file, offset and damage; `BITRAFT_CORRUPTION_SEED=s BITRAFT_CORRUPTION_TRIAL=i
 * npx tap --disable-coverage test/core/corruption/campaign.test.ts` replays that trial.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { seededRng } from '../../../src/core/support/rng.js';
import { fastTmpDir } from '../../helpers/bitcask.js';
import { describeDamage, drawDamage, FILE_KINDS, kindOf, MUTATIONS, type FileKind } from './damage.js';
import { buildImage, type NodeImage } from './node-image.js';
import { OUTCOMES, runTrial, type SnapshotCheck } from './trial.js';

const TRIALS = Number(process.env.BITRAFT_CORRUPTION_TRIALS ?? 10_000);
const SEED = Number(process.env.BITRAFT_CORRUPTION_SEED ?? 20_240_601);
const ONLY = process.env.BITRAFT_CORRUPTION_TRIAL === undefined ? undefined : Number(process.env.BITRAFT_CORRUPTION_TRIAL);

/** Share of the trials per kind of file (in tenths of a percent). */
const SHARE: Record<FileKind, number> = { data: 350, hint: 200, log: 250, snapshot: 150, 'raft-state': 50 };

/** The kind of file trial `i` damages: the shares, interleaved. */
function kindOfTrial(i: number): FileKind {
  let r = (i * 617) % 1000;
  for (const kind of FILE_KINDS) {
    if (r < SHARE[kind]) return kind;
    r -= SHARE[kind];
  }
  throw new Error('test bug: shares do not add up to 1000');
}

t.test(`corruption campaign: ${TRIALS} trials from seed ${SEED}`, async (t) => {
  // The node's timers are unref'd: keep the test alive while it runs.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const root = fastTmpDir(t, 'bitraft-corruption-');
  const images: NodeImage[] = [await buildImage(root, 'compacted', true, SEED), await buildImage(root, 'whole-log', false, SEED + 1)];
  for (const image of images) {
    const files = FILE_KINDS.map((k) => `${[...image.clean.files.keys()].filter((f) => kindOf(f) === k).length} ${k}`).join(', ');
    const { clean, crashed } = image;
    t.comment(
      `image ${image.name}: ${files} files; ${image.model.size} keys; log up to index ${image.lastIndex}; ` +
        `applied ${clean.applied} (clean) / ${crashed.applied} at ${crashed.position.file}:${crashed.position.size} of ${clean.position.size} bytes (crashed)`,
    );
  }
  const counts = new Map<string, number>();
  const bump = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
  const snapshotChecks = new Map<SnapshotCheck, number>();
  const failures: string[] = [];
  const cpu = process.cpuUsage();
  for (let i = ONLY ?? 0; i < (ONLY === undefined ? TRIALS : ONLY + 1); i++) {
    const rng = seededRng(SEED * 7919 + i);
    const kind = kindOfTrial(i);
    // Snapshot trials need the image that has snapshots.
    const image = kind === 'snapshot' ? images[0]! : images[rng.int(images.length)]!;
    const variant = rng.int(2) === 0 ? image.clean : image.crashed;
    const damage = drawDamage(rng, variant.files, kind, image.clean.position.file);
    const dir = path.join(root, `trial-${i}`);
    let result;
    try {
      result = await runTrial(image, variant, damage, dir);
    } catch (err) {
      result = { failure: `threw ${(err as Error).stack ?? String(err)}` };
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (result.snapshot) snapshotChecks.set(result.snapshot, (snapshotChecks.get(result.snapshot) ?? 0) + 1);
    if (result.failure !== undefined) {
      failures.push(`seed ${SEED} trial ${i} (${image.name}, ${variant.name}): ${describeDamage(damage)}: ${result.failure}`);
      if (failures.length >= 20) break;
      continue;
    }
    bump(`${kind}|${result.outcome!}`);
    bump(`${kind}|${damage.mutation}`);
  }
  const used = process.cpuUsage(cpu);
  t.comment(`trials used ${((used.user + used.system) / 1e6).toFixed(1)} s of CPU`);
  // Trials link to the variants' directories: none may have changed them.
  for (const image of images) {
    for (const v of [image.clean, image.crashed]) {
      for (const [rel, bytes] of v.files) if (!fs.readFileSync(path.join(v.dir, rel)).equals(bytes)) failures.push(`test bug: a trial changed ${v.dir}/${rel}`);
    }
  }
  for (const f of failures) t.fail(f);
  const pad = (s: string | number, n: number): string => String(s).padStart(n);
  t.comment(`${'kind'.padEnd(10)} ${OUTCOMES.map((o) => pad(o, o.length + 1)).join('')} ${pad('total', 7)}`);
  for (const kind of FILE_KINDS) {
    const row = OUTCOMES.map((o) => pad(counts.get(`${kind}|${o}`) ?? 0, o.length + 1));
    const total = OUTCOMES.reduce((n, o) => n + (counts.get(`${kind}|${o}`) ?? 0), 0);
    t.comment(`${kind.padEnd(10)} ${row.join('')} ${pad(total, 7)}`);
  }
  t.comment(`mutations: ${MUTATIONS.map((m) => `${m} ${FILE_KINDS.reduce((n, k) => n + (counts.get(`${k}|${m}`) ?? 0), 0)}`).join(', ')}`);
  t.comment(`damaged snapshots checked on their own: ${[...snapshotChecks].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  const passed = OUTCOMES.reduce((n, o) => n + FILE_KINDS.reduce((m, k) => m + (counts.get(`${k}|${o}`) ?? 0), 0), 0);
  t.equal(failures.length, 0, `${passed} trials passed`);
  if (ONLY === undefined && failures.length === 0) t.equal(passed, TRIALS, 'every trial ran');
});

