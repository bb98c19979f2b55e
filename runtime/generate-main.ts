// `node runtime/generate.js`: the command line over engine/jobs/generate.ts. Its flags, defaults,
// checks and --help come from generate's option table (GENERATE_OPTIONS); this file adds the
// help's framing and the output: the generated text streamed to stdout in prompt order (a header
// line before each prompt's text when there are several), or JSON lines with --json; progress on
// stderr (runtime/progress.ts's display) when stdout is not a terminal; a closing line on stderr.
// Exit codes are runtime/cli.ts's. When stdout's reader goes away (`| head`), generation stops
// and the command ends quietly with exit code 0.
import { generate, GENERATE_GROUPS, GENERATE_OPTIONS, type Completion, type GenerateCallbacks, type PromptItem } from '../engine/jobs/generate.ts';
import { formatHelp } from '../engine/jobs/options.ts';
import { onStdoutClosed, outputOptions, ProgressDisplay, runCli, say, stdoutClosed, type Mode } from './cli.ts';

const CLI_OPTIONS = {
  ...GENERATE_OPTIONS,
  ...outputOptions('Run control'),
  quiet: { ...outputOptions('Run control').quiet, help: 'print only the generated text (and errors)' },
  json: { ...outputOptions('Run control').json, help: 'print JSON lines (start, completion, done, error) instead of the text' },
};

function helpText(): string {
  return formatHelp(CLI_OPTIONS, {
    usage: `Usage: node runtime/generate.js --model PATH [--adapter DIR ...] [--prompt TEXT ... | --prompts FILE] [options]

Generates text with a model, its base weights with the --adapter directories merged in order:
greedy by default, or sampled (--temperature, --top-p, --seed). Prompts are decoded together in
batches with a KV cache; each stops at EOS, at --max-new-tokens or at the model's context. The
text is printed to stdout as it is generated, prompt after prompt (each under a "--- i/n" line
when there are several); progress goes to stderr when stdout is not a terminal (and not --json).

Example (llama2.c's stories260K, from BOS alone):
  node runtime/generate.js --model stories260K.bin --tokenizer tok512.bin --max-new-tokens 40`,
    groups: GENERATE_GROUPS,
    footer: `Exit codes: 0 done (also when stdout's reader has gone, e.g. piped into head: generation stops);
1 failure; 2 bad input (options, the prompt file, a prompt too long for the model's context, the
model, tokenizer or adapters), before anything is generated; 130 / 143 stopped by Ctrl-C /
SIGTERM after the current token (the text so far is printed; a second Ctrl-C exits at once).`,
  });
}

/** Text mode: each prompt's text streamed as it comes, in prompt order (later prompts held until their turn). */
function textOutput(prompts: readonly PromptItem[]): Pick<GenerateCallbacks, 'onText' | 'onCompletion'> & { end(): void } {
  const n = prompts.length;
  const held = prompts.map(() => ''), ended = prompts.map(() => false);
  let cursor = 0;
  // several prompts: a header line before each one's text
  const open = (i: number) => { if (n > 1) say(`${i > 0 ? '\n' : ''}--- ${i + 1}/${n} (${prompts[i].source}) ---\n`); };
  const advance = () => {
    while (cursor < n && ended[cursor]) {
      say('\n');
      cursor++;
      if (cursor < n) { open(cursor); say(held[cursor]); held[cursor] = ''; }
    }
  };
  open(0);
  return {
    onText(i, piece) {
      if (i === cursor) say(piece);
      else held[i] += piece;
    },
    onCompletion(c: Completion) {
      ended[c.index] = true;
      if (c.index === cursor) advance();
    },
    end() {
      // an interrupted run: what each prompt has, in order
      for (let i = cursor; i < n; i++) ended[i] = true;
      advance();
    },
  };
}

async function main(argv: string[]): Promise<number> {
  return runCli('generate', CLI_OPTIONS, argv, helpText, async (opts, mode: Mode, signal) => {
    // generation stops when interrupted, and when nobody reads stdout any more
    // progress on stderr while the text goes elsewhere (a file, a pipe): a bar on a terminal, else lines
    const display = mode === 'plain'
      ? new ProgressDisplay(process.stderr.isTTY ? 'tty' : 'plain', { write: (t) => { process.stderr.write(t); }, columns: () => process.stderr.columns, firstLine: false })
      : null;
    const gone = new AbortController();
    const unsubscribe = onStdoutClosed(() => { gone.abort(); display?.end(); });
    const note = (line: string) => { if (display) display.line(line); else process.stderr.write(line + '\n'); };
    let text: ReturnType<typeof textOutput> | null = null;
    const cb: GenerateCallbacks = {
      signal: AbortSignal.any([signal, gone.signal]),
      onLog: (m) => {
        if (mode === 'json') say(JSON.stringify({ event: 'log', message: m }) + '\n');
        else if (mode !== 'quiet') note(m);
      },
      onStart: (i, prompts) => {
        if (mode === 'json') { say(JSON.stringify({ event: 'start', ...i }) + '\n'); return; }
        if (mode !== 'quiet') {
          const adapters = i.adapters.length ? ` + ${i.adapters.join(' + ')}` : '';
          const how = i.temperature > 0 ? `temperature ${i.temperature}${i.topP < 1 ? `, top-p ${i.topP}` : ''}, seed ${i.seed}` : 'greedy';
          note(`generate: ${i.model}${adapters} on ${i.backend}: ${i.prompts} prompt${i.prompts === 1 ? '' : 's'}, up to ${i.maxNewTokens} new tokens, ${how}`);
        }
        text = textOutput(prompts);
      },
      onText: (i, piece) => text?.onText?.(i, piece),
      onCompletion: (c) => {
        if (mode === 'json') {
          say(JSON.stringify({
            event: 'completion', index: c.index, source: c.prompt.source, instruction: c.prompt.instruction, input: c.prompt.input,
            prompt_text: c.prompt.text, text: c.text, tokens: c.tokens, stop: c.stop,
          }) + '\n');
        } else text?.onCompletion?.(c);
      },
      onProgress: (p) => gone.signal.aborted || display?.update({
        unit: 'prompt', done: p.done, total: p.total, fields: [`${p.tokens} tokens`, `${Math.round(p.tokens_per_s)} tok/s`],
        elapsed_s: p.elapsed_s, eta_s: p.eta_s,
      }),
    };
    try {
      const res = await generate(opts, cb);
      (text as ReturnType<typeof textOutput> | null)?.end();
      display?.end();
      if (stdoutClosed()) return 0;
      if (mode === 'json') {
        say(JSON.stringify({ event: 'done', prompts: res.completions.length, new_tokens: res.newTokens, seconds: res.seconds,
          tokens_per_s: res.tokensPerSecond, interrupted: res.interrupted }) + '\n');
      } else if (mode !== 'quiet') {
        const n = res.completions.length;
        process.stderr.write(`generate: ${n} prompt${n === 1 ? '' : 's'}, ${res.newTokens} new tokens in ${res.seconds.toFixed(1)} s `
          + `(${res.tokensPerSecond.toFixed(1)} tok/s)${res.interrupted ? ': interrupted' : ''}\n`);
      }
      return 0;
    } finally {
      unsubscribe();
    }
  }, { interruptNote: 'stopping after the current token' });
}

process.exitCode = await main(process.argv.slice(2));
