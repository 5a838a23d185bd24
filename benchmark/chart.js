'use strict'
// A hand-written SVG horizontal bar chart (no dependencies): req/s of each contender as a ratio of Node's
// keep-alive http.Agent, one block per c=64 scenario.

const WIDTH = 860
const LABEL_WIDTH = 250
const BAR_HEIGHT = 14
const BAR_GAP = 4
const BLOCK_GAP = 18
const TITLE_HEIGHT = 22
const HEADER_HEIGHT = 58
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - 70

function escape (text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function color (id) {
  if (id.startsWith('ka-')) return '#d9480f'
  if (id === 'wrk') return '#adb5bd'
  if (id === 'node-http') return '#1c7ed6'
  return '#748ffc'
}

function chart (results) {
  const blocks = results.scenarios.filter(s => s.concurrency === 64)
  const ratios = blocks.flatMap(s => s.rows.map(r => r.median?.ratio).filter(Number.isFinite))
  const max = Math.max(1.5, Math.ceil(Math.max(...ratios, 0) * 2) / 2)
  const x = ratio => LABEL_WIDTH + (ratio / max) * PLOT_WIDTH
  const out = []
  let y = HEADER_HEIGHT
  for (const scenario of blocks) {
    out.push(`<text x="10" y="${y + 15}" font-weight="bold">${escape(scenario.id)}</text>`)
    y += TITLE_HEIGHT
    const top = y
    for (const row of scenario.rows) {
      const ratio = row.median?.ratio
      out.push(`<text x="${LABEL_WIDTH - 8}" y="${y + BAR_HEIGHT - 3}" text-anchor="end">${escape(row.name)}</text>`)
      if (Number.isFinite(ratio)) {
        const w = Math.max(1, x(ratio) - LABEL_WIDTH)
        out.push(`<rect x="${LABEL_WIDTH}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color(row.id)}"/>`)
        const flag = row.errors ? ' ⚠ errors' : ''
        out.push(`<text x="${(LABEL_WIDTH + w + 5).toFixed(1)}" y="${y + BAR_HEIGHT - 3}">${ratio.toFixed(2)}×${flag}</text>`)
      } else {
        out.push(`<text x="${LABEL_WIDTH + 5}" y="${y + BAR_HEIGHT - 3}" fill="#c92a2a">${escape(row.failed || 'n/a')}</text>`)
      }
      y += BAR_HEIGHT + BAR_GAP
    }
    out.push(`<line x1="${x(1)}" y1="${top - 2}" x2="${x(1)}" y2="${y}" stroke="#212529" stroke-dasharray="3,3"/>`)
    y += BLOCK_GAP
  }
  const m = results.meta
  const header = [
    `<text x="10" y="20" font-size="15" font-weight="bold">keepalive-agent: req/s relative to Node's keep-alive http.Agent (dashed line = 1×), concurrency 64</text>`,
    `<text x="10" y="40" fill="#495057">${escape(`${m.machine.cpu}, ${m.machine.cores} cores, Node ${m.node}, ${m.server}, ${m.date.slice(0, 10)}`)}</text>`
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${y}" fill="#ffffff"/>`,
    ...header,
    ...out,
    '</svg>',
    ''
  ].join('\n')
}

module.exports = { chart }
