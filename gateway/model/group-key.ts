/** One string per (stream, group) pair: NUL cannot occur in a name, so no two pairs share a key. */
export const groupKey = (streamName: string, groupId: string) => `${streamName}\u0000${groupId}`
