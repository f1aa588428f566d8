import { type Channel } from './channel.ts';
import { type Transport } from './transport.ts';
export interface SseTransportOptions {
    /** The fetch implementation (default the global one: browsers, Node 18+). */
    fetch?: typeof fetch;
    /** `header` (default): `Authorization: Bearer <token>`; `query`: `?authToken=` (no CORS preflight). */
    authVia?: 'header' | 'query';
    /** The multiplexed endpoint, relative to the stream's address (default `/events`). */
    path?: string;
    /** Reconnect when nothing arrived for this long, not even the gateway's 15 s heartbeat (default 45 s). */
    idleTimeoutMs?: number;
}
/**
 * The `lastEventId` that resumes a multiplexed stream of `channels`: one position per group, in the order
 * the gateway numbers them (first appearance in the subscription list). A group resumes from its channel's
 * last token when it has exactly one channel with a state; any other group gets a position beyond its log,
 * which the gateway answers with a sync. Undefined when no group can resume: then every channel gets a sync.
 */
export declare function compositeToken(channels: Channel[]): string | undefined;
/**
 * Reads a `text/event-stream` body and calls `onMessage` with each message's data. `onChunk` is called
 * for every chunk (heartbeats included).
 */
export declare function readEventStream(body: ReadableStream<Uint8Array>, onMessage: (data: string) => void, onChunk: () => void): Promise<void>;
/**
 * Server-Sent Events over `fetch` streaming: one multiplexed `GET /events?subscribe=...` per stream for all
 * its subscriptions. fetch rather than `EventSource`: it can send `Authorization`, and the client keeps the
 * reconnect policy (back-off, a fresh token, the resume position) instead of EventSource's fixed retry on
 * one URL. When the subscription set changes (batched per tick), the stream is reopened with a
 * `lastEventId` built from every channel's last token, so nothing is missed or repeated.
 */
export declare function sseTransport(options?: SseTransportOptions): Transport;
