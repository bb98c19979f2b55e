// From a generation to the answer that is scored, and the prompt the model is given.
//
// Reference (git-disl/Vaccine poison/evaluation/pred.py and {sst2,ag_news,gsm8k}/pred_eval.py):
// the prompt is the Alpaca template up to "### Response:" (no output); the model's whole output,
// prompt included, is decoded with skip_special_tokens, and the answer is
// `output.split("### Response:")[1].strip()`: the text after the first marker, up to a second
// marker if the model wrote one, without surrounding whitespace (Python's str.strip).
import { formatPrompt } from '../data.ts';

export const RESPONSE_MARKER = '### Response:';

/** The prompt a row is evaluated with: the Alpaca template without the output (ends with "### Response:"). */
export function evalPrompt(row: { instruction: string; input?: string }): string {
  return formatPrompt(row);
}

// Python's str.strip() removes the characters for which str.isspace() is true; JavaScript's trim()
// differs (it removes U+FEFF; it keeps U+001C..U+001F and U+0085), so the set is spelled out.
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/**
 * The answer in a decoded generation that includes the prompt, exactly as pred.py takes it.
 * A text without the marker is a programming error (every evaluation prompt ends with it).
 */
export function responseFromDecoded(decoded: string): string {
  const parts = decoded.split(RESPONSE_MARKER);
  if (parts.length < 2) throw new Error(`the decoded generation has no "${RESPONSE_MARKER}" marker`);
  return pyStrip(parts[1]);
}

/**
 * The answer from the generated continuation alone (the tokens after the prompt, decoded). Same
 * result as `responseFromDecoded(prompt + continuation)` whenever the prompt holds the marker only
 * at its end; where user text itself contains "### Response:", pred.py would cut the answer at the
 * user's marker, and this does not.
 */
export function responseFromContinuation(continuation: string): string {
  return responseFromDecoded(RESPONSE_MARKER + continuation);
}
