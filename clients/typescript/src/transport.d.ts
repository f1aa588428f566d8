import type { Channel } from './channel.ts';
import type { Lifeline, Open } from './lifeline.ts';
import type { Frame, StreamError } from './types.ts';
/** What a stream gives the transport it was created with. */
export interface TransportHost {
    /** The address the stream was created with (`ws://`, `wss://`, `http://` or `https://`). */
    readonly address: string;
    /** Motia's `protocols` option: WebSocket subprotocols. */
    readonly protocols: string[] | undefined;
    /** A reconnecting connection with the stream's back-off, token provider, network monitor and status. */
    lifeline(open: Open): Lifeline;
    /** Routes a frame of a shared connection to every channel it concerns (Motia's routing rules). */
    route(frame: Frame): void;
    /** Gives a frame to one channel (transports with a connection per subscription). */
    deliver(channel: Channel, frame: Frame): void;
    report(error: StreamError): void;
}
/** One stream's use of a transport: told which channels to follow, it keeps them followed. */
export interface TransportConnection {
    add(channel: Channel): void;
    remove(channel: Channel): void;
    /** Reconnects now with a fresh token, and follows the parked (refused) channels again. */
    reconnect(): void;
    close(): void;
}
/**
 * How a stream reaches the gateway: `websocketTransport()` and `sseTransport()` in this entry point,
 * `connectTransport()` in `@streamgate/client/connect`. `name` identifies it (React re-creates the stream
 * when it changes, not when a new object with the same name is passed).
 */
export interface Transport {
    readonly name: string;
    connect(host: TransportHost): TransportConnection;
}
/** `ws://h/p` -> `http://h/p`, `wss://` -> `https://`; http(s) addresses unchanged; no trailing slash. */
export declare function httpBase(address: string): string;
/** `http://h` -> `ws://h`, `https://` -> `wss://`; ws(s) addresses unchanged. */
export declare function wsBase(address: string): string;
export declare const describeError: (cause: unknown) => string;
