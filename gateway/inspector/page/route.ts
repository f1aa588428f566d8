// The page's address says what is chosen: `#/<stream>/<group>`, each part percent-encoded, so a reload,
// a bookmark and the back button keep the choice. No DOM here: the tests run these in Node.

export interface Route {
  stream?: string
  group?: string
}

export const hashOf = (stream: string, group?: string) =>
  `#/${encodeURIComponent(stream)}${group === undefined ? '' : `/${encodeURIComponent(group)}`}`

/** The choice a hash names; anything that is not `#/<stream>[/<group>]` chooses nothing. */
export function routeOf(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/')
  if (parts.length > 2 || parts[0] === '' || parts[1] === '') return {}
  try {
    const [stream, group] = parts.map(decodeURIComponent)
    return group === undefined ? { stream } : { stream, group }
  } catch {
    return {}
  }
}
