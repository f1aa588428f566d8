import { Stream } from '../../../clients/typescript/src/stream.ts'
import type { StreamGroupSubscription } from '../../../clients/typescript/src/subscription.ts'
import type { Frame, StreamError } from '../../../clients/typescript/src/types.ts'
import type { InspectorStatus } from '../status.ts'
import { Api } from './api.ts'
import { byId } from './dom.ts'
import { EventsView } from './events-view.ts'
import { EventForm, PutForm, type Target } from './forms.ts'
import { ItemsView } from './items-view.ts'
import { NavView } from './nav-view.ts'
import { hashOf, routeOf } from './route.ts'
import { showStatus } from './status-view.ts'
import { askForToken, chosenAnonymous, storedToken } from './token-prompt.ts'

const STATUS_EVERY_MS = 2000
const GROUPS_EVERY_MS = 3000
const GROUP_PAGE = 100
const MAX_GROUP_PAGE = 1000
const REFUSED_TOKEN = 'The gateway refused this token.'

type TransportName = 'websocket' | 'sse'

const banner = (message: string) => {
  const element = byId('banner')
  element.textContent = message
  element.hidden = message === ''
}

/** Runs `task` now and every `ms` while the page is visible. */
function every(ms: number, task: () => Promise<unknown>) {
  const run = () => {
    if (document.visibilityState !== 'hidden') void task()
  }
  run()
  setInterval(run, ms)
  document.addEventListener('visibilitychange', run)
}

/** Starts the page: asks for a token when the gateway wants one, then shows the gateway live. */
export async function startInspector() {
  const select = byId<HTMLSelectElement>('transport')
  const transport: TransportName = new URLSearchParams(location.search).get('transport') === 'sse' ? 'sse' : 'websocket'
  select.value = transport
  select.onchange = () => {
    const query = new URLSearchParams(location.search)
    query.set('transport', select.value)
    location.assign(`?${query}${location.hash}`)
  }
  const token = storedToken()
  const api = new Api(token)
  let first = await api.status()
  while (!first.ok && first.error.status !== 401) {
    banner(`${first.error.message}; trying again.`)
    await new Promise((resolve) => setTimeout(resolve, STATUS_EVERY_MS))
    first = await api.status()
  }
  banner('')
  if (!first.ok) return askForToken(token ? REFUSED_TOKEN : 'The gateway needs a token.')
  if (first.body.auth && !token && !chosenAnonymous()) return askForToken('')
  const authState = byId('auth-state')
  authState.hidden = !first.body.auth
  byId('auth-label').textContent = token ? 'with a token' : 'without a token'
  byId('change-token').onclick = () => askForToken('')
  new Inspector(api, token, transport, first.body).start()
}

class Inspector {
  private readonly stream: Stream
  private readonly nav: NavView
  private readonly items: ItemsView
  private readonly events: EventsView
  private readonly putForm: PutForm
  private streamNames: string[] = []
  private chosen: { stream?: string; group?: string } = {}
  private subscription: StreamGroupSubscription | undefined
  private groupLimit = GROUP_PAGE
  private renderPending = false

  constructor(
    private readonly api: Api,
    token: string | undefined,
    transport: TransportName,
    private status: InspectorStatus,
  ) {
    api.onUnauthenticated = () => askForToken(REFUSED_TOKEN)
    this.stream = new Stream(location.origin, {
      transport,
      auth: token ?? null,
      // The subprotocol pair keeps the token out of the WebSocket's URL.
      websocket: { authVia: 'protocol' },
      onFrame: (frame) => this.frame(frame),
      onError: (error) => this.error(error),
    })
    this.stream.onStatusChange((status) => {
      const pill = byId('connection')
      pill.dataset.status = status
      pill.textContent = status
    })
    this.nav = new NavView(byId('streams'), byId('groups'), byId('groups-of'), byId('groups-note'), byId('more-groups'))
    this.items = new ItemsView(byId<HTMLTableElement>('items').tBodies[0]!, {
      edit: (item) => this.putForm.edit(item),
      remove: (id) => void this.putForm.remove(id),
    })
    this.events = new EventsView(byId('events'))
    const target = (): Target | undefined => (this.chosen.stream && this.chosen.group ? { stream: this.chosen.stream, group: this.chosen.group } : undefined)
    this.putForm = new PutForm(byId('put-form'), api, target)
    new EventForm(byId('event-form'), api, target)
  }

  async start() {
    byId('token-prompt').hidden = true
    byId('app').hidden = false
    byId<HTMLFormElement>('open-group').addEventListener('submit', (event) => {
      event.preventDefault()
      const input = (event.currentTarget as HTMLFormElement).elements.namedItem('group') as HTMLInputElement
      if (this.chosen.stream && input.value) location.hash = hashOf(this.chosen.stream, input.value)
      input.value = ''
    })
    byId('more-groups').addEventListener('click', () => {
      this.groupLimit = Math.min(MAX_GROUP_PAGE, this.groupLimit + GROUP_PAGE)
      void this.refreshGroups()
    })
    this.showStatus()
    const streams = await this.api.streams()
    this.streamNames = streams.ok ? streams.body.streams.map((s) => s.name) : []
    if (!streams.ok) banner(`Streams: ${streams.error.message}`)
    window.addEventListener('hashchange', () => this.route())
    this.route()
    every(STATUS_EVERY_MS, async () => {
      const result = await this.api.status()
      if (!result.ok) return banner(`Status: ${result.error.message}`)
      banner('')
      this.status = result.body
      this.showStatus()
    })
    every(GROUPS_EVERY_MS, () => this.refreshGroups())
  }

  private showStatus() {
    showStatus(this.status, byId<HTMLTableElement>('transports').tBodies[0]!, byId('writes-rate'), byId('writes-total'))
  }

  private route() {
    const next = routeOf(location.hash)
    const known = next.stream !== undefined && this.streamNames.includes(next.stream)
    const stream = known ? next.stream : undefined
    const group = known ? next.group : undefined
    const streamChanged = stream !== this.chosen.stream
    const groupChanged = streamChanged || group !== this.chosen.group
    this.chosen = { stream, group }
    this.nav.showStreams(this.streamNames, stream)
    if (streamChanged) {
      this.groupLimit = GROUP_PAGE
      this.nav.showGroups(stream, [], undefined, false)
    }
    void this.refreshGroups()
    if (groupChanged) this.follow()
    if (next.stream !== undefined && !known) byId('group-note').textContent = `There is no stream "${next.stream}".`
  }

  /** Follows the chosen group: a fresh table and event list, then the subscription's state as it changes. */
  private follow() {
    this.subscription?.close()
    this.subscription = undefined
    this.items.reset()
    this.events.reset()
    const { stream, group } = this.chosen
    const title = byId('group-title')
    byId('group-note').textContent = ''
    for (const form of document.querySelectorAll<HTMLFormElement>('.forms form')) form.inert = !group
    if (!stream || !group) {
      title.textContent = stream ? `${stream}: choose a group` : 'Choose a stream and a group'
      return
    }
    title.textContent = `${stream} / ${group}`
    const subscription = this.stream.subscribeGroup(stream, group)
    this.subscription = subscription
    byId('group-note').textContent = 'Subscribing…'
    subscription.addChangeListener(() => {
      if (this.renderPending) return
      this.renderPending = true
      requestAnimationFrame(() => {
        this.renderPending = false
        if (this.subscription !== subscription) return
        const items = subscription.getState()
        this.items.show(items)
        byId('group-note').textContent = `${items.length} item${items.length === 1 ? '' : 's'}, live.`
      })
    })
  }

  private async refreshGroups() {
    const { stream } = this.chosen
    if (!stream) return this.nav.showGroups(undefined, [], undefined, false)
    const result = await this.api.groups(stream, this.groupLimit)
    if (stream !== this.chosen.stream) return
    if (!result.ok) return this.nav.showGroupsError(`Groups: ${result.error.message}`)
    this.nav.showGroups(stream, result.body, this.chosen.group, result.headers.has('link') && this.groupLimit < MAX_GROUP_PAGE)
  }

  private frame(frame: Frame) {
    if (frame.streamName === this.chosen.stream && frame.groupId === this.chosen.group) this.events.add(frame)
  }

  private error(error: StreamError) {
    if (error.kind === 'auth') return askForToken(REFUSED_TOKEN)
    const { address } = error
    if (error.kind === 'refused' && address?.streamName === this.chosen.stream && address?.groupId === this.chosen.group) {
      byId('group-note').textContent = `The gateway refused this subscription: ${error.message} (${error.code ?? 'refused'}).`
    }
  }
}
