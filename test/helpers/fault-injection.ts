import type { Test } from 'tap';

/** Replaces `obj[name]` until the test ends (or `restore` is called). For injecting I/O failures into `node:fs`. */
export function patch<T extends object, K extends keyof T>(t: Test, obj: T, name: K, impl: T[K]): () => void {
  const orig = obj[name];
  obj[name] = impl;
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    obj[name] = orig;
  };
  t.teardown(restore);
  return restore;
}

/** An error shaped like the one `node:fs` throws for `code` (e.g. ENOSPC). */
export function ioError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** Runs `fn` and returns the intervals it started (`setInterval`), e.g. to check they are unref'd. */
export function intervalsStartedBy(fn: () => void): NodeJS.Timeout[] {
  const original = globalThis.setInterval;
  const timers: NodeJS.Timeout[] = [];
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const timer = original(...args);
    timers.push(timer);
    return timer;
  }) as typeof setInterval;
  try {
    fn();
  } finally {
    globalThis.setInterval = original;
  }
  return timers;
}
