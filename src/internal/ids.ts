let lastTime = -1;
let sequence = 0;

/**
 * UUID version 7: time-ordered, so ids sort by creation and index well (RFC 9562). The first 48 bits are the
 * millisecond timestamp; the 12 `rand_a` bits are a counter within the millisecond (method 1 of RFC 9562 §6.2,
 * seeded randomly each millisecond), so ids made by one process sort in the order they were made even within
 * one millisecond. The remaining bits come from `crypto.randomUUID()` (a cached random pool).
 */
export function uuidv7(now: number = Date.now()): string {
  let time = Math.max(0, Math.floor(now));
  if (time <= lastTime) {
    time = lastTime;
    sequence++;
    if (sequence > 0xfff) {
      // The counter ran out within one millisecond: borrow the next millisecond (still ordered).
      time = ++lastTime;
      sequence = 0;
    }
  } else {
    lastTime = time;
    sequence = Math.floor(Math.random() * 0x800); // leave headroom for ids in the same millisecond
  }
  const hex = time.toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7${sequence.toString(16).padStart(3, '0')}${crypto.randomUUID().slice(18)}`;
}
