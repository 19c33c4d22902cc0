/** Modal dialogs on the native <dialog>: focus stays inside, Escape cancels, focus returns where it was. */
import { h } from './dom.js';

let nextId = 0;

/** A choice offered by a dialog; `value` is what the dialog resolves with. */
export interface Choice<T extends string> {
  readonly value: T;
  readonly label: string;
  readonly kind?: 'primary' | 'danger';
  /** Gets the focus when the dialog opens (the least harmful choice should). */
  readonly autofocus?: boolean;
}

/**
 * Shows a modal dialog with `body` and one button per choice; resolves with the chosen value, or
 * 'cancel' on Escape.
 */
export function choose<T extends string>(title: string, body: Node[], choices: Choice<T>[], className = ''): Promise<T | 'cancel'> {
  const titleId = `dialog-title-${++nextId}`;
  const returnFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const buttons = choices.map((choice) =>
    h('button', { type: 'submit', value: choice.value, class: choice.kind, autofocus: choice.autofocus === true }, choice.label),
  );
  const dialog = h(
    'dialog',
    { class: `dialog ${className}`.trim(), 'aria-labelledby': titleId },
    h('form', { method: 'dialog' }, h('h2', { id: titleId }, title), ...body, h('div', { class: 'actions' }, ...buttons)),
  );
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue;
      dialog.remove();
      if (returnFocus?.isConnected) returnFocus.focus();
      resolve(choices.some((choice) => choice.value === value) ? (value as T) : 'cancel');
    });
  });
}

/** Asks to confirm something that cannot be undone; true when confirmed. */
export async function confirmAction(title: string, message: string, confirmLabel: string): Promise<boolean> {
  const answer = await choose(
    title,
    [h('p', {}, message)],
    [
      { value: 'confirm', label: confirmLabel, kind: 'danger' },
      { value: 'cancel', label: 'Cancel', autofocus: true },
    ],
  );
  return answer === 'confirm';
}
