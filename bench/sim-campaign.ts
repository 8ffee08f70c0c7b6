/**
 * The randomized Raft safety campaign from the command line (`npm run test:sim`):
 * runs seeds through the deterministic cluster simulator, prints progress to stderr
 * and one summary line to stdout.
 *
 *   node dist/bench/sim-campaign.js [--seeds N] [--from S] [--seed S] [--steps N] [--nodes 3|5] [--trace]
 *
 * --seeds N    how many seeds to run (default 1000), starting at --from (default 1)
 * --seed S     run only seed S (the replay of a failure)
 * --steps N    actions per seed (default: the campaign's)
 * --nodes 3|5  force the cluster size (default: drawn from each seed)
 * --trace      print every action to stderr (useful with --seed)
 * --help       print this usage
 *
 * Exits 1 when a seed fails, printing its report (seed, broken check, last actions and
 * the replay command), 2 on bad arguments, 0 otherwise.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_STEPS, replayCommand, runCampaign, type CampaignOptions, type SeedResult } from '../src/core/raft/sim/campaign.js';

/** Parsed command line of the campaign. */
export interface SimArgs {
  first: number;
  count: number;
  options: CampaignOptions;
  trace: boolean;
  help: boolean;
}

/** One line per option, printed by `--help`. */
export const USAGE = `usage: node dist/bench/sim-campaign.js [--seeds N] [--from S] [--seed S] [--steps N] [--nodes 3|5] [--trace]
  --seeds N    how many seeds to run (default 1000), starting at --from (default 1)
  --seed S     run only seed S (the replay of a failure)
  --steps N    actions per seed (default ${DEFAULT_STEPS})
  --nodes 3|5  force the cluster size (default: drawn from each seed)
  --trace      print every action to stderr (useful with --seed)
`;

function integer(name: string, text: string | undefined, min: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, not ${text}`);
  return n;
}

/** Parses the arguments; throws on unknown options or bad values. */
export function parseSimArgs(argv: string[]): SimArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      seed: { type: 'string' },
      steps: { type: 'string' },
      nodes: { type: 'string' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const single = values.seed === undefined ? undefined : integer('seed', values.seed, 0, 0);
  const first = single ?? integer('from', values.from, 0, 1);
  const count = single === undefined ? integer('seeds', values.seeds, 1, 1000) : 1;
  const options: { steps?: number; nodes?: 3 | 5 } = {};
  if (values.steps !== undefined) options.steps = integer('steps', values.steps, 1, 0);
  if (values.nodes !== undefined) {
    if (values.nodes !== '3' && values.nodes !== '5') throw new Error(`--nodes must be 3 or 5, not ${values.nodes}`);
    options.nodes = values.nodes === '3' ? 3 : 5;
  }
  return { first, count, options, trace: values.trace === true, help: values.help === true };
}

/** Runs the campaign; returns the process exit code. */
export function main(argv: string[] = process.argv.slice(2)): number {
  let args: SimArgs;
  try {
    args = parseSimArgs(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const options: CampaignOptions = args.trace ? { ...args.options, trace: (line) => process.stderr.write(`${line}\n`) } : args.options;
  const started = Date.now();
  const every = Math.max(1, Math.min(100, Math.floor(args.count / 10)));
  let done = 0;
  const onResult = (r: SeedResult): void => {
    done++;
    if (!r.ok) process.stderr.write(`\n${r.failure}\n\n`);
    if (done % every === 0 || done === args.count) {
      process.stderr.write(`[sim ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${done}/${args.count} seeds\n`);
    }
  };
  const result = runCampaign(args.first, args.count, options, onResult);
  const last = args.first + args.count - 1;
  process.stdout.write(
    `sim campaign: ${result.seeds} seeds (${args.first}..${last}), ${result.passed} passed, ${result.failed} failed, ` +
      `${result.committed} proposals committed, ${result.steps} steps, ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (result.failed > 0) {
    const seeds = result.failures.map((f) => f.seed);
    process.stdout.write(`failing seeds: ${seeds.join(', ')}${result.failed > seeds.length ? ', …' : ''}\n`);
    process.stdout.write(`replay: ${replayCommand(seeds[0]!, args.options)}\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = main();
}
