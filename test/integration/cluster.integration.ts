/**
 * A cluster of real `bitraft serve` processes (test/helpers/cluster.ts), driven through
 * one scenario on three nodes with short timings (heartbeat 50 ms, election 500 ms):
 *
 * - every node is a voter and they agree on one leader; writes through every node
 *   (followers forward them) are readable through every node;
 * - SIGKILL of the leader in the middle of a stream of writes: a new leader within a
 *   few seconds, every acknowledged write readable through both survivors; the old
 *   leader restarts on its directory and port, catches up, and — once leadership is
 *   transferred to it with RAFTTRANSFER — serves every acknowledged write from its own store;
 * - membership with the RAFT* commands: RAFTREMOVEPEER of a follower (sent to the other
 *   follower), a new node joining with --join that gets all the data, RAFTADDPEER of a
 *   node whose --join target is down, then RAFTREMOVEPEER of it again;
 * - --redirect moved (`redis-cli -c` follows -MOVED and sets/gets) and --redirect try (-TRY);
 * - SIGSTOP of the leader longer than an election timeout: the others elect a leader
 *   and take a write; a GET sent to the paused old leader, answered once it runs again,
 *   returns the new value (no stale read), and it steps down to Follower;
 * - SHUTDOWN on the leader hands leadership over before the process exits;
 * - with two of three nodes down, writes on the survivor fail with `-ERR leader not
 *   known` (or a timeout) within --request-timeout, never hang; with the nodes back, the
 *   cluster takes writes again.
 *
 * A second cluster with the server's default timings checks the failover time after a
 * SIGKILL of the leader.
 */
import type { Redis } from 'ioredis';
import t, { type Test as Tap } from 'tap';
import { ReplyError, startCluster, sleep, type ClusterNode, type Resp, type TestCluster } from '../helpers/cluster.js';
import { freePort, redisCliAsync, requireTools } from '../helpers/server.js';

/** An error reply's text, or the value as a string. */
function show(r: Resp | undefined): string {
  return r instanceof ReplyError ? `-${r.message}` : JSON.stringify(r);
}

/** Reads `keys` through `node` with one MGET; the keys whose value differs from `want`. */
async function missing(c: TestCluster, node: ClusterNode, want: Map<string, string>): Promise<string[]> {
  const keys = [...want.keys()];
  if (keys.length === 0) return [];
  const reply = await c.call(node, ['MGET', ...keys], 10_000);
  if (!Array.isArray(reply)) throw new Error(`MGET through ${node.name}: ${show(reply)}`);
  return keys.flatMap((k, i) => (reply[i] === want.get(k) ? [] : [`${k}=${show(reply[i])} (want ${want.get(k)})`]));
}

/** The members that forward reads to the leader (not started with --redirect). */
function forwarding(c: TestCluster): ClusterNode[] {
  return c.members().filter((n) => !n.args.includes('--redirect'));
}

/** Polls until `node` has applied at least `index`. */
async function waitApplied(c: TestCluster, node: ClusterNode, index: number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const applied = Number((await c.stats(node).catch(() => ({}) as Record<string, string>)).applied_index ?? -1);
    if (applied >= index) return applied;
    if (Date.now() > deadline) throw new Error(`${node.name} applied ${applied} < ${index} after ${timeoutMs} ms\n${c.logs()}`);
    await sleep(50);
  }
}

/** Polls RAFTSTATE of `node` until it is `state`; the time it took. */
async function waitState(c: TestCluster, node: ClusterNode, state: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last: Resp | undefined;
  while (Date.now() - started < timeoutMs) {
    last = await c.tryCall(node, ['RAFTSTATE'], 500);
    if (last === state) return Date.now() - started;
    await sleep(25);
  }
  throw new Error(`${node.name} is still ${show(last)}, not ${state}, after ${timeoutMs} ms\n${c.logs()}`);
}

/**
 * Moves leadership to `to` with RAFTTRANSFER sent to the leader, which must answer with
 * `to`'s address; then waits until all live nodes agree that `to` leads.
 */
async function transferTo(t: Tap, c: TestCluster, to: ClusterNode): Promise<void> {
  const leader = await c.leader();
  if (leader === to) return;
  const reply = await c.call(leader, ['RAFTTRANSFER', to.addr], 10_000);
  t.equal(show(reply), JSON.stringify(to.addr), `RAFTTRANSFER ${to.name} on ${leader.name} answers with its address`);
  const now = await c.waitForLeader(10_000);
  if (now !== to) throw new Error(`after RAFTTRANSFER ${to.addr} the leader is ${now.addr}\n${c.logs()}`);
}

/**
 * Writes unique keys through `node` one at a time until `stop()`; acknowledged ones go
 * into `acked`. Errors (the node is down, no leader yet) are skipped after a short pause.
 */
async function writer(c: TestCluster, node: ClusterNode, tag: string, acked: Map<string, string>, stop: () => boolean): Promise<void> {
  let redis: Redis | undefined;
  for (let i = 0; !stop(); i++) {
    const key = `stream:${tag}:${i}`;
    const value = `${tag}-${i}-${Date.now()}`;
    try {
      redis ??= await c.client(node, { commandTimeout: 4000 });
      if ((await redis.set(key, value)) === 'OK') acked.set(key, value);
    } catch {
      if (redis) c.drop(redis);
      redis = undefined;
      await sleep(50);
    }
  }
  if (redis) c.drop(redis);
}

/** Waits until `cond()` holds; false after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

t.test('a three-node cluster with short timings', async (t) => {
  requireTools('redis-cli');
  const c = await startCluster(t, { size: 3, timing: 'fast', requestTimeoutMs: 2000 });
  const [n0, n1, n2] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  /** Every acknowledged write of the whole test. */
  const acked = new Map<string, string>();

  await t.test('every node is a voter and all agree on one leader', async (t) => {
    const leader = await c.leader();
    t.comment(`${leader.name} leads${leader === n0 ? ' (the node that bootstrapped)' : ''}`);
    const peers = await c.peers(leader);
    t.same(peers.map((p) => p.addr).sort(), [n0.addr, n1.addr, n2.addr].sort(), 'RAFTPEERS lists the three nodes');
    t.ok(peers.every((p) => p.suffrage === 'voter'), 'all voters');
    t.same(peers.filter((p) => p.role === 'leader').map((p) => p.addr), [leader.addr], 'one of them the leader');
    const states = await Promise.all(c.nodes.map((n) => c.call(n, ['RAFTSTATE'])));
    t.same(states.slice().sort(), ['Follower', 'Follower', 'Leader']);
    const follower = c.nodes.find((n) => n !== leader)!;
    const stats = await c.stats(follower);
    t.match(stats, { id: follower.addr, state: 'Follower', leader: leader.addr, num_voters: '3', num_learners: '0', num_peers: '2' }, 'RAFTSTATS of a follower');
  });

  await t.test('writes through every node are readable through every node', async (t) => {
    for (const n of c.nodes) {
      for (let i = 0; i < 5; i++) {
        const key = `via:${n.name}:${i}`;
        const value = `${n.name}/${i}`;
        t.equal(await c.call(n, ['SET', key, value]), 'OK', `SET ${key} through ${n.name}`);
        acked.set(key, value);
      }
    }
    for (const n of c.nodes) t.same(await missing(c, n, acked), [], `every write readable through ${n.name}`);
    const leader = await c.leader();
    const follower = c.nodes.find((n) => n !== leader)!;
    const d = await c.client(follower);
    t.equal(await d.del('via:n0:0'), 1, `DEL through the follower ${follower.name} (ioredis)`);
    t.equal(await c.call(leader, ['GET', 'via:n0:0']), null, 'gone on the leader');
    t.equal(await d.set('via:n0:0', 'n0/0'), 'OK', 'SET through it (ioredis)');
    c.drop(d);
  });

  let oldLeader!: ClusterNode;
  await t.test('SIGKILL of the leader in the middle of a stream of writes', async (t) => {
    oldLeader = await c.leader();
    const survivors = c.nodes.filter((n) => n !== oldLeader);
    let stopped = false;
    const stop = (): boolean => stopped;
    const streamed = new Map<string, string>();
    const writers = c.nodes.map((n) => writer(c, n, n.name, streamed, stop));
    if (!(await until(() => streamed.size >= 60, 15_000))) {
      stopped = true;
      await Promise.all(writers);
      throw new Error(`only ${streamed.size} writes acknowledged in 15 s before the kill\n${c.logs()}`);
    }
    const before = streamed.size;
    const killedAt = Date.now();
    await c.kill(oldLeader, 'SIGKILL');
    const newLeader = await c.waitForLeader(10_000, { among: survivors, not: oldLeader });
    const failoverMs = Date.now() - killedAt;
    t.comment(`new leader ${newLeader.name} ${failoverMs} ms after the SIGKILL of ${oldLeader.name}`);
    t.ok(failoverMs < 5000, `a new leader within 5 s (took ${failoverMs} ms)`);
    // Writes go on through the new leader.
    await until(() => streamed.size >= before + 60, 15_000);
    stopped = true;
    await Promise.all(writers);
    t.ok(streamed.size >= before + 60, `writes resumed after the failover (${before} acknowledged before the kill, ${streamed.size} in all)`);
    for (const [k, v] of streamed) acked.set(k, v);
    for (const n of survivors) t.same(await missing(c, n, acked), [], `all ${acked.size} acknowledged writes readable through ${n.name}`);
  });

  await t.test('the old leader restarts on its directory and catches up', async (t) => {
    const leader = await c.leader();
    const commit = Number((await c.stats(leader)).commit_index);
    await c.restart(oldLeader);
    await c.waitForLeader(10_000);
    t.equal(await c.call(oldLeader, ['RAFTSTATE']), 'Follower', 'it rejoins as a follower');
    const applied = await waitApplied(c, oldLeader, commit);
    t.ok(applied >= commit, `it applied up to ${applied} (the leader had committed ${commit} when it restarted)`);
    t.same(await missing(c, oldLeader, acked), [], 'every acknowledged write readable through it');
    // As the leader it answers reads from its own store.
    await transferTo(t, c, oldLeader);
    t.same(await missing(c, oldLeader, acked), [], 'and served from its own store once it leads (RAFTTRANSFER)');
  });

  let added!: ClusterNode;
  await t.test('membership: RAFTREMOVEPEER a follower, a new node joins and gets all the data', async (t) => {
    const leader = await c.leader();
    const [gone, other] = c.members().filter((n) => n !== leader) as [ClusterNode, ClusterNode];
    t.equal(show(await c.remove(gone, other)), '"OK"', `RAFTREMOVEPEER ${gone.name} sent to the follower ${other.name}`);
    await c.waitForVoters([leader, other]);
    t.pass(`the voters are ${leader.name} and ${other.name}`);
    t.match(show(await c.call(leader, ['RAFTREMOVEPEER', gone.addr])), /^-ERR .*not a member/, 'removing it again is an error');
    t.equal(await c.call(other, ['RAFTADDPEER', other.addr]), 'OK', 'adding an existing voter is a no-op');
    await c.kill(gone, 'SIGKILL');
    t.equal(await c.call(other, ['SET', 'after:remove', 'x']), 'OK', 'two voters still commit');
    acked.set('after:remove', 'x');

    added = await c.add({ join: other, args: ['--redirect', 'moved'] });
    t.pass(`${added.name} joined through ${other.name} and is a voter`);
    t.match(c.log(added), /joined the cluster through/);
    const commit = Number((await c.stats(leader)).commit_index);
    await waitApplied(c, added, commit);
    await transferTo(t, c, added);
    t.same(await missing(c, added, acked), [], `${added.name} serves all ${acked.size} keys from its own store once it leads`);
    await transferTo(t, c, leader);
  });

  await t.test('--redirect moved: redis-cli -c follows -MOVED', async (t) => {
    const leader = await c.leader();
    t.not(added, leader);
    t.equal(show(await c.call(added, ['SET', 'moved:k', 'v1'])), `-MOVED 0 ${leader.addr}`, 'a write answers -MOVED 0 <leader>');
    t.equal(show(await c.call(added, ['GET', 'moved:k'])), `-MOVED 0 ${leader.addr}`, 'so does a linearizable read');
    const set = await redisCliAsync(added.port, ['-c', 'SET', 'moved:k', 'v2'], undefined, 15_000);
    t.equal(set.stdout.trim(), 'OK', `redis-cli -c SET: ${set.stdout}${set.stderr}`);
    const get = await redisCliAsync(added.port, ['-c', 'GET', 'moved:k'], undefined, 15_000);
    t.equal(get.stdout.trim(), 'v2', `redis-cli -c GET: ${get.stdout}${get.stderr}`);
    acked.set('moved:k', 'v2');
    t.equal(await c.call(added, ['RAFTLEADER']), leader.addr, 'RAFTLEADER still answered locally');
  });

  await t.test('membership with RAFTADDPEER alone; --redirect try', async (t) => {
    // A node whose --join target is down waits, empty, until someone adds it.
    const nowhere = `127.0.0.1:${await freePort()}`;
    const extra = await c.add({ join: nowhere, args: ['--redirect', 'try'], wait: false });
    const leader = await c.leader();
    const follower = forwarding(c).find((n) => n !== leader && n !== extra)!;
    t.equal(await c.call(extra, ['RAFTLEADER']), null, 'not a member yet: no leader known');
    t.equal(show(await c.call(follower, ['RAFTADDPEER', extra.addr], 40_000)), '"OK"', `RAFTADDPEER ${extra.name} sent to the follower ${follower.name}`);
    await c.waitForVoters([...c.members(), extra]);
    t.pass(`${extra.name} is a voter; ${c.members().length} voters`);
    await waitApplied(c, extra, Number((await c.stats(leader)).commit_index));
    t.equal(show(await c.call(extra, ['SET', 'try:k', 'v'])), `-TRY ${leader.addr}`, 'a write on it answers -TRY <leader>');
    t.equal(show(await c.call(extra, ['GET', 'try:k'])), `-TRY ${leader.addr}`, 'so does a linearizable read');
    t.equal(show(await c.call(extra, ['RAFTREMOVEPEER', extra.addr])), `-TRY ${leader.addr}`, 'membership commands are redirected too');
    t.equal(await c.call(leader, ['RAFTREMOVEPEER', extra.addr], 10_000), 'OK', `RAFTREMOVEPEER ${extra.name} on the leader`);
    await c.waitForVoters(c.members().filter((n) => n !== extra));
    extra.removed = true;
    t.same(await c.kill(extra, 'SIGTERM'), { code: 0, signal: null }, 'it stops cleanly on SIGTERM');
    t.equal(await c.call(leader, ['SET', 'after:extra', 'y']), 'OK');
    acked.set('after:extra', 'y');
  });

  await t.test('SIGSTOP of the leader: the others take over, no stale read, it steps down', async (t) => {
    const paused = await c.leader();
    const others = c.members().filter((n) => n !== paused);
    t.equal(await c.call(paused, ['SET', 'stale:k', 'old']), 'OK');
    c.pause(paused);
    const pausedAt = Date.now();
    const next = await c.waitForLeader(10_000, { among: others, not: paused });
    t.comment(`${next.name} leads ${Date.now() - pausedAt} ms after SIGSTOP of ${paused.name}`);
    t.equal(await c.call(next, ['SET', 'stale:k', 'new']), 'OK', 'a write through the new leader');
    acked.set('stale:k', 'new');
    // Queued on the stopped process, which still believes it leads when it wakes up.
    const read = c.call(paused, ['GET', 'stale:k'], 15_000);
    const write = c.call(paused, ['SET', 'stale:w', 'through-old'], 15_000);
    await sleep(Math.max(0, 3 * c.electionMs - (Date.now() - pausedAt)));
    c.resume(paused);
    t.equal(show(await read), '"new"', 'a GET sent to the old leader returns the new value');
    const w = await write;
    t.ok(w === 'OK' || w instanceof ReplyError, `a SET sent to it is answered: ${show(w)}`);
    if (w === 'OK') acked.set('stale:w', 'through-old');
    const ms = await waitState(c, paused, 'Follower', 5000);
    t.pass(`${paused.name} is a Follower ${ms} ms after SIGCONT`);
    t.equal(await c.waitForLeader(10_000), next, 'all agree on the new leader');
    for (const n of forwarding(c)) t.same(await missing(c, n, acked), [], `all ${acked.size} writes readable through ${n.name}`);
  });

  await t.test('SHUTDOWN on the leader hands leadership over first', async (t) => {
    const leader = await c.leader();
    const others = c.members().filter((n) => n !== leader);
    await c.call(leader, ['SHUTDOWN'], 15_000).catch(() => undefined);
    const exit = await leader.proc!.exited;
    const exitedAt = Date.now();
    t.same(exit, { code: 0, signal: null }, 'it exits cleanly');
    const handed = /handed leadership to (\S+)/.exec(leader.proc!.stderr());
    t.ok(handed, `it logged the handover:\n${leader.proc!.stderr().split('\n').slice(-6).join('\n')}`);
    const next = await c.waitForLeader(10_000, { among: others });
    const ms = Date.now() - exitedAt;
    if (handed) t.equal(next.addr, handed[1], 'the node it handed over to leads');
    t.ok(ms < c.electionMs, `the others agree on it ${ms} ms after the exit (less than an election timeout, ${c.electionMs} ms)`);
    t.equal(await c.call(next, ['SET', 'after:shutdown', 'z']), 'OK', 'and commit writes');
    acked.set('after:shutdown', 'z');
  });

  await t.test('with two of three nodes down, writes fail fast instead of hanging', async (t) => {
    const down = c.members().filter((n) => !c.running(n));
    const leader = await c.leader();
    // The survivor must forward (not answer -MOVED); the leader if need be.
    const survivor = c.live().find((n) => n !== leader && forwarding(c).includes(n)) ?? leader;
    const victim = c.live().find((n) => n !== survivor)!;
    t.comment(`killing ${victim.name}${victim === leader ? ' (the leader)' : ''}; ${survivor.name}${survivor === leader ? ' (the leader)' : ''} survives`);
    await c.kill(victim, 'SIGKILL');
    down.push(victim);
    const bound = c.requestTimeoutMs + 2 * c.electionMs + 1500;
    for (let round = 0; round < 2; round++) {
      const started = Date.now();
      const reply = await c.call(survivor, ['SET', 'nomajority', String(round)], bound + 10_000).catch((err: Error) => err);
      const ms = Date.now() - started;
      t.ok(reply instanceof ReplyError && /leader not known|timed out/.test(reply.message), `round ${round}: ${reply instanceof Error ? reply.message : show(reply)} after ${ms} ms`);
      t.ok(ms <= bound, `answered within ${bound} ms (${ms} ms)`);
    }
    await sleep(2 * c.electionMs);
    const started = Date.now();
    t.equal(show(await c.call(survivor, ['SET', 'nomajority', 'x'], bound + 10_000)), '-ERR leader not known', 'once the election timed out: -ERR leader not known');
    t.ok(Date.now() - started <= bound, `within ${bound} ms`);
    t.equal(show(await c.call(survivor, ['GET', 'via:n1:1'], bound + 10_000)), '-ERR leader not known', 'linearizable reads too');
    t.equal(await c.call(survivor, ['RAFTLEADER']), null, 'RAFTLEADER: null');
    t.not(await c.call(survivor, ['RAFTSTATE']), 'Leader');

    await Promise.all(down.map((n) => c.restart(n)));
    const back = await c.waitForLeader(15_000);
    t.pass(`with the nodes back ${back.name} leads`);
    t.equal(await c.call(survivor, ['SET', 'recovered', 'yes'], 10_000), 'OK', 'and writes commit again');
    acked.set('recovered', 'yes');
    for (const n of forwarding(c)) t.same(await missing(c, n, acked), [], `all ${acked.size} acknowledged writes readable through ${n.name}`);
  });
});

t.test('failover with the default timings (heartbeat 100 ms, election timeout 1000 ms)', async (t) => {
  const c = await startCluster(t, { size: 3, timing: 'default' });
  const leader = await c.leader();
  t.equal(await c.call(leader, ['SET', 'k', 'v']), 'OK');
  const survivors = c.nodes.filter((n) => n !== leader);
  const killedAt = Date.now();
  await c.kill(leader, 'SIGKILL');
  const next = await c.waitForLeader(15_000, { among: survivors, not: leader });
  const ms = Date.now() - killedAt;
  t.comment(`new leader ${next.name} ${ms} ms after the SIGKILL`);
  t.ok(ms < 5000, `a new leader within 5 s (took ${ms} ms; an election waits 1–2 s)`);
  for (const n of survivors) t.equal(await c.call(n, ['GET', 'k'], 5000), 'v', `the write readable through ${n.name}`);
});
