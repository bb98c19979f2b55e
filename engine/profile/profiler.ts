// --profile: a Chrome trace-event file (JSON; ui.perfetto.dev and chrome://tracing open it) of a
// run, and a per-kernel table at its end. What goes in:
//   - every Backend op the engine calls (instrument.ts), as a span on the "engine" track with its
//     dimensions and FLOPs: on WASM ops run synchronously, so its span is the op's wall time;
//   - on WebGPU with timestamp queries (the backend made with timing), every dispatch's GPU
//     timestamps on "GPU" tracks, labelled with the kernel and the op that recorded it; the GPU
//     clock is placed on the CPU's by the smallest offset that starts no dispatch before the submit
//     that carried it, and dispatches that overlap go to further GPU lanes;
//   - calls that return a promise (read, sync) on "waits" tracks, from the call to the promise
//     settling: several may be pending at once (the Vaccine step queues its loss downloads and
//     awaits them together), so they get lanes of their own, as overlapping dispatches do;
//   - the step's phases (phases.ts: the trainer's step, pass 1 and 2 forward and backward, the
//     perturbation, clipping, the optimizer) as spans enclosing their ops.
// The table sums, per op: calls, time (WASM wall clock, or GPU time where timestamps exist) and
// GFLOP/s from the FLOPs of each call's dimensions (flops.ts).
import type { Backend } from '../backend.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { opFlops } from './flops.ts';
import { instrumentBackend, MEMORY_OPS, type BackendCall } from './instrument.ts';
import { listenToPhases, stopListening, type PhaseSink } from './phases.ts';

/** One event of the trace-event format (the "X" complete events and "M" metadata this file writes). */
export interface TraceEvent {
  name: string; cat?: string; ph: 'X' | 'M'; ts: number; dur?: number; pid: number; tid: number;
  args?: Record<string, unknown>;
}

/** What a WebGPU backend offers a profiler (bindings/webgpu/recorder.ts DispatchHooks). */
interface DispatchHooks {
  tag: unknown;
  onTime: ((label: string, tag: unknown, beginNs: bigint, endNs: bigint, submitMs: number) => void) | null;
}

interface OpStat { name: string; compute: boolean; calls: number; cpuMs: number; gpuMs: number; gpuDispatches: number; flops: number }
interface GpuTime { label: string; op: OpStat | null; beginNs: bigint; endNs: bigint; submitMs: number }

const PID = 1, CPU_TID = 1, GPU_TID = 2, WAIT_TID = 1000;
/** Beyond this many events the trace keeps only the first ones (the table still counts everything). */
const MAX_EVENTS = 1_000_000;

export interface ProfileSummary {
  path: string;
  events: number;
  /** the per-kernel table and the phases, as printed */
  report: string;
}

export class Profiler implements PhaseSink {
  private events: TraceEvent[] = [];
  private dropped = 0;
  private open: { name: string; t0: number }[] = [];
  private phases = new Map<string, { count: number; ms: number }>();
  private ops = new Map<string, OpStat>();
  private gpu: GpuTime[] = [];
  private waits: TraceEvent[] = [];
  private hooks: DispatchHooks | null = null;
  private real: Backend | null = null;
  private active = false;
  private gpuTimed = false;

  /** `path`: where finish() writes the trace. */
  constructor(readonly path: string) {}

  /**
   * Starts profiling `backend`: returns it instrumented (run everything on the returned one) and
   * listens to the step phases. A WebGPU backend gives GPU timestamps when it was made with timing.
   */
  attach<B extends Backend>(backend: B): B {
    if (this.real) throw new Error('this profiler is already attached to a backend');
    listenToPhases(this);
    this.real = backend;
    this.active = true;
    const b = backend as unknown as { dispatchHooks?: DispatchHooks; timingEnabled?: boolean };
    if (b.dispatchHooks) {
      this.hooks = b.dispatchHooks;
      this.gpuTimed = b.timingEnabled === true;
      this.hooks.onTime = (label, tag, beginNs, endNs, submitMs) => {
        const op = (tag as OpStat | null) ?? null;
        if (op) { op.gpuMs += Number(endNs - beginNs) / 1e6; op.gpuDispatches++; }
        this.gpu.push({ label, op, beginNs, endNs, submitMs });
      };
    }
    return instrumentBackend(backend, (name, args, run) => this.around(name, args, run));
  }

  // ---- phases (PhaseSink) ----
  begin(name: string): void {
    if (!this.active) return;
    if (!this.phases.has(name)) this.phases.set(name, { count: 0, ms: 0 }); // the report lists phases in the order they first begin
    this.open.push({ name, t0: performance.now() });
  }
  end(name: string): void {
    if (!this.active) return;
    // a phase left open by an exception (its end never came) is dropped, not drawn
    let i = this.open.length - 1;
    while (i >= 0 && this.open[i].name !== name) i--;
    if (i < 0) return;
    const top = this.open[i];
    this.open.length = i;
    const t1 = performance.now();
    this.push({ name, cat: 'phase', ph: 'X', ts: us(top.t0), dur: us(t1) - us(top.t0), pid: PID, tid: CPU_TID });
    const p = this.phases.get(name)!;
    p.count++; p.ms += t1 - top.t0;
  }

  // ---- ops ----
  private around(name: BackendCall, args: readonly unknown[], run: () => unknown): unknown {
    if (!this.active) return run();
    const stat = this.stat(name);
    const flops = opFlops(name, args);
    if (this.hooks) this.hooks.tag = stat;
    const t0 = performance.now();
    let r: unknown;
    try { r = run(); } finally { if (this.hooks) this.hooks.tag = null; }
    const done = (tid: number) => {
      const t1 = performance.now();
      stat.calls++; stat.cpuMs += t1 - t0; stat.flops += flops ?? 0;
      const e: TraceEvent = { name, cat: stat.compute ? 'op' : 'memory', ph: 'X', ts: us(t0), dur: us(t1) - us(t0), pid: PID, tid, args: opArgs(args, flops) };
      if (tid === CPU_TID) this.push(e); else if (this.waits.length < MAX_EVENTS) this.waits.push(e); else this.dropped++;
    };
    if (r instanceof Promise) return r.finally(() => done(WAIT_TID));
    done(CPU_TID);
    return r;
  }

  private stat(name: string): OpStat {
    let s = this.ops.get(name);
    if (!s) { s = { name, compute: !MEMORY_OPS.has(name), calls: 0, cpuMs: 0, gpuMs: 0, gpuDispatches: 0, flops: 0 }; this.ops.set(name, s); }
    return s;
  }

  private push(e: TraceEvent): void {
    if (this.events.length < MAX_EVENTS) this.events.push(e); else this.dropped++;
  }

  /** Stops recording and detaches, writing nothing (a failed run). Safe to call twice. */
  stop(): void {
    this.active = false;
    if (this.hooks) { this.hooks.onTime = null; this.hooks.tag = null; this.hooks = null; }
    stopListening(this);
  }

  /**
   * Ends the profile: waits for the backend's queue (the last GPU timestamps), writes the trace
   * file (atomically) and returns the report. Call it while the backend is alive.
   */
  async finish(meta: Record<string, unknown> = {}): Promise<ProfileSummary> {
    if (!this.real) throw new Error('profiler: finish() before attach()');
    this.active = false;
    await this.real.sync();
    this.stop();
    const gpuEvents = this.gpuEvents();
    const lanes = new Set(gpuEvents.map((e) => e.tid));
    const waitEvents = inLanes(this.waits, WAIT_TID);
    const waitLanes = new Set(waitEvents.map((e) => e.tid));
    const all = [...this.events, ...gpuEvents, ...waitEvents].sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
    const metadata: TraceEvent[] = [
      { name: 'process_name', ph: 'M', ts: 0, pid: PID, tid: 0, args: { name: 'vaccine-engine' } },
      { name: 'thread_name', ph: 'M', ts: 0, pid: PID, tid: CPU_TID, args: { name: `engine (${this.real.description})` } },
      ...[...lanes].sort().map((tid): TraceEvent => ({ name: 'thread_name', ph: 'M', ts: 0, pid: PID, tid, args: { name: tid === GPU_TID ? 'GPU' : `GPU (overlapping ${tid - GPU_TID})` } })),
      ...[...waitLanes].sort().map((tid): TraceEvent => ({ name: 'thread_name', ph: 'M', ts: 0, pid: PID, tid, args: { name: tid === WAIT_TID ? 'waits (read, sync)' : `waits (overlapping ${tid - WAIT_TID})` } })),
    ];
    writeFileAtomic(this.path, JSON.stringify({
      traceEvents: [...metadata, ...all], displayTimeUnit: 'ms',
      otherData: { backend: this.real.description, timeSource: this.timeSource(), droppedEvents: this.dropped, ...meta },
    }));
    return { path: this.path, events: all.length, report: this.report() };
  }

  private timeSource(): string {
    if (this.gpuTimed) return 'GPU timestamps per dispatch';
    if (this.real?.name === 'wasm') return 'wall clock per op (WASM runs ops synchronously)';
    return 'CPU time per op call (no GPU timestamps: the backend was made without timing, or the adapter lacks timestamp-query)';
  }

  /** GPU dispatches on the CPU's clock, in lanes so that no two on one track overlap. */
  private gpuEvents(): TraceEvent[] {
    if (this.gpu.length === 0) return [];
    let offsetUs = -Infinity;
    for (const g of this.gpu) offsetUs = Math.max(offsetUs, g.submitMs * 1000 - Number(g.beginNs) / 1000);
    const sorted = [...this.gpu].sort((a, b) => (a.beginNs < b.beginNs ? -1 : a.beginNs > b.beginNs ? 1 : 0));
    const laneEnd: number[] = [];
    const out: TraceEvent[] = [];
    for (const g of sorted) {
      const ts = Number(g.beginNs) / 1000 + offsetUs;
      const dur = Math.max(0, Number(g.endNs - g.beginNs) / 1000);
      let lane = laneEnd.findIndex((end) => end <= ts);
      if (lane < 0) { lane = laneEnd.length; laneEnd.push(0); }
      laneEnd[lane] = ts + dur;
      out.push({ name: g.label, cat: 'gpu', ph: 'X', ts, dur, pid: PID, tid: GPU_TID + lane, args: { op: g.op?.name ?? null } });
    }
    return out;
  }

  /** The per-kernel table and the phases' totals. */
  report(): string {
    const gpu = this.gpuTimed;
    const rows = [...this.ops.values()].filter((s) => s.calls > 0)
      .map((s) => ({ s, ms: gpu && s.gpuDispatches > 0 ? s.gpuMs : s.cpuMs }))
      .sort((a, b) => b.ms - a.ms);
    const total = rows.filter((r) => r.s.compute).reduce((a, r) => a + r.ms, 0);
    const lines: string[] = [];
    lines.push(`profile: ${this.events.length + this.waits.length + this.dropped} events${this.dropped ? ` (${this.dropped} not kept in the trace)` : ''}; time per op: ${this.timeSource()}`);
    const header = ['op', 'calls', 'total ms', 'share', 'GFLOP', 'GFLOP/s'];
    const body = rows.map(({ s, ms }) => [
      s.compute ? s.name : `${s.name} (memory)`, String(s.calls), ms.toFixed(2),
      s.compute && total > 0 ? `${(100 * ms / total).toFixed(1)}%` : '-',
      s.flops > 0 ? (s.flops / 1e9).toFixed(2) : '-', s.flops > 0 && ms > 0 ? (s.flops / ms / 1e6).toFixed(1) : '-',
    ]);
    lines.push(...align([header, ...body]));
    if (this.phases.size > 0) {
      lines.push('phases:');
      lines.push(...align([['phase', 'count', 'total ms', 'mean ms'],
        ...[...this.phases].filter(([, p]) => p.count > 0).map(([n, p]) => [n, String(p.count), p.ms.toFixed(1), (p.ms / p.count).toFixed(2)])]));
    }
    return lines.join('\n');
  }
}

/** Spans put on tracks first + 0, 1, ... so that no two on one track overlap (each keeps its start and length). */
function inLanes(spans: TraceEvent[], first: number): TraceEvent[] {
  const laneEnd: number[] = [];
  return [...spans].sort((a, b) => a.ts - b.ts).map((e) => {
    let lane = laneEnd.findIndex((end) => end <= e.ts);
    if (lane < 0) { lane = laneEnd.length; laneEnd.push(0); }
    laneEnd[lane] = e.ts + (e.dur ?? 0);
    return { ...e, tid: first + lane };
  });
}

function us(ms: number): number { return Math.round(ms * 1000 * 1000) / 1000; }

/** An op call's arguments for the trace: its dimension object (MatmulParams, LoraDims, ...) and plain numbers. */
function opArgs(args: readonly unknown[], flops: number | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const nums: number[] = [];
  for (const a of args) {
    if (typeof a === 'number') nums.push(a);
    else if (typeof a === 'string') out.dtype = a;
    else if (a && typeof a === 'object' && !('bytes' in a) && !ArrayBuffer.isView(a)) Object.assign(out, a);
    else if (ArrayBuffer.isView(a)) out.elements = (a as Float32Array).length;
  }
  if (nums.length) out.n = nums;
  if (flops !== null) out.flops = flops;
  return out;
}

function align(rows: string[][]): string[] {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
}
