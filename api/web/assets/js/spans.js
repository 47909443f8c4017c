// Text spans: where a claim sits in the answer, where its evidence sits in a passage, where the
// [S#] citations are. Pure functions, no DOM.

// [S1], [S1, S3], [S2][S4], [S1-S3]: the groups the server recognises (rag/citations.py).
const CITATION_GROUP = /\[\s*(S\d+(?:\s*(?:,|;|-|–|and)\s*S?\d+)*)\s*\]/gi;

// A text cut into pieces: {text, labels} for a citation group, {text} for the rest.
export function splitCitations(text) {
  const pieces = [];
  let last = 0;
  for (const match of text.matchAll(CITATION_GROUP)) {
    if (match.index > last) pieces.push({ text: text.slice(last, match.index) });
    pieces.push({ text: match[0], labels: labelsOf(match[1]) });
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last) });
  return pieces;
}

export function labelsOf(body) {
  const numbers = [...body.matchAll(/S?(\d+)/gi)].map((m) => Number(m[1]));
  if (/[-–]/.test(body) && numbers.length === 2 && numbers[0] <= numbers[1] && numbers[1] <= numbers[0] + 50) {
    return Array.from({ length: numbers[1] - numbers[0] + 1 }, (_, i) => `S${numbers[0] + i}`);
  }
  return [...new Set(numbers.map((n) => `S${n}`))];
}

// The server counts offsets in code points, JavaScript strings in UTF-16 units: they differ only
// after a character outside the BMP (an emoji, some CJK).
export function utf16Offset(text, codePoints) {
  if (!/[\uD800-\uDFFF]/.test(text)) return codePoints;
  let units = 0;
  let seen = 0;
  for (const char of text) {
    if (seen === codePoints) break;
    units += char.length;
    seen += 1;
  }
  return units;
}

// [start, end) of `expected` in `text`: the server's offsets when the text there is `expected` (the
// verifier's claim texts leave out the [S#] markers its offsets include), else where `expected` first
// occurs, else null. A mark is never drawn over text that is not the claim or the evidence.
export function locate(text, start, end, expected) {
  if (typeof start === "number" && typeof end === "number") {
    const from = utf16Offset(text, start);
    const to = utf16Offset(text, end);
    if (expected === undefined || sameWords(text.slice(from, to), expected)) return [from, to];
  }
  if (!expected) return null;
  const at = text.indexOf(expected);
  return at >= 0 ? [at, at + expected.length] : null;
}

function sameWords(found, expected) {
  const plain = (value) => value.replace(CITATION_GROUP, " ").replace(/\s+/g, " ").replace(/\s+([.,;:!?])/g, "$1").trim();
  return found === expected || plain(found) === plain(expected);
}

// The whole text cut at every range boundary: [{start, end, covering: [range index…]}], in order.
export function segments(length, ranges) {
  const cuts = new Set([0, length]);
  for (const range of ranges) {
    cuts.add(Math.max(0, Math.min(length, range.start)));
    cuts.add(Math.max(0, Math.min(length, range.end)));
  }
  const points = [...cuts].sort((a, b) => a - b);
  const pieces = [];
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [start, end] = [points[i], points[i + 1]];
    if (end <= start) continue;
    const covering = [];
    ranges.forEach((range, index) => {
      if (range.start <= start && range.end >= end) covering.push(index);
    });
    pieces.push({ start, end, covering });
  }
  return pieces;
}
