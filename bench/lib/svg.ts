/** Small hand-written SVG charts (no dependency): line panels and horizontal bars. */

export interface Series {
  name: string
  points: Array<[number, number]>
}

const COLORS: Record<string, string> = {
  raw: '#7f7f7f',
  motia: '#d62728',
  streamgate: '#1f77b4',
  'streamgate (Redis, A→B)': '#2ca02c',
}
const PALETTE = ['#1f77b4', '#d62728', '#7f7f7f', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2']
const colorOf = (name: string, i: number) => COLORS[name] ?? COLORS[name.split(' ')[0]!] ?? PALETTE[i % PALETTE.length]!

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceMax(value: number): number {
  if (value <= 0) return 1
  const exp = 10 ** Math.floor(Math.log10(value))
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= value) return m * exp
  return 10 * exp
}

export const formatNumber = (v: number): string => {
  if (v >= 1e6) return `${Math.round((v / 1e6) * 100) / 100}M`
  if (v >= 1e3) return `${Math.round((v / 1e3) * 10) / 10}k`
  return `${Math.round(v * 100) / 100}`
}

/** One panel at (x0, y0): lines of y against x (x on a log scale when it spans more than a decade). */
export function linePanel(x0: number, y0: number, width: number, height: number, title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const padL = 56
  const padB = 36
  const padT = 24
  const padR = 12
  const w = width - padL - padR
  const h = height - padT - padB
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b)
  const ys = series.flatMap((s) => s.points.map((p) => p[1]))
  const out: string[] = [`<g transform="translate(${x0},${y0})">`]
  out.push(`<text x="${padL + w / 2}" y="14" text-anchor="middle" font-weight="bold">${esc(title)}</text>`)
  if (xs.length === 0) {
    out.push(`<text x="${padL + w / 2}" y="${padT + h / 2}" text-anchor="middle" fill="#888">no data</text></g>`)
    return out.join('')
  }
  const log = xs.length > 1 && xs[xs.length - 1]! / xs[0]! > 10
  const fx = (x: number) => {
    if (xs.length === 1) return padL + w / 2
    const [a, b] = log ? [Math.log10(xs[0]!), Math.log10(xs[xs.length - 1]!)] : [xs[0]!, xs[xs.length - 1]!]
    const v = log ? Math.log10(x) : x
    return padL + ((v - a) / (b - a)) * w
  }
  const yMax = niceMax(Math.max(...ys, 0) * 1.05)
  const fy = (y: number) => padT + h - (y / yMax) * h
  out.push(`<rect x="${padL}" y="${padT}" width="${w}" height="${h}" fill="none" stroke="#ccc"/>`)
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4
    out.push(`<line x1="${padL}" x2="${padL + w}" y1="${fy(y)}" y2="${fy(y)}" stroke="#eee"/>`)
    out.push(`<text x="${padL - 4}" y="${fy(y) + 4}" text-anchor="end">${formatNumber(y)}</text>`)
  }
  for (const x of xs) out.push(`<text x="${fx(x)}" y="${padT + h + 14}" text-anchor="middle">${formatNumber(x)}</text>`)
  out.push(`<text x="${padL + w / 2}" y="${padT + h + 30}" text-anchor="middle" fill="#555">${esc(xLabel)}</text>`)
  out.push(`<text transform="translate(12,${padT + h / 2}) rotate(-90)" text-anchor="middle" fill="#555">${esc(yLabel)}</text>`)
  series.forEach((s, i) => {
    const color = colorOf(s.name, i)
    const pts = [...s.points].sort((a, b) => a[0] - b[0])
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${fx(x)},${fy(y)}`).join(' ')}"/>`)
    for (const [x, y] of pts) out.push(`<circle cx="${fx(x)}" cy="${fy(y)}" r="3" fill="${color}"><title>${esc(`${s.name}: ${formatNumber(y)} at ${x}`)}</title></circle>`)
  })
  out.push('</g>')
  return out.join('')
}

function legend(x0: number, y0: number, names: string[]): string {
  return names
    .map((name, i) => `<g transform="translate(${x0 + i * 170},${y0})"><rect width="12" height="12" fill="${colorOf(name, i)}"/><text x="16" y="10">${esc(name)}</text></g>`)
    .join('')
}

/** Two line panels side by side with one legend. */
export function twoPanelChart(title: string, left: { title: string; yLabel: string; series: Series[] }, right: { title: string; yLabel: string; series: Series[] }, xLabel: string): string {
  const width = 820
  const height = 330
  const names = [...new Set([...left.series, ...right.series].map((s) => s.name))]
  const order = (series: Series[]) => names.map((n) => series.find((s) => s.name === n) ?? { name: n, points: [] })
  return svg(width, height, [
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    legend(60, 30, names),
    linePanel(0, 50, width / 2, height - 50, left.title, xLabel, left.yLabel, order(left.series)),
    linePanel(width / 2, 50, width / 2, height - 50, right.title, xLabel, right.yLabel, order(right.series)),
  ])
}

/** Horizontal bars, one per label. */
export function barChart(title: string, unit: string, bars: Array<{ label: string; value: number; color?: string }>): string {
  const rowH = 22
  const padL = 230
  const width = 820
  const w = width - padL - 90
  const height = 50 + bars.length * rowH + 10
  const max = niceMax(Math.max(...bars.map((b) => b.value), 0))
  const out = [`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`]
  bars.forEach((bar, i) => {
    const y = 40 + i * rowH
    const color = bar.color ?? colorOf(bar.label, i)
    out.push(`<text x="${padL - 6}" y="${y + 14}" text-anchor="end">${esc(bar.label)}</text>`)
    out.push(`<rect x="${padL}" y="${y + 3}" width="${Math.max(1, (bar.value / max) * w)}" height="${rowH - 6}" fill="${color}"/>`)
    out.push(`<text x="${padL + (bar.value / max) * w + 6}" y="${y + 14}">${esc(`${formatNumber(bar.value)} ${unit}`)}</text>`)
  })
  return svg(width, height, out)
}

function svg(width: number, height: number, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>${body.join('')}</svg>\n`
}
