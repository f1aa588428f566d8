export interface BackoffOptions {
    /** The ceiling of the first retry's delay (default 250 ms). */
    initialMs?: number;
    /** The largest ceiling (default 30 s). */
    maxMs?: number;
}
/**
 * Exponential back-off with full jitter: the n-th consecutive retry waits a uniformly random time in
 * [0, min(maxMs, initialMs * 2^n)], so clients of a restarted gateway come back spread over the window
 * instead of in one herd.
 */
export declare function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
