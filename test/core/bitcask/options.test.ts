import t from 'tap';
import { ignoreSync, resolveOptions, type BitcaskOptions } from '../../../src/core/bitcask/options.js';
import { manualClock, systemClock } from '../../../src/core/support/clock.js';
import { BitraftError } from '../../../src/core/support/errors.js';
import { memoryLogger, silentLogger } from '../../../src/core/support/logger.js';

const MiB = 1 << 20;
/** What every rejection must be: a BitraftError with code INVALID_ARGUMENT. */
const invalid = { constructor: BitraftError, code: 'INVALID_ARGUMENT' };
const GiB = 1024 * MiB;

t.test('defaults', async (t) => {
  const expected = {
    maxFileSize: 256 * MiB,
    maxKeySize: MiB,
    maxValueSize: 512 * MiB,
    sync: 'always',
    syncIntervalMs: 1000,
    clock: systemClock,
    logger: silentLogger,
    readOnly: false,
    cacheSize: 64 * MiB,
    onSync: ignoreSync,
  };
  for (const input of [undefined, {}, { maxFileSize: undefined, sync: undefined, clock: undefined }]) {
    const r = resolveOptions(input as BitcaskOptions | undefined);
    t.strictSame(Object.keys(r).sort(), Object.keys(expected).sort(), 'every option is filled in');
    for (const [k, v] of Object.entries(expected)) t.equal(r[k as keyof typeof r], v, `default ${k}`);
  }
});

t.test('given values are kept', async (t) => {
  const clock = manualClock(5);
  const logger = memoryLogger();
  for (const sync of ['always', 'interval', 'none'] as const) {
    const opts: BitcaskOptions = {
      maxFileSize: 4096,
      maxKeySize: 17,
      maxValueSize: 0,
      sync,
      syncIntervalMs: 250,
      clock,
      logger,
      readOnly: true,
      cacheSize: 0,
      onSync: () => {},
    };
    const r = resolveOptions(opts);
    t.strictSame(r, opts);
    t.equal(r.clock, clock);
    t.equal(r.logger, logger);
  }
  t.not(resolveOptions({}), resolveOptions({}), 'a fresh object each time');
});

interface RangeCase {
  name: 'maxFileSize' | 'maxKeySize' | 'maxValueSize' | 'syncIntervalMs' | 'cacheSize';
  min: number;
  max: number;
}

const RANGES: RangeCase[] = [
  { name: 'maxFileSize', min: 64, max: 2 * GiB },
  { name: 'maxKeySize', min: 1, max: 64 * MiB },
  { name: 'maxValueSize', min: 0, max: 2 * GiB - 64 * 1024 },
  { name: 'syncIntervalMs', min: 1, max: 3_600_000 },
  { name: 'cacheSize', min: 0, max: Number.MAX_SAFE_INTEGER },
];

t.test('numeric bounds are inclusive', async (t) => {
  for (const { name, min, max } of RANGES) {
    t.equal(resolveOptions({ [name]: min })[name], min, `${name} = min`);
    t.equal(resolveOptions({ [name]: max })[name], max, `${name} = max`);
  }
});

t.test('numeric options out of range or not integers are INVALID_ARGUMENT', async (t) => {
  for (const { name, min, max } of RANGES) {
    for (const bad of [min - 1, max + 1, min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e9]) {
      t.throws(() => resolveOptions({ [name]: bad }), invalid, `${name} = ${bad}`);
    }
    t.throws(() => resolveOptions({ [name]: '100' } as unknown as BitcaskOptions), invalid, `${name} as a string`);
  }
});

t.test('unknown sync modes are INVALID_ARGUMENT', async (t) => {
  for (const bad of ['sometimes', 'ALWAYS', '', 1, true]) {
    t.throws(() => resolveOptions({ sync: bad } as unknown as BitcaskOptions), invalid, `sync = ${String(bad)}`);
  }
});
