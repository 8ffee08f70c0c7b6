/**
 * A cluster whose nodes require a password: they authenticate to each other with it
 * (Raft messages, forwarded commands, joining), clients still need AUTH, and a node
 * started with another password cannot join.
 */
import t from 'tap';
import { freePort, redisCli, sleep, startServer, type ServerHandle } from '../helpers/server.js';

const PASS = 's3cret';
const FAST = ['--heartbeat-interval', '50', '--election-timeout', '500'];

/** redis-cli with the cluster password, output trimmed. */
function cli(port: number, ...args: string[]): string {
  return redisCli(port, ['--no-auth-warning', '-a', PASS, ...args]).stdout.trim();
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

t.test('nodes with --requirepass replicate, forward and join with the password', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes: ServerHandle[] = [];
  nodes.push(await startServer(t, { port: ports[0], args: ['--requirepass', PASS, '--advertise', `127.0.0.1:${ports[0]}`, ...FAST] }));
  for (const port of ports.slice(1)) {
    nodes.push(await startServer(t, { port, args: ['--requirepass', PASS, '--join', `127.0.0.1:${ports[0]}`, ...FAST] }));
  }
  await until('all three are voters', () => (cli(ports[0]!, 'RAFTPEERS').match(/voter/g) ?? []).length === 3);
  t.match(redisCli(ports[1]!, ['SET', 'k', 'v']).stdout, /NOAUTH Authentication required/, 'clients still need AUTH');
  t.equal(cli(ports[1]!, 'SET', 'k', 'v'), 'OK', 'a write through a follower is forwarded, authenticated');
  t.equal(cli(ports[2]!, 'GET', 'k'), 'v', 'and readable through the other follower');
  for (const n of nodes.slice(1)) await until('the joining nodes were told they joined', () => /joined the cluster through/.test(n.stderr()));
  t.pass('both joined');

  const wrongPort = await freePort();
  const wrong = await startServer(t, { port: wrongPort, args: ['--requirepass', 'other', '--join', `127.0.0.1:${ports[0]}`, ...FAST] });
  await until('the node with a wrong password gives up', () => /could not join the cluster/.test(wrong.stderr()));
  t.match(wrong.stderr(), /WRONGPASS/, 'it says why');
  t.notMatch(cli(ports[0]!, 'RAFTPEERS'), new RegExp(`127\\.0\\.0\\.1:${wrongPort}`), 'it was not added');
  for (const n of [...nodes, wrong]) await n.stop();
});
