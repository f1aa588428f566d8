import { backoffDelay } from './backoff.js';
const describe = (cause) => (cause instanceof Error ? cause.message : String(cause));
/**
 * Keeps one connection alive: connects, and after every end waits a back-off delay (full jitter) before the
 * next attempt. No attempts while the network is offline; `online` (and a page becoming visible while
 * waiting) reconnects at once. `close()` cancels the pending timer and the attempt in flight.
 */
export class Lifeline {
    open;
    options;
    state = 'idle';
    attempts = 0;
    timer;
    current;
    unwatch;
    constructor(open, options) {
        this.open = open;
        this.options = options;
    }
    get status() {
        return this.state;
    }
    /** Connects unless already connected, connecting, or waiting for the next attempt. */
    start() {
        if (this.state === 'idle')
            this.connect();
    }
    /** Drops the current connection, if any, and connects again now (a changed subscription set, a new token). */
    restart() {
        if (this.state === 'closed')
            return;
        this.drop();
        this.connect();
    }
    /** Drops the connection and stays idle until `start()`. */
    stop() {
        if (this.state === 'closed')
            return;
        this.drop();
        this.unwatch?.();
        this.unwatch = undefined;
        this.attempts = 0;
        this.set('idle');
    }
    /** For good: nothing is pending afterwards, and nothing starts again. */
    close() {
        if (this.state === 'closed')
            return;
        this.drop();
        this.unwatch?.();
        this.unwatch = undefined;
        this.set('closed');
    }
    drop() {
        clearTimeout(this.timer);
        this.timer = undefined;
        const current = this.current;
        this.current = undefined;
        current?.abort();
    }
    connect() {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.unwatch ??= this.options.network.subscribe(this.onNetwork);
        if (!this.options.network.isOnline())
            return this.set('offline');
        const controller = new AbortController();
        this.current = controller;
        this.set('connecting');
        let ended = false;
        let opened = false;
        let healthy = false;
        const link = {
            signal: controller.signal,
            opened: () => {
                if (ended || this.current !== controller)
                    return;
                opened = true;
                this.set('open');
            },
            alive: () => {
                if (healthy || ended || this.current !== controller)
                    return;
                healthy = true;
                if (!opened)
                    link.opened();
            },
            ended: (error) => {
                if (ended)
                    return;
                ended = true;
                if (this.current !== controller)
                    return;
                this.current = undefined;
                // A connection that delivered data, or that the server ended cleanly, was a success.
                if (healthy || (opened && !error))
                    this.attempts = 0;
                if (error)
                    this.options.onError(error);
                this.retry();
            },
        };
        const { auth } = this.options;
        if (!auth)
            return this.attempt(undefined, link);
        Promise.resolve()
            .then(auth)
            .then((token) => {
            if (!controller.signal.aborted)
                this.attempt(token ?? undefined, link);
        }, (cause) => link.ended({ kind: 'auth', message: `the token provider failed: ${describe(cause)}`, cause }));
    }
    attempt(token, link) {
        try {
            this.open(token, link);
        }
        catch (cause) {
            link.ended({ kind: 'connection', message: describe(cause), cause });
        }
    }
    retry() {
        if (this.state === 'closed' || this.state === 'idle')
            return;
        if (!this.options.network.isOnline())
            return this.set('offline');
        const delay = backoffDelay(this.attempts++, this.options.backoff, this.options.random);
        this.set('waiting');
        this.timer = setTimeout(() => this.connect(), delay);
    }
    onNetwork = (change) => {
        if (change === 'online' && (this.state === 'offline' || this.state === 'waiting')) {
            this.attempts = 0;
            this.connect();
        }
        else if (change === 'visible' && this.state === 'waiting') {
            this.connect();
        }
        else if (change === 'offline' && this.state === 'waiting') {
            clearTimeout(this.timer);
            this.timer = undefined;
            this.set('offline');
        }
    };
    set(state) {
        const changed = this.state !== state;
        this.state = state;
        // Every attempt is reported, even a `connecting` after a `connecting`, so hosts can count them.
        if (changed || state === 'connecting')
            this.options.onStatus(state);
    }
}
