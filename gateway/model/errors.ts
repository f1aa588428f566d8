/** The error codes of the contract; each transport maps them (HTTP status, Connect/gRPC code, error event). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'PAYLOAD_TOO_LARGE'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL'

export interface SchemaIssue {
  path: string
  message: string
}

/**
 * A refinement of a code that callers must tell apart from the code's other uses: an Idempotency-Key
 * reused for another request is INVALID_ARGUMENT, but HTTP answers it 422, not 400.
 */
export type ErrorReason = 'IDEMPOTENCY_KEY_REUSED'

export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: SchemaIssue[] = [],
    readonly reason?: ErrorReason,
  ) {
    super(message)
    this.name = 'GatewayError'
  }

  toJSON() {
    return { code: this.code, message: this.message, details: this.details, ...(this.reason ? { reason: this.reason } : {}) }
  }
}
