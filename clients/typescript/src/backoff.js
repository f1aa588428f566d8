/**
 * Exponential back-off with full jitter: the n-th consecutive retry waits a uniformly random time in
 * [0, min(maxMs, initialMs * 2^n)], so clients of a restarted gateway come back spread over the window
 * instead of in one herd.
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
    const { initialMs = 250, maxMs = 30_000 } = options;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
    return Math.floor(random() * ceiling);
}
