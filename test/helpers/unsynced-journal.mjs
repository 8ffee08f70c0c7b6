/**
 * Preloaded into a `bitraft serve` process (`node --import <this file> bin/run.js serve …`)
 * by the kill tests that discard unsynced data: records, in the journal file named by
 * BITRAFT_UNSYNCED_JOURNAL, how much of each file is on disk for sure. A line
 * `sync <size> <path>` is appended whenever a file is fsynced (its size then), `rename
 * <from>\t<to>` when one is renamed, `unlink <path>` when one is removed. After the process
 * is killed, `rollBackUnsynced` (unsynced-rollback.ts) cuts every file it wrote back to
 * its last synced size, as a power loss would leave it.
 *
 * Plain JavaScript, so the compiled CLI can load it without the TypeScript loader. The
 * journal is written with the original `fs` functions, before the patched ones run on.
 */
import fs from 'node:fs';
import path from 'node:path';

const journalPath = process.env.BITRAFT_UNSYNCED_JOURNAL;
if (journalPath) {
  const orig = {
    openSync: fs.openSync,
    closeSync: fs.closeSync,
    fsyncSync: fs.fsyncSync,
    fdatasyncSync: fs.fdatasyncSync,
    fdatasync: fs.fdatasync,
    fsync: fs.fsync,
    fstatSync: fs.fstatSync,
    renameSync: fs.renameSync,
    rmSync: fs.rmSync,
    unlinkSync: fs.unlinkSync,
    writeSync: fs.writeSync,
    promisesOpen: fs.promises.open,
  };
  const journal = orig.openSync(journalPath, 'a');
  /** fd → absolute path of every file this process opened. */
  const paths = new Map();
  const note = (line) => orig.writeSync(journal, `${line}\n`);
  const synced = (fd) => {
    const p = paths.get(fd);
    if (p === undefined) return;
    try {
      note(`sync ${orig.fstatSync(fd).size} ${p}`);
    } catch {
      // The descriptor went away meanwhile: nothing to record.
    }
  };

  fs.openSync = function openSync(file, ...rest) {
    const fd = orig.openSync(file, ...rest);
    if (typeof file === 'string') paths.set(fd, path.resolve(file));
    return fd;
  };
  fs.closeSync = function closeSync(fd) {
    paths.delete(fd);
    return orig.closeSync(fd);
  };
  fs.fsyncSync = function fsyncSync(fd) {
    orig.fsyncSync(fd);
    synced(fd);
  };
  fs.fdatasyncSync = function fdatasyncSync(fd) {
    orig.fdatasyncSync(fd);
    synced(fd);
  };
  fs.fdatasync = function fdatasync(fd, cb) {
    // The size is taken before the sync starts: bytes written meanwhile are not covered.
    const before = (() => {
      try {
        return orig.fstatSync(fd).size;
      } catch {
        return undefined;
      }
    })();
    const p = paths.get(fd);
    orig.fdatasync(fd, (err) => {
      if (!err && p !== undefined && before !== undefined) note(`sync ${before} ${p}`);
      cb(err);
    });
  };
  fs.fsync = function fsync(fd, cb) {
    fs.fdatasync(fd, cb);
  };
  fs.renameSync = function renameSync(from, to) {
    orig.renameSync(from, to);
    const [a, b] = [path.resolve(String(from)), path.resolve(String(to))];
    note(`rename ${a}\t${b}`);
    // A descriptor open on the renamed file now writes to its new name.
    for (const [fd, p] of paths) if (p === a) paths.set(fd, b);
  };
  fs.unlinkSync = function unlinkSync(file) {
    orig.unlinkSync(file);
    note(`unlink ${path.resolve(String(file))}`);
  };
  fs.rmSync = function rmSync(file, opts) {
    orig.rmSync(file, opts);
    note(`unlink ${path.resolve(String(file))}`);
  };
  fs.promises.open = async function open(file, ...rest) {
    const handle = await orig.promisesOpen(file, ...rest);
    const p = path.resolve(String(file));
    const sync = handle.sync.bind(handle);
    const datasync = handle.datasync.bind(handle);
    const record = async (run) => {
      const { size } = await handle.stat();
      await run();
      note(`sync ${size} ${p}`);
    };
    handle.sync = () => record(sync);
    handle.datasync = () => record(datasync);
    return handle;
  };
}
