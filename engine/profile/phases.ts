// The phases of a training step, marked where they happen (the trainer, the step functions in
// engine/vaccine.ts) for the profiler to draw as nested spans. With no profiler listening (the
// usual case) a mark is a null check and the call it wraps.

export interface PhaseSink {
  begin(name: string): void;
  end(name: string): void;
}

let sink: PhaseSink | null = null;

/** Starts sending phases to `s`; one listener at a time. */
export function listenToPhases(s: PhaseSink): void {
  if (sink && s !== sink) throw new Error('another profiler is already listening to the step phases (one profiled run at a time)');
  sink = s;
}

/** Stops sending phases to `s` (nothing happens when another listener holds them). */
export function stopListening(s: PhaseSink): void {
  if (sink === s) sink = null;
}

/** Marks the start of phase `name` (end it with phaseEnd; on an exception the run's profile is dropped anyway). */
export function phaseBegin(name: string): void { if (sink) sink.begin(name); }
export function phaseEnd(name: string): void { if (sink) sink.end(name); }

/** Runs fn as the phase `name`. */
export function phase<T>(name: string, fn: () => T): T {
  if (!sink) return fn();
  const s = sink;
  s.begin(name);
  try { return fn(); } finally { s.end(name); }
}

/** Runs the asynchronous fn as the phase `name` (the span lasts until its promise settles). */
export async function phaseAsync<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!sink) return fn();
  const s = sink;
  s.begin(name);
  try { return await fn(); } finally { s.end(name); }
}
