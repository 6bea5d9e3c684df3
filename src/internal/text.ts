/**
 * UTF-8 length of `text` in bytes, without allocating. Byte-level tokenizers never produce more tokens than
 * bytes, so this is the engine's upper bound on a prompt's token count.
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      bytes += 4; // a surrogate pair is one 4-byte code point
      index++;
    } else bytes += 3;
  }
  return bytes;
}
