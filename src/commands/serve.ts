import { Command, Flags } from '@oclif/core';
import { describeError, secretOf } from '../core/cli/index.js';
import { parseDeadRatio, parsePeerRoutes } from '../core/cluster/index.js';
import { DEFAULT_CONFIG, formatAddress, parseAddress, startNode, streamLogger, type Durability, type ServerConfig } from '../core/server/index.js';

/** `bitraft serve`: runs a node. */
export default class Serve extends Command {
  static override summary = 'Run a bitraft node: a Redis-protocol server over a Bitcask data directory.';
  static override description = `Serves the Redis protocol on --bind, so redis-cli, redis-benchmark and any Redis client work against it. All state lives in --dir. Logs one line per notable event to stderr. SIGINT, SIGTERM and the SHUTDOWN command stop it cleanly: pending replies are sent, data is flushed and fsynced, the directory's lock is released.

Every node is a member of a Raft cluster. Without --join and without cluster state in --dir, it starts a new one-node cluster; others join it with --join (or the cluster is told with RAFTADDPEER / "bitraft join"). A node's id is its --advertise address. Followers forward writes to the leader (--redirect changes that); "-ERR leader not known" answers commands while no leader is elected, and no command waits longer than --request-timeout.

Durability: "high" acknowledges a write only once its log entry is fsynced on a majority of nodes (writes arriving together share one fsync); "medium" fsyncs the log once a second; "low" leaves flushing to the operating system.

Snapshots: the node snapshots its key/value state into <dir>/snapshots/<term>-<index>-<ms>/ (meta.json and a state.bin in the Go bitraft format) once --snapshot-entries entries or --snapshot-log-size bytes of log accumulated since the last one, and on RAFTSNAPSHOT; writes go on while it is written. The log is then compacted behind it, keeping --log-tail entries (RAFTSHRINKLOG compacts on demand). A follower too far behind — or a new node — receives the leader's newest snapshot in 1 MiB chunks (a broken transfer resumes) and replaces its store with it atomically.

Merges: the node compacts its data files by itself — rewriting the live records, dropping overwritten and deleted ones — once --merge-dead-ratio of their bytes are dead and at least --merge-min-dead-bytes of those can be reclaimed (checked every --merge-check-interval ms). A merge reads at most --merge-rate bytes a second and pauses every 256 KiB, so clients are served throughout; it gives way to shutdown and to snapshot installs, and one that fails (a full disk) changes nothing and is tried again later. INFO persistence shows its counters. --merge-dead-ratio 0 turns it off.

Security: --requirepass makes clients AUTH first. --cluster-secret is what nodes authenticate to each other with (RAFTAUTH); when set, only connections that sent it may send the internal Raft commands and membership changes (RAFTADDPEER, RAFTREMOVEPEER) — give it to "bitraft join/leave" too. Both can come from a file (--requirepass-file, --cluster-secret-file) or the environment, so they do not show in "ps". Protected mode (on by default): while no password is set, clients connecting from an address other than loopback are refused with -DENIED (nodes may still authenticate with the cluster secret). With --tls-cert and --tls-key the port serves TLS only, to clients and peers alike; the node connects to its peers over TLS, checking their certificates against --tls-ca and presenting its own; --tls-auth-clients yes makes clients present a certificate signed by --tls-ca.

Consistency of reads: "high" (default) answers on the leader after confirming with a quorum that it still leads (linearizable; followers forward); "medium" answers on the leader from its lease, without a round trip; "low" answers on any node from its own state, possibly stale.

Metrics: with --metrics host:port, GET http://host:port/metrics serves Prometheus metrics (names prefixed bitraft_): commands and their latency, connections, Raft state and replication lag, fsyncs, snapshots, merges, disk use and the process's memory. Off by default; plain HTTP, so bind it to an address only the monitoring can reach.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dir /var/lib/bitraft --bind 0.0.0.0:4920',
    'BITRAFT_REQUIREPASS=secret <%= config.bin %> <%= command.id %> --durability medium',
    '<%= config.bin %> <%= command.id %> --merge-dead-ratio 0.3 --merge-rate 16777216',
    '<%= config.bin %> <%= command.id %> --dir d2 --bind 127.0.0.1:4921 --join 127.0.0.1:4920',
    '<%= config.bin %> <%= command.id %> --metrics 127.0.0.1:9121',
    '<%= config.bin %> <%= command.id %> --dir d3 --bind 0.0.0.0:4922 --advertise db3.example:4922 --join db1.example:4920 --redirect moved',
    '<%= config.bin %> <%= command.id %> --bind 0.0.0.0:4920 --advertise db1.example:4920 --requirepass-file /etc/bitraft/password --cluster-secret-file /etc/bitraft/cluster-secret --tls-cert db1.crt --tls-key db1.key --tls-ca ca.crt',
  ];

  static override flags = {
    dir: Flags.string({ char: 'd', summary: 'Data directory (created if missing).', default: 'data' }),
    bind: Flags.string({ char: 'b', summary: 'Address to listen on (host:port; port 0 picks a free one).', default: `${DEFAULT_CONFIG.host}:${DEFAULT_CONFIG.port}` }),
    durability: Flags.option({ options: ['low', 'medium', 'high'] as const, summary: 'When writes are fsynced before they are acknowledged.', default: 'high' })(),
    requirepass: Flags.string({ summary: 'Password clients must AUTH with.', env: 'BITRAFT_REQUIREPASS' }),
    'requirepass-file': Flags.string({ summary: 'Read the password from this file (its text, without a trailing newline) instead.' }),
    'cluster-secret': Flags.string({ summary: 'Secret the nodes authenticate to each other with (RAFTAUTH); when set, only they may send internal Raft commands and membership changes.', env: 'BITRAFT_CLUSTER_SECRET' }),
    'cluster-secret-file': Flags.string({ summary: 'Read the cluster secret from this file instead.' }),
    'protected-mode': Flags.option({ options: ['yes', 'no'] as const, summary: 'While no password is set, refuse clients that connect from other addresses than loopback.', default: 'yes' })(),
    'tls-cert': Flags.string({ summary: 'Serve TLS (clients and peers) with this certificate chain, PEM.', dependsOn: ['tls-key'] }),
    'tls-key': Flags.string({ summary: "The certificate's private key, PEM.", dependsOn: ['tls-cert'] }),
    'tls-ca': Flags.string({ summary: "CA certificate(s), PEM, that peers' (and clients') certificates are checked against (default: the system's CAs).", dependsOn: ['tls-cert'] }),
    'tls-auth-clients': Flags.option({ options: ['no', 'optional', 'yes'] as const, summary: 'Whether clients must present a certificate signed by --tls-ca: no, optional (checked if sent), yes.', default: 'no' })(),
    maxclients: Flags.integer({ summary: 'Most clients connected at once.', default: DEFAULT_CONFIG.maxclients, min: 1 }),
    'max-output-buffer': Flags.integer({ summary: 'Disconnect a client once this many bytes of its replies wait unread (0: no limit).', default: DEFAULT_CONFIG.maxOutputBuffer, min: 0 }),
    'log-level': Flags.option({ options: ['debug', 'info', 'warn', 'error'] as const, summary: 'Least important events logged.', default: 'info' })(),
    'max-key-size': Flags.integer({ summary: 'Largest key accepted, in bytes.', default: DEFAULT_CONFIG.maxKeySize, min: 1 }),
    'max-value-size': Flags.integer({ summary: 'Largest value accepted, in bytes.', default: DEFAULT_CONFIG.maxValueSize, min: 0 }),
    'min-free-space': Flags.integer({ summary: 'Refuse writes (-ERR disk full) while fewer bytes than this are free on the disk of --dir (0: never).', default: DEFAULT_CONFIG.minFreeSpace, min: 0 }),
    'max-file-size': Flags.integer({ summary: 'Data files are rotated at this size, in bytes.', default: DEFAULT_CONFIG.maxFileSize, min: 64 }),
    'cache-size': Flags.integer({ summary: 'Bytes of recently written or read values kept in memory (0 disables).', default: DEFAULT_CONFIG.cacheSize, min: 0 }),
    'merge-dead-ratio': Flags.string({ summary: 'Merge the data files by itself once this fraction of their bytes is dead (overwritten or deleted keys), from 0 to 1 (0: never).', default: String(DEFAULT_CONFIG.mergeDeadRatio) }),
    'merge-min-dead-bytes': Flags.integer({ summary: 'Do not merge by itself before this many dead bytes can be reclaimed.', default: DEFAULT_CONFIG.mergeMinDeadBytes, min: 0 }),
    'merge-rate': Flags.integer({ summary: 'Bytes of data files a merge reads per second at most, so clients barely notice it (0: no limit).', default: DEFAULT_CONFIG.mergeRate, min: 0 }),
    'merge-check-interval': Flags.integer({ summary: 'Milliseconds between checks of whether to merge.', default: DEFAULT_CONFIG.mergeCheckMs, min: 1 }),
    advertise: Flags.string({ summary: 'Address peers and clients are told to reach this node at (host:port; default: the bound address). It is the node\'s id in the cluster.' }),
    join: Flags.string({ char: 'j', summary: 'On first start, join the cluster of this node (host:port) instead of starting a new one; ignored once the node has cluster state, unless it is still a learner (stopped before its promotion): then it asks again to be made a voter.' }),
    consistency: Flags.option({ options: ['low', 'medium', 'high'] as const, summary: 'Which reads a node answers itself (see below).', default: DEFAULT_CONFIG.consistency })(),
    redirect: Flags.option({ options: ['forward', 'try', 'moved'] as const, summary: 'What a follower does with writes and leader-only reads: forward them to the leader, or answer -TRY host:port or -MOVED 0 host:port.', default: DEFAULT_CONFIG.redirect })(),
    'heartbeat-interval': Flags.integer({ summary: 'Milliseconds between a leader\'s heartbeats.', default: DEFAULT_CONFIG.heartbeatMs, min: 1 }),
    'election-timeout': Flags.integer({ summary: 'Milliseconds without a leader before an election (randomised up to twice this). At least twice the heartbeat interval.', default: DEFAULT_CONFIG.electionMs, min: 2 }),
    'request-timeout': Flags.integer({ summary: 'Milliseconds a command may wait for the cluster before it fails with a timeout error.', default: DEFAULT_CONFIG.requestTimeoutMs, min: 1 }),
    'snapshot-entries': Flags.integer({ summary: 'Take a snapshot once this many log entries were applied since the last one (0: not by count).', default: DEFAULT_CONFIG.snapshotEntries, min: 0 }),
    'snapshot-log-size': Flags.integer({ summary: 'Take a snapshot once the log holds this many bytes after the last one (0: not by size).', default: DEFAULT_CONFIG.snapshotLogBytes, min: 0 }),
    'snapshot-retain': Flags.integer({ summary: 'How many snapshots to keep in <dir>/snapshots.', default: DEFAULT_CONFIG.snapshotRetain, min: 1 }),
    'peer-route': Flags.string({
      summary: 'For fault-injection tests: dial the node <id> at <host:port> instead of its id (e.g. a proxy that can cut the link). Repeatable.',
      multiple: true,
      hidden: true,
    }),
    metrics: Flags.string({ summary: 'Serve Prometheus metrics over plain HTTP at http://<host:port>/metrics (port 0 picks a free one). Off by default.' }),
    'log-tail': Flags.integer({ summary: 'Log entries kept behind a snapshot when the log is compacted, so a follower that lags a little catches up from the log instead of a snapshot.', default: DEFAULT_CONFIG.logTail, min: 0 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const logger = streamLogger(flags['log-level']);
    let node;
    try {
      const { host, port } = parseAddress(flags.bind);
      const config: ServerConfig = {
        ...DEFAULT_CONFIG,
        dir: flags.dir,
        host,
        port,
        durability: flags.durability as Durability,
        requirepass: secretOf(flags.requirepass, '--requirepass-file', flags['requirepass-file']),
        clusterSecret: secretOf(flags['cluster-secret'], '--cluster-secret-file', flags['cluster-secret-file']),
        protectedMode: flags['protected-mode'] === 'yes',
        tls:
          flags['tls-cert'] === undefined || flags['tls-key'] === undefined
            ? undefined
            : { certFile: flags['tls-cert'], keyFile: flags['tls-key'], caFile: flags['tls-ca'], authClients: flags['tls-auth-clients'] },
        maxclients: flags.maxclients,
        maxOutputBuffer: flags['max-output-buffer'],
        logLevel: flags['log-level'],
        maxKeySize: flags['max-key-size'],
        maxValueSize: flags['max-value-size'],
        maxFileSize: flags['max-file-size'],
        minFreeSpace: flags['min-free-space'],
        cacheSize: flags['cache-size'],
        mergeDeadRatio: parseDeadRatio(flags['merge-dead-ratio']),
        mergeMinDeadBytes: flags['merge-min-dead-bytes'],
        mergeRate: flags['merge-rate'],
        mergeCheckMs: flags['merge-check-interval'],
        advertise: flags.advertise === undefined ? undefined : formatAddress(parseAddress(flags.advertise)),
        join: flags.join === undefined ? undefined : formatAddress(parseAddress(flags.join)),
        consistency: flags.consistency,
        redirect: flags.redirect,
        heartbeatMs: flags['heartbeat-interval'],
        electionMs: flags['election-timeout'],
        requestTimeoutMs: flags['request-timeout'],
        snapshotEntries: flags['snapshot-entries'],
        snapshotLogBytes: flags['snapshot-log-size'],
        snapshotRetain: flags['snapshot-retain'],
        logTail: flags['log-tail'],
        peerRoutes: parsePeerRoutes(flags['peer-route']),
        metrics: flags.metrics === undefined ? undefined : parseAddress(flags.metrics),
      };
      node = await startNode(config, logger, this.config.version);
    } catch (err) {
      const { message, exit } = describeError(err);
      this.logToStderr(`Error: ${message}`);
      this.exit(exit);
    }
    const running = node;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop(`received ${signal}`));
    await running.stopped;
    if (running.stopFailed) this.exit(1);
  }
}

