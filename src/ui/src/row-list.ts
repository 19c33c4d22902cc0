/**
 * The rows of the folder pane: keys and folders in the store's order, one Tab stop for the whole
 * list (arrow keys, Home and End move within it), the open key marked. Rows past the frontier
 * (the last name paging has reached) are held back until paging gets there, so a row the watch
 * reports far ahead does not appear with a gap before it; once the listing is complete every row
 * is shown.
 */
import { encodePath, h } from './dom.js';
import { compareKeys } from './json-text.js';

export interface Row {
  /** The full key, or the folder's prefix ending in '/'. */
  readonly name: string;
  readonly folder: boolean;
  readonly version?: number;
}

const FOLDER_ICON =
  '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M1.5 3.5h4.5l1.5 1.5h7v8.5h-13z" fill="#ffe9a8" stroke="#b08800"/></svg>';
const KEY_ICON =
  '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M3.5 1.5h6l3 3v10h-9z" fill="#fff" stroke="#57606a"/><path d="M9.5 1.5v3h3" fill="none" stroke="#57606a"/></svg>';

export class RowList {
  readonly element = h('ul', { class: 'rows', id: 'rows' });
  private readonly rows = new Map<string, { row: Row; item?: HTMLLIElement }>();
  /** Names of the rows shown, in the store's order. */
  private order: string[] = [];
  /** The largest name loaded; null once everything is. */
  private frontier: string | null = '';
  private selected: string | undefined;
  /** The one row link that Tab reaches. */
  private tabbable: HTMLAnchorElement | undefined;
  /** The names are shown relative to this folder. */
  private folder = '';

  /** `onLeaveTop`: ArrowUp on the first row (the search box takes the focus). */
  constructor(private readonly onLeaveTop: () => void) {
    this.element.addEventListener('keydown', (event) => this.onKey(event));
    this.element.addEventListener('focusin', (event) => {
      if (event.target instanceof HTMLAnchorElement) this.setTabbable(event.target);
    });
  }

  /** Empties the list for a new listing of `folder`. */
  clear(folder: string, label: string): void {
    this.folder = folder;
    this.rows.clear();
    this.order = [];
    this.frontier = '';
    this.tabbable = undefined;
    this.element.replaceChildren();
    this.element.setAttribute('aria-label', label);
  }

  /** Number of rows shown. */
  get shown(): number {
    return this.order.length;
  }

  has(name: string): boolean {
    return this.rows.has(name);
  }

  /** Paging reached `last`, or (null) the end: rows held back up to there are shown. */
  advance(last: string | null): void {
    if (last === null) this.frontier = null;
    else if (this.frontier !== null && compareKeys(last, this.frontier) > 0) this.frontier = last;
    else return;
    for (const entry of this.rows.values()) if (entry.item === undefined && this.within(entry.row.name)) this.insert(entry);
  }

  /** Adds a row or replaces the one of the same name; `flash` marks it as just changed. */
  upsert(row: Row, flash = false): void {
    const existing = this.rows.get(row.name);
    const entry: { row: Row; item?: HTMLLIElement } = { row };
    this.rows.set(row.name, entry);
    if (existing?.item !== undefined) {
      const old = existing.item.firstElementChild;
      const hadFocus = document.activeElement === old;
      entry.item = this.render(row);
      existing.item.replaceWith(entry.item);
      const link = entry.item.firstElementChild as HTMLAnchorElement;
      if (old === this.tabbable) this.setTabbable(link);
      if (hadFocus) link.focus();
    } else if (this.within(row.name)) {
      this.insert(entry);
    }
    if (flash) entry.item?.classList.add('changed');
  }

  /** Removes a row; the focus, if it was there, moves to its neighbour. */
  remove(name: string): void {
    const entry = this.rows.get(name);
    this.rows.delete(name);
    if (entry?.item === undefined) return;
    const index = this.order.indexOf(name);
    this.order.splice(index, 1);
    const link = entry.item.firstElementChild;
    const hadFocus = document.activeElement === link;
    const wasTabbable = link === this.tabbable;
    entry.item.remove();
    const neighbour = this.order[Math.min(index, this.order.length - 1)];
    const next = neighbour === undefined ? undefined : this.rows.get(neighbour)?.item?.firstElementChild;
    if (next instanceof HTMLAnchorElement && (hadFocus || wasTabbable)) {
      this.setTabbable(next);
      if (hadFocus) next.focus();
    }
  }

  /** Marks the open key's row (aria-current) and makes it the list's Tab stop. */
  select(key: string | undefined): void {
    if (this.selected !== undefined) this.link(this.selected)?.removeAttribute('aria-current');
    this.selected = key;
    const link = key === undefined ? undefined : this.link(key);
    if (link !== undefined) {
      link.setAttribute('aria-current', 'true');
      this.setTabbable(link);
    }
  }

  /** Focuses the list's Tab stop; false when the list has no row. */
  focus(): boolean {
    if (this.tabbable === undefined || !this.tabbable.isConnected) return false;
    this.tabbable.focus();
    return true;
  }

  private within(name: string): boolean {
    return this.frontier === null || compareKeys(name, this.frontier) <= 0;
  }

  private insert(entry: { row: Row; item?: HTMLLIElement }): void {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareKeys(this.order[mid] as string, entry.row.name) < 0) low = mid + 1;
      else high = mid;
    }
    entry.item = this.render(entry.row);
    const next = this.order[low];
    this.element.insertBefore(entry.item, next === undefined ? null : (this.rows.get(next)?.item ?? null));
    this.order.splice(low, 0, entry.row.name);
    if (this.tabbable === undefined || !this.tabbable.isConnected) this.setTabbable(entry.item.firstElementChild as HTMLAnchorElement);
  }

  private render(row: Row): HTMLLIElement {
    const icon = h('span', { class: 'icon', 'aria-hidden': 'true' });
    icon.innerHTML = row.folder ? FOLDER_ICON : KEY_ICON;
    const link = h(
      'a',
      {
        class: row.folder ? 'row folder' : 'row key',
        href: `#/${row.folder ? 'f' : 'k'}/${encodePath(row.name)}`,
        tabindex: '-1',
        'data-name': row.name,
        'aria-current': row.name === this.selected ? 'true' : undefined,
      },
      icon,
      h('span', { class: 'name' }, row.name.slice(this.folder.length)),
      row.version === undefined
        ? undefined
        : h('span', { class: 'version', 'aria-hidden': 'true', title: `version ${row.version}` }, `v${row.version}`),
    );
    return h('li', {}, link);
  }

  private link(name: string): HTMLAnchorElement | undefined {
    const link = this.rows.get(name)?.item?.firstElementChild;
    return link instanceof HTMLAnchorElement ? link : undefined;
  }

  private setTabbable(link: HTMLAnchorElement): void {
    if (this.tabbable !== undefined && this.tabbable !== link) this.tabbable.tabIndex = -1;
    link.tabIndex = 0;
    this.tabbable = link;
  }

  private onKey(event: KeyboardEvent): void {
    const links = [...this.element.querySelectorAll<HTMLAnchorElement>('a.row')];
    const index = links.indexOf(document.activeElement as HTMLAnchorElement);
    let target: HTMLAnchorElement | undefined;
    if (event.key === 'ArrowDown') target = links[index + 1];
    else if (event.key === 'ArrowUp') target = links[index - 1];
    else if (event.key === 'Home') target = links[0];
    else if (event.key === 'End') target = links.at(-1);
    else return;
    event.preventDefault();
    if (event.key === 'ArrowUp' && index === 0) this.onLeaveTop();
    else target?.focus();
  }
}
