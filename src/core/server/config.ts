import { BitraftError } from '../support/errors.js';
import type { TlsFiles } from './tls.js';

/** How a write is made durable before it is acknowledged. */
export type Durability = 'low' | 'medium' | 'high';

/**
 * Which reads a node answers itself. `low`: every node, from its own state (may be
 * stale). `medium`: only the leader, from its state while it holds its lease (no
 * round trip; stale only if clocks run at very different rates). `high`: only the
 * leader, after confirming with a quorum that it still leads (ReadIndex), so a read
 * never returns stale data; reads arriving together share one confirmation.
 */
export type Consistency = 'low' | 'medium' | 'high';

/** What a node that does not lead does with a command only the leader may answer: forward it, or answer `-TRY` / `-MOVED`. */
export type RedirectMode = 'forward' | 'try' | 'moved';

/** Every setting of a running node. */
export interface ServerConfig {
  /** Directory holding all state. */
  dir: string;
  host: string;
  /** 0 picks a free port (tests); the bound port is reported once listening. */
  port: number;
  /**
   * `high`: a write is acknowledged only once its log entry is fsynced on a majority
   * (writes arriving together share one fsync). `medium`: the log is fsynced once a
   * second. `low`: never fsync entries explicitly.
   */
  durability: Durability;
  /** When set, clients must AUTH with it first. */
  requirepass?: string;
  /**
   * When set, only connections that sent `RAFTAUTH <secret>` may send the internal Raft
   * commands (RAFTMSG, RAFTFWD, RAFTINSTALL) and membership changes (RAFTADDPEER,
   * RAFTREMOVEPEER); nodes authenticate to each other with it. Without it, any client
   * allowed in (by the password, if any) may.
   */
  clusterSecret?: string;
  /**
   * Redis's protected mode: while no password is set, clients connecting from addresses
   * other than loopback get `-DENIED …` and are disconnected (with a cluster secret,
   * they may still authenticate as a peer with RAFTAUTH).
   */
  protectedMode: boolean;
  /** TLS for clients and peers (certificate files); undefined: plain TCP. */
  tls?: TlsFiles;
  /** Node id → address to dial it at instead (`--peer-route`, for fault-injection tests). */
  peerRoutes?: ReadonlyMap<string, string>;
  maxclients: number;
  /**
   * A client whose unread replies (bytes the socket could not send yet) pass this many is
   * disconnected, so a client that never reads cannot make the node hold unbounded
   * memory; 0: no limit.
   */
  maxOutputBuffer: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  maxKeySize: number;
  maxValueSize: number;
  /** Writes are refused while less than this many bytes are free on the data directory's disk; 0: never. */
  minFreeSpace: number;
  /** Data files are rotated at this size. */
  maxFileSize: number;
  /** Bytes of values kept in memory to spare disk reads; 0 disables the cache. */
  cacheSize: number;
  /** A merge starts by itself once this fraction of the data files' bytes is dead; 0: never (see `AutoMerger`). */
  mergeDeadRatio: number;
  /** …and once at least this many dead bytes are in files a merge rewrites. */
  mergeMinDeadBytes: number;
  /** Bytes of data files a merge may read per second; 0: no limit. */
  mergeRate: number;
  /** How often the merge condition is checked, in ms. */
  mergeCheckMs: number;
  /** The address peers and clients are told (`host:port`); by default the bound address. */
  advertise?: string;
  /** An existing cluster's node to join through on first start. */
  join?: string;
  /** Which reads a node answers itself (see `Consistency`). */
  consistency: Consistency;
  /** What a follower does with a command only the leader may answer. */
  redirect: RedirectMode;
  /** How often a leader sends heartbeats, in ms. */
  heartbeatMs: number;
  /** Base election timeout in ms (each election waits a random time between it and twice it). */
  electionMs: number;
  /** Longest a command may wait for the cluster (commit, read barrier, forwarding) before `-ERR … timed out`. */
  requestTimeoutMs: number;
  /** A snapshot is taken once this many entries were applied since the last one (0: not by count). */
  snapshotEntries: number;
  /** A snapshot is taken once the log holds this many bytes after the last one (0: not by size). */
  snapshotLogBytes: number;
  /** How many snapshots are kept in `<dir>/snapshots`. */
  snapshotRetain: number;
  /** Entries kept in the log behind a snapshot, for followers that lag a little. */
  logTail: number;
  /** Where Prometheus metrics are served (`GET /metrics`, plain HTTP; port 0 picks a free one); undefined: not served. */
  metrics?: { host: string; port: number };
}

/** Defaults of every optional setting. */
export const DEFAULT_CONFIG: Omit<ServerConfig, 'dir'> = {
  host: '127.0.0.1',
  port: 4920,
  durability: 'high',
  protectedMode: true,
  maxclients: 10_000,
  maxOutputBuffer: 1 << 30,
  logLevel: 'info',
  maxKeySize: 1 << 20,
  maxValueSize: 512 << 20,
  maxFileSize: 256 << 20,
  minFreeSpace: 64 << 20,
  cacheSize: 64 << 20,
  mergeDeadRatio: 0.5,
  mergeMinDeadBytes: 64 << 20,
  mergeRate: 32 << 20,
  mergeCheckMs: 10_000,
  consistency: 'high',
  redirect: 'forward',
  heartbeatMs: 100,
  electionMs: 1000,
  requestTimeoutMs: 10_000,
  snapshotEntries: 100_000,
  snapshotLogBytes: 512 << 20,
  snapshotRetain: 2,
  logTail: 10_000,
};

/**
 * Parses `host:port` (`[::1]:4920` for IPv6; a bare port means 127.0.0.1). Raises
 * `INVALID_ARGUMENT` for anything else.
 */
export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr) ?? /^()()(\d+)$/.exec(addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new BitraftError('INVALID_ARGUMENT', `invalid address ${JSON.stringify(addr)}: expected host:port`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** Formats an address as `host:port` (`[host]:port` for IPv6), the form node ids take. */
export function formatAddress(addr: { host: string; port: number }): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}
