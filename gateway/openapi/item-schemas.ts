import { zodToJsonSchema } from 'zod-to-json-schema'
import type { StreamConfig } from '../core/stream-config.ts'

export type JsonSchema = Record<string, unknown>

/** Standard Schema's JSON Schema extension (zod 4.2+, and other libraries that implement it). */
interface StandardJsonSchema {
  '~standard': { vendor: string; jsonSchema?: { output(options: { target: string }): JsonSchema } }
}

const standard = (schema: unknown) =>
  typeof schema === 'object' && schema !== null && '~standard' in schema ? (schema as StandardJsonSchema)['~standard'] : undefined

/** zod 3 (3.24+ implements Standard Schema, without its JSON Schema extension): its definition is under `_def`. */
const isZod3 = (schema: unknown) => standard(schema)?.vendor === 'zod' && typeof (schema as { _def?: { typeName?: unknown } })._def?.typeName === 'string'

function withoutDialect({ $schema: _dialect, ...rest }: JsonSchema): JsonSchema {
  return rest
}

/** Every item carries its `id`, whether or not the stream's schema names it. */
function withId(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, unknown> | undefined
  if (schema.type !== 'object' || !properties || 'id' in properties) return schema
  const required = Array.isArray(schema.required) ? schema.required : []
  return { ...schema, properties: { id: { type: 'string' }, ...properties }, required: ['id', ...required] }
}

/**
 * The JSON Schema of a stream's items as subscribers see them: zod 4 through its own export, zod 3 through
 * zod-to-json-schema, a JSON Schema stream as written. OpenAPI 3.1 speaks JSON Schema 2020-12.
 */
export function itemJsonSchema(config: StreamConfig): JsonSchema {
  try {
    return withId(streamJsonSchema(config))
  } catch (error) {
    // zod refuses to export what JSON Schema cannot say (a transform, a Date): the stream still serves.
    return { title: config.name, type: 'object', description: `the stream's schema has no JSON Schema form: ${(error as Error).message}` }
  }
}

function streamJsonSchema(config: StreamConfig): JsonSchema {
  const { schema } = config
  const described = { title: config.name }
  if (schema === undefined || schema === null) return { ...described, type: 'object', description: 'any object (the stream has no schema)' }
  const exported = standard(schema)?.jsonSchema
  if (exported) return { ...described, ...withoutDialect(exported.output({ target: 'draft-2020-12' })) }
  if (isZod3(schema)) return { ...described, ...withoutDialect(zodToJsonSchema(schema as never, { target: 'jsonSchema2019-09', $refStrategy: 'none' }) as JsonSchema) }
  const vendor = standard(schema)?.vendor
  if (vendor) return { ...described, type: 'object', description: `validated by a ${vendor} schema that has no JSON Schema export` }
  return { ...described, ...withoutDialect(schema as JsonSchema) }
}
