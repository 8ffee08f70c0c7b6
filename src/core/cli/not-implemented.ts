import { Command } from '@oclif/core';

/**
 * Builds the command class of a subcommand that is planned but not built yet: its help
 * says so, and running it prints one line and exits with code 2. It never fakes output.
 */
export function notImplementedCommand(name: string, summary: string): typeof Command {
  return class NotImplemented extends Command {
    static override summary = `${summary} (not implemented yet)`;
    static override description = `\`bitraft ${name}\` is part of bitraft's plan but is not implemented in this version.`;
    static override strict = false;

    async run(): Promise<void> {
      this.error(`bitraft ${name} is not implemented yet`, { exit: 2 });
    }
  };
}
