/**
 * The RESP that bulkLoad streams into `redis-cli --pipe`: one SET per key or MSETs of
 * several, keys `key:<i>` or those of a given key function, each with `loadValue(i)`.
 */
import t from 'tap';
import { commandCount, loadCommands, loadKey, loadValue, LOAD_VALUE_BYTES } from './bulk-load.js';

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

t.test('one SET per key, keys key:<i> from `from` on', async (t) => {
  const text = [...loadCommands({ from: 5, count: 2 })].join('');
  t.equal(text, `*3\r\n$3\r\nSET\r\n${bulk(loadKey(5))}${bulk(loadValue(5))}*3\r\n$3\r\nSET\r\n${bulk('key:6')}${bulk(loadValue(6))}`);
  t.equal(loadValue(6).length, LOAD_VALUE_BYTES);
  t.equal(commandCount({ count: 2 }), 2);
});

t.test('MSETs of perCommand pairs, under the keys of the key function', async (t) => {
  const key = (i: number): string => `k${String(i).padStart(15, '0')}`;
  const text = [...loadCommands({ count: 3, perCommand: 2, key })].join('');
  t.equal(text, `*5\r\n$4\r\nMSET\r\n${bulk(key(0))}${bulk(loadValue(0))}${bulk(key(1))}${bulk(loadValue(1))}*3\r\n$3\r\nSET\r\n${bulk(key(2))}${bulk(loadValue(2))}`);
  t.equal(commandCount({ count: 3, perCommand: 2 }), 2);
});
