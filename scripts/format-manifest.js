// Pretty-prints oclif.manifest.json so that its diffs stay readable in review.
import fs from 'node:fs';

const file = new URL('../oclif.manifest.json', import.meta.url);
fs.writeFileSync(file, `${JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')), null, 2)}\n`);
