// Dawn's noise. dawn.node's native code prints some warnings straight to the process's stderr
// (fd 2, with fprintf), where no JavaScript can catch them and no Dawn toggle turns them off:
// on a first requestAdapter() with a Vulkan driver that reports huge limits (Mesa lavapipe),
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
// They say nothing a user can act on, so runtime/align.js runs the command with its stderr
// through this line filter, which drops exactly these lines (--verbose shows them). Plain JS: it
// runs before anything is built.

/** Dawn's limit-clamping warnings (the two above and any other limit it clamps the same way). */
export const DAWN_NOISE = /^Warning: \w+ artificially reduced from \d+ to \d+ to fit .*$/;
const PREFIX = 'Warning: ';

/**
 * A line filter over a text stream: `push(text)` passes every line on to `write` except those
 * that `drop` matches; `end()` flushes what is left. A partial line is held back only while it
 * can still become a dropped line, so a prompt or progress text without a newline is not delayed.
 * @param {(text: string) => void} write
 * @param {RegExp} [drop]
 */
export function createLineFilter(write, drop = DAWN_NOISE) {
  let held = ''; // the start of the current line, while it may be noise
  let passing = false; // the current line is known to pass: its rest goes straight through
  return {
    /** @param {string} text */
    push(text) {
      while (text.length > 0) {
        const nl = text.indexOf('\n');
        const piece = nl < 0 ? text : text.slice(0, nl + 1);
        text = nl < 0 ? '' : text.slice(nl + 1);
        const complete = piece.endsWith('\n');
        if (passing) {
          write(piece);
          passing = !complete;
          continue;
        }
        held += piece;
        if (complete) {
          if (!drop.test(held.slice(0, -1))) write(held);
          held = '';
        } else if (!(held.startsWith(PREFIX) || PREFIX.startsWith(held))) {
          write(held);
          held = '';
          passing = true;
        }
      }
    },
    end() {
      if (held && !drop.test(held)) write(held);
      held = '';
    },
  };
}
