/**
 * Crash-consistency testing in the style of ALICE: record every mutating file operation
 * a piece of code makes under one directory, then rebuild, in fresh directories, the
 * states a crash could have left at each point — and let the real code reopen them.
 *
 * **Recording** (`recordFs`): `node:fs` (its default-export object) and `fs.promises`
 * are patched for the test; operations on paths or descriptors under the root are
 * performed for real and logged with what is needed to replay them: creates (from
 * `open` flags), mkdir, rename, unlink, rmdir (a recursive `rm` as the unlinks and
 * rmdirs it makes, children first), writes (node, offset, bytes), truncates, fsync and
 * fdatasync of files and of directories, and close. The asynchronous forms the code
 * uses are covered: callback `fs.fsync`/`fs.fdatasync`, and `fs.promises.open` file
 * handles (`write`, `writeFile`, `truncate`, `sync`, `datasync`, `close`). Mutating
 * calls it does not model throw when they touch the root, so nothing escapes the log.
 * Files are tracked as nodes (inodes), so writes through a descriptor follow a renamed
 * or unlinked file, and directory entries belong to the directory node they were made
 * in, not to a path.
 *
 * **Persistence model** (`planCrashStates`), close to ext4 `data=ordered` and ALICE's:
 * a crash after the first `k` operations leaves
 *
 * 1. for each file, every data operation (write, truncate) made before the last fsync of
 *    that file that completed within the prefix (an fsync covers the operations logged
 *    before it was called; an asynchronous one counts from when it completed);
 * 2. of the data operations after that: none, all, or — for the last unsynced write of
 *    the prefix — the earlier ones plus a prefix of that write, cut at every 1 KiB, 3 KiB
 *    and 4 KiB boundary of the file it crosses (at most `maxCutsPerWrite` of them, evenly
 *    spread);
 * 3. every directory operation (create, mkdir, rename, unlink, rmdir) followed, within
 *    the prefix, by an fsync of the directory it changed (both directories, for a rename)
 *    — the others may each be missing, the entry then showing its old state;
 * 4. nothing else reordered: data operations of one file apply in order, and an
 *    operation whose entry is not there (the create before it is missing) has no effect.
 *
 * For each `k` it enumerates: everything unsynced lost (data and directory operations);
 * everything kept (a process crash: the OS wrote it all); unsynced data lost with every
 * directory operation kept; the torn variants of the last unsynced write (everything
 * else kept); and each not-yet-durable directory operation missing alone (unsynced data
 * lost). It does not enumerate combinations of several missing directory operations,
 * tears of writes other than the last unsynced one, lost writes in the middle of a file
 * with later ones kept, zero-filled or garbage blocks, or metadata (mode, times). States
 * that rebuild the same files with the same marks (see `mark`) before them are checked
 * once; past `maxStates` a seeded, deterministic sample is kept.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seededRng } from '../../src/core/support/rng.js';

/** Identifies a file or directory (an inode) for the life of one recording. */
export type NodeId = number;

/** A directory entry change; `path` is the entry's path relative to the root when it was made. */
export type DirOp =
  | { kind: 'mkdir' | 'create' | 'unlink' | 'rmdir'; parent: NodeId; name: string; node: NodeId; path: string }
  | { kind: 'rename'; parent: NodeId; name: string; toParent: NodeId; toName: string; node: NodeId; path: string; to: string };

/** A change of a file's bytes. */
export type DataOp = { kind: 'write'; node: NodeId; offset: number; data: Buffer; path: string } | { kind: 'truncate'; node: NodeId; size: number; path: string };

/**
 * One recorded operation. `fsync` (fsync or fdatasync, of a file or a directory) makes
 * durable what was logged before index `covers`. `mark` is not a file operation: the test
 * notes there that something was acknowledged (see `CrashFsRecorder.mark`).
 */
export type FsOp =
  | DirOp
  | DataOp
  | { kind: 'fsync'; node: NodeId; covers: number; path: string }
  | { kind: 'close'; node: NodeId; path: string }
  | { kind: 'mark'; label: string };

/** A file's bytes or a directory's entries, in a `DirSnapshot`. */
export type SnapshotNode = { kind: 'dir'; entries: ReadonlyMap<string, NodeId> } | { kind: 'file'; data: Buffer };

/** The durable contents of a directory tree before recording began, by node. */
export interface DirSnapshot {
  readonly root: NodeId;
  readonly nodes: ReadonlyMap<NodeId, SnapshotNode>;
}

/** Reads the tree under `root` (files and directories only), numbering nodes from 0 in walk order. */
export function snapshotDir(root: string): DirSnapshot {
  const nodes = new Map<NodeId, SnapshotNode>();
  const walk = (p: string): NodeId => {
    const id = nodes.size;
    if (!fs.statSync(p).isDirectory()) {
      nodes.set(id, { kind: 'file', data: fs.readFileSync(p) });
      return id;
    }
    const entries = new Map<string, NodeId>();
    nodes.set(id, { kind: 'dir', entries });
    for (const name of fs.readdirSync(p).sort()) entries.set(name, walk(path.join(p, name)));
    return id;
  };
  return { root: walk(root), nodes };
}

interface OpenFile {
  node: NodeId;
  path: string;
  /** Where a write without a position goes. */
  pos: number;
  append: boolean;
}

type AnyFn = (...args: never[]) => unknown;

/** Which `open` flags create, truncate or append. */
function parseFlags(flags: unknown): { create: boolean; truncate: boolean; append: boolean } {
  if (typeof flags === 'number') {
    const c = fs.constants;
    const writable = (flags & (c.O_WRONLY | c.O_RDWR)) !== 0;
    return { create: (flags & c.O_CREAT) !== 0, truncate: writable && (flags & c.O_TRUNC) !== 0, append: (flags & c.O_APPEND) !== 0 };
  }
  const f = typeof flags === 'string' ? flags : 'r';
  return { create: /^[wa]/.test(f), truncate: f.startsWith('w'), append: f.startsWith('a') };
}

/** Bytes of a `Buffer`/`TypedArray`/`DataView` without copying. */
function bytesOf(data: NodeJS.ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The arguments of a `write(fd|handle, …)` after the descriptor, in either form
 * (`buffer, offset?, length?, position?`, `buffer, {offset, length, position}` or
 * `string, position?, encoding?`): the bytes it asks to write and its position (null:
 * the descriptor's current one).
 */
function writeArgs(args: unknown[]): { bytes: Buffer; position: number | null } {
  const [data, a, b, c] = args;
  const pos = (p: unknown): number | null => (typeof p === 'number' && p >= 0 ? p : null);
  if (typeof data === 'string') return { bytes: Buffer.from(data, (b as BufferEncoding | undefined) ?? 'utf8'), position: pos(a) };
  const view = bytesOf(data as NodeJS.ArrayBufferView);
  const o = typeof a === 'object' && a !== null ? (a as { offset?: number; length?: number; position?: number | null }) : { offset: a as number | undefined, length: b as number | undefined, position: c as number | null | undefined };
  const offset = o.offset ?? 0;
  return { bytes: view.subarray(offset, offset + (o.length ?? view.length - offset)), position: pos(o.position) };
}

/** Mutating `node:fs` calls that the recorder does not model: they throw when they touch the root. */
const REFUSED_SYNC = ['appendFileSync', 'writevSync', 'linkSync', 'symlinkSync', 'cpSync'];
const REFUSED_CALLBACK = ['write', 'writev', 'writeFile', 'appendFile', 'ftruncate', 'truncate', 'rename', 'unlink', 'rmdir', 'rm', 'mkdir', 'copyFile', 'cp', 'link', 'symlink', 'createWriteStream'];
const REFUSED_PROMISES = ['writeFile', 'appendFile', 'rename', 'unlink', 'rmdir', 'rm', 'mkdir', 'truncate', 'copyFile', 'cp', 'link', 'symlink'];

/**
 * Records the mutating file operations under one directory; see the module comment.
 * Created by `recordFs`; `stop` (or the test's end) restores `node:fs`.
 */
export class CrashFsRecorder {
  /** The directory recorded (absolute). */
  readonly root: string;
  /** The tree under the root when recording began, taken as durable. */
  readonly initial: DirSnapshot;
  /** Every operation so far, in the order made. */
  readonly log: FsOp[] = [];
  /** The recorder's view of the tree now: directories' entries by node (files have none). */
  private readonly dirs = new Map<NodeId, Map<string, NodeId>>();
  private nextNode: number;
  private readonly fds = new Map<number, OpenFile>();
  /** Above 0 while inside a patched call: calls it makes itself are not recorded again. */
  private depth = 0;
  private stopped = false;
  private readonly restorers: (() => void)[] = [];

  /** @internal Use `recordFs`. */
  constructor(root: string) {
    this.root = path.resolve(root);
    this.initial = snapshotDir(this.root);
    for (const [id, n] of this.initial.nodes) if (n.kind === 'dir') this.dirs.set(id, new Map(n.entries));
    this.nextNode = this.initial.nodes.size;
    this.install();
  }

  /** Index the next operation will get: states with `k >= position` include everything made so far. */
  get position(): number {
    return this.log.length;
  }

  /** File operations recorded (marks aside). */
  get operations(): number {
    return this.log.filter((op) => op.kind !== 'mark').length;
  }

  /**
   * Notes that something was acknowledged now (a sync resolved). Returns the mark's
   * index: crash states with `k > index` come after it. States are deduplicated per
   * number of marks before them, so a test's oracle may depend on marks only.
   */
  mark(label: string): number {
    this.log.push({ kind: 'mark', label });
    return this.log.length - 1;
  }

  /** Restores `node:fs`; idempotent. Removing the root with `rm` also does. */
  stop(): void {
    // Node may have kept references to patched functions (its rm loads lazily): they pass through from now on.
    this.stopped = true;
    while (this.restorers.length > 0) this.restorers.pop()!();
  }

  /** Whether a call now is to be recorded: recording, and not inside a recorded call. */
  private get active(): boolean {
    return this.depth === 0 && !this.stopped;
  }

  // ---- the tree ----

  /** Where `p` is relative to the root, or undefined when outside it (or not a string). */
  private rel(p: unknown): string | undefined {
    if (typeof p !== 'string') return undefined;
    const r = path.relative(this.root, path.resolve(p));
    return r === '..' || r.startsWith(`..${path.sep}`) || path.isAbsolute(r) ? undefined : r;
  }

  /** Throws unless `rel` is below the root: the root's own entry is outside the recording. */
  private notRoot(rel: string): string {
    if (rel === '') throw new Error('crash-fs: cannot record an entry change of the root');
    return rel;
  }

  /** The node at `rel` now, or undefined. */
  private lookup(rel: string): NodeId | undefined {
    let node: NodeId | undefined = this.initial.root;
    for (const part of rel === '' ? [] : rel.split(path.sep)) node = node === undefined ? undefined : this.dirs.get(node)?.get(part);
    return node;
  }

  /** The directory holding `rel` and the entry's name; throws for the root itself or a missing parent. */
  private entry(rel: string): { parent: NodeId; name: string; node: NodeId | undefined } {
    const parent = this.lookup(path.dirname(this.notRoot(rel)) === '.' ? '' : path.dirname(rel));
    if (parent === undefined || !this.dirs.has(parent)) throw new Error(`crash-fs: the directory of ${rel} is not in the recorded tree`);
    const name = path.basename(rel);
    return { parent, name, node: this.dirs.get(parent)!.get(name) };
  }

  private newNode(dir: boolean): NodeId {
    const id = this.nextNode++;
    if (dir) this.dirs.set(id, new Map());
    return id;
  }

  /** The node now at `rel`; throws if the tree lost track of it. */
  private nodeAt(rel: string): NodeId {
    const node = this.lookup(rel);
    if (node === undefined) throw new Error(`crash-fs: ${rel} is not in the recorded tree`);
    return node;
  }

  // ---- recording ----

  private push(op: FsOp): void {
    this.log.push(op);
  }

  private recordOpen(rel: string, flags: unknown, fd: number, existed: NodeId | undefined): void {
    const f = parseFlags(flags);
    let node = existed;
    if (node === undefined) {
      const { parent, name } = this.entry(rel);
      node = this.newNode(false);
      this.dirs.get(parent)!.set(name, node);
      this.push({ kind: 'create', parent, name, node, path: rel });
    } else if (f.truncate && !this.dirs.has(node)) {
      this.push({ kind: 'truncate', node, size: 0, path: rel });
    }
    this.fds.set(fd, { node, path: rel, pos: 0, append: f.append });
  }

  /** Logs a write of `bytes` through `file`; `position` null means at its current position (or the end, appending). */
  private recordWrite(file: OpenFile, fd: number, bytes: Buffer, position: number | null, written: number): void {
    const at = position ?? (file.append ? fs.fstatSync(fd).size - written : file.pos);
    this.push({ kind: 'write', node: file.node, offset: at, data: Buffer.from(bytes.subarray(0, written)), path: file.path });
    if (position === null) file.pos = at + written;
  }

  private recordUnlink(rel: string, kind: 'unlink' | 'rmdir'): void {
    const { parent, name, node } = this.entry(rel);
    this.dirs.get(parent)!.delete(name);
    this.push({ kind, parent, name, node: node!, path: rel });
  }

  /** Logs removing the tree at `rel` as `rm -r` does it: children first. */
  private recordRemoveTree(rel: string): void {
    const node = this.nodeAt(rel);
    const children = this.dirs.get(node);
    if (children === undefined) return this.recordUnlink(rel, 'unlink');
    for (const name of [...children.keys()].sort()) this.recordRemoveTree(path.join(rel, name));
    this.recordUnlink(rel, 'rmdir');
  }

  private recordMkdirs(rels: string[]): void {
    for (const rel of rels) {
      const { parent, name } = this.entry(rel);
      const node = this.newNode(true);
      this.dirs.get(parent)!.set(name, node);
      this.push({ kind: 'mkdir', parent, name, node, path: rel });
    }
  }

  private recordRename(from: string, to: string): void {
    const src = this.entry(from);
    const dst = this.entry(to);
    const node = src.node!;
    this.dirs.get(src.parent)!.delete(src.name);
    this.dirs.get(dst.parent)!.set(dst.name, node);
    this.push({ kind: 'rename', parent: src.parent, name: src.name, toParent: dst.parent, toName: dst.name, node, path: from, to });
  }

  private fsyncOp(file: OpenFile, covers: number): FsOp {
    return { kind: 'fsync', node: file.node, covers, path: file.path };
  }

  // ---- patches ----

  private swap(obj: object, name: string, make: (orig: AnyFn) => AnyFn): void {
    const target = obj as Record<string, AnyFn>;
    const orig = target[name]!;
    target[name] = make(orig);
    this.restorers.push(() => {
      target[name] = orig;
    });
  }

  /** Runs `orig` with nested patched calls passed through; `after` records once it succeeded. */
  private guarded<R>(orig: AnyFn, self: unknown, args: unknown[], after: (result: R) => void): R {
    this.depth++;
    let result: R;
    try {
      result = (orig as (...a: unknown[]) => R).apply(self, args);
    } finally {
      this.depth--;
    }
    after(result);
    return result;
  }

  private touchesRoot(args: unknown[]): boolean {
    return (typeof args[0] === 'number' && this.fds.has(args[0])) || args.some((a) => this.rel(a) !== undefined);
  }

  private refuse(obj: object, name: string): void {
    this.swap(obj, name, (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        if (rec.active && rec.touchesRoot(args)) throw new Error(`crash-fs: ${name} is not recorded; use a recorded operation`);
        return (orig as (...a: unknown[]) => unknown).apply(this, args);
      } as AnyFn;
    });
  }

  /** Patches a sync function taking a path first: `record` runs after it succeeded when the path is under the root. */
  private patchPath(name: string, record: (rel: string, args: unknown[]) => void, entry = false): void {
    this.swap(fs, name, (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const rel = rec.active ? rec.rel(args[0]) : undefined;
        if (rel === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        if (entry) rec.notRoot(rel);
        return rec.guarded(orig, this, args, () => record(rel, args));
      } as AnyFn;
    });
  }

  /** Patches a sync function taking a descriptor first: `record` runs after it succeeded when the descriptor is tracked. */
  private patchFd(name: string, record: (file: OpenFile, fd: number, args: unknown[], result: unknown) => void): void {
    this.swap(fs, name, (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const fd = args[0] as number;
        const file = rec.active ? rec.fds.get(fd) : undefined;
        if (file === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        return rec.guarded(orig, this, args, (result) => record(file, fd, args, result));
      } as AnyFn;
    });
  }

  private install(): void {
    this.swap(fs, 'openSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const rel = rec.active ? rec.rel(args[0]) : undefined;
        if (rel === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        const existed = rec.lookup(rel);
        return rec.guarded<number>(orig, this, args, (fd) => rec.recordOpen(rel, args[1], fd, existed));
      } as AnyFn;
    });
    this.patchFd('closeSync', (file, fd) => {
      this.fds.delete(fd);
      this.push({ kind: 'close', node: file.node, path: file.path });
    });
    this.patchFd('writeSync', (file, fd, args, n) => {
      const { bytes, position } = writeArgs(args.slice(1));
      this.recordWrite(file, fd, bytes, position, n as number);
    });
    this.patchFd('ftruncateSync', (file, _fd, args) => this.push({ kind: 'truncate', node: file.node, size: (args[1] as number | undefined) ?? 0, path: file.path }));
    for (const name of ['fsyncSync', 'fdatasyncSync']) this.patchFd(name, (file) => this.push(this.fsyncOp(file, this.log.length)));
    this.patchPath('truncateSync', (rel, args) => this.push({ kind: 'truncate', node: this.nodeAt(rel), size: (args[1] as number | undefined) ?? 0, path: rel }));
    this.patchPath('unlinkSync', (rel) => this.recordUnlink(rel, 'unlink'), true);
    this.patchPath('rmdirSync', (rel) => this.recordUnlink(rel, 'rmdir'), true);
    this.swap(fs, 'rmSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const rel = rec.active ? rec.rel(args[0]) : undefined;
        // A path the tree does not hold: rm fails, or (force) does nothing.
        // Removing the root (say, the test's temp dir going) ends the recording.
        if (rel === '') rec.stop();
        if (rel === undefined || rel === '' || rec.lookup(rel) === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        return rec.guarded(orig, this, args, () => rec.recordRemoveTree(rel));
      } as AnyFn;
    });
    this.swap(fs, 'mkdirSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const rel = rec.active ? rec.rel(args[0]) : undefined;
        if (rel === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        const missing: string[] = [];
        for (let r = rel; r !== '' && r !== '.' && rec.lookup(r) === undefined; r = path.dirname(r)) missing.unshift(r);
        return rec.guarded(orig, this, args, () => rec.recordMkdirs(missing));
      } as AnyFn;
    });
    this.swap(fs, 'renameSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const from = rec.active ? rec.rel(args[0]) : undefined;
        const to = rec.active ? rec.rel(args[1]) : undefined;
        if (from === undefined && to === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        if (from === undefined || to === undefined) throw new Error('crash-fs: a rename into or out of the recorded root is not recorded');
        rec.notRoot(from);
        rec.notRoot(to);
        return rec.guarded(orig, this, args, () => rec.recordRename(from, to));
      } as AnyFn;
    });
    // Whole-file writes, as the open, writes and close they amount to.
    this.swap(fs, 'writeFileSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const [target, data, options] = args;
        const tracked = rec.active && (typeof target === 'number' ? rec.fds.has(target) : rec.rel(target) !== undefined);
        if (!tracked) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        const opts = (typeof options === 'string' ? { encoding: options } : (options ?? {})) as { encoding?: BufferEncoding; flag?: string; mode?: number };
        const bytes = typeof data === 'string' ? Buffer.from(data, opts.encoding ?? 'utf8') : bytesOf(data as NodeJS.ArrayBufferView);
        const fd = typeof target === 'number' ? target : fs.openSync(target as string, opts.flag ?? 'w', opts.mode);
        try {
          for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, null);
        } finally {
          if (fd !== target) fs.closeSync(fd);
        }
        return undefined;
      } as AnyFn;
    });
    this.swap(fs, 'copyFileSync', (orig) => {
      const rec = this;
      return function (this: unknown, ...args: unknown[]) {
        const to = rec.active ? rec.rel(args[1]) : undefined;
        if (to === undefined) return (orig as (...a: unknown[]) => unknown).apply(this, args);
        const data = fs.readFileSync(args[0] as string);
        fs.writeFileSync(args[1] as string, data, { flag: (((args[2] as number | undefined) ?? 0) & fs.constants.COPYFILE_EXCL) !== 0 ? 'wx' : 'w' });
        return undefined;
      } as AnyFn;
    });
    for (const name of ['fsync', 'fdatasync']) {
      this.swap(fs, name, (orig) => {
        const rec = this;
        return function (this: unknown, fd: number, callback: (err: NodeJS.ErrnoException | null) => void) {
          const file = rec.active ? rec.fds.get(fd) : undefined;
          if (file === undefined) return (orig as (...a: unknown[]) => unknown).call(this, fd, callback);
          const covers = rec.log.length;
          return (orig as (...a: unknown[]) => unknown).call(this, fd, (err: NodeJS.ErrnoException | null) => {
            if (!err) rec.push(rec.fsyncOp(file, covers));
            callback(err);
          });
        } as AnyFn;
      });
    }
    this.swap(fs.promises, 'open', (orig) => {
      const rec = this;
      return async function (this: unknown, ...args: unknown[]) {
        const rel = rec.active ? rec.rel(args[0]) : undefined;
        if (rel === undefined) return (orig as (...a: unknown[]) => Promise<fs.promises.FileHandle>).apply(this, args);
        const existed = rec.lookup(rel);
        const handle = await (orig as (...a: unknown[]) => Promise<fs.promises.FileHandle>).apply(this, args);
        rec.recordOpen(rel, args[1], handle.fd, existed);
        rec.wrapHandle(handle);
        return handle;
      } as AnyFn;
    });
    for (const name of REFUSED_SYNC) this.refuse(fs, name);
    for (const name of REFUSED_CALLBACK) this.refuse(fs, name);
    for (const name of REFUSED_PROMISES) this.refuse(fs.promises, name);
  }

  /** Records the mutating methods of one file handle (by giving it its own properties). */
  private wrapHandle(handle: fs.promises.FileHandle): void {
    const fd = handle.fd;
    const file = this.fds.get(fd)!;
    const h = handle as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    // Some methods (close) are the handle's own properties: keep what each name resolves to now.
    const originals = new Map(['write', 'truncate', 'sync', 'datasync', 'close'].map((name) => [name, h[name]!]));
    const call = (name: string, args: unknown[]): Promise<unknown> => originals.get(name)!.apply(handle, args);
    h.write = async (...args) => {
      const { bytes, position } = writeArgs(args);
      const result = (await call('write', args)) as { bytesWritten: number };
      this.recordWrite(file, fd, bytes, position, result.bytesWritten);
      return result;
    };
    h.writeFile = async (data, options) => {
      const encoding = typeof options === 'string' ? (options as BufferEncoding) : (options as { encoding?: BufferEncoding } | undefined)?.encoding;
      const bytes = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : bytesOf(data as NodeJS.ArrayBufferView);
      for (let done = 0; done < bytes.length; ) done += ((await h.write!(bytes, done, bytes.length - done, null)) as { bytesWritten: number }).bytesWritten;
    };
    h.truncate = async (len) => {
      await call('truncate', [len]);
      this.push({ kind: 'truncate', node: file.node, size: (len as number | undefined) ?? 0, path: file.path });
    };
    for (const name of ['sync', 'datasync']) {
      h[name] = async () => {
        const covers = this.log.length;
        await call(name, []);
        this.push(this.fsyncOp(file, covers));
      };
    }
    h.close = async () => {
      await call('close', []);
      if (this.fds.get(fd) === file) this.fds.delete(fd);
      this.push({ kind: 'close', node: file.node, path: file.path });
    };
    for (const name of ['appendFile', 'writev']) {
      h[name] = () => Promise.reject(new Error(`crash-fs: FileHandle.${name} is not recorded; use a recorded operation`));
    }
  }
}

/**
 * Starts recording the operations under `root` (an existing directory; its contents now
 * are the durable starting point). Recording stops at `stop()` or when the test ends.
 */
export function recordFs(t: { teardown(fn: () => void): void }, root: string): CrashFsRecorder {
  const rec = new CrashFsRecorder(root);
  t.teardown(() => rec.stop());
  return rec;
}

// ---- crash states ----

/** How a crash state is built from the first `k` operations of a log (see the module comment). */
export interface CrashStateSpec {
  /** Operations `log[0..k)` were made. */
  readonly k: number;
  readonly kind: 'power-loss' | 'process-crash' | 'unsynced-lost' | 'torn' | 'dir-revert';
  /** Whether data operations after a file's last fsync are kept. */
  readonly keepUnsynced: boolean;
  /** The write torn: its index in the log and the bytes of it kept (earlier ones kept, later ones of its file dropped). */
  readonly torn?: { readonly op: number; readonly keep: number };
  /** Indexes of the directory operations left out. */
  readonly missing: readonly number[];
  /** One line saying what the state is. */
  readonly describe: string;
}

/** A crash state materialised in `dir`, which is removed when the iteration moves on. */
export interface CrashState extends CrashStateSpec {
  readonly dir: string;
}

/** Options of `crashStates`. */
export interface CrashStateOptions {
  /** Most states kept (default 2000); past it, a sample chosen with `seed`. */
  maxStates?: number;
  /** Seed of that sample (default 1). */
  seed?: number;
  /** Most tears of one write (default 4): its cut points, evenly spread. */
  maxCutsPerWrite?: number;
  /** Where the states' temporary directories are made (default the OS temp dir). */
  base?: string;
  /** Keep states equal to an earlier one (to inspect the enumeration); default false. */
  keepDuplicates?: boolean;
}

/** The crash states of a log: how many were enumerated, how many distinct, and those checked. */
export interface CrashStates extends Iterable<CrashState> {
  /** States enumerated, duplicates included. */
  readonly candidates: number;
  /** Distinct states (same files and same marks before them). */
  readonly distinct: number;
  /** The states iterated: the distinct ones, or a sample of `maxStates` of them. */
  readonly states: readonly CrashStateSpec[];
}

/** Alignments at which the last unsynced write is torn. */
export const TEAR_ALIGNMENTS = [1024, 3072, 4096] as const;

function isDirOp(op: FsOp): op is DirOp {
  return op.kind === 'mkdir' || op.kind === 'create' || op.kind === 'unlink' || op.kind === 'rmdir' || op.kind === 'rename';
}

/** The directories whose fsync makes `op` durable. */
function parentsOf(op: DirOp): NodeId[] {
  return op.kind === 'rename' ? [op.parent, op.toParent] : [op.parent];
}

/** One line for an operation, for state descriptions. */
export function describeOp(op: FsOp): string {
  switch (op.kind) {
    case 'write':
      return `write ${op.path} @${op.offset} +${op.data.length}`;
    case 'truncate':
      return `truncate ${op.path} to ${op.size}`;
    case 'rename':
      return `rename ${op.path} -> ${op.to}`;
    case 'mark':
      return `mark ${op.label}`;
    default:
      return `${op.kind} ${op.path === '' ? '.' : op.path}`;
  }
}

/** Offsets into `op`'s bytes at which it is torn: its 1, 3 and 4 KiB file boundaries, at most `max`, evenly spread. */
export function tearPoints(op: { offset: number; data: Buffer }, max: number): number[] {
  const end = op.offset + op.data.length;
  const set = new Set<number>();
  for (const a of TEAR_ALIGNMENTS) for (let p = Math.ceil((op.offset + 1) / a) * a; p < end; p += a) set.add(p - op.offset);
  const all = [...set].sort((x, y) => x - y);
  if (all.length <= max) return all;
  return [...new Set(Array.from({ length: max }, (_, i) => all[Math.round((i * (all.length - 1)) / Math.max(1, max - 1))]!))];
}

/** The log indexed for rebuilding states. */
class Replay {
  /** Data operations (log indexes) of each file, in order. */
  private readonly dataOps = new Map<NodeId, number[]>();

  constructor(
    readonly log: readonly FsOp[],
    readonly initial: DirSnapshot,
  ) {
    log.forEach((op, i) => {
      if (op.kind !== 'write' && op.kind !== 'truncate') return;
      let list = this.dataOps.get(op.node);
      if (!list) this.dataOps.set(op.node, (list = []));
      list.push(i);
    });
  }

  /** How many of `node`'s data operations have an index below `end`. */
  countBelow(node: NodeId, end: number): number {
    const list = this.dataOps.get(node) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < end) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The directory tree after `spec`'s directory operations: entries by directory node. */
  tree(spec: CrashStateSpec): Map<NodeId, Map<string, NodeId>> {
    const dirs = new Map<NodeId, Map<string, NodeId>>();
    for (const [id, n] of this.initial.nodes) if (n.kind === 'dir') dirs.set(id, new Map(n.entries));
    // Every directory exists from the start (a missing mkdir only leaves it unlinked).
    for (const op of this.log) if (op.kind === 'mkdir') dirs.set(op.node, new Map());
    const missing = new Set(spec.missing);
    for (let i = 0; i < spec.k; i++) {
      const op = this.log[i]!;
      if (!isDirOp(op) || missing.has(i)) continue;
      const from = dirs.get(op.parent)!;
      if (op.kind === 'mkdir' || op.kind === 'create') {
        // The name is taken when the removal that freed it is missing.
        if (!from.has(op.name)) from.set(op.name, op.node);
      } else if (from.get(op.name) !== op.node) {
        // What it changes is not there (its create is missing): no effect.
      } else if (op.kind === 'rename') {
        from.delete(op.name);
        dirs.get(op.toParent)!.set(op.toName, op.node);
      } else if (op.kind === 'unlink' || dirs.get(op.node)!.size === 0) {
        from.delete(op.name);
      }
    }
    return dirs;
  }

  /** How many data operations of `node` a state keeps, given the fsync covers up to its `k`. */
  kept(spec: CrashStateSpec, cover: ReadonlyMap<NodeId, number>, node: NodeId): number {
    if (spec.torn && (this.log[spec.torn.op] as DataOp).node === node) return this.countBelow(node, spec.torn.op + 1);
    return this.countBelow(node, spec.keepUnsynced ? spec.k : Math.min(spec.k, cover.get(node) ?? 0));
  }

  /** Calls `visit` for every entry reachable from the root, parents first, in name order. */
  walk(dirs: Map<NodeId, Map<string, NodeId>>, visit: (rel: string, node: NodeId, isDir: boolean) => void): void {
    const go = (dir: NodeId, prefix: string): void => {
      for (const name of [...dirs.get(dir)!.keys()].sort()) {
        const node = dirs.get(dir)!.get(name)!;
        const rel = prefix === '' ? name : `${prefix}/${name}`;
        const isDir = dirs.has(node);
        visit(rel, node, isDir);
        if (isDir) go(node, rel);
      }
    };
    go(this.initial.root, '');
  }

  /** A string equal for two states exactly when they rebuild the same tree and bytes. */
  fingerprint(spec: CrashStateSpec, cover: ReadonlyMap<NodeId, number>): string {
    const parts: string[] = [];
    this.walk(this.tree(spec), (rel, node, isDir) => {
      if (isDir) parts.push(`${rel}/`);
      else parts.push(`${rel}=${node}:${this.kept(spec, cover, node)}${spec.torn && (this.log[spec.torn.op] as DataOp).node === node ? `~${spec.torn.keep}` : ''}`);
    });
    return parts.join('\n');
  }

  /** The bytes of `node` after its first `count` data operations (the torn one cut). */
  content(node: NodeId, count: number, torn: CrashStateSpec['torn']): Buffer {
    const init = this.initial.nodes.get(node);
    let buf = init?.kind === 'file' ? Buffer.from(init.data) : Buffer.alloc(0);
    let size = buf.length;
    const ensure = (n: number): void => {
      if (n <= buf.length) return;
      const grown = Buffer.alloc(Math.max(n, buf.length * 2));
      buf.copy(grown, 0, 0, size);
      buf = grown;
    };
    for (const i of (this.dataOps.get(node) ?? []).slice(0, count)) {
      const op = this.log[i] as DataOp;
      if (op.kind === 'truncate') {
        ensure(op.size);
        if (op.size < size) buf.fill(0, op.size, size);
        size = op.size;
        continue;
      }
      const data = torn?.op === i ? op.data.subarray(0, torn.keep) : op.data;
      ensure(op.offset + data.length);
      data.copy(buf, op.offset);
      size = Math.max(size, op.offset + data.length);
    }
    return buf.subarray(0, size);
  }

  /** The fsync covers of the first `k` operations. */
  coverAt(k: number): Map<NodeId, number> {
    const cover = new Map<NodeId, number>();
    for (let i = 0; i < k; i++) {
      const op = this.log[i]!;
      if (op.kind === 'fsync') cover.set(op.node, Math.max(cover.get(op.node) ?? 0, op.covers));
    }
    return cover;
  }

  /** Writes the state into the empty directory `dir`. */
  materialize(spec: CrashStateSpec, dir: string): void {
    const cover = this.coverAt(spec.k);
    this.walk(this.tree(spec), (rel, node, isDir) => {
      const p = path.join(dir, rel);
      if (isDir) fs.mkdirSync(p);
      else fs.writeFileSync(p, this.content(node, this.kept(spec, cover, node), spec.torn));
    });
  }
}

/** Every crash state of `log` (see the module comment), deduplicated, at most `maxStates`. */
export function planCrashStates(log: readonly FsOp[], initial: DirSnapshot, options: CrashStateOptions = {}): Omit<CrashStates, typeof Symbol.iterator> {
  const replay = new Replay(log, initial);
  const maxCuts = options.maxCutsPerWrite ?? 4;
  const cover = new Map<NodeId, number>();
  let pending: number[] = [];
  let marks = 0;
  let candidates = 0;
  const seen = new Set<string>();
  const states: CrashStateSpec[] = [];
  const consider = (spec: Omit<CrashStateSpec, 'describe'>, what: string): void => {
    candidates++;
    const key = `${marks}\n${replay.fingerprint(spec as CrashStateSpec, cover)}`;
    if (seen.has(key) && !options.keepDuplicates) return;
    seen.add(key);
    const last = spec.k === 0 ? 'before any operation' : `after #${spec.k - 1} ${describeOp(log[spec.k - 1]!)}`;
    states.push({ ...spec, describe: `${last}: ${what}` });
  };
  const durable = (i: number): boolean => parentsOf(log[i] as DirOp).every((p) => (cover.get(p) ?? 0) > i);
  for (let k = 0; k <= log.length; k++) {
    const op = k > 0 ? log[k - 1]! : undefined;
    if (op?.kind === 'mark') marks++;
    if (op?.kind === 'fsync') cover.set(op.node, Math.max(cover.get(op.node) ?? 0, op.covers));
    if (op && isDirOp(op)) pending.push(k - 1);
    pending = pending.filter((i) => !durable(i));
    consider({ k, kind: 'power-loss', keepUnsynced: false, missing: [...pending] }, `unsynced data and ${pending.length} unsynced directory operations lost`);
    consider({ k, kind: 'process-crash', keepUnsynced: true, missing: [] }, 'everything kept');
    consider({ k, kind: 'unsynced-lost', keepUnsynced: false, missing: [] }, 'unsynced data lost, directory operations kept');
    for (let i = k - 1; i >= 0; i--) {
      const w = log[i]!;
      if (w.kind !== 'write' || i < (cover.get(w.node) ?? 0)) continue;
      for (const keep of tearPoints(w, maxCuts)) consider({ k, kind: 'torn', keepUnsynced: true, torn: { op: i, keep }, missing: [] }, `${describeOp(w)} torn after ${keep} bytes`);
      break;
    }
    for (const i of pending) consider({ k, kind: 'dir-revert', keepUnsynced: false, missing: [i] }, `unsynced data lost, ${describeOp(log[i]!)} missing`);
  }
  const max = options.maxStates ?? 2000;
  let kept = states;
  if (states.length > max) {
    const rng = seededRng(options.seed ?? 1);
    const order = states.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    kept = order
      .slice(0, max)
      .sort((a, b) => a - b)
      .map((i) => states[i]!);
  }
  return { candidates, distinct: states.length, states: kept };
}

/** Writes the crash state `spec` of `log` into the empty directory `dir`. */
export function materializeCrashState(log: readonly FsOp[], initial: DirSnapshot, spec: CrashStateSpec, dir: string): void {
  new Replay(log, initial).materialize(spec, dir);
}

/**
 * The crash states of `log` over `initial` (see the module comment): iterating yields
 * each one materialised in a fresh temporary directory, removed when the iteration moves
 * on or stops. Stop the recorder first.
 */
export function crashStates(log: readonly FsOp[], initial: DirSnapshot, options: CrashStateOptions = {}): CrashStates {
  const plan = planCrashStates(log, initial, options);
  const replay = new Replay(log, initial);
  const base = options.base ?? os.tmpdir();
  return {
    ...plan,
    *[Symbol.iterator]() {
      for (const spec of plan.states) {
        const dir = fs.mkdtempSync(path.join(base, 'crash-'));
        try {
          replay.materialize(spec, dir);
          yield { ...spec, dir };
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    },
  };
}
