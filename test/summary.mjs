// Prints the closing line CI reads ("N passed, N failed") from vitest's JSON report, and exits with
// vitest's own status.
import { readFileSync } from 'node:fs'

const [reportPath, status] = process.argv.slice(2)
let report
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'))
} catch {
  console.log('vitest wrote no report')
  process.exit(Number(status) || 1)
}
const skipped = report.numPendingTests + report.numTodoTests
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(Number(status))
