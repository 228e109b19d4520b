// expect: exception
// limits: timeout_ms=5000 fuel=max memory_mb=64
// expect-name: TypeError
// expect-message-contains: not valid for encoding utf-8
// 4.2 MB of invalid UTF-8 (stray continuation bytes, bytes that never start a sequence,
// truncated and overlong sequences, an encoded surrogate, a code point past U+10FFFF),
// decoded first by a lenient decoder, which must give one U+FFFD per maximal subpart
// (12 per 14-byte pattern, then the pattern's "A"), and then by a fatal one, which must
// throw its TypeError at the first bad byte rather than build anything.
const pattern = [0x80, 0xff, 0xc0, 0xaf, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x41];
const repeats = 300000;
const bytes = new Uint8Array(pattern.length * repeats);
bytes.set(pattern);
for (let filled = pattern.length; filled < bytes.length; filled *= 2) {
  bytes.copyWithin(filled, 0, Math.min(filled, bytes.length - filled));
}
const text = new TextDecoder().decode(bytes);
const unit = "\ufffd".repeat(12) + "A";
if (text.length !== unit.length * repeats || !text.startsWith(unit) || !text.endsWith(unit)) {
  throw new Error(`the lenient decoder gave ${text.length} characters`);
}
new TextDecoder("utf-8", { fatal: true }).decode(bytes);
