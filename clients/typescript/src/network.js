const target = (value) => typeof value?.addEventListener === 'function' ? value : undefined;
/**
 * `navigator.onLine`, the window's `online`/`offline` events and the document's visibility. Where they do
 * not exist (Node), the network is always online and the page always visible.
 */
export const browserNetwork = {
    isOnline: () => globalThis.navigator?.onLine !== false,
    isVisible: () => globalThis.document?.visibilityState !== 'hidden',
    subscribe(listener) {
        const win = target(globalThis.window);
        const doc = target(globalThis.document);
        const online = () => listener('online');
        const offline = () => listener('offline');
        const visibility = () => listener(browserNetwork.isVisible() ? 'visible' : 'hidden');
        win?.addEventListener('online', online);
        win?.addEventListener('offline', offline);
        doc?.addEventListener('visibilitychange', visibility);
        return () => {
            win?.removeEventListener('online', online);
            win?.removeEventListener('offline', offline);
            doc?.removeEventListener('visibilitychange', visibility);
        };
    },
};
