import type { Logger } from '../support/logger.js';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** A logger with levels; `error` is for events that stop something. */
export interface LevelLogger extends Logger {
  debug(msg: string): void;
  error(msg: string): void;
}

/**
 * A logger writing one line per event to `out` (stderr by default):
 * `<ISO time> <level> <message>`, dropping events below `level`.
 */
export function streamLogger(level: keyof typeof LEVELS, out: { write(s: string): unknown } = process.stderr): LevelLogger {
  const min = LEVELS[level];
  const at = (l: keyof typeof LEVELS) => (msg: string) => {
    if (LEVELS[l] >= min) out.write(`${new Date().toISOString()} ${l.padEnd(5)} ${msg}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
