import { byId, field } from './dom.ts'

// The token lives in sessionStorage: it survives a reload (choosing a transport reloads the page) and ends
// with the tab.
const TOKEN = 'streamgate-inspector:token'
const ANONYMOUS = 'streamgate-inspector:anonymous'

export const storedToken = (): string | undefined => sessionStorage.getItem(TOKEN) ?? undefined
/** The user chose to go on without a token. */
export const chosenAnonymous = () => sessionStorage.getItem(ANONYMOUS) === '1'

/** Shows the token form instead of the page; a choice reloads the page with it. */
export function askForToken(message: string) {
  byId('app').hidden = true
  byId('token-prompt').hidden = false
  byId('token-error').textContent = message
  const form = byId<HTMLFormElement>('token-form')
  const input = field(form, 'token')
  input.focus()
  form.onsubmit = (event) => {
    event.preventDefault()
    if (!input.value) return void (byId('token-error').textContent = 'Type a token, or continue without one.')
    sessionStorage.setItem(TOKEN, input.value)
    sessionStorage.removeItem(ANONYMOUS)
    location.reload()
  }
  byId('anonymous').onclick = () => {
    sessionStorage.removeItem(TOKEN)
    sessionStorage.setItem(ANONYMOUS, '1')
    location.reload()
  }
}
