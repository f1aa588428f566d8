import { type Transport } from './transport.ts';
/** The part of the WebSocket API the client uses: the browser's, Node 22's, undici's or the `ws` package's. */
export interface WebSocketInstance {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    addEventListener(type: string, listener: (event: never) => void): void;
}
export type WebSocketLike = new (url: string, protocols?: string | string[]) => WebSocketInstance;
export interface WebSocketTransportOptions {
    /** The WebSocket class; default the global one (browsers, Node 22+). In Node 20: `import { WebSocket } from 'ws'`. */
    WebSocket?: WebSocketLike;
    /**
     * How the token goes to the gateway: `query` (default, `?authToken=`, any token) or `protocol` (the
     * `Authorization, <token>` subprotocol pair, as Motia documents). A token that is not an HTTP token (a
     * JWT is, padded base64 is not) goes in the query even then.
     */
    authVia?: 'query' | 'protocol';
}
/** Puts the token after an offered `Authorization` subprotocol, or offers the pair. */
export declare function withAuthProtocol(protocols: string[] | undefined, token: string): string[];
/**
 * Motia's WebSocket protocol: one socket, a `join` per followed address (with the `resumeToken` of its
 * last frame when it has one: Motia's servers ignore the field), `leave` when no one follows it any more.
 * Reconnects with back-off and joins again; a refused join (Motia's `error` event) is not joined again
 * until `stream.reconnect()`.
 */
export declare function websocketTransport(options?: WebSocketTransportOptions): Transport;
