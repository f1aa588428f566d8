import type { ErrorCode, GatewayError } from '../model/errors.ts'

/** The HTTP status of each contract error, for REST (and SSE before its stream starts). */
export const httpStatus: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  FAILED_PRECONDITION: 412,
  PAYLOAD_TOO_LARGE: 413,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
}

/** The status of one refusal: its code's, except where a reason refines it (a reused Idempotency-Key is 422). */
export const statusOf = (error: GatewayError) => (error.reason === 'IDEMPOTENCY_KEY_REUSED' ? 422 : httpStatus[error.code])
