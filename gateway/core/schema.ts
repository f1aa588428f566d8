import { Ajv, type ValidateFunction } from 'ajv'
import { GatewayError, type SchemaIssue } from '../model/errors.ts'

/** Validates an item; returns the value to store (with the schema's defaults and coercions) or throws. */
export type Validator = (item: unknown) => Promise<unknown>

interface StandardSchema {
  '~standard': {
    validate(value: unknown): StandardResult | Promise<StandardResult>
  }
}
type StandardResult =
  | { value: unknown; issues?: undefined }
  | { issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }> }

const isStandardSchema = (s: unknown): s is StandardSchema =>
  typeof s === 'object' && s !== null && typeof (s as StandardSchema)['~standard']?.validate === 'function'

const isJsonSchema = (s: unknown): s is Record<string, unknown> =>
  typeof s === 'object' && s !== null && ['type', 'properties', '$schema', '$ref', 'anyOf', 'oneOf', 'allOf'].some((k) => k in s)

const pathOf = (segments: ReadonlyArray<PropertyKey | { key: PropertyKey }> | undefined): string =>
  (segments ?? []).map((s) => String(typeof s === 'object' ? s.key : s)).join('.')

const rejected = (issues: SchemaIssue[]) =>
  new GatewayError(
    'INVALID_ARGUMENT',
    `item does not match the stream's schema: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    issues,
  )

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })

function jsonSchemaValidator(schema: Record<string, unknown>): Validator {
  const validate: ValidateFunction = ajv.compile(schema)
  return async (item) => {
    if (validate(item)) return item
    throw rejected(
      (validate.errors ?? []).map((e) => {
        const segments = e.instancePath.split('/').slice(1)
        if (e.keyword === 'required') segments.push(String(e.params.missingProperty))
        return { path: segments.join('.'), message: e.message ?? e.keyword }
      }),
    )
  }
}

function standardValidator(schema: StandardSchema): Validator {
  return async (item) => {
    const result = await schema['~standard'].validate(item)
    if (!result.issues) return result.value
    throw rejected(result.issues.map((i) => ({ path: pathOf(i.path), message: i.message })))
  }
}

/**
 * Motia streams carry zod 3, zod 4 (both Standard Schema) or, from Python steps, plain JSON Schema.
 * A stream without a schema accepts any object.
 */
export function validatorFor(schema: unknown): Validator {
  if (schema === undefined || schema === null) return async (item) => item
  if (isStandardSchema(schema)) return standardValidator(schema)
  if (isJsonSchema(schema)) return jsonSchemaValidator(schema)
  throw new Error('schema must be a Standard Schema (zod 3.24+, zod 4, valibot, ...) or a JSON Schema object')
}
