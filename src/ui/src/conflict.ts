/**
 * The conflict view: a save was refused (412) because the key changed since it was opened. It
 * shows the user's version and the server's current one side by side (stacked on a narrow
 * screen) and lets the user keep theirs, take the server's, or go back to editing.
 */
import type { EntryMeta, Loaded } from './api.js';
import { choose } from './dialogs.js';
import { h, timeElement } from './dom.js';
import { jsonEditor } from './editor.js';
import { displayText } from './json-text.js';

export type ConflictChoice = 'mine' | 'theirs' | 'cancel';

export interface Conflict {
  readonly key: string;
  /** The version the user's edit started from. */
  readonly base: EntryMeta;
  /** The user's text. */
  readonly mine: string;
  /** The server's entry now; undefined when it was deleted. */
  readonly current: Loaded | undefined;
}

/** Shows both versions; resolves with the user's choice. */
export async function resolveConflict(conflict: Conflict): Promise<ConflictChoice> {
  const { key, base, mine, current } = conflict;
  const mineBox = h('div', { class: 'editor' });
  const theirsBox = h('div', { class: 'editor' });
  const explanation = h(
    'p',
    {},
    `You edited version ${base.version} of `,
    h('code', {}, key),
    current === undefined
      ? '; since then it was deleted on the server.'
      : `; since then the server got version ${current.meta.version}, updated `,
    current === undefined ? undefined : timeElement(current.meta.updatedAt),
    current === undefined ? undefined : '.',
  );
  const sides = h(
    'div',
    { class: 'sides' },
    h('section', { 'aria-labelledby': 'conflict-mine' }, h('h3', { id: 'conflict-mine' }, 'Your version (not saved)'), mineBox),
    h(
      'section',
      { 'aria-labelledby': 'conflict-theirs' },
      h(
        'h3',
        { id: 'conflict-theirs' },
        current === undefined ? 'On the server: deleted' : `On the server: version ${current.meta.version}`,
      ),
      current === undefined ? h('p', { class: 'muted' }, 'The key no longer exists.') : theirsBox,
    ),
  );
  jsonEditor(mineBox, mine, { label: 'Your version', readOnly: true });
  if (current !== undefined) jsonEditor(theirsBox, displayText(current.valueText), { label: "The server's version", readOnly: true });
  return choose<ConflictChoice>(
    'This key changed while you were editing',
    [explanation, sides],
    [
      { value: 'mine', label: current === undefined ? 'Create it again with mine' : 'Keep mine', kind: 'primary' },
      { value: 'theirs', label: current === undefined ? 'Accept the delete' : "Take the server's" },
      { value: 'cancel', label: 'Cancel', autofocus: true },
    ],
    'conflict',
  );
}
