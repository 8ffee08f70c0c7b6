import type { Registry } from 'prom-client';
import { gaugeFrom, gaugesFrom } from './scraped.js';

/** The key/value store, as the metrics read it at each scrape (`Bitcask.stats()`). */
export interface StoreReadings {
  keys: number;
  /** Bytes of the records that hold live values. */
  liveBytes: number;
  /** Bytes of overwritten and deleted records and tombstones, which a merge reclaims. */
  deadBytes: number;
  /** Bytes of the data files. */
  dataBytes: number;
}

/** Where the node's bytes on disk are read from at each scrape. */
export interface DiskReadings {
  store(): StoreReadings;
  /** Bytes of the Raft log. */
  logBytes(): number;
  /** Bytes of the snapshots directory (may read the disk). */
  snapshotBytes(): Promise<number>;
}

/** Registers the store's key count, live and dead bytes, and the bytes on disk by kind of file (`data`, `log`, `snapshots`). */
export function registerStoreMetrics(registry: Registry, disk: DiskReadings): void {
  gaugeFrom(registry, 'bitraft_store_keys', 'Live keys in the key/value store.', () => disk.store().keys);
  gaugeFrom(registry, 'bitraft_store_live_bytes', 'Bytes of the data-file records that hold live values.', () => disk.store().liveBytes);
  gaugeFrom(registry, 'bitraft_store_dead_bytes', 'Bytes of overwritten or deleted records in the data files, which a merge reclaims.', () => disk.store().deadBytes);
  gaugesFrom(registry, 'bitraft_disk_bytes', 'Bytes on disk: the Bitcask data files, the Raft log, the snapshots.', 'files', {
    data: () => disk.store().dataBytes,
    log: () => disk.logBytes(),
    snapshots: () => disk.snapshotBytes(),
  });
}
