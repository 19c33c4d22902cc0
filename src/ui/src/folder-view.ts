/**
 * The folder pane: breadcrumbs, the prefix search, and one listing by `/` of the open folder (or
 * of what the search's prefix matches), loaded a page at a time as the list scrolls and kept
 * current by a watch on the same prefix.
 *
 * Pages come from one snapshot (the first page's revision); the watch starts right after it. So a
 * key the watch has spoken about is newer than any page: pages never overwrite it (`heard`).
 */
import { ApiError, type ListPage, type ListQuery, listPage } from './api.js';
import { askForToken } from './auth.js';
import { encodePath, h } from './dom.js';
import { compareKeys } from './json-text.js';
import { RowList } from './row-list.js';
import { type Change, type ChangeMessage, Watch, type WatchStatus } from './watch.js';

const PAGE_SIZE = 100;
const SEARCH_DELAY_MS = 250;
/** The next page is asked for when the end of the list comes this close to view. */
const PRELOAD_PX = 400;
const FOLDER_CHECK_DELAY_MS = 150;

export class FolderView {
  readonly element: HTMLElement;
  private readonly crumbs = h('ol', { class: 'crumbs' });
  private readonly searchInput = h('input', { id: 'search', type: 'search', autocomplete: 'off', spellcheck: 'false' });
  private readonly summary = h('p', { class: 'summary', role: 'status' });
  private readonly list = new RowList(() => this.searchInput.focus());
  private readonly footer = h('div', { class: 'list-footer' });
  private folder: string | undefined;
  private search = '';
  private searchTimer: ReturnType<typeof setTimeout> | undefined;

  // The current listing; `session` tells its answers from those of an earlier one.
  private session = 0;
  private abort = new AbortController();
  private watch: Watch | undefined;
  /** The listing's parameters; every page of it is asked for with the same ones. */
  private query: ListQuery = { prefix: '', limit: PAGE_SIZE };
  private cursor: string | undefined;
  private more = false;
  /** Keys under the prefix (the listing's count, kept up to date by the watch), if the store counted. */
  private count: number | undefined;
  private loading = false;
  private failure: ApiError | Error | undefined;
  /** The last name loaded so far; a 410 cursor_expired goes on after it. */
  private lastName = '';
  private readonly heard = new Set<string>();
  private readonly folderChecks = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly pane: HTMLElement,
    private readonly onStatus: (status: WatchStatus) => void,
  ) {
    const searchForm = h(
      'form',
      { role: 'search', class: 'search', onsubmit: (event) => this.onSearchSubmit(event) },
      h('label', { for: 'search', class: 'visually-hidden' }, 'Search keys by prefix'),
      this.searchInput,
    );
    this.searchInput.addEventListener('input', () => this.onSearchInput());
    this.searchInput.addEventListener('keydown', (event) => this.onSearchKey(event));
    this.element = h(
      'div',
      { class: 'folder-view' },
      h('nav', { 'aria-label': 'Folder path' }, this.crumbs),
      h('div', { class: 'toolbar' }, searchForm, h('a', { class: 'button', id: 'new-key', href: '#/new/' }, 'New key')),
      this.summary,
      this.list.element,
      this.footer,
    );
    pane.append(this.element);
    new IntersectionObserver((entries) => entries.some((entry) => entry.isIntersecting) && this.loadMore(), {
      root: pane,
      rootMargin: `0px 0px ${PRELOAD_PX}px 0px`,
    }).observe(this.footer);
    // IntersectionObserver reports changes between frames: a scroll right after a page came in
    // can bring the end of the list back before it ever saw it leave.
    pane.addEventListener('scroll', () => this.footerNearView() && this.loadMore(), { passive: true });
  }

  /** Shows `folder` ('' or ending in '/'); nothing happens if it is already shown. */
  show(folder: string): void {
    if (folder === this.folder) return;
    this.folder = folder;
    this.search = '';
    this.searchInput.value = '';
    this.searchInput.placeholder = folder === '' ? 'Search keys by prefix' : `Search in ${folder} by prefix`;
    this.element.querySelector<HTMLAnchorElement>('#new-key')?.setAttribute('href', `#/new/${encodePath(folder)}`);
    this.renderCrumbs(folder);
    this.reload();
  }

  /** Marks the open key's row. */
  select(key: string | undefined): void {
    this.list.select(key);
  }

  /** Moves the focus to the list (the open key's row, or the first; the search box while it is empty). */
  focusList(): void {
    if (!this.list.focus()) this.searchInput.focus();
  }

  /** Starts the listing again from its first page. */
  reload(): void {
    this.session++;
    this.abort.abort();
    this.abort = new AbortController();
    this.watch?.stop();
    this.watch = undefined;
    for (const timer of this.folderChecks.values()) clearTimeout(timer);
    this.folderChecks.clear();
    this.heard.clear();
    this.list.clear(this.folder ?? '', this.prefix === '' ? 'All keys' : `Keys starting with ${this.prefix}`);
    this.lastName = '';
    this.query = { prefix: this.prefix, limit: PAGE_SIZE, count: true };
    this.cursor = undefined;
    this.more = false;
    this.count = undefined;
    this.failure = undefined;
    this.loading = false;
    this.summary.textContent = 'Loading…';
    void this.loadPage(true);
  }

  private get prefix(): string {
    return (this.folder ?? '') + this.search;
  }

  private loadMore(): void {
    if (this.more && !this.loading && this.failure === undefined) void this.loadPage(false);
  }

  private async loadPage(first: boolean): Promise<void> {
    const session = this.session;
    this.loading = true;
    this.renderFooter();
    try {
      const query = this.cursor === undefined ? this.query : { ...this.query, cursor: this.cursor };
      const page = await listPage(query, this.abort.signal);
      if (session !== this.session) return;
      this.merge(page);
      if (first) {
        this.count = page.count;
        this.renderSummary(page.items.length + page.prefixes.length === 0);
        this.startWatch(page.revision);
      }
    } catch (err) {
      if (session !== this.session) return;
      if (err instanceof ApiError && err.code === 'cursor_expired' && this.more) {
        // Idle too long: go on from the last name loaded, at the store's current state.
        this.cursor = undefined;
        this.query = { prefix: this.prefix, limit: PAGE_SIZE, start: nameAfter(this.lastName) };
        this.loading = false;
        return this.loadPage(false);
      }
      this.failure = err instanceof Error ? err : new Error(String(err));
      if (first) this.summary.textContent = '';
    }
    this.loading = false;
    this.renderFooter();
    // The footer may still be in view (a short page): IntersectionObserver will not say so again.
    if (this.footerNearView()) this.loadMore();
  }

  /** The end of the list is within PRELOAD_PX of the pane's visible part (and the pane is shown). */
  private footerNearView(): boolean {
    if (this.footer.offsetParent === null) return false;
    return this.footer.getBoundingClientRect().top < this.pane.getBoundingClientRect().bottom + PRELOAD_PX;
  }

  private merge(page: ListPage): void {
    for (const item of page.items) {
      if (compareKeys(item.key, this.lastName) > 0) this.lastName = item.key;
      if (!this.heard.has(item.key)) this.list.upsert({ name: item.key, folder: false, version: item.version });
    }
    for (const prefix of page.prefixes) {
      if (compareKeys(prefix, this.lastName) > 0) this.lastName = prefix;
      if (!this.heard.has(prefix)) this.list.upsert({ name: prefix, folder: true });
    }
    this.more = page.more;
    this.cursor = page.more ? page.cursor : undefined;
    this.list.advance(page.more ? this.lastName : null);
  }

  private startWatch(after: number): void {
    const session = this.session;
    const prefix = this.prefix;
    this.watch = new Watch({
      path: `?watch=true&values=false&prefix=${encodeURIComponent(prefix)}`,
      after,
      onChange: (message) => session === this.session && this.applyChanges(message),
      onCompacted: () => session === this.session && this.reload(),
      onStatus: (status) => session === this.session && this.onStatus(status),
    });
  }

  private applyChanges(message: ChangeMessage): void {
    for (const change of message.changes) {
      if (!change.key.startsWith(this.prefix)) continue;
      this.applyChange(change);
      // The count covers every key under the prefix, in subfolders too.
      if (this.count !== undefined && (change.type === 'delete' || change.version === 1)) {
        this.count += change.type === 'delete' ? -1 : 1;
        this.renderSummary();
      }
    }
    this.renderFooter();
  }

  /** A write made in this page (the watch will report it too; rows take it twice without harm). */
  noteLocalChange(change: Change): void {
    if (!change.key.startsWith(this.prefix)) return;
    this.applyChange(change);
    this.renderFooter();
  }

  private applyChange(change: Change): void {
    const prefix = this.prefix;
    const slash = change.key.indexOf('/', prefix.length);
    if (slash !== -1) {
      const folder = change.key.slice(0, slash + 1);
      if (change.type === 'put') {
        this.heard.add(folder);
        if (!this.list.has(folder)) this.list.upsert({ name: folder, folder: true });
      } else {
        this.checkFolder(folder);
      }
      return;
    }
    this.heard.add(change.key);
    if (change.type === 'delete') this.list.remove(change.key);
    else this.list.upsert({ name: change.key, folder: false, ...(change.version === undefined ? {} : { version: change.version }) }, true);
  }

  /** A key under `folder` was deleted: the folder goes if nothing is left in it. */
  private checkFolder(folder: string): void {
    clearTimeout(this.folderChecks.get(folder));
    const session = this.session;
    const timer = setTimeout(async () => {
      this.folderChecks.delete(folder);
      try {
        const page = await listPage({ prefix: folder, limit: 1 }, this.abort.signal);
        if (session !== this.session || page.items.length > 0 || page.prefixes.length > 0) return;
        this.heard.add(folder);
        this.list.remove(folder);
        this.renderFooter();
      } catch {
        // The folder stays; the next change under it checks again.
      }
    }, FOLDER_CHECK_DELAY_MS);
    this.folderChecks.set(folder, timer);
  }

  private renderCrumbs(folder: string): void {
    const parts = folder.split('/').slice(0, -1);
    const items = [h('li', {}, crumb('All keys', '', folder === ''))];
    let path = '';
    for (const part of parts) {
      path += `${part}/`;
      items.push(h('li', {}, crumb(`${part}/`, path, path === folder)));
    }
    this.crumbs.replaceChildren(...items);
  }

  private renderSummary(empty = false): void {
    const where = this.search !== '' ? `starting with ${this.prefix}` : this.prefix === '' ? 'in the store' : `under ${this.prefix}`;
    if (this.count !== undefined) {
      this.summary.textContent = `${this.count.toLocaleString('en')} ${this.count === 1 ? 'key' : 'keys'} ${where}`;
    } else if (empty) {
      this.summary.textContent = `No keys ${where}`;
    } else {
      this.summary.textContent = `Keys ${where}`;
    }
  }

  private renderFooter(): void {
    if (this.failure !== undefined) {
      const failure = this.failure;
      const needsToken = failure instanceof ApiError && failure.status === 401;
      const retry = async (): Promise<void> => {
        if (needsToken && !(await askForToken(false, true))) return;
        this.failure = undefined;
        if (this.list.shown === 0) this.reload();
        else void this.loadPage(false);
      };
      this.footer.replaceChildren(
        h(
          'p',
          { class: 'error', role: 'alert' },
          needsToken ? 'This store needs an access token.' : `Could not list keys: ${failure.message}`,
        ),
        h('button', { type: 'button', onclick: () => void retry() }, needsToken ? 'Enter token' : 'Try again'),
      );
    } else if (this.loading) {
      this.footer.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    } else if (this.more) {
      this.footer.replaceChildren(h('button', { type: 'button', class: 'load-more', onclick: () => this.loadMore() }, 'Load more'));
    } else if (this.list.shown === 0) {
      this.footer.replaceChildren(h('p', { class: 'muted' }, this.search === '' ? 'Nothing here yet.' : 'No key starts with that.'));
    } else {
      this.footer.replaceChildren();
    }
  }

  private onSearchInput(): void {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.setSearch(this.searchInput.value), SEARCH_DELAY_MS);
  }

  private onSearchSubmit(event: Event): void {
    event.preventDefault();
    clearTimeout(this.searchTimer);
    this.setSearch(this.searchInput.value);
  }

  private onSearchKey(event: KeyboardEvent): void {
    if (event.key === 'Escape' && this.searchInput.value !== '') {
      event.preventDefault();
      this.searchInput.value = '';
      clearTimeout(this.searchTimer);
      this.setSearch('');
    } else if (event.key === 'ArrowDown') {
      event.preventDefault();
      this.focusList();
    }
  }

  private setSearch(search: string): void {
    if (search === this.search) return;
    this.search = search;
    this.reload();
  }
}

function crumb(label: string, folder: string, current: boolean): HTMLAnchorElement {
  return h('a', { href: `#/f/${encodePath(folder)}`, 'aria-current': current ? 'page' : undefined }, label);
}

/** The smallest name after every key that starts with `name` when it is a folder, else after `name` itself. */
function nameAfter(name: string): string {
  // '0' follows '/'; ' ' is the smallest character a key may hold.
  return name.endsWith('/') ? `${name.slice(0, -1)}0` : `${name} `;
}
