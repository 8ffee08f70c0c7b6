/**
 * Reads a Prometheus text exposition in tests: the samples of one metric as a map from
 * the sample as written (name and labels) to its value.
 */
export function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The value of the one sample written exactly `sample` (name and labels); undefined when absent. */
export function valueOf(text: string, sample: string): number | undefined {
  const name = sample.split('{')[0]!;
  return samples(text, name).get(sample);
}

/** GET http://127.0.0.1:port/metrics; rejects on a status other than 200. */
export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return text;
}

/** Scrapes until `ok(text)` holds and returns that text; rejects after `ms`, with the last text. */
export async function scrapeUntil(port: number, ok: (text: string) => boolean, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = await scrape(port);
    if (ok(text)) return text;
    if (Date.now() > end) throw new Error(`gave up waiting on /metrics after ${ms} ms; last:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The port a node's log says it serves metrics on (`serving metrics on http://127.0.0.1:PORT/metrics`). */
export function loggedMetricsPort(log: string): number {
  const m = /serving metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics\n/.exec(log);
  if (!m) throw new Error(`no metrics line in:\n${log}`);
  return Number(m[1]);
}
