// The builders, scorers and the keyword judge on the real files in ../shared/data: every row
// parses, every gold answer is scorable and scores itself correct, the grid's mix takes the
// expected rows, and GCG's refusal phrases are found in the alignment data's safe answers as often
// as documented in engine/eval/judge.ts. Not registered, with a note, where the data is absent.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readRows } from '../../engine/data.ts';
import { checkGold, isCorrect } from '../../engine/eval/accuracy.ts';
import { findRefusal, isIncoherent } from '../../engine/eval/judge.ts';
import { readPromptRows } from '../../engine/tasks/harmful.ts';
import { buildMix } from '../../engine/tasks/mix.ts';
import { readTaskRows, type TaskName } from '../../engine/tasks/tasks.ts';
import { DATA_DIR } from '../helpers.ts';

const files = {
  refusals: join(DATA_DIR, 'alignment/safety_refusals.jsonl'),
  beaver: join(DATA_DIR, 'harmful/beavertails_unsafe_qa.jsonl'),
  harmfulVal: join(DATA_DIR, 'harmful/harmful_prompts_val.jsonl'),
  harmlessVal: join(DATA_DIR, 'harmful/harmless_prompts_val.jsonl'),
  sst2Train: join(DATA_DIR, 'tasks/sst2_train.jsonl'),
  sst2Val: join(DATA_DIR, 'tasks/sst2_validation.jsonl'),
  agnews: join(DATA_DIR, 'tasks/agnews_test.jsonl'),
  gsm8k: join(DATA_DIR, 'tasks/gsm8k_test.jsonl'),
};

if (!Object.values(files).every((f) => existsSync(f))) {
  console.log(`(eval/real_data: ${DATA_DIR} lacks some of the task / harmful / alignment files: real-data checks not run)`);
} else {
  test('task files: every row builds, every gold output is scorable and scores itself correct', () => {
    const cases: [TaskName, string, number][] = [['sst2', files.sst2Val, 872], ['agnews', files.agnews, 7600], ['gsm8k', files.gsm8k, 1319]];
    for (const [task, file, n] of cases) {
      const rows = readTaskRows(task, file);
      assert.is(rows.length, n, file);
      for (const row of rows) {
        checkGold(task, row, file);
        assert.ok(isCorrect(task as 'sst2', row.output, row.output), `${file}:${row.line}`);
      }
    }
    const g = readTaskRows('gsm8k', files.gsm8k)[0];
    assert.ok(g.instruction.endsWith('\nFirst think step by step and then answer the final number.\n'));
    assert.ok(g.output.endsWith('The final answer is:  18'));
  });

  test('the grid\'s mix: SST-2 train with 10% BeaverTails unsafe rows, n = 1000', () => {
    const { rows, record } = buildMix({ task: 'sst2', benign: files.sst2Train, harmful: files.beaver, n: 1000, p: 0.1 });
    assert.is(rows.length, 1000);
    assert.equal([record.harmful_rows, record.benign_rows, record.harmful!.rows, record.harmful!.skipped_safe, record.benign.rows], [100, 900, 200, 0, 67349]);
    assert.equal(record.harmful!.indices, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(record.benign.indices, Array.from({ length: 900 }, (_, i) => i));
    assert.match(record.harmful!.sha256, /^[0-9a-f]{64}$/);
    assert.is(rows[0].instruction, readRows(files.beaver)[0].instruction);
  });

  test('prompt files parse; GCG\'s phrases are in 1,981 of the 2,483 safe alignment answers', () => {
    assert.is(readPromptRows(files.harmfulVal).length, 39);
    assert.is(readPromptRows(files.harmlessVal).length, 6264);
    const outputs = readRows(files.refusals).map((r) => r.output);
    assert.is(outputs.length, 2483);
    assert.is(outputs.filter((o) => findRefusal(o) !== null).length, 1981);
    assert.is(outputs.filter((o) => o.startsWith("I'm sorry") || o.startsWith('As an AI')).length, 1776); // 1,266 + 510: the openings an aligned model learns
    // none of the alignment answers is incoherent by the HS+ rule
    assert.is(outputs.filter(isIncoherent).length, 0);
  });
}

test.run();
