import type { BackoffOptions } from './backoff.ts';
import { type TokenResult } from './lifeline.ts';
import { type NetworkMonitor } from './network.ts';
import { type SseTransportOptions } from './sse.ts';
import { StreamGroupSubscription, StreamItemSubscription } from './subscription.ts';
import type { Transport } from './transport.ts';
import type { Frame, Item, StreamError, StreamStatus } from './types.ts';
import { type WebSocketLike } from './websocket.ts';
export interface StreamOptions {
    /** `websocket` (default: Motia's frames), `sse` (one multiplexed stream), or a transport object. */
    transport?: 'websocket' | 'sse' | Transport;
    /** WebSocket subprotocols, as Motia's `protocols` option (e.g. `['Authorization', token]`). */
    protocols?: string | string[];
    /**
     * The token, or a function that returns it, called again before every (re)connection so a refreshed token
     * is used. WebSocket: `?authToken=` (or the `Authorization` subprotocol pair, `websocket.authVia`); SSE:
     * `Authorization: Bearer`; Connect: the `authorization` header.
     */
    auth?: string | null | (() => TokenResult | Promise<TokenResult>);
    /** Reconnect delays: exponential with full jitter between attempts (default 250 ms doubling up to 30 s). */
    backoff?: BackoffOptions;
    /** Network errors, refusals and throwing listeners are reported here; nothing is thrown at the host. */
    onError?: (error: StreamError) => void;
    /** Online/offline and page visibility; the default reads the browser's (always online in Node). */
    network?: NetworkMonitor;
    /** Options of the built-in `websocket` transport (e.g. the `WebSocket` class in Node 20: `ws`). */
    websocket?: {
        WebSocket?: WebSocketLike;
        authVia?: 'query' | 'protocol';
    };
    /** Options of the built-in `sse` transport. */
    sse?: SseTransportOptions;
    /** Every frame as received, before the reducers (for logging and tests). */
    onFrame?: (frame: Frame) => void;
    /** For tests: the random source of the back-off jitter. */
    random?: () => number;
}
/**
 * A connection to a streamgate (or Motia) server, with Motia's client API: `subscribeItem`,
 * `subscribeGroup`, `close`. Nothing goes over the network before the first subscription.
 *
 * ```ts
 * const stream = new Stream('ws://localhost:3000', { transport: 'sse', auth: () => getToken() })
 * const todos = stream.subscribeGroup<Todo>('todo', 'inbox')
 * todos.addChangeListener((items) => render(items))
 * ```
 */
export declare class Stream {
    readonly address: string;
    private readonly options;
    private attemptCount;
    private readonly channels;
    private readonly releasing;
    private readonly links;
    private readonly statusListeners;
    private readonly errorListeners;
    private readonly transport;
    private connection;
    private currentStatus;
    private isClosed;
    private readonly subscriptionHost;
    private readonly host;
    constructor(address: string, options?: StreamOptions);
    /** Connection attempts made so far, over every connection of this stream. */
    get attempts(): number;
    /** The transport's name: `websocket`, `sse`, `connect`. */
    get transportName(): string;
    get status(): StreamStatus;
    get closed(): boolean;
    /** Follows one item; its state is the item, or null when it does not exist. */
    subscribeItem<TData extends {
        id: string;
    } = Item>(streamName: string, groupId: string, id: string): StreamItemSubscription<TData>;
    /** Follows a whole group; its state is the array of items, sorted by `sortKey` when given. */
    subscribeGroup<TData extends {
        id: string;
    } = Item>(streamName: string, groupId: string, sortKey?: keyof TData): StreamGroupSubscription<TData>;
    /** Called with the stream's status whenever it changes. Returns the function that stops it. */
    onStatusChange(listener: (status: StreamStatus) => void): () => void;
    /** Called with every error (as `onError` is). Returns the function that stops it. */
    onError(listener: (error: StreamError) => void): () => void;
    /**
     * Reconnects now, asking the token provider again, and retries refused subscriptions (after a login,
     * say). State and resume tokens are kept.
     */
    reconnect(): void;
    /** Closes every connection and cancels pending reconnects for good; subscriptions stop receiving. */
    close(): void;
    private acquire;
    /**
     * A channel nobody follows any more is dropped a moment later, so a subscription closed and opened again
     * in one go (React StrictMode, a re-render with the same address) keeps its state and costs no round trip.
     */
    private release;
    private report;
    private setStatus;
    private lifeline;
    /**
     * Motia's routing, for transports that share one connection: a frame goes to the channel of its exact
     * address, and an item frame other than a sync also to its group's channel. A refusal goes only to the
     * subscription that was refused.
     */
    private observe;
    private route;
}
