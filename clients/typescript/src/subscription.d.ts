import type { Channel, ChannelObserver } from './channel.ts';
import type { CustomEventListener, Item, JoinData, Listener, StreamError } from './types.ts';
/** What a subscription needs from its stream. */
export interface SubscriptionHost {
    release(channel: Channel, observer: ChannelObserver): void;
    report(error: StreamError): void;
}
/**
 * Motia's subscription API (`getState`, `addChangeListener`/`removeChangeListener`, `onEvent`/`offEvent`,
 * `onClose`, `close`, `sub`). Subscriptions to the same address share one channel, so a second
 * subscription starts with the state the first already has (`synced`).
 */
export declare abstract class StreamSubscription<TState = unknown> implements ChannelObserver {
    protected readonly channel: Channel;
    private readonly host;
    /** Motia's join data: the address and the subscription id used on the WebSocket. */
    readonly sub: JoinData;
    private readonly changeListeners;
    private readonly eventListeners;
    private readonly closeListeners;
    private isClosed;
    constructor(channel: Channel, host: SubscriptionHost | undefined);
    /** The current state: the item (null when it does not exist) or the group's items. */
    abstract getState(): TState;
    /** True once the gateway has delivered a state for this address (a sync, or a resumed replay). */
    get synced(): boolean;
    get closed(): boolean;
    /** Called with the new state after every change. */
    addChangeListener(listener: Listener<TState>): void;
    removeChangeListener(listener: Listener<TState>): void;
    /** Called with `data` of every custom event of this type (`streams.x.send`); `error` reports refusals. */
    onEvent(type: string, listener: CustomEventListener): void;
    offEvent(type: string, listener: CustomEventListener): void;
    onClose(listener: () => void): void;
    /** Stops following: the gateway is told (leave, a narrower SSE stream, the call cancelled) once no one else follows the address. */
    close(): void;
    /** @internal */
    changed(): void;
    /** @internal */
    event(type: string, data: unknown): void;
    private call;
}
export declare class StreamItemSubscription<TData = Item> extends StreamSubscription<TData | null> {
    getState(): TData | null;
}
/**
 * Orders by `sortKey` when given: numbers numerically, everything else as strings (`localeCompare`),
 * missing values last; ties keep the group's order. (Motia compares every value as a string and leaves
 * falsy ones in place, so 10 sorts before 9 there.)
 */
export declare function compareBy<T>(sortKey: keyof T): (a: T, b: T) => number;
export declare class StreamGroupSubscription<TData extends {
    id: string;
} = Item> extends StreamSubscription<TData[]> {
    readonly sortKey?: keyof TData | undefined;
    private sorted;
    private sortedVersion;
    constructor(channel: Channel, host: SubscriptionHost | undefined, sortKey?: keyof TData | undefined);
    getState(): TData[];
}
