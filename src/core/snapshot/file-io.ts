import type fs from 'node:fs';

/** Writes all of `data` to `handle` at `position`, looping over short writes. */
export async function writeAll(handle: fs.promises.FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
