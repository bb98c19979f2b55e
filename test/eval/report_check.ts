// The report check without a human: opens report.html in headless Chromium (Debian's `chromium`,
// driven over the DevTools protocol by puppeteer-core), saves a full-page screenshot, and checks
// what was drawn against results.json:
// - every chart's SVG is on the page, has a size, and rasterizes to visible ink;
// - every point of the HS / FA / drift charts sits where its (p, mean over seeds) belongs: the
//   point's screen position is mapped back through the drawn axis ticks (tick line position and
//   tick label number, least squares), and must land within half a pixel of the value;
// - every loss curve has one vertex per recorded step, each within half a pixel of (step, loss);
// - every table cell shows the mean ± sample sd of its cells (in the table before the attack: of
//   before_attack's rows of its method), to the digits shown.
// Expected values are computed here from results.json's cells, independently of the engine's
// aggregation code.
//
// Usage: node --import tsx test/eval/report_check.ts report.html results.json [screenshot.png]
// (prints the problems found and exits 1 if any). From tests: checkReport().
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExperimentResults } from '../../engine/eval/results.ts';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

interface ScreenPt { x: number; y: number }
interface AxisSeen { kind: 'x' | 'y'; ticks: { at: number; label: string }[]; other: number }
interface FigureSeen {
  id: string;
  rect: { x: number; y: number; width: number; height: number };
  visible: boolean;
  ink: number;
  axes: AxisSeen[];
  points: { label: string; pt: ScreenPt }[];
  lines: { label: string; pts: ScreenPt[] }[];
}
interface PageSeen {
  figures: FigureSeen[];
  svgCount: number;
  /** p: 'before' in the table before the attack */
  table: { method: string; p: number | 'before'; metric: string; mean: string | null; text: string }[];
}

export interface ReportCheck {
  problems: string[];
  /** what was checked, for the log */
  checked: { charts: number; points: number; lossVertices: number; tableCells: number; worstPixelError: number };
  screenshot?: string;
}

/** Runs in the page: reads the rendered SVGs (screen coordinates) and the table. */
async function readPage(): Promise<PageSeen> {
  const inkFraction = (svg: SVGSVGElement, w: number, h: number) => new Promise<number>((res) => {
    const img = new Image();
    setTimeout(() => res(0), 5000); // never hang on an image that does not load
    img.onerror = () => res(0);
    img.onload = () => {
      try {
        const c = document.createElement('canvas');
        c.width = w; c.height = h;
        const g = c.getContext('2d')!;
        g.fillStyle = '#fff'; g.fillRect(0, 0, w, h);
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, w, h).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235) n++;
        res(n / (w * h));
      } catch {
        res(0);
      }
    };
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  });
  const originOf = (el: SVGGraphicsElement, x = 0, y = 0) => {
    const m = el.getScreenCTM()!;
    const p = new DOMPoint(x, y).matrixTransform(m);
    return { x: p.x + window.scrollX, y: p.y + window.scrollY };
  };
  const figures: FigureSeen[] = [];
  for (const fig of Array.from(document.querySelectorAll('figure[data-chart]'))) {
    const svg = fig.querySelector('svg') as SVGSVGElement | null;
    if (!svg) { figures.push({ id: fig.id, rect: { x: 0, y: 0, width: 0, height: 0 }, visible: false, ink: 0, axes: [], points: [], lines: [] }); continue; }
    const r = svg.getBoundingClientRect();
    const cs = getComputedStyle(svg);
    const visible = cs.display !== 'none' && cs.visibility !== 'hidden' && Number(cs.opacity) > 0 && r.width > 50 && r.height > 50;
    // Rasterize the SVG and count non-white pixels: an empty or blank chart has none.
    const ink = r.width < 1 || r.height < 1 ? 0 : await inkFraction(svg, Math.ceil(r.width), Math.ceil(r.height));
    const axes: AxisSeen[] = [];
    for (const ax of Array.from(svg.querySelectorAll('g.role-axis[aria-label]'))) {
      const label = ax.getAttribute('aria-label') ?? '';
      const kind = label.startsWith('X-axis') ? 'x' : label.startsWith('Y-axis') ? 'y' : null;
      if (!kind) continue;
      const tickEls = Array.from(ax.querySelectorAll('g.role-axis-tick > line')) as SVGGraphicsElement[];
      const labelEls = Array.from(ax.querySelectorAll('g.role-axis-label > text'));
      const domain = ax.querySelector('g.role-axis-domain > line') as SVGGraphicsElement | null;
      const ticks = tickEls.map((t, i) => {
        const o = originOf(t);
        return { at: kind === 'x' ? o.x : o.y, label: labelEls[i]?.textContent ?? '' };
      });
      const d = domain ? originOf(domain) : { x: NaN, y: NaN };
      axes.push({ kind, ticks: tickEls.length === labelEls.length ? ticks : [], other: kind === 'x' ? d.y : d.x });
    }
    const points = Array.from(svg.querySelectorAll('g.mark-symbol.role-mark > path[aria-label]')).map((p) => ({
      label: p.getAttribute('aria-label')!, pt: originOf(p as SVGGraphicsElement),
    }));
    const lines = Array.from(svg.querySelectorAll('g.mark-line.role-mark > path[aria-label]')).map((p) => {
      const nums = (p.getAttribute('d') ?? '').match(/-?\d*\.?\d+(?:e[-+]?\d+)?/g)?.map(Number) ?? [];
      const pts: ScreenPt[] = [];
      for (let i = 0; i + 1 < nums.length; i += 2) pts.push(originOf(p as SVGGraphicsElement, nums[i], nums[i + 1]));
      return { label: p.getAttribute('aria-label')!, pts };
    });
    figures.push({ id: fig.id, rect: { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height }, visible, ink, axes, points, lines });
  }
  const table = Array.from(document.querySelectorAll('#results-table td[data-metric], #before-table td[data-metric]')).map((td) => ({
    method: td.getAttribute('data-method')!, metric: td.getAttribute('data-metric')!,
    p: td.closest('table')!.id === 'before-table' ? 'before' as const : Number(td.getAttribute('data-p')),
    mean: td.getAttribute('data-mean'), text: td.textContent ?? '',
  }));
  return { figures, svgCount: document.querySelectorAll('svg').length, table };
}

/** A tick label as a number (Vega writes U+2212 for minus and may group thousands with commas). */
function tickNumber(s: string): number {
  const t = s.replace(/\u2212/g, '-').replace(/,/g, '').trim();
  return t === '' ? NaN : Number(t);
}

/** value = a * screen + b fitted on the axis' ticks; null when fewer than two numeric ticks. */
function axisMap(ax: AxisSeen): { a: number; b: number } | null {
  const pts = ax.ticks.map((t) => [t.at, tickNumber(t.label)]).filter(([, v]) => Number.isFinite(v));
  if (pts.length < 2) return null;
  const n = pts.length;
  const mx = pts.reduce((s, [x]) => s + x, 0) / n, my = pts.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0, sxx = 0;
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); }
  if (sxx === 0) return null;
  const a = sxy / sxx;
  return { a, b: my - a * mx };
}

/**
 * The axis of `kind` that serves a screen point: the one whose tick span holds the point (or
 * misses it by the least), nearest on the correct side (x axes below their marks, y axes left).
 */
function axisFor(axes: AxisSeen[], kind: 'x' | 'y', pt: ScreenPt): AxisSeen | null {
  const along = kind === 'x' ? pt.x : pt.y, across = kind === 'x' ? pt.y : pt.x;
  let best: AxisSeen | null = null, bestKey = [Infinity, Infinity];
  for (const ax of axes) {
    if (ax.kind !== kind || ax.ticks.length < 2) continue;
    const lo = Math.min(...ax.ticks.map((t) => t.at)), hi = Math.max(...ax.ticks.map((t) => t.at));
    const outside = Math.max(0, lo - along, along - hi);
    if (outside > 0.25 * (hi - lo) + 2) continue;
    const dist = kind === 'x' ? ax.other - across : across - ax.other;
    if (dist < -2) continue;
    if (outside < bestKey[0] || (outside === bestKey[0] && dist < bestKey[1])) { bestKey = [outside, dist]; best = ax; }
  }
  return best;
}

function mean(v: number[]): number { return v.reduce((s, x) => s + x, 0) / v.length; }
function sampleSd(v: number[]): number | null {
  if (v.length < 2) return null;
  const m = mean(v);
  return Math.sqrt(v.reduce((s, x) => s + (x - m) * (x - m), 0) / (v.length - 1));
}

const CHART_METRIC: Record<string, string> = {
  'chart-harmful-score': 'harmful_score', 'chart-finetune-accuracy': 'finetune_accuracy', 'chart-drift': 'drift',
};

/** Compares what the page shows with `results`; see the file comment. */
export function compareWithResults(seen: PageSeen, results: ExperimentResults): ReportCheck {
  const problems: string[] = [];
  const checked = { charts: 0, points: 0, lossVertices: 0, tableCells: 0, worstPixelError: 0 };
  if (seen.svgCount !== seen.figures.length) problems.push(`${seen.svgCount} SVG elements for ${seen.figures.length} charts`);
  // expected means per (metric, method, p), from the cells
  const groups = new Map<string, number[]>();
  for (const c of results.cells) {
    for (const [k, v] of Object.entries(c.metrics)) {
      if (typeof v !== 'number') continue;
      const key = JSON.stringify([k, c.method, c.p]);
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(v);
    }
  }
  const pixelCheck = (what: string, fig: FigureSeen, pt: ScreenPt, want: { x: number; y: number }) => {
    const ax = axisFor(fig.axes, 'x', pt), ay = axisFor(fig.axes, 'y', pt);
    if (!ax || !ay) { problems.push(`${fig.id}: ${what}: no readable axis for the mark at (${pt.x.toFixed(1)}, ${pt.y.toFixed(1)})`); return; }
    const mx = axisMap(ax), my = axisMap(ay);
    if (!mx || !my) { problems.push(`${fig.id}: ${what}: the axis ticks cannot be read as numbers`); return; }
    const ex = Math.abs(pt.x - (want.x - mx.b) / mx.a), ey = Math.abs(pt.y - (want.y - my.b) / my.a);
    checked.worstPixelError = Math.max(checked.worstPixelError, ex, ey);
    if (ex > 0.5 || ey > 0.5) {
      problems.push(`${fig.id}: ${what}: drawn at (${(mx.a * pt.x + mx.b).toPrecision(6)}, ${(my.a * pt.y + my.b).toPrecision(6)}), expected (${want.x}, ${want.y}) (${ex.toFixed(2)} px, ${ey.toFixed(2)} px off)`);
    }
  };
  // the charts results.json has data for
  const expectedCharts = Object.entries(CHART_METRIC).filter(([, m]) => results.cells.some((c) => typeof c.metrics[m as 'drift'] === 'number')).map(([id]) => id);
  if ((results.alignments ?? []).some((a) => a.loss.length > 0)) expectedCharts.push('chart-loss-align');
  if (results.cells.some((c) => c.loss && c.loss.length > 0)) expectedCharts.push('chart-loss-attack');
  for (const id of expectedCharts) if (!seen.figures.some((f) => f.id === id)) problems.push(`${id}: missing: results.json has data for it`);
  for (const fig of seen.figures) {
    checked.charts++;
    if (!fig.visible) {
      // nothing on screen to measure: one problem for the chart, not one per mark
      problems.push(`${fig.id}: the chart is not visible (${fig.rect.width.toFixed(0)} x ${fig.rect.height.toFixed(0)} px)`);
      continue;
    }
    if (!(fig.ink > 0.01)) problems.push(`${fig.id}: the chart rasterizes to almost nothing (${(100 * fig.ink).toFixed(2)}% of pixels inked)`);
    const metric = CHART_METRIC[fig.id];
    if (metric) {
      const want = [...groups.entries()].filter(([k]) => JSON.parse(k)[0] === metric);
      if (fig.points.length !== want.length) problems.push(`${fig.id}: ${fig.points.length} points drawn, ${want.length} (method, p) groups in results.json`);
      for (const [k, vals] of want) {
        const [, method, p] = JSON.parse(k) as [string, string, number];
        const m = mean(vals);
        const pt = fig.points.find((q) => q.label.startsWith(`${method} | p=${p} | `));
        if (!pt) { problems.push(`${fig.id}: no point for ${method} at p=${p}`); continue; }
        const labelled = Number(pt.label.split('=').pop());
        if (!(Math.abs(labelled - m) <= 1e-9 * Math.max(1, Math.abs(m)))) problems.push(`${fig.id}: point ${method} p=${p} is labelled ${labelled}, the mean of its cells is ${m}`);
        pixelCheck(`${method} at p=${p}`, fig, pt.pt, { x: p, y: m });
        checked.points++;
      }
    }
    if (fig.id === 'chart-loss-align' || fig.id === 'chart-loss-attack') {
      const runs = fig.id === 'chart-loss-align'
        ? (results.alignments ?? []).filter((a) => a.loss.length > 0).map((a) => ({ name: `align ${a.method} seed ${a.seed}`, loss: a.loss }))
        : results.cells.filter((c) => c.loss && c.loss.length > 0).map((c) => ({ name: `attack ${c.method} p=${c.p} seed ${c.seed}`, loss: c.loss! }));
      if (fig.lines.length !== runs.length) problems.push(`${fig.id}: ${fig.lines.length} lines drawn, ${runs.length} runs in results.json`);
      for (const run of runs) {
        const line = fig.lines.find((l) => l.label === run.name);
        if (!line) { problems.push(`${fig.id}: no line for ${run.name}`); continue; }
        if (line.pts.length !== run.loss.length) { problems.push(`${fig.id}: ${run.name} has ${line.pts.length} vertices, ${run.loss.length} loss points`); continue; }
        const sorted = [...run.loss].sort((a, b) => a.step - b.step);
        line.pts.forEach((pt, i) => pixelCheck(`${run.name} step ${sorted[i].step}`, fig, pt, { x: sorted[i].step, y: sorted[i].loss }));
        checked.lossVertices += line.pts.length;
      }
    }
  }
  // the tables: every (metric, method, p) group and every (metric, method) before the attack, its mean ± sd to the digits shown
  const tableGroups = new Map(groups);
  for (const b of results.before_attack ?? []) {
    for (const [k, v] of Object.entries(b.metrics)) {
      if (typeof v !== 'number') continue;
      const key = JSON.stringify([k, b.method, 'before']);
      (tableGroups.get(key) ?? tableGroups.set(key, []).get(key)!).push(v);
    }
  }
  const wantCells = [...tableGroups.keys()].length;
  if (seen.table.filter((t) => t.mean !== null).length !== wantCells) problems.push(`the tables show ${seen.table.filter((t) => t.mean !== null).length} values, results.json has ${wantCells} (metric, method, p or before the attack) groups`);
  for (const td of seen.table) {
    const vals = tableGroups.get(JSON.stringify([td.metric, td.method, td.p]));
    if (!vals) { if (td.mean !== null) problems.push(`table: ${td.method} p=${td.p} ${td.metric} shows a value that results.json does not have`); continue; }
    const m = mean(vals), sd = sampleSd(vals);
    const shown = td.text.split('±').map((s) => s.trim());
    const within = (s: string, v: number) => {
      const x = Number(s);
      const decimals = s.includes('e') ? Number.NaN : (s.split('.')[1]?.length ?? 0);
      const tol = Number.isNaN(decimals) ? Math.abs(v) * 5e-4 : 0.5 * 10 ** -decimals * (1 + 1e-9);
      const sig = Math.abs(v) > 0 ? 0.5 * 10 ** (Math.floor(Math.log10(Math.abs(v))) - 3) : 0; // 4 significant digits (drift)
      return Number.isFinite(x) && Math.abs(x - v) <= Math.max(tol, td.metric === 'drift' ? sig * (1 + 1e-9) : 0);
    };
    if (!within(shown[0], m)) problems.push(`table: ${td.method} p=${td.p} ${td.metric} shows ${shown[0]}, the mean is ${m}`);
    if (sd === null ? shown.length !== 1 : shown.length !== 2 || !within(shown[1], sd)) problems.push(`table: ${td.method} p=${td.p} ${td.metric} shows "${td.text}", the sd is ${sd}`);
    checked.tableCells++;
  }
  return { problems, checked };
}

/** Opens `htmlPath` in headless Chromium, saves a full-page screenshot (when asked), and checks it against `results`. */
export async function checkReport(htmlPath: string, results: ExperimentResults, opts: { screenshot?: string; width?: number } = {}): Promise<ReportCheck> {
  const puppeteer = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, protocolTimeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    // tsx compiles readPage with esbuild's keepNames, whose __name() calls must exist in the page
    await page.evaluateOnNewDocument('globalThis.__name = (f) => f;');
    await page.setViewport({ width: opts.width ?? 1200, height: 900 });
    // The report loads nothing: any request other than the file itself is a bug in the report.
    const requests: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()); });
    await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
    const seen = await page.evaluate(readPage);
    const check = compareWithResults(seen, results);
    for (const u of requests) check.problems.push(`the report requested ${u}: it must be self-contained`);
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot as `${string}.png`, fullPage: true });
      check.screenshot = opts.screenshot;
    }
    return check;
  } finally {
    await browser.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [html, json, shot] = process.argv.slice(2);
  if (!html || !json) {
    console.error('usage: node --import tsx test/eval/report_check.ts report.html results.json [screenshot.png]');
    process.exit(2);
  }
  const { validateResults } = await import('../../engine/eval/results.ts');
  const results = validateResults(JSON.parse(readFileSync(json, 'utf8')), json);
  const check = await checkReport(html, results, { screenshot: shot });
  console.log(JSON.stringify(check.checked));
  if (shot) console.log(`screenshot: ${shot}`);
  for (const p of check.problems) console.log(`problem: ${p}`);
  console.log(check.problems.length === 0 ? 'report check: OK' : `report check: ${check.problems.length} problems`);
  process.exit(check.problems.length === 0 ? 0 : 1);
}
