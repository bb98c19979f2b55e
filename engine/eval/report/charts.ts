// The report's charts as Vega-Lite specifications, rendered to SVG strings in Node by Vega's
// headless View (renderer 'none', View.toSVG(): no canvas, no browser). Vega-Lite compiles each
// spec to Vega; both are loaded on first use, so importing the engine does not load them.
//
// Every data mark carries a machine-readable aria-label (Vega writes the `description` channel
// there): "<method> | p=<p> | <metric>=<mean>" for the metric charts' points and
// "<run> | step=<step> | loss=<loss>" style labels for loss lines, so a reader of the rendered SVG
// (test/eval/report_check.ts) can match marks to results.json.
import { aggregateCells, type GroupSummary } from '../aggregate.ts';
import type { ExperimentResults, MetricKey } from '../results.ts';

export interface ChartSpec {
  id: string;
  title: string;
  /** one line under the chart: what it shows */
  caption: string;
  /** the metric a point chart shows (absent for loss charts) */
  metric?: MetricKey;
  spec: Record<string, unknown>;
}

/** Metric charts, in the report's order: the y title and whether the axis is a 0..100 percent axis. */
export const METRIC_CHARTS: readonly { metric: MetricKey; title: string; axis: string; percent: boolean; caption: string }[] = [
  { metric: 'harmful_score', title: 'Harmful score vs harmful fraction p', axis: 'harmful score HS (%)', percent: true,
    caption: 'HS: percent of answers to harmful prompts the judge flags (lower is safer). Mean over seeds; bars: ± one sample standard deviation.' },
  { metric: 'finetune_accuracy', title: 'Fine-tune accuracy vs harmful fraction p', axis: 'fine-tune accuracy FA (%)', percent: true,
    caption: 'FA: percent of task answers scored correct after the attack (higher is better). Mean over seeds; bars: ± one sample standard deviation.' },
  { metric: 'drift', title: 'Embedding drift vs harmful fraction p', axis: 'drift Σ‖h − h⁰‖²', percent: false,
    caption: 'Drift: sum over layers, samples and real tokens of the squared change of the attention outputs, attacked model vs its aligned model. Mean over seeds; bars: ± one sample standard deviation.' },
];

const WIDTH = 520, HEIGHT = 280;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const FONT = { font: 'Helvetica, Arial, sans-serif', axis: { labelFontSize: 12, titleFontSize: 13, translate: 0 }, legend: { labelFontSize: 12, titleFontSize: 13 }, title: { fontSize: 15, anchor: 'start' } };

/** The point label the report check reads back: "<method> | p=<p> | <metric>=<mean>". */
export function pointLabel(method: string, p: number, metric: MetricKey, mean: number): string {
  return `${method} | p=${p} | ${metric}=${mean}`;
}

/** All charts the results have data for: the metric charts, then the loss curves. */
export function reportCharts(results: ExperimentResults, groups: GroupSummary[] = aggregateCells(results.cells)): ChartSpec[] {
  const methods = [...new Set(results.cells.map((c) => c.method).concat((results.alignments ?? []).map((a) => a.method)))];
  // One colour (and point shape) per method across all charts; each legend lists only the methods its chart has.
  const color = (present: string[]) => ({ field: 'method', type: 'nominal', title: 'alignment', scale: { domain: methods }, legend: { orient: 'right', values: present } });
  const present = (rows: { method: string }[]) => methods.filter((m) => rows.some((r) => r.method === m));
  const ps = [...new Set(results.cells.map((c) => c.p))].sort((a, b) => a - b);
  const charts: ChartSpec[] = [];
  for (const mc of METRIC_CHARTS) {
    const values = groups.filter((g) => g.stats[mc.metric]).map((g) => {
      const s = g.stats[mc.metric]!;
      return {
        method: g.method, p: g.p, mean: s.mean, sd: s.sd, n: s.n,
        lo: s.sd === null ? null : s.mean - s.sd, hi: s.sd === null ? null : s.mean + s.sd,
        label: pointLabel(g.method, g.p, mc.metric, s.mean),
      };
    });
    if (values.length === 0) continue;
    const y = { field: 'mean', type: 'quantitative', title: mc.axis, scale: mc.percent ? { domain: [0, 100] } : { zero: true, nice: true } };
    charts.push({
      id: `chart-${mc.metric.replace(/_/g, '-')}`, title: mc.title, caption: mc.caption, metric: mc.metric,
      spec: {
        $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: mc.title, config: FONT,
        data: { values },
        encoding: {
          x: { field: 'p', type: 'quantitative', title: 'harmful fraction p of the fine-tuning data',
            scale: { domain: [Math.min(0, ...ps), Math.max(...ps, 0.01)], nice: false, padding: 14 },
            axis: { values: ps, format: '~g', grid: false } },
          color: color(present(values)),
        },
        layer: [
          // error bars where there are several seeds (a layer without data would give the scale an empty extent)
          ...(values.some((v) => v.sd !== null) ? [{ mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.8 }, transform: [{ filter: 'datum.sd != null' }],
            encoding: { y: { field: 'lo', type: 'quantitative', scale: y.scale }, y2: { field: 'hi' }, description: { value: 'error bar' } } }] : []),
          { mark: { type: 'line', strokeWidth: 2 }, encoding: { y, description: { value: 'line' } } },
          { mark: { type: 'point', filled: true, size: 70, opacity: 1 },
            encoding: {
              y, shape: { field: 'method', type: 'nominal', title: 'alignment', scale: { domain: methods }, legend: { orient: 'right', values: present(values) } },
              description: { field: 'label', type: 'nominal' },
              tooltip: [{ field: 'method' }, { field: 'p' }, { field: 'mean', format: '.2f' }, { field: 'sd', format: '.2f' }, { field: 'n' }],
            } },
        ],
      },
    });
  }
  const lossValues = (runs: { run: string; method: string; seed: number; p?: number; loss: { step: number; loss: number }[] }[]) =>
    runs.flatMap((r) => r.loss.map((pt) => ({ run: r.run, method: r.method, seed: r.seed, p: r.p, step: pt.step, loss: pt.loss })));
  const align = lossValues((results.alignments ?? []).filter((a) => a.loss.length > 0)
    .map((a) => ({ run: `align ${a.method} seed ${a.seed}`, method: a.method, seed: a.seed, loss: a.loss })));
  if (align.length > 0) {
    charts.push({
      id: 'chart-loss-align', title: 'Alignment loss per step', caption: 'Training loss of each alignment run (one line per method and seed).',
      spec: {
        $schema: SCHEMA, width: WIDTH, height: HEIGHT, title: 'Alignment loss per step', config: FONT,
        data: { values: align },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
          y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false } },
          color: color(present(align)), detail: { field: 'run', type: 'nominal' }, description: { field: 'run', type: 'nominal' },
        },
      },
    });
  }
  const attack = lossValues(results.cells.filter((c) => c.loss && c.loss.length > 0)
    .map((c) => ({ run: `attack ${c.method} p=${c.p} seed ${c.seed}`, method: c.method, seed: c.seed, p: c.p, loss: c.loss! })));
  if (attack.length > 0) {
    const nP = new Set(attack.map((v) => v.p)).size;
    charts.push({
      id: 'chart-loss-attack', title: 'Fine-tuning (attack) loss per step', caption: 'Training loss of each attack fine-tune, one panel per harmful fraction p (one line per method and seed).',
      spec: {
        $schema: SCHEMA, title: 'Fine-tuning (attack) loss per step', config: FONT,
        data: { values: attack },
        facet: { column: { field: 'p', type: 'ordinal', title: 'harmful fraction p', header: { labelFontSize: 12, titleFontSize: 13 } } },
        spec: {
          width: Math.max(160, Math.floor((WIDTH + 180) / nP) - 30), height: 220,
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
            y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false } },
            color: color(present(attack)), detail: { field: 'run', type: 'nominal' }, description: { field: 'run', type: 'nominal' },
          },
        },
      },
    });
  }
  return charts;
}

let libs: Promise<{ vega: typeof import('vega'); vl: typeof import('vega-lite') }> | null = null;

/**
 * A Vega-Lite spec as an SVG string (headless: Vega's View with renderer 'none'). Vega-Lite's and
 * Vega's warnings go to `warnings` when given (the tests require none), else to stderr.
 */
export async function chartToSvg(spec: Record<string, unknown>, warnings?: string[]): Promise<string> {
  libs ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  const { vega, vl } = await libs;
  const logger = vega.logger(vega.Warn);
  if (warnings) logger.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); return logger; };
  const compiled = vl.compile(spec as never, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
