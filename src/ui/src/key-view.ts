/**
 * The key pane: one key's value in a JSON editor with its version, revision and times; save with
 * If-Match (a 412 opens the conflict view), delete after a confirmation, and a watch on the key so
 * a change made elsewhere shows up: taken in at once when the editor holds no edits of the user's,
 * announced (and settled at save time) when it does. Also the form that creates a key.
 */
import type { EditorView } from 'codemirror';
import { ApiError, createEntry, deleteEntry, type Loaded, keyPath, readEntry, replaceEntry } from './api.js';
import { resolveConflict } from './conflict.js';
import { confirmAction } from './dialogs.js';
import { encodePath, h, timeElement } from './dom.js';
import { jsonEditor, jsonProblem, setText } from './editor.js';
import { ExpiryField } from './expiry-field.js';
import { displayText } from './json-text.js';
import { Notice } from './notice.js';
import { type Change, type ChangeMessage, Watch, type WatchStatus } from './watch.js';

/** What the key pane needs from the page around it. */
export interface KeyViewHost {
  readonly onStatus: (status: WatchStatus | 'idle') => void;
  /** Goes to a route without asking about unsaved edits (they were just saved or deleted). */
  readonly navigate: (hash: string) => void;
  /** A short message that outlives the pane (after a delete). */
  readonly toast: (message: string) => void;
  /** A write this pane made, for the folder list (which would otherwise wait for its watch). */
  readonly onWrite: (change: Change) => void;
}

type Mode = 'empty' | 'open' | 'missing' | 'create';

export class KeyView {
  readonly element: HTMLElement;
  private mode: Mode = 'empty';
  private key: string | undefined;
  private loaded: Loaded | undefined;
  /** The editor's text when it holds no edit of the user's. */
  private baseline = '';
  private editor: EditorView | undefined;
  private expiry: ExpiryField | undefined;
  private watch: Watch | undefined;
  private session = 0;
  private busy = false;
  /**
   * A watch message that came while a write of ours was in flight: it may be that write's own
   * change (a delete's, or a save's before its answer), so it waits until the write is done.
   * undefined as message: the history was lost. A new session (reset) drops it.
   */
  private deferred: { readonly message: ChangeMessage | undefined } | undefined;
  /** The server has moved past `loaded` while the user was editing. */
  private serverAhead: 'changed' | 'deleted' | undefined;
  private createKeyInput: HTMLInputElement | undefined;
  private readonly heading = h('h2', { id: 'key-title', tabindex: '-1' });
  private readonly meta = h('dl', { class: 'meta' });
  private readonly notice = new Notice();
  private readonly jsonStatus = h('p', { class: 'json-status', id: 'json-status' });
  private readonly actions = h('div', { class: 'actions' });
  /** Everything below the heading; re-rendered without moving the heading (which may hold the focus). */
  private readonly body = h('div', { class: 'key-body' });

  constructor(
    parent: HTMLElement,
    private readonly host: KeyViewHost,
  ) {
    this.element = h('div', { class: 'key-view' });
    this.element.addEventListener('keydown', (event) => this.onKey(event));
    parent.append(this.element);
    this.clear();
  }

  /** The editor holds edits that are not saved. */
  get dirty(): boolean {
    if (this.editor === undefined) return false;
    if (this.mode === 'create') return this.editor.state.doc.toString() !== this.baseline;
    return this.mode === 'open' && this.editor.state.doc.toString() !== this.baseline;
  }

  /** The key shown, if any. */
  get openKey(): string | undefined {
    return this.mode === 'open' || this.mode === 'missing' ? this.key : undefined;
  }

  /** Shows nothing but a hint. */
  clear(): void {
    this.reset('empty', undefined);
    this.element.replaceChildren(h('p', { class: 'muted empty-hint' }, 'Choose a key in the list, or create a new one.'));
  }

  /** Opens `key`; nothing happens if it is already open. */
  open(key: string): void {
    if ((this.mode === 'open' || this.mode === 'missing') && key === this.key) return;
    this.reset('open', key);
    this.heading.replaceChildren(h('span', { class: 'visually-hidden' }, 'Key '), h('code', {}, key));
    this.frame(key, h('p', { class: 'muted' }, 'Loading…'));
    void this.load(this.session);
  }

  /** Shows the form that creates a key, its name starting with `prefix`. */
  create(prefix: string): void {
    this.reset('create', undefined);
    this.heading.textContent = 'New key';
    const input = h('input', { id: 'new-key-name', required: true, autocomplete: 'off', spellcheck: 'false', value: prefix });
    input.addEventListener('focus', () => input.setSelectionRange(input.value.length, input.value.length), { once: true });
    this.createKeyInput = input;
    const editorBox = h('div', { class: 'editor' });
    this.baseline = '{}';
    this.editor = jsonEditor(editorBox, this.baseline, {
      label: 'Value (JSON)',
      describedBy: 'json-status',
      onChange: () => this.onEdit(),
      onSave: () => void this.submitCreate(),
    });
    this.expiry = new ExpiryField(null);
    const form = h(
      'form',
      {
        class: 'create-form',
        onsubmit: (event) => {
          event.preventDefault();
          void this.submitCreate();
        },
      },
      h('label', { for: 'new-key-name' }, 'Key'),
      input,
      h('div', { class: 'field-label', 'aria-hidden': 'true' }, 'Value (JSON)'),
      editorBox,
      this.jsonStatus,
      this.expiry.element,
      this.actions,
    );
    this.actions.replaceChildren(
      h('button', { type: 'submit', class: 'primary', id: 'create-button' }, 'Create'),
      h('a', { class: 'button', href: `#/f/${encodePath(parentOf(prefix))}` }, 'Cancel'),
    );
    this.frame(prefix, this.notice.element, form);
    this.onEdit();
  }

  /** Moves the focus to the pane (its heading, or the key field of the create form). */
  focus(): void {
    if (this.mode === 'create') this.createKeyInput?.focus();
    else if (this.mode === 'empty') return;
    else this.heading.focus();
  }

  private reset(mode: Mode, key: string | undefined): void {
    this.session++;
    this.watch?.stop();
    this.watch = undefined;
    this.host.onStatus('idle');
    this.editor?.destroy();
    this.editor = undefined;
    this.expiry = undefined;
    this.createKeyInput = undefined;
    this.loaded = undefined;
    this.serverAhead = undefined;
    this.busy = false;
    this.deferred = undefined;
    this.mode = mode;
    this.key = key;
    this.notice.clear();
    this.jsonStatus.replaceChildren();
  }

  private async load(session: number): Promise<void> {
    const key = this.key as string;
    try {
      const loaded = await readEntry(key);
      if (session !== this.session) return;
      this.show(loaded);
    } catch (err) {
      if (session !== this.session) return;
      if (err instanceof ApiError && err.status === 404) {
        this.mode = 'missing';
        this.frame(
          key,
          h(
            'p',
            { role: 'alert' },
            'There is no such key: it was never created, or it was deleted or has expired. ',
            h('a', { href: `#/new/${encodePath(key)}` }, 'Create it'),
          ),
        );
      } else {
        this.frame(key, this.notice.element);
        this.notice.fail('Could not read the key', err, () => void this.load(session));
      }
    }
  }

  /** Renders an entry just read or written. */
  private show(loaded: Loaded, text = displayText(loaded.valueText)): void {
    // A re-render must not drop the focus: it goes back to the editor or to the same control.
    const active =
      document.activeElement instanceof HTMLElement && this.body.contains(document.activeElement) ? document.activeElement : null;
    const activeInEditor = active?.closest('.cm-editor') != null;
    this.editor?.destroy();
    this.mode = 'open';
    this.loaded = loaded;
    this.baseline = text;
    const editorBox = h('div', { class: 'editor' });
    this.editor = jsonEditor(editorBox, text, {
      label: 'Value (JSON)',
      describedBy: 'json-status',
      onChange: () => this.onEdit(),
      onSave: () => void this.save(),
    });
    this.expiry = new ExpiryField(loaded.meta.expiresAt);
    this.renderMeta();
    this.frame(
      loaded.meta.key,
      this.meta,
      this.notice.element,
      h('div', { class: 'field-label', 'aria-hidden': 'true' }, 'Value (JSON)'),
      editorBox,
      this.jsonStatus,
      this.expiry.element,
      this.actions,
    );
    this.actions.replaceChildren(
      h('button', { type: 'button', class: 'primary', id: 'save-button', onclick: () => void this.save() }, 'Save'),
      h('button', { type: 'button', id: 'revert-button', onclick: () => this.revert() }, 'Revert'),
      h('button', { type: 'button', class: 'danger', id: 'delete-button', onclick: () => void this.remove() }, 'Delete'),
    );
    this.onEdit();
    this.startWatch(loaded);
    if (activeInEditor) this.editor.focus();
    else if (active !== null) ((active.id === '' ? null : this.body.querySelector<HTMLElement>(`#${active.id}`)) ?? this.heading).focus();
  }

  /** Shows the back link to `path`'s folder, the heading, and `content`. */
  private frame(path: string, ...content: Node[]): void {
    const back = this.backLink(path);
    const old = this.element.querySelector(':scope > a.back');
    if (this.heading.parentNode !== this.element || old === null) this.element.replaceChildren(back, this.heading, this.body);
    else old.replaceWith(back);
    this.body.replaceChildren(...content);
  }

  private startWatch(loaded: Loaded): void {
    const session = this.session;
    this.watch?.stop();
    this.watch = new Watch({
      path: `${keyPath(loaded.meta.key)}?watch=true&values=false`,
      // The store's revision when it answered: the key's own revision may be older than the history.
      after: loaded.storeRevision ?? loaded.meta.revision,
      onChange: (message) => session === this.session && void this.onRemoteChange(message, session),
      onCompacted: () => session === this.session && void this.onRemoteChange(undefined, session),
      onStatus: (status) => session === this.session && this.host.onStatus(status),
    });
  }

  /** A change from the watch (undefined: the history was lost, so read the key again). */
  private async onRemoteChange(message: ChangeMessage | undefined, session: number): Promise<void> {
    const loaded = this.loaded;
    if (loaded === undefined) return;
    if (this.busy) {
      // Handled once our write is done; a lost history (undefined) outweighs a later message.
      this.deferred = { message: this.deferred !== undefined && this.deferred.message === undefined ? undefined : message };
      return;
    }
    const last = message?.changes.at(-1);
    if (last !== undefined && last.revision <= loaded.meta.revision) return; // our own save
    let current: Loaded | undefined;
    try {
      current = await readEntry(loaded.meta.key);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) return;
    }
    if (session !== this.session || this.loaded !== loaded) return;
    if (message === undefined && current !== undefined) this.startWatch(current);
    if (current?.meta.revision === loaded.meta.revision) return;
    if (current === undefined) {
      this.serverAhead = 'deleted';
      this.notice.say('warn', 'This key was deleted elsewhere. ', this.recreateButton());
    } else if (!this.dirty && !this.busy) {
      this.show(current);
      this.notice.say('info', `Updated elsewhere: now version ${current.meta.version}.`);
    } else {
      this.serverAhead = 'changed';
      this.notice.say(
        'warn',
        `Changed elsewhere while you were editing (now version ${current.meta.version}). Saving will show both versions.`,
      );
    }
    this.onEdit();
  }

  private async save(): Promise<void> {
    const loaded = this.loaded;
    const editor = this.editor;
    if (this.mode !== 'open' || this.busy || loaded === undefined || editor === undefined) return;
    const text = editor.state.doc.toString();
    const ttl = this.checkedInput(text);
    if (ttl === false) return;
    await this.work(async () => {
      try {
        const saved = await replaceEntry(loaded.meta.key, text, loaded.etag, ttl);
        this.accept(saved, text);
        this.notice.say('info', `Saved: version ${saved.meta.version}.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) await this.settleConflict(text);
        else if (err instanceof ApiError && err.status === 404) {
          this.serverAhead = 'deleted';
          this.notice.say('error', 'Not saved: this key no longer exists. ', this.recreateButton());
        } else this.notice.fail('Not saved', err, () => void this.save());
      }
    });
  }

  /** A save was refused with 412: show both versions and do what the user chooses. */
  private async settleConflict(mine: string): Promise<void> {
    const loaded = this.loaded as Loaded;
    const key = loaded.meta.key;
    let current: Loaded | undefined;
    try {
      current = await readEntry(key);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    const choice = await resolveConflict({ key, base: loaded.meta, mine, current });
    if (choice === 'cancel') {
      this.notice.say('warn', 'Not saved. Your edits are still here; saving again shows the conflict again.');
      return;
    }
    if (choice === 'theirs') {
      if (current === undefined) {
        this.discardAndLeave(`Deleted ${key} (by another client).`);
        return;
      }
      this.show(current);
      this.notice.say('info', `Your edits were dropped: this is the server's version ${current.meta.version}.`);
      return;
    }
    const ttl = this.expiry?.seconds();
    try {
      const saved =
        current === undefined
          ? await createEntry(key, mine, ttl === false ? undefined : ttl)
          : await replaceEntry(key, mine, current.etag, ttl === false ? undefined : ttl);
      this.accept(saved, mine);
      this.notice.say('info', `Saved your version over the server's: now version ${saved.meta.version}.`);
    } catch (err) {
      // It changed again meanwhile: compare once more.
      if (err instanceof ApiError && (err.status === 412 || err.status === 409 || err.status === 404)) await this.settleConflict(mine);
      else throw err;
    }
  }

  private revert(): void {
    if (this.editor === undefined || this.loaded === undefined) return;
    setText(this.editor, this.baseline);
    if (this.serverAhead === 'changed') void this.onRemoteChange(undefined, this.session);
    this.notice.say('info', 'Edits reverted.');
  }

  private async remove(): Promise<void> {
    const loaded = this.loaded;
    if (loaded === undefined || this.busy) return;
    const key = loaded.meta.key;
    const confirmed = await confirmAction(
      'Delete this key?',
      `Delete ${key} (version ${loaded.meta.version})? This cannot be undone.`,
      'Delete',
    );
    if (!confirmed || this.loaded !== loaded) return;
    await this.work(async () => {
      try {
        await deleteEntry(key, loaded.etag);
        this.host.onWrite({ type: 'delete', key, revision: loaded.meta.revision });
        this.discardAndLeave(`Deleted ${key}.`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) this.discardAndLeave(`${key} was already deleted.`);
        else if (err instanceof ApiError && err.status === 412) {
          this.serverAhead = 'changed';
          this.notice.say(
            'error',
            'Not deleted: the key changed on the server since you opened it. Review it first. ',
            this.reloadButton(),
          );
        } else this.notice.fail('Not deleted', err, () => void this.remove());
      }
    });
  }

  private async submitCreate(): Promise<void> {
    const editor = this.editor;
    const key = this.createKeyInput?.value ?? '';
    if (this.mode !== 'create' || this.busy || editor === undefined) return;
    if (key === '') {
      this.notice.say('error', 'Enter a key.');
      this.createKeyInput?.focus();
      return;
    }
    const text = editor.state.doc.toString();
    const ttl = this.checkedInput(text);
    if (ttl === false) return;
    await this.work(async () => {
      try {
        const created = await createEntry(key, text, ttl);
        this.host.onWrite({ type: 'put', key, version: created.meta.version, revision: created.meta.revision });
        this.reset('open', key);
        this.heading.replaceChildren(h('span', { class: 'visually-hidden' }, 'Key '), h('code', {}, key));
        this.show(created, text);
        this.heading.focus();
        this.notice.say('info', 'Created: version 1.');
        this.host.navigate(`#/k/${encodePath(key)}`);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'key_exists') {
          this.notice.say('error', `${key} already exists. `, h('a', { href: `#/k/${encodePath(key)}` }, 'Open it'), ' to change it.');
        } else this.notice.fail('Not created', err, () => void this.submitCreate());
      }
    });
  }

  /** A write succeeded: the editor's text is now the server's. */
  private accept(saved: Loaded, text: string): void {
    this.host.onWrite({ type: 'put', key: saved.meta.key, version: saved.meta.version, revision: saved.meta.revision });
    this.loaded = saved;
    this.baseline = text;
    this.serverAhead = undefined;
    this.expiry?.update(saved.meta.expiresAt);
    this.renderMeta();
    this.onEdit();
  }

  private discardAndLeave(message: string): void {
    const key = this.key ?? '';
    this.clear();
    this.host.toast(message);
    this.host.navigate(`#/f/${encodePath(parentOf(key))}`);
  }

  /** Validates the text and the expiry; the ttl to send (undefined: none), or false after saying what is wrong. */
  private checkedInput(text: string): number | undefined | false {
    const problem = jsonProblem(text);
    if (problem !== undefined) {
      this.notice.say('error', `The value is not valid JSON: ${problem}`);
      return false;
    }
    const ttl = this.expiry?.seconds();
    if (ttl === false) {
      this.notice.say('error', 'Enter the seconds until it expires: a whole number above 0.');
      return false;
    }
    return ttl;
  }

  private async work(task: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.onEdit();
    try {
      await task();
    } catch (err) {
      this.notice.fail('Failed', err);
    } finally {
      this.busy = false;
      this.onEdit();
      const deferred = this.deferred;
      this.deferred = undefined;
      if (deferred !== undefined) void this.onRemoteChange(deferred.message, this.session);
    }
  }

  /** After every edit: the JSON check's line, and which buttons work. */
  private onEdit(): void {
    const text = this.editor?.state.doc.toString() ?? '';
    const problem = jsonProblem(text);
    this.jsonStatus.className = problem === undefined ? 'json-status ok' : 'json-status bad';
    this.jsonStatus.textContent = problem === undefined ? 'Valid JSON' : `Invalid JSON: ${problem}`;
    const save = this.actions.querySelector<HTMLButtonElement>('#save-button');
    if (save !== null) save.disabled = this.busy || problem !== undefined || this.serverAhead === 'deleted';
    const create = this.actions.querySelector<HTMLButtonElement>('#create-button');
    if (create !== null) create.disabled = this.busy || problem !== undefined;
    const revert = this.actions.querySelector<HTMLButtonElement>('#revert-button');
    if (revert !== null) revert.disabled = this.busy || !this.dirty;
    const remove = this.actions.querySelector<HTMLButtonElement>('#delete-button');
    if (remove !== null) remove.disabled = this.busy || this.serverAhead === 'deleted';
  }

  private renderMeta(): void {
    const meta = this.loaded?.meta;
    if (meta === undefined) return;
    this.meta.replaceChildren(
      h('div', {}, h('dt', {}, 'Version'), h('dd', {}, String(meta.version))),
      h('div', {}, h('dt', {}, 'Revision'), h('dd', {}, String(meta.revision))),
      h('div', {}, h('dt', {}, 'Created'), h('dd', {}, timeElement(meta.createdAt))),
      h('div', {}, h('dt', {}, 'Updated'), h('dd', {}, timeElement(meta.updatedAt))),
      h('div', {}, h('dt', {}, 'Expires'), h('dd', {}, timeElement(meta.expiresAt, 'never'))),
    );
  }

  private recreateButton(): HTMLButtonElement {
    const recreate = async (): Promise<void> => {
      const key = this.loaded?.meta.key;
      const text = this.editor?.state.doc.toString();
      if (key === undefined || text === undefined || this.checkedInput(text) === false) return;
      await this.work(async () => {
        try {
          const created = await createEntry(key, text, this.expiry?.seconds() || undefined);
          this.accept(created, text);
          this.notice.say('info', 'Created again: version 1.');
        } catch (err) {
          this.notice.fail('Not created', err);
        }
      });
    };
    return h('button', { type: 'button', onclick: () => void recreate() }, 'Create it again');
  }

  private reloadButton(): HTMLButtonElement {
    const reload = (): void => {
      const key = this.key;
      if (key === undefined) return;
      this.reset('open', key);
      this.heading.replaceChildren(h('span', { class: 'visually-hidden' }, 'Key '), h('code', {}, key));
      void this.load(this.session);
    };
    return h('button', { type: 'button', onclick: reload }, 'Show the current version');
  }

  private backLink(key: string): HTMLAnchorElement {
    const folder = parentOf(key);
    return h('a', { class: 'back', href: `#/f/${encodePath(folder)}` }, `← ${folder === '' ? 'All keys' : folder}`);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (event.target instanceof HTMLElement && event.target.closest('.cm-editor') !== null) return;
    const back = this.element.querySelector<HTMLAnchorElement>('a.back');
    if (back !== null) {
      event.preventDefault();
      back.click();
    }
  }
}

/** The folder a key is in: everything up to its last '/'. */
export function parentOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}
