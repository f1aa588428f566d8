// Prints the one closing line CI reads ("N passed, N failed") from vitest's JSON reports, summed over every
// run (`node test/summary.mjs REPORT STATUS [REPORT STATUS ...]`), and exits non-zero when any run failed.
import { readFileSync } from 'node:fs'

const args = process.argv.slice(2)
let passed = 0
let failed = 0
let skipped = 0
let status = 0
for (let i = 0; i < args.length; i += 2) {
  const [reportPath, runStatus] = [args[i], Number(args[i + 1])]
  status ||= runStatus
  try {
    const report = JSON.parse(readFileSync(reportPath, 'utf8'))
    passed += report.numPassedTests
    failed += report.numFailedTests
    skipped += report.numPendingTests + report.numTodoTests
  } catch {
    console.log(`vitest wrote no report at ${reportPath}`)
    status ||= 1
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(status)
