import type { Cluster, ClusterOptions } from '../../../src/core/cluster/cluster.js';

/**
 * An in-process network for `Cluster` instances: register each in `members` by id and
 * give it `transport(id)`. Messages arrive on a microtask; ids in `cut` send and receive
 * nothing (a partitioned node).
 */
export class Net {
  readonly members = new Map<string, Cluster>();
  readonly cut = new Set<string>();

  transport(from: string): ClusterOptions['transport'] {
    return {
      send: (msgs) => {
        const batch = [...msgs];
        queueMicrotask(() => {
          for (const m of batch) if (!this.cut.has(from) && !this.cut.has(m.to)) this.members.get(m.to)?.receive([m]);
        });
      },
    };
  }
}
