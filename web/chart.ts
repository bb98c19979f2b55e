// The live loss chart: a Vega-Lite line chart (compiled once to Vega), streamed into with a
// changeset per training step. Vega and Vega-Lite are the engine's chart libraries already
// (engine/eval/report renders the experiment report with them).
import { changeset, parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { StepMetrics } from '../engine/jobs/trainer.ts';

const SPEC = (width: number): TopLevelSpec => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  width, height: 240,
  // re-laid out on every update: the axes' labels and titles exist only once data does
  autosize: { type: 'fit', contains: 'padding', resize: true },
  padding: 6,
  data: { name: 'points' },
  mark: { type: 'line', interpolate: 'linear', strokeWidth: 1.6 },
  encoding: {
    x: { field: 'step', type: 'quantitative', title: 'optimizer step', axis: { tickMinStep: 1, format: 'd' } },
    y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
    color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['loss', 'perturbed loss'], range: ['#2858c8', '#d9822b'] }, legend: { orient: 'top-right' } },
    tooltip: [{ field: 'series', type: 'nominal' }, { field: 'step', type: 'quantitative' }, { field: 'loss', type: 'quantitative', format: '.4f' }],
  },
  config: { font: 'system-ui, Helvetica, Arial, sans-serif', axis: { labelFontSize: 12, titleFontSize: 13 }, legend: { labelFontSize: 12 } },
});

export class LossChart {
  private constructor(private view: View) {}

  static async create(el: HTMLElement): Promise<LossChart> {
    const width = Math.max(320, el.clientWidth);
    const view = new View(parse(compile(SPEC(width)).spec), { renderer: 'svg', container: el, hover: true });
    await view.runAsync();
    return new LossChart(view);
  }

  /** Empties the chart for a new run. */
  reset(_perturbed: boolean): void {
    this.view.change('points', changeset().remove(() => true)).run();
  }

  /** One step's losses (and a Vaccine step's perturbed loss). */
  add(m: StepMetrics): void {
    const rows: { step: number; loss: number; series: string }[] = [{ step: m.step, loss: m.loss, series: 'loss' }];
    if (m.perturbed_loss !== null) rows.push({ step: m.step, loss: m.perturbed_loss, series: 'perturbed loss' });
    this.view.change('points', changeset().insert(rows)).run();
  }
}
