/**
 * The bearer token. kv_store answers 401 when access control is on and the request has no valid
 * token; the UI then asks for one, once for all the requests waiting, and keeps it in
 * sessionStorage: for this tab only, gone when the tab closes.
 */
import { h } from './dom.js';

const STORAGE_KEY = 'kv.token';

/** The token this tab uses, if any. */
export function currentToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

const listeners: (() => void)[] = [];

/** Calls `listener` whenever the token is set or forgotten. */
export function onTokenChange(listener: () => void): void {
  listeners.push(listener);
}

/** Forgets the token. */
export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
  declined = false;
  for (const listener of listeners) listener();
}

let asking: Promise<boolean> | undefined;
/** The user cancelled the prompt: further 401s fail at once until they ask to enter one. */
let declined = false;

/**
 * Asks for a token (one dialog however many requests wait). Resolves true when one was entered.
 * `refused`: the current token was just turned down. `force`: ask even after a cancel.
 */
export function askForToken(refused: boolean, force = false): Promise<boolean> {
  if (declined && !force) return Promise.resolve(false);
  asking ??= prompt(refused).finally(() => {
    asking = undefined;
  });
  return asking;
}

function prompt(refused: boolean): Promise<boolean> {
  const input = h('input', {
    id: 'token-input',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help',
  });
  const dialog = h(
    'dialog',
    { class: 'dialog token-dialog', 'aria-labelledby': 'token-title' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'token-title' }, 'Access token'),
      h(
        'p',
        { id: 'token-help' },
        refused ? 'The store refused that token. Enter another one.' : 'This store needs a bearer token.',
        ' It is kept for this tab only.',
      ),
      h('label', { for: 'token-input' }, 'Token'),
      input,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', value: 'ok', class: 'primary' }, 'Use token'),
        h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel'),
      ),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const token = input.value.trim();
      dialog.remove();
      if (dialog.returnValue === 'ok' && token !== '') {
        sessionStorage.setItem(STORAGE_KEY, token);
        declined = false;
        for (const listener of listeners) listener();
        resolve(true);
      } else {
        declined = true;
        resolve(false);
      }
    });
  });
}
