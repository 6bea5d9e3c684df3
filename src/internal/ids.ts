/**
 * UUID version 7: time-ordered, so ids sort by creation and index well (RFC 9562). Built from
 * `crypto.randomUUID()` (a v4 from a cached random pool) with the first 48 bits replaced by the
 * millisecond timestamp and the version nibble set to 7; the variant bits are already right.
 */
export function uuidv7(now: number = Date.now()): string {
  const time = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${crypto.randomUUID().slice(15)}`;
}
