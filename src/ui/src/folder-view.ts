/**
 * The folder pane: one listing by `/` of the open folder (or of what a search's prefix matches),
 * loaded a page at a time as the list scrolls, and kept current by a watch on the same prefix.
 *
 * Pages come from one snapshot (the first page's revision); the watch starts right after it. So a
 * key the watch has spoken about is newer than any page: pages never overwrite it (`heard`). Rows
 * past the last name loaded (the frontier) are kept back until paging reaches them, so the list
 * shows no gaps; once the listing is complete every row is shown.
 */
import { ApiError, type EntryMeta, type ListPage, type ListQuery, listPage } from './api.js';
import { askForToken } from './auth.js';
import { encodePath, h } from './dom.js';
import { compareKeys } from './json-text.js';
import { type Change, type ChangeMessage, Watch, type WatchStatus } from './watch.js';

const PAGE_SIZE = 100;
const SEARCH_DELAY_MS = 250;
/** The next page is asked for when the end of the list comes this close to view. */
const PRELOAD_PX = 400;
const FOLDER_CHECK_DELAY_MS = 150;

interface Row {
  readonly name: string;
  readonly folder: boolean;
  readonly version?: number;
  element?: HTMLLIElement;
}

export class FolderView {
  readonly element: HTMLElement;
  private readonly crumbs = h('ol', { class: 'crumbs' });
  private readonly searchInput = h('input', { id: 'search', type: 'search', autocomplete: 'off', spellcheck: 'false' });
  private readonly summary = h('p', { class: 'summary', role: 'status' });
  private readonly list = h('ul', { class: 'rows', id: 'rows' });
  private readonly footer = h('div', { class: 'list-footer' });
  private folder: string | undefined;
  private search = '';
  private selected: string | undefined;
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
  /** The largest name loaded so far; null once the listing is complete. */
  private frontier: string | null = '';
  private readonly rows = new Map<string, Row>();
  /** Names of the rows in the list, in the store's order. */
  private order: string[] = [];
  private readonly heard = new Set<string>();
  private readonly folderChecks = new Map<string, ReturnType<typeof setTimeout>>();
  /** The one row link that Tab reaches; arrow keys move within the list. */
  private tabbable: HTMLAnchorElement | undefined;

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
    this.list.addEventListener('keydown', (event) => this.onListKey(event));
    this.list.addEventListener('focusin', (event) => {
      if (event.target instanceof HTMLAnchorElement) this.setTabbable(event.target);
    });
    this.element = h(
      'div',
      { class: 'folder-view' },
      h('nav', { 'aria-label': 'Folder path' }, this.crumbs),
      h('div', { class: 'toolbar' }, searchForm, h('a', { class: 'button', id: 'new-key', href: '#/new/' }, 'New key')),
      this.summary,
      this.list,
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
    if (this.selected !== undefined) this.rows.get(this.selected)?.element?.firstElementChild?.removeAttribute('aria-current');
    this.selected = key;
    const link = key === undefined ? undefined : this.rows.get(key)?.element?.firstElementChild;
    if (link instanceof HTMLAnchorElement) {
      link.setAttribute('aria-current', 'true');
      this.setTabbable(link);
    }
  }

  /** Moves the focus to the list (the open key's row, or the first). */
  focusList(): void {
    (this.tabbable?.isConnected ? this.tabbable : this.searchInput).focus();
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
    this.rows.clear();
    this.heard.clear();
    this.order = [];
    this.tabbable = undefined;
    this.list.replaceChildren();
    this.query = { prefix: this.prefix, limit: PAGE_SIZE, count: true };
    this.cursor = undefined;
    this.more = false;
    this.frontier = '';
    this.count = undefined;
    this.failure = undefined;
    this.loading = false;
    this.summary.textContent = 'Loading…';
    this.list.setAttribute('aria-label', this.prefix === '' ? 'All keys' : `Keys starting with ${this.prefix}`);
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
      if (err instanceof ApiError && err.code === 'cursor_expired' && this.frontier !== null) {
        // Idle too long: go on from the last name loaded, at the store's current state.
        this.cursor = undefined;
        this.query = { prefix: this.prefix, limit: PAGE_SIZE, start: nameAfter(this.frontier) };
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
    let last = '';
    for (const item of page.items) {
      if (compareKeys(item.key, last) > 0) last = item.key;
      if (!this.heard.has(item.key)) this.upsert(keyRow(item));
    }
    for (const prefix of page.prefixes) {
      if (compareKeys(prefix, last) > 0) last = prefix;
      if (!this.heard.has(prefix)) this.upsert({ name: prefix, folder: true });
    }
    this.more = page.more;
    this.cursor = page.more ? page.cursor : undefined;
    if (!page.more) this.frontier = null;
    else if (this.frontier !== null && compareKeys(last, this.frontier) > 0) this.frontier = last;
    for (const row of this.rows.values()) if (row.element === undefined && this.within(row.name)) this.insert(row);
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
        if (!this.rows.has(folder)) this.upsert({ name: folder, folder: true });
      } else {
        this.checkFolder(folder);
      }
      return;
    }
    this.heard.add(change.key);
    if (change.type === 'delete') this.remove(change.key);
    else this.upsert({ name: change.key, folder: false, ...(change.version === undefined ? {} : { version: change.version }) }, true);
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
        this.remove(folder);
        this.renderFooter();
      } catch {
        // The folder stays; the next change under it checks again.
      }
    }, FOLDER_CHECK_DELAY_MS);
    this.folderChecks.set(folder, timer);
  }

  private within(name: string): boolean {
    return this.frontier === null || compareKeys(name, this.frontier) <= 0;
  }

  private upsert(row: Row, flash = false): void {
    const existing = this.rows.get(row.name);
    this.rows.set(row.name, row);
    if (existing?.element !== undefined) {
      const element = this.renderRow(row);
      const old = existing.element.firstElementChild;
      const hadFocus = document.activeElement === old;
      existing.element.replaceWith(element);
      row.element = element;
      const link = element.firstElementChild as HTMLAnchorElement;
      if (old === this.tabbable) this.setTabbable(link);
      if (hadFocus) link.focus();
    } else if (this.within(row.name)) {
      this.insert(row);
    }
    if (flash && row.element !== undefined) row.element.classList.add('changed');
  }

  private insert(row: Row): void {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareKeys(this.order[mid] as string, row.name) < 0) low = mid + 1;
      else high = mid;
    }
    const element = this.renderRow(row);
    const next = this.order[low];
    this.list.insertBefore(element, next === undefined ? null : (this.rows.get(next)?.element ?? null));
    this.order.splice(low, 0, row.name);
    row.element = element;
    if (this.tabbable === undefined || !this.tabbable.isConnected) this.setTabbable(element.firstElementChild as HTMLAnchorElement);
  }

  private remove(name: string): void {
    const row = this.rows.get(name);
    this.rows.delete(name);
    if (row?.element === undefined) return;
    const index = this.order.indexOf(name);
    this.order.splice(index, 1);
    const link = row.element.firstElementChild;
    const hadFocus = document.activeElement === link;
    const wasTabbable = link === this.tabbable;
    row.element.remove();
    const neighbour = this.order[Math.min(index, this.order.length - 1)];
    const next = neighbour === undefined ? undefined : this.rows.get(neighbour)?.element?.firstElementChild;
    if (next instanceof HTMLAnchorElement && (hadFocus || wasTabbable)) {
      this.setTabbable(next);
      if (hadFocus) next.focus();
    }
  }

  private renderRow(row: Row): HTMLLIElement {
    const display = row.name.slice((this.folder ?? '').length);
    const href = row.folder ? `#/f/${encodePath(row.name)}` : `#/k/${encodePath(row.name)}`;
    const link = h(
      'a',
      { class: row.folder ? 'row folder' : 'row key', href, tabindex: '-1', 'data-name': row.name },
      icon(row.folder),
      h('span', { class: 'name' }, display),
      row.version === undefined
        ? undefined
        : h('span', { class: 'version', 'aria-hidden': 'true', title: `version ${row.version}` }, `v${row.version}`),
    );
    if (row.name === this.selected) link.setAttribute('aria-current', 'true');
    return h('li', {}, link);
  }

  private setTabbable(link: HTMLAnchorElement): void {
    if (this.tabbable !== undefined && this.tabbable !== link) this.tabbable.tabIndex = -1;
    link.tabIndex = 0;
    this.tabbable = link;
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
        if (this.order.length === 0) this.reload();
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
    } else if (this.order.length === 0) {
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

  private onListKey(event: KeyboardEvent): void {
    const links = [...this.list.querySelectorAll<HTMLAnchorElement>('a.row')];
    const index = links.indexOf(document.activeElement as HTMLAnchorElement);
    let target: HTMLAnchorElement | undefined;
    if (event.key === 'ArrowDown') target = links[index + 1];
    else if (event.key === 'ArrowUp') target = index > 0 ? links[index - 1] : undefined;
    else if (event.key === 'Home') target = links[0];
    else if (event.key === 'End') target = links[links.length - 1];
    else return;
    event.preventDefault();
    if (event.key === 'ArrowUp' && index === 0) this.searchInput.focus();
    target?.focus();
  }
}

const FOLDER_ICON =
  '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M1.5 3.5h4.5l1.5 1.5h7v8.5h-13z" fill="#ffe9a8" stroke="#b08800"/></svg>';
const KEY_ICON =
  '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M3.5 1.5h6l3 3v10h-9z" fill="#fff" stroke="#57606a"/><path d="M9.5 1.5v3h3" fill="none" stroke="#57606a"/></svg>';

function icon(folder: boolean): HTMLSpanElement {
  const span = h('span', { class: 'icon', 'aria-hidden': 'true' });
  span.innerHTML = folder ? FOLDER_ICON : KEY_ICON;
  return span;
}

function keyRow(item: EntryMeta): Row {
  return { name: item.key, folder: false, version: item.version };
}

function crumb(label: string, folder: string, current: boolean): HTMLAnchorElement {
  return h('a', { href: `#/f/${encodePath(folder)}`, 'aria-current': current ? 'page' : undefined }, label);
}

/** The smallest name after every key that starts with `name` when it is a folder, else after `name` itself. */
function nameAfter(name: string): string {
  // '0' follows '/'; ' ' is the smallest character a key may hold.
  return name.endsWith('/') ? `${name.slice(0, -1)}0` : `${name} `;
}
