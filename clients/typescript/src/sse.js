import { isRetryableRefusal } from './channel.js';
import { describeError, httpBase } from './transport.js';
/** A log position no group has reached: the gateway answers it with a fresh (reset) sync of that group. */
const FRESH = '999999999999999';
/** The gateway's single-group token is `<epoch>.<seq>`; a multiplexed stream's `<epoch>.<seq>.<seq>...`. */
const TOKEN = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/;
/**
 * The `lastEventId` that resumes a multiplexed stream of `channels`: one position per group, in the order
 * the gateway numbers them (first appearance in the subscription list). A group resumes from its channel's
 * last token when it has exactly one channel with a state; any other group gets a position beyond its log,
 * which the gateway answers with a sync. Undefined when no group can resume: then every channel gets a sync.
 */
export function compositeToken(channels) {
    const groups = new Map();
    for (const channel of channels) {
        const list = groups.get(channel.groupKey);
        if (list)
            list.push(channel);
        else
            groups.set(channel.groupKey, [channel]);
    }
    let epoch;
    const seqs = [];
    for (const list of groups.values()) {
        const only = list.length === 1 && list[0].synced ? list[0] : undefined;
        const position = only?.token ? TOKEN.exec(only.token) : null;
        if (position && (epoch === undefined || epoch === position[1])) {
            epoch = position[1];
            seqs.push(position[2]);
        }
        else
            seqs.push(FRESH);
    }
    return epoch === undefined ? undefined : `${epoch}.${seqs.join('.')}`;
}
const segment = ({ streamName, groupId, id }) => [streamName, groupId, ...(id ? [id] : [])].map(encodeURIComponent).join('/');
/**
 * Reads a `text/event-stream` body and calls `onMessage` with each message's data. `onChunk` is called
 * for every chunk (heartbeats included).
 */
export async function readEventStream(body, onMessage, onChunk) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let data = [];
    const line = (text) => {
        if (text === '') {
            if (data.length)
                onMessage(data.join('\n'));
            data = [];
            return;
        }
        if (text.startsWith(':'))
            return;
        const colon = text.indexOf(':');
        const field = colon < 0 ? text : text.slice(0, colon);
        let value = colon < 0 ? '' : text.slice(colon + 1);
        if (value.startsWith(' '))
            value = value.slice(1);
        if (field === 'data')
            data.push(value);
    };
    try {
        for (;;) {
            const { done, value } = await reader.read();
            if (done)
                return;
            onChunk();
            buffer += decoder.decode(value, { stream: true });
            let start = 0;
            for (let i = 0; i < buffer.length; i++) {
                const c = buffer.charCodeAt(i);
                if (c !== 10 && c !== 13)
                    continue;
                // A CR at the end of the chunk may be the first half of a CRLF: wait for the next chunk.
                if (c === 13 && i === buffer.length - 1)
                    break;
                line(buffer.slice(start, i));
                if (c === 13 && buffer.charCodeAt(i + 1) === 10)
                    i++;
                start = i + 1;
            }
            buffer = buffer.slice(start);
        }
    }
    finally {
        reader.releaseLock();
    }
}
const refusalCode = (status, code) => (status === 403 ? 'STREAM_ACCESS_DENIED' : (code ?? `HTTP_${status}`));
async function errorOf(response) {
    try {
        const body = (await response.json());
        return {
            code: typeof body.code === 'string' ? body.code : undefined,
            message: typeof body.message === 'string' ? body.message : `HTTP ${response.status}`,
        };
    }
    catch {
        return { code: undefined, message: `HTTP ${response.status}` };
    }
}
/**
 * Server-Sent Events over `fetch` streaming: one multiplexed `GET /events?subscribe=...` per stream for all
 * its subscriptions. fetch rather than `EventSource`: it can send `Authorization`, and the client keeps the
 * reconnect policy (back-off, a fresh token, the resume position) instead of EventSource's fixed retry on
 * one URL. When the subscription set changes (batched per tick), the stream is reopened with a
 * `lastEventId` built from every channel's last token, so nothing is missed or repeated.
 */
export function sseTransport(options = {}) {
    const { authVia = 'header', path = '/events', idleTimeoutMs = 45_000 } = options;
    return {
        name: 'sse',
        connect(host) {
            const wanted = new Set();
            let current = [];
            let pending;
            const followed = () => [...wanted].filter((c) => !c.refused);
            const fetchImpl = () => options.fetch ?? globalThis.fetch;
            const request = (channels, token, signal, resume) => {
                const params = channels.map((c) => `subscribe=${encodeURIComponent(segment(c.address))}`);
                const lastEventId = resume ? compositeToken(channels) : undefined;
                if (lastEventId)
                    params.push(`lastEventId=${encodeURIComponent(lastEventId)}`);
                if (token && authVia === 'query')
                    params.push(`authToken=${encodeURIComponent(token)}`);
                const headers = { accept: 'text/event-stream' };
                if (token && authVia === 'header')
                    headers.authorization = `Bearer ${token}`;
                return fetchImpl()(`${httpBase(host.address)}${path}?${params.join('&')}`, { headers, signal });
            };
            /** Which of several subscriptions the gateway refused: each is asked alone. */
            const probe = async (channels, token, signal) => {
                let refused = 0;
                await Promise.all(channels.map(async (channel) => {
                    const controller = new AbortController();
                    const abort = () => controller.abort();
                    signal.addEventListener('abort', abort);
                    try {
                        const response = await request([channel], token, controller.signal, false);
                        if (response.ok)
                            return;
                        const { code, message } = await errorOf(response);
                        if (response.status === 400 || response.status === 403 || response.status === 404) {
                            refused++;
                            channel.refuse(refusalCode(response.status, code), message);
                        }
                    }
                    catch {
                        // the connection failed: not a refusal
                    }
                    finally {
                        controller.abort();
                        signal.removeEventListener('abort', abort);
                    }
                }));
                return refused;
            };
            const open = (token, link) => {
                const channels = followed();
                current = channels;
                if (channels.length === 0) {
                    link.ended();
                    return reconcile();
                }
                const controller = new AbortController();
                let idle;
                link.signal.addEventListener('abort', () => {
                    clearTimeout(idle);
                    controller.abort();
                });
                const end = (error) => {
                    clearTimeout(idle);
                    controller.abort();
                    link.ended(error);
                };
                const alive = () => {
                    clearTimeout(idle);
                    if (controller.signal.aborted)
                        return;
                    idle = setTimeout(() => end({ kind: 'connection', message: `no data for ${idleTimeoutMs} ms` }), idleTimeoutMs);
                };
                const run = async () => {
                    const response = await request(channels, token, controller.signal, true);
                    if (!response.ok) {
                        const { code, message } = await errorOf(response);
                        if (response.status === 401)
                            return end({ kind: 'auth', code: code ?? 'UNAUTHENTICATED', message });
                        if (response.status === 400 || response.status === 403 || response.status === 404) {
                            const refused = channels.length === 1 ? (channels[0].refuse(refusalCode(response.status, code), message), 1) : await probe(channels, token, controller.signal);
                            if (refused > 0 && !link.signal.aborted) {
                                // Without the refused subscriptions, at once.
                                end();
                                return reconcile(true);
                            }
                        }
                        return end({ kind: 'connection', code: code ?? String(response.status), message });
                    }
                    if (!response.body)
                        return end({ kind: 'protocol', message: 'an SSE response without a body' });
                    link.opened();
                    alive();
                    await readEventStream(response.body, (data) => {
                        if (controller.signal.aborted)
                            return;
                        link.alive();
                        let frame;
                        try {
                            frame = JSON.parse(data);
                        }
                        catch {
                            return host.report({ kind: 'protocol', message: 'an SSE message that is not JSON' });
                        }
                        host.route(frame);
                        if (isRetryableRefusal(frame))
                            end({ kind: 'connection', message: 'the gateway dropped a subscription; reconnecting' });
                    }, alive);
                    // The gateway ended the stream (shutdown, --sse-max-lifetime): come back and resume.
                    end();
                };
                run().catch((cause) => {
                    if (!controller.signal.aborted)
                        end({ kind: 'connection', message: describeError(cause), cause });
                });
            };
            const lifeline = host.lifeline(open);
            /** Opens, reopens or closes the stream for the current subscription set. */
            const reconcile = (now = false) => {
                clearTimeout(pending);
                pending = undefined;
                const channels = followed();
                if (channels.length === 0)
                    return lifeline.stop();
                const status = lifeline.status;
                if (status === 'idle')
                    return lifeline.start();
                // Waiting out a back-off or offline: the next attempt takes the new set.
                if (status === 'waiting' || status === 'offline' || status === 'closed')
                    return now && status === 'waiting' ? lifeline.restart() : undefined;
                const same = channels.length === current.length && channels.every((c, i) => current[i] === c);
                if (!same)
                    lifeline.restart();
            };
            const schedule = () => {
                pending ??= setTimeout(() => reconcile(), 0);
            };
            return {
                add(channel) {
                    wanted.add(channel);
                    schedule();
                },
                remove(channel) {
                    wanted.delete(channel);
                    schedule();
                },
                reconnect() {
                    clearTimeout(pending);
                    pending = undefined;
                    if (followed().length > 0)
                        lifeline.restart();
                },
                close() {
                    clearTimeout(pending);
                    pending = undefined;
                    wanted.clear();
                    lifeline.close();
                },
            };
        },
    };
}
