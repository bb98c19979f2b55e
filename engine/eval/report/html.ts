// report.html: one self-contained file (inline CSS and SVG, no script, no external resource) with
// the HS / FA table per method and p (mean ± sample sd over seeds), the table of the models before
// the attack (per method) where results.json has them, and the charts of charts.ts.
//
// The table cells carry their numbers in full precision as data attributes
// (data-method, data-p (the attacked models' table only), data-metric, data-mean, data-sd,
// data-n), so a check can compare the rendered page with results.json without parsing
// formatted text.
import { aggregateBefore, aggregateCells, type BeforeSummary, type GroupSummary, type Stat } from '../aggregate.ts';
import { METRIC_KEYS, type ExperimentResults, type MetricKey } from '../results.ts';
import { chartToSvg, reportCharts } from './charts.ts';

/** Column headings of the table, in order. */
export const METRIC_HEADINGS: Record<MetricKey, string> = {
  harmful_score: 'HS (%)',
  harmful_score_plus: 'HS+ (%)',
  finetune_accuracy: 'FA (%)',
  drift: 'drift',
  over_refusal: 'over-refusal (%)',
};

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** How a number is shown in the table: percents with 2 decimals, drift with 4 significant digits. */
export function formatValue(metric: MetricKey, v: number): string {
  if (metric !== 'drift') return v.toFixed(2);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
}

/** "12.50 ± 1.20" (or "12.50" for one seed). */
export function formatStat(metric: MetricKey, s: Stat): string {
  return s.sd === null ? formatValue(metric, s.mean) : `${formatValue(metric, s.mean)} ± ${formatValue(metric, s.sd)}`;
}

/** A table of mean ± sd per row: the attacked models' (a p column) or the models' before the attack (none). */
function table(id: string, groups: GroupSummary[] | BeforeSummary[], withP: boolean): string {
  const metrics = METRIC_KEYS.filter((k) => groups.some((g) => g.stats[k]));
  const head = `<tr><th>alignment</th>${withP ? '<th>p</th>' : ''}<th>seeds</th>${metrics.map((k) => `<th>${esc(METRIC_HEADINGS[k])}</th>`).join('')}</tr>`;
  const rows = groups.map((g) => {
    const at = `data-method="${esc(g.method)}"${'p' in g ? ` data-p="${g.p}"` : ''}`;
    const cells = metrics.map((k) => {
      const s = g.stats[k];
      if (!s) return `<td class="na" ${at} data-metric="${k}">–</td>`;
      return `<td ${at} data-metric="${k}" data-mean="${s.mean}" data-sd="${s.sd ?? ''}" data-n="${s.n}">${esc(formatStat(k, s))}</td>`;
    }).join('');
    return `<tr><td class="method">${esc(g.method)}</td>${'p' in g ? `<td>${g.p}</td>` : ''}<td>${g.seeds.length}</td>${cells}</tr>`;
  }).join('\n');
  return `<table id="${id}">\n<thead>${head}</thead>\n<tbody>\n${rows}\n</tbody>\n</table>`;
}

const CSS = `
body { font-family: Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; font-size: 13px; }
.meta span { margin-right: 18px; }
table { border-collapse: collapse; font-size: 14px; margin-top: 8px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; border-bottom: 2px solid #ccc; }
td.method, th:first-child { text-align: left; font-weight: 600; }
td.na { color: #aaa; }
figure { margin: 20px 0 28px; }
figcaption { font-size: 13px; color: #555; max-width: 760px; margin-top: 4px; }
.note { font-size: 13px; color: #555; max-width: 860px; }
`;

export interface ReportOptions {
  /** the page title (default: "Harmful fine-tuning experiment") */
  title?: string;
  /** collects Vega-Lite's / Vega's warnings (default: they go to stderr) */
  warnings?: string[];
}

/**
 * The report as an HTML string. `results` must be valid (see validateResults). Charts without
 * data (no drift measured, no loss curves) are left out, and the page says which.
 */
export async function renderReport(results: ExperimentResults, opts: ReportOptions = {}): Promise<string> {
  const title = opts.title ?? 'Harmful fine-tuning experiment';
  const groups = aggregateCells(results.cells);
  const before = aggregateBefore(results.before_attack ?? []);
  const charts = reportCharts(results, groups);
  const svgs = await Promise.all(charts.map((c) => chartToSvg(c.spec, opts.warnings)));
  const meta = Object.entries(results.meta ?? {}).map(([k, v]) => `<span><b>${esc(k)}</b>: ${esc(String(v))}</span>`).join(' ');
  const seeds = [...new Set(results.cells.map((c) => c.seed))].sort((a, b) => a - b);
  const missing: string[] = [];
  if (!charts.some((c) => c.metric === 'drift')) missing.push('no drift was measured');
  if (!charts.some((c) => c.id === 'chart-loss-align')) missing.push('no alignment loss curves were recorded');
  if (!charts.some((c) => c.id === 'chart-loss-attack')) missing.push('no attack loss curves were recorded');
  const figures = charts.map((c, i) => `<figure id="${c.id}" data-chart="${c.id}">\n${svgs[i]}\n<figcaption>${esc(c.caption)}</figcaption>\n</figure>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">${meta}${meta ? ' ' : ''}<span><b>cells</b>: ${results.cells.length}</span> <span><b>seeds</b>: ${esc(seeds.join(', '))}</span></p>
<h2>Harmful score and fine-tune accuracy</h2>
<p class="note">Mean ± sample standard deviation over seeds (no ± where one seed). HS: percent of harmful prompts answered without refusal (keyword judge) or flagged (model judge); HS+: flagged or incoherent (a word repeated 4 or more times in a row); FA: fine-tune accuracy; over-refusal: percent of harmless prompts refused.</p>
${table('results-table', groups, true)}
${before.length ? `<h2>Before the attack</h2>
<p class="note">Each aligned model (none: the bare model) evaluated on the same prompts and rows before any fine-tune. Mean ± sample standard deviation over seeds.</p>
${table('before-table', before, false)}
` : ''}<h2>Charts</h2>
${missing.length ? `<p class="note">Not shown: ${esc(missing.join('; '))}.</p>\n` : ''}${figures}
</body>
</html>
`;
}
