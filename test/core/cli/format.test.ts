import t from 'tap';
import { humanBytes, humanCount, renderTable } from '../../../src/core/cli/index.js';

t.test('humanBytes', async (t) => {
  t.equal(humanBytes(0), '0 B');
  t.equal(humanBytes(1023), '1023 B');
  t.equal(humanBytes(1536), '1.50 KiB');
  t.equal(humanBytes(20 * 1024 * 1024), '20.0 MiB');
  t.equal(humanBytes(-2048), '-2.00 KiB');
  t.equal(humanBytes(5 * 1024 ** 5), '5120.0 TiB');
});

t.test('humanCount groups thousands', async (t) => {
  t.equal(humanCount(1234567), '1,234,567');
  t.equal(humanCount(0), '0');
});

t.test('renderTable lays out a header and rows', async (t) => {
  const out = renderTable(['name', 'value'], [['a', '1'], ['bb', '22']]);
  t.match(out, /name/);
  t.match(out, /│ bb\s+│ 22\s+│/);
  t.equal(out.split('\n').length, 7);
});
