/**
 * Motia's subscription API (`getState`, `addChangeListener`/`removeChangeListener`, `onEvent`/`offEvent`,
 * `onClose`, `close`, `sub`). Subscriptions to the same address share one channel, so a second
 * subscription starts with the state the first already has (`synced`).
 */
export class StreamSubscription {
    channel;
    host;
    /** Motia's join data: the address and the subscription id used on the WebSocket. */
    sub;
    changeListeners = new Set();
    eventListeners = new Map();
    closeListeners = new Set();
    isClosed = false;
    constructor(channel, host) {
        this.channel = channel;
        this.host = host;
        const { streamName, groupId, id } = channel.address;
        this.sub = id ? { streamName, groupId, id, subscriptionId: channel.subscriptionId } : { streamName, groupId, subscriptionId: channel.subscriptionId };
        if (host)
            channel.observers.add(this);
        else
            this.isClosed = true;
    }
    /** True once the gateway has delivered a state for this address (a sync, or a resumed replay). */
    get synced() {
        return this.channel.synced;
    }
    get closed() {
        return this.isClosed;
    }
    /** Called with the new state after every change. */
    addChangeListener(listener) {
        this.changeListeners.add(listener);
    }
    removeChangeListener(listener) {
        this.changeListeners.delete(listener);
    }
    /** Called with `data` of every custom event of this type (`streams.x.send`); `error` reports refusals. */
    onEvent(type, listener) {
        this.eventListeners.set(type, [...(this.eventListeners.get(type) ?? []), listener]);
    }
    offEvent(type, listener) {
        const listeners = (this.eventListeners.get(type) ?? []).filter((l) => l !== listener);
        if (listeners.length)
            this.eventListeners.set(type, listeners);
        else
            this.eventListeners.delete(type);
    }
    onClose(listener) {
        this.closeListeners.add(listener);
    }
    /** Stops following: the gateway is told (leave, a narrower SSE stream, the call cancelled) once no one else follows the address. */
    close() {
        if (this.isClosed)
            return;
        this.isClosed = true;
        this.channel.observers.delete(this);
        this.host?.release(this.channel, this);
        for (const listener of this.closeListeners)
            this.call(listener, undefined);
        this.closeListeners.clear();
        this.changeListeners.clear();
        this.eventListeners.clear();
    }
    /** @internal */
    changed() {
        const state = this.getState();
        for (const listener of [...this.changeListeners])
            this.call(listener, state);
    }
    /** @internal */
    event(type, data) {
        for (const listener of this.eventListeners.get(type) ?? [])
            this.call(listener, data);
    }
    call(listener, value) {
        try {
            listener(value);
        }
        catch (cause) {
            this.host?.report({ kind: 'listener', message: `a listener threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause });
        }
    }
}
export class StreamItemSubscription extends StreamSubscription {
    getState() {
        return this.channel.state();
    }
}
/**
 * Orders by `sortKey` when given: numbers numerically, everything else as strings (`localeCompare`),
 * missing values last; ties keep the group's order. (Motia compares every value as a string and leaves
 * falsy ones in place, so 10 sorts before 9 there.)
 */
export function compareBy(sortKey) {
    return (a, b) => {
        const x = a[sortKey];
        const y = b[sortKey];
        const xMissing = x === undefined || x === null;
        const yMissing = y === undefined || y === null;
        if (xMissing || yMissing)
            return xMissing === yMissing ? 0 : xMissing ? 1 : -1;
        if (typeof x === 'number' && typeof y === 'number')
            return x - y;
        return String(x).localeCompare(String(y));
    };
}
export class StreamGroupSubscription extends StreamSubscription {
    sortKey;
    sorted;
    sortedVersion = -1;
    constructor(channel, host, sortKey) {
        super(channel, host);
        this.sortKey = sortKey;
    }
    getState() {
        const items = this.channel.state();
        if (this.sortKey === undefined)
            return items;
        if (this.sortedVersion !== this.channel.version || !this.sorted) {
            this.sorted = [...items].sort(compareBy(this.sortKey));
            this.sortedVersion = this.channel.version;
        }
        return this.sorted;
    }
}
