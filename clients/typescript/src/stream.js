import { addressKey, Channel, groupKeyOf } from './channel.js';
import { Lifeline } from './lifeline.js';
import { browserNetwork } from './network.js';
import { sseTransport } from './sse.js';
import { StreamGroupSubscription, StreamItemSubscription } from './subscription.js';
import { websocketTransport } from './websocket.js';
const randomId = () => {
    const cryptoApi = globalThis.crypto;
    if (typeof cryptoApi?.randomUUID === 'function') {
        try {
            return cryptoApi.randomUUID();
        }
        catch {
            // not a secure context
        }
    }
    return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
        const r = (Math.random() * 16) | 0;
        return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
    });
};
const nonEmpty = (value, what) => {
    if (typeof value !== 'string' || value === '')
        throw new TypeError(`${what} must be a non-empty string`);
};
const statusOf = (links) => {
    let result = 'idle';
    const rank = { idle: 0, open: 1, connecting: 2, reconnecting: 3, offline: 4, closed: -1 };
    for (const link of links) {
        const status = link === 'waiting' ? 'reconnecting' : link === 'closed' ? 'idle' : link;
        if (rank[status] > rank[result])
            result = status;
    }
    return result;
};
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
export class Stream {
    address;
    options;
    attemptCount = 0;
    channels = new Map();
    releasing = new Set();
    links = new Map();
    statusListeners = new Set();
    errorListeners = new Set();
    transport;
    connection;
    currentStatus = 'idle';
    isClosed = false;
    subscriptionHost;
    host;
    constructor(address, options = {}) {
        this.address = address;
        this.options = options;
        const { transport = 'websocket' } = options;
        this.transport =
            transport === 'websocket' ? websocketTransport(options.websocket) : transport === 'sse' ? sseTransport(options.sse) : transport;
        if (options.onError)
            this.errorListeners.add(options.onError);
        this.subscriptionHost = { release: (channel, observer) => this.release(channel, observer), report: (error) => this.report(error) };
        this.host = {
            address,
            protocols: options.protocols === undefined ? undefined : [options.protocols].flat(),
            lifeline: (open) => this.lifeline(open),
            route: (frame) => this.route(frame),
            deliver: (channel, frame) => {
                this.observe(frame);
                channel.receive(frame);
            },
            report: (error) => this.report(error),
        };
    }
    /** Connection attempts made so far, over every connection of this stream. */
    get attempts() {
        return this.attemptCount;
    }
    /** The transport's name: `websocket`, `sse`, `connect`. */
    get transportName() {
        return this.transport.name;
    }
    get status() {
        return this.currentStatus;
    }
    get closed() {
        return this.isClosed;
    }
    /** Follows one item; its state is the item, or null when it does not exist. */
    subscribeItem(streamName, groupId, id) {
        nonEmpty(id, 'id');
        const channel = this.acquire({ streamName, groupId, id });
        return new StreamItemSubscription(channel, this.isClosed ? undefined : this.subscriptionHost);
    }
    /** Follows a whole group; its state is the array of items, sorted by `sortKey` when given. */
    subscribeGroup(streamName, groupId, sortKey) {
        const channel = this.acquire({ streamName, groupId });
        return new StreamGroupSubscription(channel, this.isClosed ? undefined : this.subscriptionHost, sortKey);
    }
    /** Called with the stream's status whenever it changes. Returns the function that stops it. */
    onStatusChange(listener) {
        this.statusListeners.add(listener);
        return () => this.statusListeners.delete(listener);
    }
    /** Called with every error (as `onError` is). Returns the function that stops it. */
    onError(listener) {
        this.errorListeners.add(listener);
        return () => this.errorListeners.delete(listener);
    }
    /**
     * Reconnects now, asking the token provider again, and retries refused subscriptions (after a login,
     * say). State and resume tokens are kept.
     */
    reconnect() {
        if (this.isClosed)
            return;
        for (const channel of this.channels.values())
            channel.refused = undefined;
        this.connection?.reconnect();
    }
    /** Closes every connection and cancels pending reconnects for good; subscriptions stop receiving. */
    close() {
        if (this.isClosed)
            return;
        this.isClosed = true;
        const connection = this.connection;
        this.connection = undefined;
        connection?.close();
        for (const link of this.links.keys())
            link.close();
        this.links.clear();
        for (const channel of this.channels.values())
            channel.observers.clear();
        this.channels.clear();
        this.releasing.clear();
        this.setStatus('closed');
    }
    acquire(address) {
        nonEmpty(address.streamName, 'streamName');
        nonEmpty(address.groupId, 'groupId');
        const key = addressKey(address);
        let channel = this.channels.get(key);
        if (channel) {
            this.releasing.delete(channel);
            return channel;
        }
        channel = new Channel(address, randomId(), (error) => this.report(error));
        if (this.isClosed)
            return channel;
        this.channels.set(key, channel);
        this.connection ??= this.transport.connect(this.host);
        this.connection.add(channel);
        return channel;
    }
    /**
     * A channel nobody follows any more is dropped a moment later, so a subscription closed and opened again
     * in one go (React StrictMode, a re-render with the same address) keeps its state and costs no round trip.
     */
    release(channel, _observer) {
        if (channel.observers.size > 0 || this.isClosed)
            return;
        this.releasing.add(channel);
        queueMicrotask(() => {
            if (!this.releasing.delete(channel) || channel.observers.size > 0 || this.isClosed)
                return;
            if (this.channels.get(channel.key) !== channel)
                return;
            this.channels.delete(channel.key);
            this.connection?.remove(channel);
        });
    }
    report(error) {
        if (this.errorListeners.size === 0)
            return;
        for (const listener of [...this.errorListeners]) {
            try {
                listener(error);
            }
            catch {
                // An error listener that throws has nowhere else to go.
            }
        }
    }
    setStatus(status) {
        if (status === this.currentStatus)
            return;
        this.currentStatus = status;
        for (const listener of [...this.statusListeners]) {
            try {
                listener(status);
            }
            catch (cause) {
                this.report({ kind: 'listener', message: `a status listener threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause });
            }
        }
    }
    lifeline(open) {
        const { auth } = this.options;
        const lifeline = new Lifeline(open, {
            backoff: this.options.backoff,
            network: this.options.network ?? browserNetwork,
            auth: typeof auth === 'function' ? auth : auth ? () => auth : undefined,
            random: this.options.random,
            onError: (error) => this.report(error),
            onStatus: (status) => {
                if (status === 'connecting')
                    this.attemptCount++;
                if (status === 'closed')
                    this.links.delete(lifeline);
                else
                    this.links.set(lifeline, status);
                if (!this.isClosed)
                    this.setStatus(statusOf(this.links.values()));
            },
        });
        return lifeline;
    }
    /**
     * Motia's routing, for transports that share one connection: a frame goes to the channel of its exact
     * address, and an item frame other than a sync also to its group's channel. A refusal goes only to the
     * subscription that was refused.
     */
    observe(frame) {
        const { onFrame } = this.options;
        if (!onFrame)
            return;
        try {
            onFrame(frame);
        }
        catch (cause) {
            this.report({ kind: 'listener', message: `onFrame threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause });
        }
    }
    route(frame) {
        this.observe(frame);
        if (typeof frame !== 'object' || frame === null || typeof frame.streamName !== 'string' || typeof frame.groupId !== 'string') {
            return this.report({ kind: 'protocol', message: 'a frame without streamName and groupId' });
        }
        const id = typeof frame.id === 'string' && frame.id !== '' ? frame.id : undefined;
        const address = { streamName: frame.streamName, groupId: frame.groupId, id };
        this.channels.get(addressKey(address))?.receive(frame);
        if (!id || frame.event?.type === 'sync')
            return;
        const group = this.channels.get(groupKeyOf(address));
        if (group && !(frame.event?.type === 'event' && frame.sequence === undefined && frame.event.event?.type === 'error'))
            group.receive(frame);
    }
}
