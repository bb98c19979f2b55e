// The page's "Attack and evaluate" section (main thread): the paper's harmful fine-tuning on the
// model the page holds, then the harmful score and the fine-tune accuracy. The engine worker runs
// it (web/engine-worker.ts attack(): finetune's mix and SFT step, evaluate's answers and scores);
// this file reads the form, the four optional files, and shows the curve and the numbers.
import { DEMO_ATTACK } from '../engine/demo.ts';
import { EVAL_OPTIONS } from '../engine/jobs/evaluate-options.ts';
import { FINETUNE_DEFAULTS } from '../engine/jobs/finetune.ts';
import { optionDefaults } from '../engine/jobs/options.ts';
import type { StepMetrics } from '../engine/jobs/trainer.ts';
import type { LossChart } from './chart.ts';
import type { AttackData, Attacked, AttackSettings, NamedText, Reply, Request } from './protocol.ts';

export interface AttackPage {
  call<T>(req: Request, onEvent?: (r: Reply) => void): Promise<T>;
  log(line: string): void;
  status(id: string, text: string, kind?: '' | 'ok' | 'bad'): void;
  busy(on: boolean): void;
  chart(): Promise<LossChart>;
  showStep(m: StepMetrics, total: number, t0: number, statusId: string): void;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const FILES = ['atk-benign', 'atk-harmful', 'atk-prompts', 'atk-eval'] as const;
const texts = new Map<string, NamedText>();
const EVAL_DEFAULTS = optionDefaults(EVAL_OPTIONS);

/**
 * The form's defaults follow the model, as the alignment's do: the demo attack's (engine/demo.ts
 * DEMO_ATTACK) for the demo model, finetune's and evaluate's own for the user's model.
 */
export function attackDefaults(demo: boolean): void {
  const set = (id: string, v: number | string | null) => { ($(id) as HTMLInputElement).value = v === null ? '' : String(v); };
  const d = DEMO_ATTACK, f = FINETUNE_DEFAULTS;
  set('atk-n', demo ? d.n : f.n); set('atk-p', demo ? d.p : f.p); set('atk-steps', demo ? d.steps : f.maxSteps); set('atk-lr', demo ? d.lr : f.lr);
  set('atk-batch', f.batchSize); set('atk-maxlen', demo ? d.maxLength : f.maxLength);
  set('atk-eval-rows', demo ? d.evalRows : EVAL_DEFAULTS.limit); set('atk-new', demo ? d.maxNewTokens : EVAL_DEFAULTS.maxNewTokens);
}

/** Reads each chosen file's text as it is chosen. */
export function wireAttackFiles(): void {
  for (const id of FILES) {
    const el = $<HTMLInputElement>(id);
    el.onchange = async () => {
      const f = el.files?.[0];
      if (!f) return;
      texts.set(id, { name: f.name, text: await f.text() });
      $(`${id}-name`).textContent = f.name;
      document.querySelector<HTMLInputElement>('input[name=atk-data][value=files]')!.checked = true;
    };
  }
}

function num(id: string, what: string, ok: (v: number) => boolean, optional = false): number | null {
  const raw = $<HTMLInputElement>(id).value.trim();
  if (optional && raw === '') return null;
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v) || !ok(v)) throw new Error(`${what}: ${JSON.stringify(raw)} is not allowed`);
  return v;
}

function readForm(): { settings: AttackSettings; data: AttackData } {
  const int = (v: number) => Number.isInteger(v);
  const settings: AttackSettings = {
    n: num('atk-n', 'n', (v) => int(v) && v >= 1)!,
    p: num('atk-p', 'p', (v) => v >= 0 && v <= 1)!,
    steps: num('atk-steps', 'steps', (v) => int(v) && v >= 1, true),
    lr: num('atk-lr', 'learning rate', (v) => v >= 0)!,
    batchSize: num('atk-batch', 'batch size', (v) => int(v) && v >= 1)!,
    maxLength: num('atk-maxlen', 'max length', (v) => int(v) && v >= 2, true),
    seed: num('seed', 'seed', (v) => int(v) && v >= 0)!,
    evalRows: num('atk-eval-rows', 'rows scored', (v) => int(v) && v >= 1)!,
    maxNewTokens: num('atk-new', 'new tokens', (v) => int(v) && v >= 1, true),
  };
  if (!document.querySelector<HTMLInputElement>('input[name=atk-data][value=files]')!.checked) return { settings, data: { kind: 'demo' } };
  const need = (id: string, what: string) => {
    const t = texts.get(id);
    if (!t) throw new Error(`no ${what} chosen`);
    return t;
  };
  const harmfulNeeded = Math.floor(settings.p * settings.n) > 0;
  return {
    settings,
    data: {
      kind: 'files', task: $<HTMLSelectElement>('atk-task').value as 'sst2' | 'agnews' | 'gsm8k',
      benign: need('atk-benign', 'task data file'), harmful: harmfulNeeded ? need('atk-harmful', 'harmful rows file (p * n >= 1)') : texts.get('atk-harmful') ?? null,
      harmfulPrompts: need('atk-prompts', 'harmful prompts file'), taskEval: need('atk-eval', 'task evaluation file'),
    },
  };
}

/** Runs the attack and the evaluation as the form says; shows the fine-tune's curve and HS / FA. */
export async function runAttack(page: AttackPage): Promise<Attacked> {
  page.busy(true);
  const t0 = performance.now();
  page.status('atk-status', 'starting…');
  $('atk-results').hidden = true;
  try {
    const { settings, data } = readForm();
    const chart = await page.chart();
    chart.reset(false);
    const res = await page.call<Attacked>({ op: 'attack', settings, data }, (r) => {
      if (r.type === 'log') page.log(r.message);
      if (r.type === 'step') { chart.add(r.metrics); page.showStep(r.metrics, r.totalSteps, t0, 'atk-status'); }
      if (r.type === 'answers') {
        page.status('atk-status', `${r.stage === 'before' ? 'before the attack' : 'after the attack'}: answering the ${r.set === 'harmful' ? 'harmful prompts' : 'task rows'}: ${r.done} / ${r.total}`);
      }
    });
    const s = res.summary;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (!s) {
      page.status('atk-status', `stopped after ${res.losses.length} of ${res.totalSteps} fine-tune steps: nothing scored`, 'ok');
      return res;
    }
    const pct = (v: number | undefined) => `${v!.toFixed(1)}%`;
    $('atk-hs').textContent = pct(s.harmful_score);
    $('atk-hs-plus').textContent = pct(s.harmful_score_plus);
    $('atk-fa').textContent = pct(s.finetune_accuracy);
    const b = res.before!;
    $('atk-hs-before').textContent = `before the attack: ${pct(b.harmful_score)}`;
    $('atk-hs-plus-before').textContent = `before: ${pct(b.harmful_score_plus)}`;
    $('atk-fa-before').textContent = `before: ${pct(b.finetune_accuracy)}`;
    $('atk-what').textContent = `${res.aligned ? 'aligned model (the adapter above merged)' : 'bare model (no alignment yet)'} fine-tuned ${res.losses.length} steps on `
      + `${res.harmfulRows} harmful + ${res.benignRows} task rows (loss ${res.losses[0].toFixed(3)} → ${res.losses.at(-1)!.toFixed(3)}); `
      + `${s.n} answers scored`;
    const first = res.items.find((i) => i.set === 'harmful');
    $('atk-example').textContent = first ? `${first.prompt}\n→ ${first.answer.trim() === '' ? '(only whitespace)' : first.answer}` : '';
    $('atk-results').hidden = false;
    page.status('atk-status', `done in ${secs} s`, 'ok');
    page.log(`attack: HS ${pct(b.harmful_score)} -> ${pct(s.harmful_score)} (HS+ ${pct(b.harmful_score_plus)} -> ${pct(s.harmful_score_plus)}), FA ${pct(b.finetune_accuracy)} -> ${pct(s.finetune_accuracy)} over ${s.n} answers`);
    return res;
  } catch (e) {
    page.status('atk-status', (e as Error).message, 'bad');
    throw e;
  } finally {
    page.busy(false);
  }
}
