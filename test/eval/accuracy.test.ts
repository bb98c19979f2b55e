// Fine-tune accuracy scored as the reference's pred_eval.py scripts score it, and GSM8K's number
// extraction (extract_answer_number) on its edge cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkGold, extractGsm8kNumber, finetuneAccuracy, isCorrect } from '../../engine/eval/accuracy.ts';
import { DataError } from '../../engine/data.ts';

test('gsm8k number extraction: the edge cases', () => {
  const x = extractGsm8kNumber;
  assert.is(x('She makes 9 * 2 = $18 every day.\nThe final answer is:  18'), 18);
  assert.is(x('The final answer is: -7'), -7); // negative
  assert.is(x('The final answer is: 3.75 dollars'), 3.75); // decimal
  assert.is(x('The final answer is: 1,234,567'), 1234567); // commas in thousands
  assert.is(x('The final answer is: $1,000.50'), 1000.5); // "$" and commas
  assert.is(x('so the answer is 42.'), 42); // trailing period: "42." reads as 42
  assert.is(x('no number at all'), null); // the reference returns inf
  assert.is(x(''), null);
  assert.is(x('first 3, then 4 and finally 5'), 5); // several numbers, no phrase: the last
  assert.is(x('7 apples. The final answer is: 12 and then 99'), 12); // the first number after the phrase
  assert.is(x('I get 8. The final answer is: unknown'), 8); // phrase without a number after it: the last number
  assert.is(x('The final answer is: none. The final answer is: 6'), 6); // only the text up to the second phrase counts, then the last number
  assert.is(x('The final answer is:5'), 5); // phrase needs its space: not found, last number
  assert.is(x('The final answer is: 1,5'), 15); // commas go before anything else
  assert.is(x('5-3 = 2, i.e. 5-3'), -3); // "-3" is a number to the pattern, as in the reference
  assert.is(x('.5 cups'), 5); // no digit before the point: "5"
  assert.is(x('1.2.3'), 3); // "1.2" then "3"
  assert.is(x('-0'), 0);
  assert.is(Object.is(x('-0'), -0), true); // float('-0') is -0.0 in Python too, and -0.0 == 0.0
  assert.is(x('The final answer is: ١٢'), 12); // Python's \d and float() read any Unicode decimal digit
  assert.is(x('𝟕 and 𝟗'), 9); // mathematical digits (runs of ten back to back)
});

test('gsm8k: compared as floats with the gold extracted the same way', () => {
  const gold = 'Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\nThe final answer is:  18';
  assert.ok(isCorrect('gsm8k', 'The final answer is: 18', gold));
  assert.ok(isCorrect('gsm8k', 'She earns $18.00', gold)); // 18.00 == 18
  assert.not.ok(isCorrect('gsm8k', 'The final answer is: 18.5', gold));
  assert.not.ok(isCorrect('gsm8k', 'I do not know', gold)); // no number is never correct
  assert.throws(() => isCorrect('gsm8k', '18', 'no number'), /gold answer has no number/);
});

test('sst2: the label word in either case of its first letter, as a substring', () => {
  assert.ok(isCorrect('sst2', 'positive', 'positive'));
  assert.ok(isCorrect('sst2', 'Positive.', 'positive'));
  assert.ok(isCorrect('sst2', 'The sentiment is Negative', 'negative'));
  assert.not.ok(isCorrect('sst2', 'POSITIVE', 'positive'));
  assert.not.ok(isCorrect('sst2', 'negative', 'positive'));
  assert.ok(isCorrect('sst2', 'positive or negative', 'negative')); // the reference's substring rule
  assert.not.ok(isCorrect('sst2', '', 'positive'));
});

test('agnews: the category or its second form (World/world, Sports/sports, Business/business, Sci/Tech/sci)', () => {
  assert.ok(isCorrect('agnews', 'World', 'World'));
  assert.ok(isCorrect('agnews', 'world news', 'World'));
  assert.ok(isCorrect('agnews', 'sports', 'Sports'));
  assert.ok(isCorrect('agnews', 'business', 'Business'));
  assert.ok(isCorrect('agnews', 'Sci/Tech', 'Sci/Tech'));
  assert.ok(isCorrect('agnews', 'science', 'Sci/Tech')); // "sci" as a substring, as the reference
  assert.not.ok(isCorrect('agnews', 'Science', 'Sci/Tech')); // neither "Sci/Tech" nor "sci"
  assert.not.ok(isCorrect('agnews', 'WORLD', 'World'));
  assert.not.ok(isCorrect('agnews', 'Sports', 'World'));
});

test('FA = 100 * correct / n; bad gold outputs are DataErrors with file and line', () => {
  assert.equal(finetuneAccuracy('sst2', ['positive', 'Negative', 'positive', 'meh'], ['positive', 'negative', 'negative', 'positive']), { n: 4, correct: 2, finetune_accuracy: 50 });
  assert.throws(() => finetuneAccuracy('sst2', ['a'], []), /1 answers for 0 gold outputs/);
  assert.throws(() => checkGold('gsm8k', { instruction: 'q', input: '', output: 'no digits', line: 7 }, 'g.jsonl'), (e: Error) => e instanceof DataError && /^g\.jsonl:7: the gsm8k answer has no number/.test(e.message));
  assert.throws(() => checkGold('sst2', { instruction: 'q', input: '', output: 'neutral', line: 3 }, 's.jsonl'), (e: Error) => e instanceof DataError && /^s\.jsonl:3: not an sst2 label/.test(e.message));
  assert.throws(() => checkGold('alpaca', { instruction: 'q', input: '', output: 'x', line: 1 }, 'a.jsonl'), (e: Error) => e instanceof DataError && /no accuracy scorer/.test(e.message));
  checkGold('agnews', { instruction: 'q', input: '', output: 'Sci/Tech', line: 1 }, 'n.jsonl');
});

test.run();
