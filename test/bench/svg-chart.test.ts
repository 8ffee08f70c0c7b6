/**
 * The SVG chart renderer of the published benchmark results: axis ticks, number labels,
 * escaping, and what grouped bars and lines draw (and leave out) for a given spec.
 */
import t from 'tap';
import { barChart, escapeXml, lineChart, linearTicks, logTicks, PALETTE, shortNumber } from '../../bench/svg-chart.js';

/** Every `<tag …>` element of `svg` with the given tag name. */
function elements(svg: string, tag: string): string[] {
  return svg.match(new RegExp(`<${tag}\\b[^>]*>`, 'g')) ?? [];
}

/** A numeric attribute of an element. */
function attr(el: string, name: string): number {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(el);
  if (!m) throw new Error(`no ${name} in ${el}`);
  return Number(m[1]);
}

/** The bars of a bar chart: the rects that carry a tooltip. */
function bars(svg: string): { el: string; tip: string }[] {
  return [...svg.matchAll(/(<rect\b[^>]*>)<title>([^<]*)<\/title><\/rect>/g)].map((m) => ({ el: m[1]!, tip: m[2]! }));
}

t.test('shortNumber writes counts with k and M and small numbers with three significant digits', async (t) => {
  t.equal(shortNumber(1_234_567), '1.23M');
  t.equal(shortNumber(10_000_000), '10M');
  t.equal(shortNumber(412_345), '412k');
  t.equal(shortNumber(2_000), '2k');
  t.equal(shortNumber(950), '950');
  t.equal(shortNumber(0), '0');
  t.equal(shortNumber(2.5), '2.5');
  t.equal(shortNumber(40), '40');
  t.equal(shortNumber(0.04213), '0.0421');
  t.equal(shortNumber(12.5), '12.5', 'a tick of 2.5 steps keeps its digit');
  t.equal(shortNumber(-1500), '-1.5k');
});

t.test('escapeXml escapes the five XML characters', async (t) => {
  t.equal(escapeXml(`a<b>&"c"'d'`), 'a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;');
  t.equal(escapeXml('plain'), 'plain');
});

t.test('linearTicks: round steps from 0 up to at least the maximum', async (t) => {
  t.same(linearTicks(3, 97), [0, 20, 40, 60, 80, 100]);
  t.same(linearTicks(0, 1000), [0, 200, 400, 600, 800, 1000]);
  t.same(linearTicks(10, 12), [0, 2.5, 5, 7.5, 10, 12.5]);
  t.same(linearTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1], 'all zero: an axis of length 1');
  const neg = linearTicks(-30, 50);
  t.ok(neg[0]! <= -30 && neg.at(-1)! >= 50, 'covers negative values');
  for (const [lo, hi] of [
    [0, 7],
    [0, 123_456],
    [5, 0.3],
  ] as const) {
    const ticks = linearTicks(lo, hi);
    t.ok(ticks[0]! <= Math.min(0, lo) && ticks.at(-1)! >= hi, `${lo}…${hi} covered by ${ticks.join(' ')}`);
    t.ok(ticks.length >= 2 && ticks.length <= 12, `${ticks.length} ticks`);
  }
});

t.test('logTicks: 1-2-5 values from the one at or below the minimum to the one at or above the maximum', async (t) => {
  t.same(logTicks(3, 700), [2, 5, 10, 20, 50, 100, 200, 500, 1000]);
  t.same(logTicks(0.15, 0.4), [0.1, 0.2, 0.5]);
  t.same(logTicks(5, 5), [2, 5, 10], 'a single value gets a tick on each side');
  t.same(logTicks(10, 10), [10, 20], 'a single value on the first tick of its decade');
});

t.test('barChart draws one labelled bar per defined value, in the colour of its series', async (t) => {
  const svg = barChart({
    title: 'Throughput <1 node>',
    yLabel: 'ops/s',
    categories: ['SET -P 1', 'GET -P 1'],
    series: [
      { name: 'bitraft', values: [10_000, 40_000] },
      { name: 'redis & co', values: [20_000, undefined] },
    ],
  });
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="760" height="380"/);
  t.match(svg, /<\/svg>\n$/);
  t.match(svg, />Throughput &lt;1 node&gt;</, 'title, escaped');
  t.match(svg, />redis &amp; co</, 'legend, escaped');
  t.match(svg, />SET -P 1</);
  t.match(svg, />ops\/s</, 'y label');
  const drawn = bars(svg);
  t.same(
    drawn.map((b) => b.tip),
    ['bitraft, SET -P 1: 10k', 'redis &amp; co, SET -P 1: 20k', 'bitraft, GET -P 1: 40k'],
    'no bar for the missing value',
  );
  t.ok(drawn[0]!.el.includes(`fill="${PALETTE[0]}"`) && drawn[1]!.el.includes(`fill="${PALETTE[1]}"`));
  const height = (i: number): number => attr(drawn[i]!.el, 'height');
  t.ok(Math.abs(height(1) / height(0) - 2) < 0.01, 'a linear axis: twice the value, twice the height');
  t.ok(Math.abs(height(2) / height(0) - 4) < 0.01);
  t.match(svg, />40k</, 'value label');
});

t.test('barChart on a log axis skips values it cannot draw and honours the size', async (t) => {
  const svg = barChart({
    title: 'p99',
    yLabel: 'ms',
    logY: true,
    width: 500,
    height: 300,
    categories: ['a'],
    series: [
      { name: 'one', values: [1] },
      { name: 'ten', values: [10] },
      { name: 'zero', values: [0] },
      { name: 'nan', values: [Number.NaN] },
    ],
  });
  t.match(svg, /width="500" height="300"/);
  const drawn = bars(svg);
  t.same(
    drawn.map((b) => b.tip),
    ['one, a: 1', 'ten, a: 10'],
  );
  t.ok(attr(drawn[1]!.el, 'height') > attr(drawn[0]!.el, 'height'));
  t.equal(attr(drawn[0]!.el, 'height'), 0, 'the smallest tick is the base');
});

t.test('a chart with nothing to draw still has axes', async (t) => {
  for (const logY of [false, true]) {
    const svg = barChart({ title: 'empty', yLabel: 'x', logY, categories: [], series: [] });
    t.equal(bars(svg).length, 0);
    t.ok(elements(svg, 'line').length >= 4, 'grid lines and axes');
  }
});

t.test('colours repeat past the palette', async (t) => {
  const series = Array.from({ length: PALETTE.length + 1 }, (_, i) => ({ name: `s${i}`, values: [i + 1] }));
  const drawn = bars(barChart({ title: 'many', yLabel: 'n', categories: ['c'], series }));
  t.equal(drawn.length, PALETTE.length + 1);
  t.ok(drawn.at(-1)!.el.includes(`fill="${PALETTE[0]}"`));
});

t.test('lineChart draws a line through the defined points of each series, with a marker on each', async (t) => {
  const svg = lineChart({
    title: 'RAM per key',
    xLabel: 'keys',
    yLabel: 'bytes per key',
    x: [1e6, 2e6, 5e6, 10e6],
    series: [
      { name: 'bitraft', values: [60, 58, undefined, 55] },
      { name: 'redis', values: [90, undefined, undefined, undefined] },
    ],
  });
  const lines = elements(svg, 'polyline');
  t.equal(lines.length, 1, 'a series of one point gets no line');
  const points = /points="([^"]*)"/.exec(lines[0]!)![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
  t.equal(points.length, 3);
  t.ok(points[0]![0] < points[1]![0] && points[1]![0] < points[2]![0], 'x grows to the right');
  t.ok(points[0]![1] < points[2]![1], 'a smaller y is drawn lower (a larger pixel y)');
  const gaps = (points[1]![0] - points[0]![0]) / (points[2]![0] - points[1]![0]);
  t.ok(Math.abs(gaps - 1 / 8) < 0.01, 'a linear x axis');
  t.equal(elements(svg, 'circle').length, 4);
  t.match(svg, />keys</);
  t.match(svg, />10M</, 'x tick');
  t.match(svg, /<title>bitraft at 10M: 55<\/title>/);
});

t.test('lineChart on log axes leaves out points it cannot draw', async (t) => {
  const svg = lineChart({
    title: 'restart',
    xLabel: 'keys',
    yLabel: 'ms',
    logX: true,
    logY: true,
    x: [0, 1e5, 1e6, 1e7],
    series: [{ name: 'a', values: [5, 10, 0, 1000] }],
  });
  t.equal(elements(svg, 'circle').length, 2, 'x = 0 and y = 0 are not drawn');
  const [p1, p2] = elements(svg, 'circle').map((c) => attr(c, 'cx'));
  t.ok(p2! > p1!);
  t.match(svg, />1M</, 'a decade tick on the log x axis');
});

t.test('a legend too wide for one row wraps, and the plot starts below it', async (t) => {
  const legendRows = (svg: string): number => new Set(elements(svg, 'rect').filter((r) => attr(r, 'width') === 10).map((r) => attr(r, 'y'))).size;
  const axisTop = (svg: string): number => attr(elements(svg, 'line').find((l) => attr(l, 'x1') === attr(l, 'x2') && attr(l, 'x1') === 76)!, 'y1');
  const names = ['a rather long series name', 'another rather long name', 'and a third long name'];
  const spec = { title: 't', yLabel: 'y', categories: ['c'], series: names.map((name) => ({ name, values: [1] })) };
  const wide = barChart({ ...spec, width: 1200 });
  const narrow = barChart({ ...spec, width: 400 });
  t.equal(legendRows(wide), 1);
  t.equal(legendRows(narrow), 3);
  t.ok(axisTop(narrow) > axisTop(wide), 'the plot starts lower under a taller legend');
  t.equal(axisTop(narrow) - axisTop(wide), 32, 'two more rows of 16 px');
});
