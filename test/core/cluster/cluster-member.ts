/**
 * A Cluster for tests: a real `Cluster.open` over its own Bitcask and KvMachine in a
 * directory, on an in-process network, with its log lines kept; and the small helpers
 * the Cluster tests share.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Bitcask, type BitcaskOptions } from '../../../src/core/bitcask/index.js';
import { Cluster, type ClusterOptions } from '../../../src/core/cluster/cluster.js';
import { encodeCommand } from '../../../src/core/kv/index.js';
import type { Reply } from '../../../src/core/resp/types.js';
import { streamLogger } from '../../../src/core/server/log.js';
import { fixtureOf, type KvFixture } from '../kv/kv-fixture.js';
import type { Net } from './in-process-net.js';

/** Anything that runs teardowns (a tap Test). */
export type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** An open member and what the test reads of it. */
export interface Member {
  id: string;
  dir: string;
  cluster: Cluster;
  kv: KvFixture;
  /** Every line logged, without the timestamp. */
  logs: string[];
  /** Stops the cluster (errors ignored) and closes the store. Idempotent. */
  close(): Promise<void>;
}

/** Where and how to open a member. */
export interface MemberSettings {
  net: Net;
  id: string;
  dir: string;
  /** Options of its Bitcask (`sync: 'none'` unless given). */
  store?: BitcaskOptions;
  /** Options of the Cluster, over the store, machine, transport, logger and `join: false`. */
  cluster: Omit<Partial<ClusterOptions>, 'dir' | 'id'>;
}

/**
 * Opens a member (Cluster.open) and registers it on the network; closed in teardown.
 * Rejects with what the open threw, the store closed.
 */
export async function openMember(t: Teardown, s: MemberSettings): Promise<Member> {
  const { net, id, dir } = s;
  const store = await Bitcask.open(dir, { sync: 'none', ...s.store });
  const kv = fixtureOf(dir, store);
  const logs: string[] = [];
  const logger = streamLogger('debug', { write: (line: string) => logs.push(line.replace(/^\S+ /, '').trimEnd()) });
  let cluster: Cluster;
  try {
    cluster = await Cluster.open({
      dir,
      id,
      durability: 'low',
      heartbeatMs: 10,
      electionMs: 100,
      store,
      machine: kv.machine,
      transport: net.transport(id),
      logger,
      join: false,
      checkpointMs: 20,
      ...s.cluster,
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  net.members.set(id, cluster);
  // The cluster's timers are unref'd (a server's socket keeps a node alive): keep the test alive.
  const keepAlive = setInterval(() => {}, 1000);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await cluster.stop().catch(() => {});
      if (net.members.get(id) === cluster) net.members.delete(id);
      await store.close();
      clearInterval(keepAlive);
    })());
  t.teardown(close);
  return { id, dir, cluster, kv, logs, close };
}

/** Resolves once `cond` holds; throws after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A write through the log, as SET key value. */
export function set(c: Cluster, key: string, value: string): Promise<Reply> {
  return c.driver.propose(encodeCommand([Buffer.from('SET'), Buffer.from(key), Buffer.from(value)]));
}
