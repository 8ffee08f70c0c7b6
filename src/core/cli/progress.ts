import ora, { type Ora } from 'ora';

/** A progress line: a spinner on a terminal, nothing when output is piped or for scripts. */
export interface Progress {
  update(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
}

const quiet: Progress = { update: () => {}, succeed: () => {}, fail: () => {} };

/**
 * Starts a progress display on stderr when it is a terminal and `enabled`; otherwise
 * returns one that prints nothing, so piped output stays machine-readable.
 */
export function startProgress(text: string, enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled || !stream.isTTY) return quiet;
  const spinner: Ora = ora({ text, stream }).start();
  return {
    update: (t) => {
      spinner.text = t;
    },
    succeed: (t) => {
      spinner.succeed(t);
    },
    fail: (t) => {
      spinner.fail(t);
    },
  };
}
