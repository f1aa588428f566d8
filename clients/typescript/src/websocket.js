import { isRetryableRefusal } from './channel.js';
import { describeError, wsBase } from './transport.js';
const OPEN = 1;
const CONNECTING = 0;
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Puts the token after an offered `Authorization` subprotocol, or offers the pair. */
export function withAuthProtocol(protocols, token) {
    const list = [...(protocols ?? [])];
    const at = list.indexOf('Authorization');
    if (at < 0)
        return [...list, 'Authorization', token];
    list.splice(at + 1, at + 1 < list.length ? 1 : 0, token);
    return list;
}
const withQuery = (url, name, value) => `${url}${url.includes('?') ? '&' : '?'}${name}=${encodeURIComponent(value)}`;
const textOf = (data) => {
    if (typeof data === 'string')
        return data;
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data))
        return new TextDecoder().decode(data);
    return undefined;
};
/**
 * Motia's WebSocket protocol: one socket, a `join` per followed address (with the `resumeToken` of its
 * last frame when it has one: Motia's servers ignore the field), `leave` when no one follows it any more.
 * Reconnects with back-off and joins again; a refused join (Motia's `error` event) is not joined again
 * until `stream.reconnect()`.
 */
export function websocketTransport(options = {}) {
    return {
        name: 'websocket',
        connect(host) {
            const channels = new Set();
            let socket;
            const send = (message) => {
                if (socket?.readyState !== OPEN)
                    return;
                try {
                    socket.send(JSON.stringify(message));
                }
                catch (cause) {
                    host.report({ kind: 'connection', message: `send failed: ${describeError(cause)}`, cause });
                }
            };
            const joinData = (channel) => {
                const { streamName, groupId, id } = channel.address;
                return id ? { streamName, groupId, id, subscriptionId: channel.subscriptionId } : { streamName, groupId, subscriptionId: channel.subscriptionId };
            };
            const join = (channel, resume) => {
                const token = resume && channel.synced ? channel.token : undefined;
                send({ type: 'join', data: token ? { ...joinData(channel), resumeToken: token } : joinData(channel) });
            };
            /**
             * After a reconnect every channel joins again. A channel resumes from its token only when it is the
             * only one of its group on the socket: the gateway replays a group's missed records once per
             * connection, so two subscriptions of one group catching up together can miss records (reported
             * upstream); they join fresh and get a sync instead.
             */
            const joinAll = () => {
                const perGroup = new Map();
                const followed = [...channels].filter((c) => !c.refused);
                for (const c of followed)
                    perGroup.set(c.groupKey, (perGroup.get(c.groupKey) ?? 0) + 1);
                for (const c of followed)
                    join(c, perGroup.get(c.groupKey) === 1);
            };
            const open = (token, link) => {
                const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
                if (!WebSocketClass) {
                    return link.ended({ kind: 'connection', message: 'no WebSocket implementation: pass websocket: { WebSocket } (in Node 20, from the ws package)' });
                }
                let url = wsBase(host.address);
                let protocols = host.protocols;
                if (token) {
                    // A subprotocol must be an HTTP token (browsers throw otherwise): anything else goes in the query.
                    if (options.authVia === 'protocol' && HTTP_TOKEN.test(token))
                        protocols = withAuthProtocol(protocols, token);
                    else
                        url = withQuery(url, 'authToken', token);
                }
                const ws = protocols?.length ? new WebSocketClass(url, protocols) : new WebSocketClass(url);
                let opened = false;
                let failure;
                ws.addEventListener('open', () => {
                    // Dropped while connecting: closed only now, as closing a connecting socket logs an error in browsers.
                    if (link.signal.aborted)
                        return ws.close(1000);
                    opened = true;
                    socket = ws;
                    link.opened();
                    joinAll();
                });
                ws.addEventListener('message', (event) => {
                    if (socket !== ws)
                        return;
                    link.alive();
                    const text = textOf(event.data);
                    let frame;
                    try {
                        frame = JSON.parse(text ?? '');
                    }
                    catch {
                        return host.report({ kind: 'protocol', message: 'a WebSocket message that is not JSON' });
                    }
                    host.route(frame);
                    if (isRetryableRefusal(frame)) {
                        socket = undefined;
                        link.ended({ kind: 'connection', message: 'the gateway dropped a subscription; reconnecting' });
                        ws.close(1000);
                    }
                });
                ws.addEventListener('error', (event) => {
                    failure = event.message ?? (event.error instanceof Error ? event.error.message : undefined) ?? 'WebSocket error';
                    // Node 20's undici WebSocket reports a failed handshake with `error` alone, and no `close`.
                    if (!opened)
                        link.ended({ kind: 'connection', message: `WebSocket connection failed: ${failure}` });
                });
                ws.addEventListener('close', (event) => {
                    if (socket === ws)
                        socket = undefined;
                    const code = event.code ?? 1006;
                    const clean = opened && (code === 1000 || code === 1001);
                    link.ended(clean
                        ? undefined
                        : {
                            kind: 'connection',
                            code: String(code),
                            message: opened ? `WebSocket closed (${code}${event.reason ? `: ${event.reason}` : ''})` : `WebSocket connection failed${failure ? `: ${failure}` : ''}`,
                        });
                });
                link.signal.addEventListener('abort', () => {
                    if (socket === ws)
                        socket = undefined;
                    // Browsers log an error for closing a connecting socket: there it is closed once open (above).
                    if (ws.readyState !== CONNECTING || typeof document === 'undefined')
                        ws.close(1000);
                });
            };
            const lifeline = host.lifeline(open);
            return {
                add(channel) {
                    channels.add(channel);
                    if (socket)
                        join(channel, false);
                    // A moment later: a stream closed in the same tick (React StrictMode's first mount) never connects.
                    else
                        queueMicrotask(() => channels.size > 0 && lifeline.start());
                },
                remove(channel) {
                    channels.delete(channel);
                    if (!channel.refused)
                        send({ type: 'leave', data: joinData(channel) });
                    if (channels.size === 0)
                        lifeline.stop();
                },
                reconnect() {
                    if (channels.size > 0)
                        lifeline.restart();
                },
                close() {
                    channels.clear();
                    lifeline.close();
                },
            };
        },
    };
}
