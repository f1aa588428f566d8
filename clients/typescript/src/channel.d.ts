import type { Address, Frame, Item, StreamError } from './types.ts';
/** What a channel tells the subscriptions that share it. */
export interface ChannelObserver {
    changed(): void;
    event(type: string, data: unknown): void;
}
/**
 * A refusal that another attempt may fix (the gateway could not re-sync a subscription, say): the gateway
 * dropped the subscription, so a shared connection reconnects, with back-off, and joins it again.
 */
export declare const isRetryableRefusal: (frame: Frame) => boolean;
export declare const addressKey: ({ streamName, groupId, id }: Address) => string;
export declare const groupKeyOf: ({ streamName, groupId }: Address) => string;
/** A gateway's refusal of a join: a custom `error` event outside the log (no sequence), with a code. */
export declare function refusalOf(frame: Frame): {
    code: string;
    message: string;
} | undefined;
/**
 * The state of one address (an item, or a whole group) on the client, shared by every subscription to it.
 *
 * Frames are ordered by `sequence`, the position in the group's log: anything not newer than what the
 * channel has applied is dropped, so replays after a resume and overlapping deliveries are harmless. A sync
 * always replaces the state and the position (a `reset` sync comes from a new log: sequences start over).
 * Changes that arrive before the first sync are dropped (the sync covers them); custom events are not.
 * Frames without a sequence (Motia's own servers) fall back to timestamps, keeping equal ones.
 */
export declare class Channel {
    readonly address: Address;
    readonly subscriptionId: string;
    private readonly report;
    readonly key: string;
    readonly groupKey: string;
    /** Has a state from the gateway (a sync, a resumed replay, or, from Motia servers, any change). */
    synced: boolean;
    /** The sequence of the last applied frame; -1 before any. */
    seq: number;
    /** The resume token of the last applied frame. */
    token: string | undefined;
    /** Bumped on every state change. */
    version: number;
    refused: {
        code: string;
        message: string;
    } | undefined;
    readonly observers: Set<ChannelObserver>;
    private item;
    private readonly items;
    private list;
    private lastTimestamp;
    constructor(address: Address, subscriptionId: string, report: (error: StreamError) => void);
    get isItem(): boolean;
    /** The item (or null), or the group's items in log order (a new array after each change). */
    state(): Item | null | Item[];
    receive(frame: Frame): void;
    /** Refused by the gateway: subscribers get Motia's `error` custom event `{code, message}`. */
    refuse(code: string, message: string): void;
    /** Whether the frame is newer than what was applied; advances the position when it is. */
    private accept;
    private replace;
    private emit;
}
