import chalk from 'chalk';
import Table from 'cli-table3';

/** `1536` → `1.5 KiB`; exact bytes below 1 KiB. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = u === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  return `${n < 0 ? '-' : ''}${text} ${units[u]}`;
}

/** `1234567` → `1,234,567`. */
export function humanCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Renders rows as a cli-table3 table with a bold header. Colour follows chalk, which
 * turns itself off when output is not a terminal (or with NO_COLOR / FORCE_COLOR=0).
 */
export function renderTable(head: string[], rows: string[][]): string {
  const table = new Table({
    head: head.map((h) => chalk.bold(h)),
    style: { head: [], border: [] },
  });
  for (const row of rows) table.push(row);
  return table.toString();
}
