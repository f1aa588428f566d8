/** `ws://h/p` -> `http://h/p`, `wss://` -> `https://`; http(s) addresses unchanged; no trailing slash. */
export function httpBase(address) {
    return address.replace(/^ws(s?):\/\//i, 'http$1://').replace(/\/+$/, '');
}
/** `http://h` -> `ws://h`, `https://` -> `wss://`; ws(s) addresses unchanged. */
export function wsBase(address) {
    return address.replace(/^http(s?):\/\//i, 'ws$1://');
}
export const describeError = (cause) => (cause instanceof Error ? cause.message : String(cause));
