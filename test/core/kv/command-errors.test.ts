import t from 'tap';
import { NOT_AN_INTEGER, SYNTAX_ERROR, unknownCommand, unknownSubcommand, wrongArity } from '../../../src/core/kv/command-errors.js';
import { argv, plain } from './kv-fixture.js';

// Every expected text below is what redis-server 7.0.15 replies, byte for byte.

t.test('fixed texts', async (t) => {
  t.strictSame(SYNTAX_ERROR, { type: 'error', text: 'ERR syntax error' });
  t.strictSame(NOT_AN_INTEGER, { type: 'error', text: 'ERR value is not an integer or out of range' });
  t.strictSame(wrongArity('get'), { type: 'error', text: "ERR wrong number of arguments for 'get' command" });
  t.strictSame(wrongArity('client|setname'), { type: 'error', text: "ERR wrong number of arguments for 'client|setname' command" });
});

const unknown = (...args: string[]): string => (plain(unknownCommand(argv(...args))) as { error: string }).error;

t.test('unknown command: name as sent, then each argument quoted, with a trailing space', async (t) => {
  t.equal(unknown('FOO', 'a', 'b'), "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
  t.equal(unknown('foo'), "ERR unknown command 'foo', with args beginning with: ");
  t.equal(unknown('QUITT'), "ERR unknown command 'QUITT', with args beginning with: ");
  t.equal(unknown('foo', ''), "ERR unknown command 'foo', with args beginning with: '' ");
  t.equal(unknown('', 'x'), "ERR unknown command '', with args beginning with: 'x' ");
});

t.test('unknown command: CR and LF become spaces, one each', async (t) => {
  t.equal(unknown('FOO', 'a\r\nb'), "ERR unknown command 'FOO', with args beginning with: 'a  b' ");
  t.equal(unknown('F\nO', 'x\ry'), "ERR unknown command 'F O', with args beginning with: 'x y' ");
});

t.test('unknown command: about 128 bytes of arguments, the name cut at 128', async (t) => {
  // One long argument: its first 128 bytes.
  t.equal(unknown('FOO', 'x'.repeat(300)), `ERR unknown command 'FOO', with args beginning with: '${'x'.repeat(128)}' `);
  // The second argument gets what the first left (128 - 103 = 25 bytes); nothing after.
  t.equal(
    unknown('FOO', 'a'.repeat(100), 'b'.repeat(100), 'c'),
    `ERR unknown command 'FOO', with args beginning with: '${'a'.repeat(100)}' '${'b'.repeat(25)}' `,
  );
  // Many short arguments: stops once 128 bytes are quoted.
  const many = Array.from({ length: 100 }, (_, i) => String(i % 10));
  const text = unknown('FOO', ...many);
  const quoted = text.slice("ERR unknown command 'FOO', with args beginning with: ".length);
  t.equal(quoted, "'0' '1' '2' '3' '4' '5' '6' '7' '8' '9' ".repeat(3) + "'0' '1' ", '32 args of 4 bytes = 128');
  t.equal(unknown('N'.repeat(200)), `ERR unknown command '${'N'.repeat(128)}', with args beginning with: `);
  // 127 bytes quoted: one more argument; exactly 128: no further argument.
  t.equal(unknown('FOO', 'y'.repeat(124), 'z'), `ERR unknown command 'FOO', with args beginning with: '${'y'.repeat(124)}' 'z' `);
  t.equal(unknown('FOO', 'y'.repeat(125), 'z'), `ERR unknown command 'FOO', with args beginning with: '${'y'.repeat(125)}' `);
});

t.test('unknown command: binary bytes kept one char per byte', async (t) => {
  t.equal(unknown('F\xffO', '\x00\xfe'), "ERR unknown command 'F\xffO', with args beginning with: '\x00\xfe' ");
});

t.test('unknown subcommand', async (t) => {
  t.strictSame(plain(unknownSubcommand('client', Buffer.from('FOO'))), { error: "ERR unknown subcommand 'FOO'. Try CLIENT HELP." });
  t.strictSame(plain(unknownSubcommand('config', Buffer.from('a\r\nb'))), { error: "ERR unknown subcommand 'a  b'. Try CONFIG HELP." });
  t.strictSame(plain(unknownSubcommand('command', Buffer.from('s'.repeat(300)))), { error: `ERR unknown subcommand '${'s'.repeat(128)}'. Try COMMAND HELP.` });
});
