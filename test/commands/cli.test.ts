import t from 'tap';
import { runCli } from '../helpers/cli.js';

const ALL = ['serve', 'join', 'leave', 'snapshot', 'parse-snapshot', 'inspect-log', 'merge'];

t.test('--help lists every command of bitraft', async (t) => {
  const r = runCli(['--help']);
  t.equal(r.status, 0);
  for (const name of ALL) t.match(r.stdout, new RegExp(`^\\s+${name}\\s`, 'm'), `lists ${name}`);
});
