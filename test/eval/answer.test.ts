// The answer is what pred.py takes: output.split("### Response:")[1].strip(); the evaluation
// prompt is the Alpaca template without output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evalPrompt, pyStrip, responseFromContinuation, responseFromDecoded } from '../../engine/eval/answer.ts';

test('evaluation prompts end with "### Response:" (no output), with or without input', () => {
  assert.is(evalPrompt({ instruction: 'How do I x?' }),
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nHow do I x?\n\n### Response:');
  assert.is(evalPrompt({ instruction: 'Analyze', input: 'a film' }),
    'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAnalyze\n\n### Input:\na film\n\n### Response:');
});

test('the text after the first marker, up to a second one, stripped', () => {
  const prompt = evalPrompt({ instruction: 'Q' });
  assert.is(responseFromDecoded(`${prompt} I'm sorry, I cannot.\n`), "I'm sorry, I cannot.");
  // the model writes another turn: pred.py keeps only the text before the next marker
  assert.is(responseFromDecoded(`${prompt} positive\n\n### Instruction:\nmore\n\n### Response: negative`), 'positive\n\n### Instruction:\nmore');
  assert.is(responseFromDecoded(`${prompt}`), '');
  assert.is(responseFromDecoded(`${prompt}   \n\t `), '');
  assert.throws(() => responseFromDecoded('no marker here'), /no "### Response:" marker/);
  assert.is(responseFromContinuation(' The final answer is: 4'), 'The final answer is: 4');
  assert.is(responseFromContinuation(' a ### Response: b'), 'a');
});

test('pyStrip strips what Python\'s str.strip() strips, not what trim() strips', () => {
  assert.is(pyStrip(' \t\n\r\v\f a b \n'), 'a b');
  assert.is(pyStrip('\x1c\x1d\x1e\x1fx\x85\u00a0\u2003\u3000'), 'x'); // Python strips these, trim() keeps \x1c-\x1f and \x85
  assert.is(pyStrip('\ufeffx\ufeff'), '\ufeffx\ufeff'); // trim() strips U+FEFF, Python does not
  assert.is(pyStrip('\u200bx'), '\u200bx'); // zero-width space is not whitespace in either
});

test.run();
