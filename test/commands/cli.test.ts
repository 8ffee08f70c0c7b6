import t from 'tap';
import { runCli } from '../helpers/cli.js';

const ALL = ['serve', 'join', 'leave', 'snapshot', 'parse-snapshot', 'inspect-log', 'merge'];

t.test('--help lists every command of bitraft', async (t) => {
  const r = runCli(['--help']);
  t.equal(r.status, 0);
  for (const name of ALL) t.match(r.stdout, new RegExp(`^\\s+${name}\\s`, 'm'), `lists ${name}`);
});

t.test('commands not built yet say so and exit 2, with no fake output', async (t) => {
  for (const name of ['snapshot']) {
    const r = runCli([name]);
    t.equal(r.status, 2, `${name} exits 2`);
    t.equal(r.stdout, '', `${name} prints nothing on stdout`);
    t.match(r.stderr, /not implemented yet/, `${name} explains`);
    t.notMatch(r.stderr, /\n\s+at /, `${name} shows no stack trace`);
  }
});
