// @streamgate/client/connect: one Connect server-streaming Subscribe call per subscription, against a real
// gateway, with the binary and the JSON codec over fetch (HTTP/1.1), and gRPC over HTTP/2 through a
// connect-node transport passed in (the scenarios that do not cut HTTP/1.1 sockets).
import { createGrpcTransport } from '@connectrpc/connect-node'
import { connectTransport } from '../clients/typescript/src/connect.ts'
import { clientScenarios } from './helpers/client-scenarios.ts'

clientScenarios({ name: 'Connect (binary)', options: () => ({ transport: connectTransport() }) })
clientScenarios({ name: 'Connect (JSON)', options: () => ({ transport: connectTransport({ binary: false }) }), only: ['bursts', 'events', 'resume'] })
clientScenarios({
  name: 'gRPC over HTTP/2 (connect-node transport)',
  options: () => ({ transport: connectTransport({ transport: (baseUrl) => createGrpcTransport({ baseUrl }) }) }),
  only: ['bursts', 'events', 'refusal', 'restart'],
})
