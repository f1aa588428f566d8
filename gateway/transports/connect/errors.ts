import { Code, ConnectError } from '@connectrpc/connect'
import type { ErrorCode } from '../../model/errors.ts'
import { GatewayError } from '../../model/errors.ts'
import { SchemaViolationSchema } from '../../gen/streamgate/v1/stream_pb.ts'

/** The Connect/gRPC code of each contract error. */
export const connectCode: Record<ErrorCode, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  PAYLOAD_TOO_LARGE: Code.ResourceExhausted,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  UNAVAILABLE: Code.Unavailable,
  INTERNAL: Code.Internal,
}

/** Response metadata naming the contract's own code, which tells PAYLOAD_TOO_LARGE from other limits. */
export const ERROR_CODE_HEADER = 'streamgate-error-code'
/** Response metadata naming the refinement of the code, when there is one (IDEMPOTENCY_KEY_REUSED). */
export const ERROR_REASON_HEADER = 'streamgate-error-reason'

/**
 * A contract error as Connect/gRPC sees it: the mapped code, the core's message, the contract code as
 * metadata and, for schema violations, a `streamgate.v1.SchemaViolation` detail listing every path.
 * Anything else is an internal error whose message says nothing about the cause.
 */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error
  if (error instanceof GatewayError) {
    const details = error.details.length > 0 ? [{ desc: SchemaViolationSchema, value: { issues: error.details } }] : []
    const metadata: Record<string, string> = { [ERROR_CODE_HEADER]: error.code }
    if (error.reason) metadata[ERROR_REASON_HEADER] = error.reason
    return new ConnectError(error.message, connectCode[error.code], metadata, details, error)
  }
  return new ConnectError('internal error', Code.Internal, undefined, undefined, error)
}

/** The reason a refusal is counted under: the contract's code when the gateway refused, else the status. */
export const rejectionReason = (failure: ConnectError) => (failure.metadata.get(ERROR_CODE_HEADER) ?? Code[failure.code]).toLowerCase()
