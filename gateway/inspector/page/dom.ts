// Every text from the gateway goes into the page as text (textContent), never as markup.

type Child = Node | string | null | undefined | false

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, '')
    else if (typeof value === 'string') element.setAttribute(name, value)
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child)
  return element
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (!element) throw new Error(`the page has no #${id}`)
  return element as T
}

/** The elements of a form by name (`form.elements` is typed loosely). */
export function field<T extends HTMLInputElement | HTMLTextAreaElement = HTMLInputElement>(form: HTMLFormElement, name: string): T {
  const element = form.elements.namedItem(name)
  if (!element) throw new Error(`the form #${form.id} has no field "${name}"`)
  return element as T
}

/** JSON on one line, cut to `max` characters for display. */
export function preview(value: unknown, max: number): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
