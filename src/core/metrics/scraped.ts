import { Counter, Gauge, type Registry } from 'prom-client';

/** Reads a value at scrape time. */
export type Reading = () => number | Promise<number>;

/** `read()`, or NaN when it throws: one source that cannot be read does not fail the scrape. */
async function readOrNaN(read: Reading): Promise<number> {
  try {
    return await read();
  } catch {
    return Number.NaN;
  }
}

/** Registers a gauge whose value is `read()` at each scrape (NaN when that throws). */
export function gaugeFrom(registry: Registry, name: string, help: string, read: Reading): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.set(await readOrNaN(read));
    },
  });
}

/** Registers a gauge with one series per entry of `reads` (`label` = its key), each read at each scrape (NaN when that throws). */
export function gaugesFrom(registry: Registry, name: string, help: string, label: string, reads: Record<string, Reading>): void {
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    async collect() {
      for (const [value, read] of Object.entries(reads)) this.set({ [label]: value }, await readOrNaN(read));
    },
  });
}

/** Registers a counter whose total is `read()` at each scrape: a count kept elsewhere, which only grows. */
export function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
