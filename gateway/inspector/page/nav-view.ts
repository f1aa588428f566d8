import type { GroupInfo } from './api.ts'
import { el } from './dom.ts'
import { hashOf } from './route.ts'

const current = (yes: boolean) => (yes ? { 'aria-current': 'page' } : {})

/** The streams, and the groups of the chosen stream with their item counts, as links to `#/<stream>/<group>`. */
export class NavView {
  constructor(
    private readonly streams: HTMLUListElement,
    private readonly groups: HTMLUListElement,
    private readonly groupsOf: HTMLElement,
    private readonly note: HTMLElement,
    private readonly more: HTMLButtonElement,
  ) {}

  showStreams(names: string[], chosen: string | undefined) {
    this.streams.replaceChildren(
      ...names.map((name) => el('li', { 'data-stream': name }, el('a', { href: hashOf(name), ...current(name === chosen) }, name))),
    )
    if (names.length === 0) this.streams.append(el('li', { class: 'note' }, 'No streams: start the gateway with --streams DIR'))
  }

  showGroups(stream: string | undefined, groups: GroupInfo[], chosen: string | undefined, hasMore: boolean) {
    this.groupsOf.textContent = stream ? `of ${stream}` : ''
    this.groups.replaceChildren(
      ...groups.map(({ groupId, items }) =>
        el(
          'li',
          { 'data-group': groupId },
          el('a', { href: hashOf(stream!, groupId), ...current(groupId === chosen) }, el('span', { class: 'name' }, groupId), el('span', { class: 'count' }, String(items))),
        ),
      ),
    )
    this.note.textContent = !stream ? 'Choose a stream.' : groups.length === 0 ? 'No group holds items yet (or none you may read).' : ''
    this.more.hidden = !hasMore
  }

  /** A refusal or an outage while listing groups. */
  showGroupsError(message: string) {
    this.groups.replaceChildren()
    this.note.textContent = message
    this.more.hidden = true
  }
}
