import { type DescFile, type DescMessage, toBinary } from '@bufbuild/protobuf'
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt'
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect'
import { ServerReflection as ServerReflectionV1 } from './gen/grpc/reflection/v1/reflection_pb.ts'
import { ServerReflection as ServerReflectionV1alpha } from './gen/grpc/reflection/v1alpha/reflection_pb.ts'

/** The request of either reflection version (they are the same message in two packages). */
interface ReflectionRequest {
  host: string
  messageRequest:
    | { case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices'; value: string }
    | { case: 'fileContainingExtension'; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined }
}

type Answer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: Array<{ name: string }> } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } }

/** The files a server was built from, by file name, symbol and extension, with their encodings. */
class DescriptorIndex {
  private readonly files = new Map<string, DescFile>()
  private readonly symbols = new Map<string, DescFile>()
  private readonly messages = new Map<string, DescMessage>()
  /** extendee type name -> extension number -> file */
  private readonly extensions = new Map<string, Map<number, DescFile>>()
  private readonly encoded = new Map<string, Uint8Array>()

  constructor(files: DescFile[]) {
    for (const file of files) this.add(file)
  }

  private add(file: DescFile) {
    if (this.files.has(file.proto.name)) return
    this.files.set(file.proto.name, file)
    const addMessage = (message: DescMessage) => {
      this.symbols.set(message.typeName, file)
      this.messages.set(message.typeName, message)
      for (const nested of message.nestedMessages) addMessage(nested)
      for (const nested of message.nestedEnums) this.symbols.set(nested.typeName, file)
      for (const extension of message.nestedExtensions) this.addExtension(file, extension.extendee.typeName, extension.number, extension.typeName)
    }
    for (const message of file.messages) addMessage(message)
    for (const enumeration of file.enums) this.symbols.set(enumeration.typeName, file)
    for (const extension of file.extensions) this.addExtension(file, extension.extendee.typeName, extension.number, extension.typeName)
    for (const service of file.services) {
      this.symbols.set(service.typeName, file)
      for (const method of service.methods) this.symbols.set(`${service.typeName}.${method.name}`, file)
    }
    for (const dependency of file.dependencies) this.add(dependency)
  }

  private addExtension(file: DescFile, extendee: string, number: number, typeName: string) {
    this.symbols.set(typeName, file)
    let numbers = this.extensions.get(extendee)
    if (!numbers) this.extensions.set(extendee, (numbers = new Map()))
    numbers.set(number, file)
  }

  file = (name: string) => this.files.get(name)
  fileOfSymbol = (symbol: string) => this.symbols.get(symbol)
  fileOfExtension = (extendee: string, number: number) => this.extensions.get(extendee)?.get(number)
  message = (typeName: string) => this.messages.get(typeName)
  extensionNumbers = (extendee: string) => [...(this.extensions.get(extendee)?.keys() ?? [])]

  /** The file, then those of its transitive dependencies this stream has not been sent yet. */
  withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
    const result: Uint8Array[] = []
    const queue = [file]
    for (let next = queue.shift(); next; next = queue.shift()) {
      if (result.length === 0 || !sent.has(next.proto.name)) {
        sent.add(next.proto.name)
        result.push(this.bytes(next))
      }
      queue.push(...next.dependencies)
    }
    return result
  }

  private bytes(file: DescFile) {
    let bytes = this.encoded.get(file.proto.name)
    if (!bytes) this.encoded.set(file.proto.name, (bytes = toBinary(FileDescriptorProtoSchema, file.proto)))
    return bytes
  }
}

const notFound = (errorMessage: string): Answer => ({ case: 'errorResponse', value: { errorCode: Code.NotFound, errorMessage } })

/** Ends with the signal's reason (shutdown: UNAVAILABLE) instead of waiting for a client that stays quiet. */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(ConnectError.from(signal.reason))
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  aborted.catch(() => {})
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted])
      if (next.done) return
      yield next.value
    }
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}

/**
 * gRPC server reflection (grpc.reflection.v1 and the v1alpha most tools still ask first) for the given
 * services: grpcurl, grpcui, Postman and `buf curl` list them and call them with no .proto at hand. The
 * descriptors are the ones embedded in the generated code, so they are exactly what the server runs.
 */
export function reflectionRoutes(router: ConnectRouter, served: Array<{ typeName: string; file: DescFile }>) {
  const reflection = [ServerReflectionV1, ServerReflectionV1alpha]
  const index = new DescriptorIndex([...served, ...reflection].map((service) => service.file))
  const services = [...served, ...reflection].map((service) => ({ name: service.typeName }))

  function answer(request: ReflectionRequest, sent: Set<string>): Answer {
    const files = (file: DescFile): Answer => ({ case: 'fileDescriptorResponse', value: { fileDescriptorProto: index.withDependencies(file, sent) } })
    const { messageRequest: asked } = request
    switch (asked.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: services } }
      case 'fileByFilename': {
        const file = index.file(asked.value)
        return file ? files(file) : notFound(`file "${asked.value}" not found`)
      }
      case 'fileContainingSymbol': {
        const file = index.fileOfSymbol(asked.value)
        return file ? files(file) : notFound(`symbol "${asked.value}" not found`)
      }
      case 'fileContainingExtension': {
        const { containingType, extensionNumber } = asked.value
        const file = index.fileOfExtension(containingType, extensionNumber)
        return file ? files(file) : notFound(`extension ${extensionNumber} of "${containingType}" not found`)
      }
      case 'allExtensionNumbersOfType':
        return index.message(asked.value)
          ? { case: 'allExtensionNumbersResponse', value: { baseTypeName: asked.value, extensionNumber: index.extensionNumbers(asked.value) } }
          : notFound(`type "${asked.value}" not found`)
      default:
        return { case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'empty reflection request' } }
    }
  }

  async function* serverReflectionInfo<R extends ReflectionRequest>(requests: AsyncIterable<R>, context: HandlerContext) {
    const sent = new Set<string>()
    for await (const request of untilAborted(requests, context.signal)) {
      yield { validHost: request.host, originalRequest: request, messageResponse: answer(request, sent) }
    }
  }

  router.service(ServerReflectionV1, { serverReflectionInfo })
  router.service(ServerReflectionV1alpha, { serverReflectionInfo })
}
