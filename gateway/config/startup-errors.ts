/**
 * Why the gateway could not start, in one line that names what and where (a flag, a file, a port). The CLI
 * prints the message alone, without a stack, and exits with `exitCode`.
 */
export class StartupError extends Error {
  override name = 'StartupError'
  readonly exitCode: number = 1
}

/** A flag or variable that cannot be used. */
export class UsageError extends StartupError {
  override name = 'UsageError'
  override readonly exitCode = 2
}
