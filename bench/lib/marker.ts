/**
 * Every benchmark item carries one marker string, `#<key>.<seq>.<t>#`, where `key` names an ordered sequence
 * (a lane, i.e. one item, in fan-out; a group in many-groups), `seq` counts from 1 within that key and `t` is
 * the write time in µs since the shared origin (lib/clock.ts). The same bytes appear verbatim in a Motia JSON
 * frame, in an SSE `data:` line and inside a protobuf `google.protobuf.Struct` string value, so one cheap
 * byte scan reads it on every transport without parsing the frame. `#` never occurs elsewhere in a frame.
 */

/** The rest of an item, so that the stored item (with its `id`) is about `itemBytes` of JSON. */
export const padFor = (itemBytes: number) => 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(itemBytes / 36)).slice(0, Math.max(0, itemBytes - 50))
const PAD = padFor(200)

/** The item body as the writer sends it (the server adds `id`); about 200 bytes unless given another pad. */
export const itemJson = (key: number, seq: number, tUs: number, pad = PAD) => `{"k":"#${key}.${seq}.${Math.round(tUs)}#","pad":"${pad}"}`

export const HASH = 35
const DOT = 46

/** Result of the last successful `readMarker` (module-level to avoid an allocation per frame). */
export const marker = { key: 0, seq: 0, t: 0, end: 0 }

/**
 * Reads the first marker in buf[start, end); false when there is none. A `#` that does not start a complete
 * `#digits.digits.digits#` (binary protobuf bytes can be 0x23) is skipped.
 */
export function readMarker(buf: Buffer, start: number, end: number): boolean {
  let from = start
  for (;;) {
    const at = buf.indexOf(HASH, from)
    if (at < 0 || at >= end) return false
    if (parseAt(buf, at + 1, end)) return true
    from = at + 1
  }
}

/** Parses `digits.digits.digits#` at i (just after a `#`) into `marker`. */
function parseAt(buf: Buffer, i: number, end: number): boolean {
  let key = 0
  let seq = 0
  let t = 0
  for (let part = 0; part < 3; part++) {
    const first = i
    let v = 0
    let c = -1
    while (i < end) {
      c = buf[i++]!
      if (c < 48 || c > 57) break
      v = v * 10 + (c - 48)
    }
    // At least one digit, then '.' between parts and '#' after the last.
    if (i - 1 === first || c !== (part < 2 ? DOT : HASH)) return false
    if (part === 0) key = v
    else if (part === 1) seq = v
    else t = v
  }
  marker.key = key
  marker.seq = seq
  marker.t = t
  marker.end = i
  return true
}

/** How many markers buf[start, end) holds (the items of a sync snapshot). */
export function countMarkers(buf: Buffer, start: number, end: number): number {
  let n = 0
  let i = start
  while (readMarker(buf, i, end)) {
    n++
    i = marker.end
  }
  return n
}
