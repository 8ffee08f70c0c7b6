#!/usr/bin/env node
// Runs the CLI from a fresh build of the TypeScript sources (for development).
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execute } from '@oclif/core';

execSync('npx tsc -p tsconfig.build.json', { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' });
await execute({ dir: import.meta.url });
