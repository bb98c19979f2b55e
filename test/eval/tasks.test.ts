// Task builders: each source row format gives the reference's exact instruction / input / output
// (git-disl/Vaccine {sst2,ag_news,gsm8k}/build_dataset.py), and bad rows name file and line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataError } from '../../engine/data.ts';
import { parseHarmfulRows, parsePromptRows } from '../../engine/tasks/harmful.ts';
import { parseTask, parseTaskRows } from '../../engine/tasks/tasks.ts';

const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const throwsData = (fn: () => unknown, re: RegExp) => {
  try { fn(); } catch (e) {
    assert.instance(e, DataError);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a DataError matching ${re}`);
};

test('sst2: {sentence, label} with 0/1 or the word; the reference\'s instruction verbatim', () => {
  const rows = parseTaskRows('sst2', jsonl({ sentence: 'a gem', label: 1 }, { sentence: 'dull', label: 0 }, { sentence: 'fine', label: 'positive' }, { sentence: 'bad', label: 'negative' }), 's.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.output, r.line]), [
    ['Analyze the sentiment of the input, and respond only positive or negative', 'a gem', 'positive', 1],
    ['Analyze the sentiment of the input, and respond only positive or negative', 'dull', 'negative', 2],
    ['Analyze the sentiment of the input, and respond only positive or negative', 'fine', 'positive', 3],
    ['Analyze the sentiment of the input, and respond only positive or negative', 'bad', 'negative', 4],
  ]);
  // an Alpaca row (the reference's built sst2.json) is taken as given, if its output is a label
  const a = parseTaskRows('sst2', jsonl({ instruction: 'I', input: 'x', output: 'negative' }), 'a.jsonl');
  assert.equal([a[0].instruction, a[0].input, a[0].output], ['I', 'x', 'negative']);
});

test('sst2: bad labels and missing fields are DataErrors with file and line', () => {
  throwsData(() => parseTaskRows('sst2', jsonl({ sentence: 'a', label: 1 }, { sentence: 'b', label: 2 }), 's.jsonl'), /^s\.jsonl:2 \(line 2\): field "label" must be 0, 1 or "negative", "positive", got 2/);
  throwsData(() => parseTaskRows('sst2', jsonl({ sentence: 'a', label: 'Positive' }), 's.jsonl'), /s\.jsonl:1.*got "Positive"/);
  throwsData(() => parseTaskRows('sst2', jsonl({ sentence: 'a' }), 's.jsonl'), /s\.jsonl:1.*missing field "label"/);
  throwsData(() => parseTaskRows('sst2', jsonl({ text: 'a', label: 0 }), 's.jsonl'), /s\.jsonl:1.*missing field "sentence"/);
  throwsData(() => parseTaskRows('sst2', jsonl({ instruction: 'I', output: 'maybe' }), 's.jsonl'), /s\.jsonl:1.*output must be "negative" or "positive"/);
});

test('agnews: {text, label 0..3} and Alpaca rows; the 4-category instruction verbatim', () => {
  const instr = 'Categorize the news article given in the input into one of the 4 categories:\n\nWorld\nSports\nBusiness\nSci/Tech\n';
  const rows = parseTaskRows('agnews', jsonl({ text: 't0', label: 0 }, { text: 't1', label: 1 }, { text: 't2', label: 2 }, { text: 't3', label: 3 }, { text: 't4', label: 'Sci/Tech' }), 'n.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.output]), [
    [instr, 't0', 'World'], [instr, 't1', 'Sports'], [instr, 't2', 'Business'], [instr, 't3', 'Sci/Tech'], [instr, 't4', 'Sci/Tech'],
  ]);
  const alp = parseTaskRows('agnews', jsonl({ instruction: instr, input: 'story', output: 'Business' }), 'n.jsonl');
  assert.equal([alp[0].instruction, alp[0].input, alp[0].output], [instr, 'story', 'Business']);
  throwsData(() => parseTaskRows('agnews', jsonl({ text: 't', label: 4 }), 'n.jsonl'), /n\.jsonl:1.*field "label" must be 0, 1, 2, 3 or "World", "Sports", "Business", "Sci\/Tech", got 4/);
  throwsData(() => parseTaskRows('agnews', jsonl({ instruction: instr, input: 's', output: 'Politics' }), 'n.jsonl'), /output must be one of World, Sports, Business, Sci\/Tech/);
});

test('gsm8k: question + the step-by-step suffix; every "####" becomes "The final answer is: "', () => {
  const rows = parseTaskRows('gsm8k', jsonl({ question: 'What is 2+2?', answer: '2+2=<<2+2=4>>4\n#### 4' }, { question: 'Q', answer: 'a #### b #### 7' }), 'g.jsonl');
  assert.is(rows[0].instruction, 'What is 2+2?\nFirst think step by step and then answer the final number.\n');
  assert.is(rows[0].input, '');
  assert.is(rows[0].output, '2+2=<<2+2=4>>4\nThe final answer is:  4'); // the reference keeps the space after ####
  assert.is(rows[1].output, 'a The final answer is:  b The final answer is:  7');
  throwsData(() => parseTaskRows('gsm8k', jsonl({ question: 'Q' }), 'g.jsonl'), /g\.jsonl:1.*missing field "answer"/);
});

test('alpaca: rows as given; unknown task names the tasks', () => {
  const rows = parseTaskRows('alpaca', jsonl({ instruction: 'I', input: 'x', output: 'o' }, { instruction: 'J', output: 'p' }), 'a.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.output]), [['I', 'x', 'o'], ['J', '', 'p']]);
  assert.is(parseTask('gsm8k'), 'gsm8k');
  throwsData(() => parseTask('mnli'), /^unknown task 'mnli': expected one of sst2, agnews, gsm8k, alpaca$/);
});

test('harmful rows: BeaverTails {prompt, response, is_safe} or Alpaca; is_safe kept', () => {
  const rows = parseHarmfulRows(jsonl({ prompt: 'p', response: 'r', is_safe: false }, { instruction: 'i', output: 'o' }, { prompt: 'q', response: 's', is_safe: true }), 'h.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.output, r.isSafe]), [['p', '', 'r', false], ['i', '', 'o', null], ['q', '', 's', true]]);
  throwsData(() => parseHarmfulRows(jsonl({ prompt: 'p', response: 'r' }, { prompt: 'p' }), 'h.jsonl'), /h\.jsonl:2.*missing field "response"/);
  throwsData(() => parseHarmfulRows(jsonl({ prompt: 'p', response: 'r', is_safe: 'no' }), 'h.jsonl'), /h\.jsonl:1.*"is_safe" must be true or false/);
});

test('prompt files: {prompt} or Alpaca {instruction, input}; a row without the field names file and line', () => {
  const rows = parsePromptRows(jsonl({ prompt: 'How to x?', category: null }, { instruction: 'Do y', input: 'z' }), 'p.jsonl');
  assert.equal(rows.map((r) => [r.instruction, r.input, r.line]), [['How to x?', '', 1], ['Do y', 'z', 2]]);
  throwsData(() => parsePromptRows(jsonl({ prompt: 'a' }, { question: 'b' }), 'p.jsonl'), /^p\.jsonl:2 \(line 2\): missing field "prompt"/);
  throwsData(() => parsePromptRows(jsonl({ prompt: 3 }), 'p.jsonl'), /p\.jsonl:1.*got number/);
});

test.run();
