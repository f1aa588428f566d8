import { type BackoffOptions } from './backoff.ts';
import type { NetworkMonitor } from './network.ts';
import type { StreamError } from './types.ts';
/** A token, or nothing (anonymous). */
export type TokenResult = string | null | undefined;
export type LinkStatus = 'idle' | 'connecting' | 'open' | 'waiting' | 'offline' | 'closed';
/** How one connection attempt reports back to its lifeline. Calls after the attempt was dropped are ignored. */
export interface Link {
    /** Aborted when the lifeline drops this attempt (restart, stop, close): close the connection. */
    readonly signal: AbortSignal;
    /** The connection is established (status `open`). */
    opened(): void;
    /**
     * Data arrived: the connection works, so the next reconnect starts the back-off over. (A connection that
     * opens and fails before any data, e.g. refused credentials behind a 200, keeps backing off.)
     */
    alive(): void;
    /** The connection ended, cleanly or not: the lifeline tries again after a back-off delay. */
    ended(error?: StreamError): void;
}
/** Opens one connection; `token` is what the token provider returned for this attempt. Must not throw. */
export type Open = (token: string | undefined, link: Link) => void;
export interface LifelineOptions {
    backoff?: BackoffOptions;
    network: NetworkMonitor;
    /** Called before every attempt, so a refreshed token is used on every reconnect. */
    auth?: () => TokenResult | Promise<TokenResult>;
    random?: () => number;
    onStatus(status: LinkStatus): void;
    onError(error: StreamError): void;
}
/**
 * Keeps one connection alive: connects, and after every end waits a back-off delay (full jitter) before the
 * next attempt. No attempts while the network is offline; `online` (and a page becoming visible while
 * waiting) reconnects at once. `close()` cancels the pending timer and the attempt in flight.
 */
export declare class Lifeline {
    private readonly open;
    private readonly options;
    private state;
    private attempts;
    private timer;
    private current;
    private unwatch;
    constructor(open: Open, options: LifelineOptions);
    get status(): LinkStatus;
    /** Connects unless already connected, connecting, or waiting for the next attempt. */
    start(): void;
    /** Drops the current connection, if any, and connects again now (a changed subscription set, a new token). */
    restart(): void;
    /** Drops the connection and stays idle until `start()`. */
    stop(): void;
    /** For good: nothing is pending afterwards, and nothing starts again. */
    close(): void;
    private drop;
    private connect;
    private attempt;
    private retry;
    private readonly onNetwork;
    private set;
}
