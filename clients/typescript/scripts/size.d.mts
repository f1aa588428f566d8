export interface Entry {
  name: string
  what: string
  file?: string
  contents?: string
}
export interface Measured {
  name: string
  what: string
  /** The minified bundle. */
  code: string
  /** The files esbuild bundled. */
  inputs: string[]
  minBytes: number
  gzipBytes: number
}
export declare const ENTRIES: Entry[]
export declare function bundle(entry: Entry): Promise<Measured>
export declare function measure(): Promise<Measured[]>
