/** The error codes of the contract; each transport maps them (HTTP status, Connect/gRPC code, error event). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
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

export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: SchemaIssue[] = [],
  ) {
    super(message)
    this.name = 'GatewayError'
  }

  toJSON() {
    return { code: this.code, message: this.message, details: this.details }
  }
}
