export type NetworkChange = 'online' | 'offline' | 'visible' | 'hidden';
/** What the stream needs to know about its environment; the default reads the browser's globals. */
export interface NetworkMonitor {
    isOnline(): boolean;
    isVisible(): boolean;
    /** Returns the function that stops listening. */
    subscribe(listener: (change: NetworkChange) => void): () => void;
}
/**
 * `navigator.onLine`, the window's `online`/`offline` events and the document's visibility. Where they do
 * not exist (Node), the network is always online and the page always visible.
 */
export declare const browserNetwork: NetworkMonitor;
