/**
 * What the fault runs ask a cluster of real nodes (test/helpers/cluster.ts): who leads,
 * the membership as a node sees it, and whether replicas converged. Every query has a
 * short timeout, so paused, dead or partitioned nodes only make answers absent.
 */
import { pairs, ReplyError, sleep, type ClusterNode, type Peer, type TestCluster } from './cluster.js';

/** RAFTSTATS of `node`, or undefined if it does not answer within `timeoutMs`. */
export async function statsOf(c: TestCluster, node: ClusterNode, timeoutMs = 500): Promise<Record<string, string> | undefined> {
  const reply = await c.tryCall(node, ['RAFTSTATS'], timeoutMs);
  return Array.isArray(reply) ? pairs(reply) : undefined;
}

/**
 * The node that claims to lead with the highest term among `among` (default: every node
 * whose process runs unpaused), or undefined. During a partition an old leader may still
 * claim to lead in an older term: the highest term wins.
 */
export async function findLeader(c: TestCluster, among?: readonly ClusterNode[]): Promise<ClusterNode | undefined> {
  const nodes = among ?? c.nodes.filter((n) => c.running(n) && !n.paused);
  const stats = await Promise.all(nodes.map((n) => statsOf(c, n)));
  let best: { node: ClusterNode; term: number } | undefined;
  stats.forEach((s, i) => {
    if (s?.state !== 'Leader') return;
    const term = Number(s.term);
    if (!best || term > best.term) best = { node: nodes[i]!, term };
  });
  return best?.node;
}

/** Polls `findLeader` until one answers or `timeoutMs` passes. */
export async function awaitLeader(c: TestCluster, timeoutMs: number, among?: readonly ClusterNode[]): Promise<ClusterNode | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await findLeader(c, among);
    if (leader || Date.now() > deadline) return leader;
    await sleep(100);
  }
}

/** RAFTPEERS of `node` (undefined if it does not answer), as `addr suffrage` lines, sorted. */
export async function membershipOf(c: TestCluster, node: ClusterNode, timeoutMs = 1000): Promise<string[] | undefined> {
  const reply = await c.tryCall(node, ['RAFTPEERS'], timeoutMs);
  if (!Array.isArray(reply)) return undefined;
  return reply
    .map((row) => (Array.isArray(row) ? `${String(row[0])} ${String(row[1])}` : String(row)))
    .sort();
}

/** Voters and learners in a `membershipOf` answer. */
export function splitMembership(lines: readonly string[]): { voters: string[]; learners: string[] } {
  const of = (s: Peer['suffrage']): string[] => lines.filter((l) => l.endsWith(` ${s}`)).map((l) => l.slice(0, -s.length - 1));
  return { voters: of('voter'), learners: of('learner') };
}

/**
 * Sets every node's `member` flag from the membership the leader (`findLeader`) reports —
 * voters and learners are members. Returns that membership, or undefined (flags untouched)
 * when no leader answered within `timeoutMs`.
 */
export async function syncMembers(c: TestCluster, timeoutMs = 5000): Promise<string[] | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await findLeader(c);
    const lines = leader ? await membershipOf(c, leader) : undefined;
    if (lines) {
      const { voters, learners } = splitMembership(lines);
      for (const n of c.nodes) n.member = voters.includes(n.addr) || learners.includes(n.addr);
      return lines;
    }
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

/** One node's RAFTDIGEST. */
export interface NodeDigest {
  node: string;
  index: number;
  keys: number;
  digest: string;
}

/**
 * Waits until the cluster is quiet and converged — the leader's commit index equals its
 * applied index and every member in `members` applied exactly that index, on two polls in
 * a row — then returns every member's RAFTDIGEST. Throws after `timeoutMs` with what
 * each node reported.
 */
export async function convergedDigests(c: TestCluster, members: readonly ClusterNode[], timeoutMs: number): Promise<NodeDigest[]> {
  const deadline = Date.now() + timeoutMs;
  let stable = 0;
  let seen = '';
  for (;;) {
    const leader = await findLeader(c, members);
    const stats = await Promise.all(members.map((n) => statsOf(c, n, 1000)));
    const lead = leader ? stats[members.indexOf(leader)] : undefined;
    seen = members.map((n, i) => `${n.name}: ${stats[i] ? `${stats[i]!.state} commit ${stats[i]!.commit_index} applied ${stats[i]!.applied_index}` : 'no answer'}`).join('; ');
    const target = lead?.commit_index;
    const converged = lead !== undefined && lead.applied_index === target && stats.every((s) => s?.applied_index === target);
    stable = converged ? stable + 1 : 0;
    if (stable >= 2) break;
    if (Date.now() > deadline) throw new Error(`the members did not converge within ${timeoutMs} ms: ${seen}`);
    await sleep(200);
  }
  return Promise.all(
    members.map(async (n) => {
      const reply = await c.call(n, ['RAFTDIGEST'], 10_000);
      if (reply instanceof ReplyError || !Array.isArray(reply)) throw new Error(`RAFTDIGEST on ${n.name}: ${String(reply)}`);
      const p = pairs(reply);
      return { node: n.name, index: Number(p.index), keys: Number(p.keys), digest: String(p.digest) };
    }),
  );
}
