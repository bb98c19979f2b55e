// Checks a file against the Chrome trace-event format as --profile writes it (the JSON object
// form: {"traceEvents": [...]}; complete "X" events and "M" metadata), and returns its events.
// What is checked: every event has a string name, a known ph, integer pid and tid, and (X) finite
// ts >= 0 and dur >= 0; on each (pid, tid) track the X events come in non-decreasing ts order and
// nest properly (each one either ends before the next starts or contains it). Returns a list of
// problems (empty: the file is well formed).
export interface TraceEvent {
  name: string; cat?: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: Record<string, unknown>;
}

const PHASES = new Set(['X', 'M', 'B', 'E', 'i', 'I', 'C']);
/** Tolerance for the end of a nested span, in microseconds (timestamps are rounded to the nanosecond). */
const EPS = 1e-3;

export function checkTrace(json: unknown): { events: TraceEvent[]; problems: string[] } {
  const problems: string[] = [];
  if (!json || typeof json !== 'object' || !Array.isArray((json as { traceEvents?: unknown }).traceEvents)) {
    return { events: [], problems: ['not a trace-event object: no traceEvents array'] };
  }
  const events = (json as { traceEvents: TraceEvent[] }).traceEvents;
  const tracks = new Map<string, TraceEvent[]>();
  events.forEach((e, i) => {
    const at = `event ${i} (${JSON.stringify(e).slice(0, 120)})`;
    if (typeof e !== 'object' || e === null) { problems.push(`${at}: not an object`); return; }
    if (typeof e.name !== 'string' || e.name === '') problems.push(`${at}: no name`);
    if (!PHASES.has(e.ph)) problems.push(`${at}: unknown ph '${e.ph}'`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) problems.push(`${at}: pid and tid must be integers`);
    if (e.ph === 'M') return;
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) problems.push(`${at}: ts must be a finite number >= 0`);
    if (e.ph === 'X' && (typeof e.dur !== 'number' || !Number.isFinite(e.dur) || e.dur < 0)) problems.push(`${at}: an X event needs dur >= 0`);
    const key = `${e.pid}/${e.tid}`;
    if (!tracks.has(key)) tracks.set(key, []);
    tracks.get(key)!.push(e);
  });
  for (const [key, evs] of tracks) {
    const stack: TraceEvent[] = [];
    for (let i = 0; i < evs.length; i++) {
      const e = evs[i];
      if (i > 0 && e.ts < evs[i - 1].ts) problems.push(`track ${key}: timestamps go back at '${e.name}' (${e.ts} after ${evs[i - 1].ts})`);
      if (e.ph !== 'X') continue;
      while (stack.length && end(stack[stack.length - 1]) <= e.ts + EPS) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent && end(e) > end(parent) + EPS) {
        problems.push(`track ${key}: '${e.name}' [${e.ts}, ${end(e)}] overlaps '${parent.name}' [${parent.ts}, ${end(parent)}] without nesting`);
      }
      stack.push(e);
    }
  }
  return { events, problems };
}

function end(e: TraceEvent): number { return e.ts + (e.dur ?? 0); }

/** Whether `inner` lies within `outer` (same track). */
export function within(inner: TraceEvent, outer: TraceEvent): boolean {
  return inner.pid === outer.pid && inner.tid === outer.tid && inner.ts >= outer.ts - EPS && end(inner) <= end(outer) + EPS;
}
