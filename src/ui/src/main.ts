/**
 * The page: a folder pane and a key pane side by side (one at a time on a narrow screen), a hash
 * router (#/f/<folder>, #/k/<key>, #/new/<prefix>) so every view has a link and the server needs
 * to serve only index.html and its assets, and the "live" indicator for the watches.
 */
import './style.css';
import { currentToken, forgetToken, onTokenChange } from './auth.js';
import { confirmAction } from './dialogs.js';
import { byId, decodePath } from './dom.js';
import { FolderView } from './folder-view.js';
import { KeyView, parentOf } from './key-view.js';
import type { WatchStatus } from './watch.js';

type Route = { readonly kind: 'folder'; readonly path: string } | { readonly kind: 'key' | 'new'; readonly path: string };

const statuses = { folder: 'idle' as WatchStatus | 'idle', key: 'idle' as WatchStatus | 'idle' };
const live = byId('live');
const toastBox = byId('toast');
const tokenButton = byId<HTMLButtonElement>('token-button');
let toastTimer: ReturnType<typeof setTimeout> | undefined;

const folderView = new FolderView(byId('folder-pane'), (status) => setStatus('folder', status));
const keyView = new KeyView(byId('key-pane'), {
  onStatus: (status) => setStatus('key', status),
  navigate: (hash) => {
    location.hash = hash;
  },
  toast,
  onWrite: (change) => folderView.noteLocalChange(change),
});

let shownHash = '';

function parseRoute(hash: string): Route {
  const match = /^#\/(f|k|new)\/(.*)$/s.exec(hash);
  const path = match === null ? undefined : decodePath(match[2] as string);
  if (match === null || path === undefined) return { kind: 'folder', path: '' };
  if (match[1] === 'k' && path !== '') return { kind: 'key', path };
  if (match[1] === 'new') return { kind: 'new', path };
  return { kind: 'folder', path: path === '' || path.endsWith('/') ? path : `${path}/` };
}

function apply(route: Route, moveFocus: boolean): void {
  if (route.kind === 'folder') {
    folderView.show(route.path);
    folderView.select(undefined);
    keyView.clear();
  } else if (route.kind === 'key') {
    folderView.show(parentOf(route.path));
    keyView.open(route.path);
    folderView.select(route.path);
  } else {
    folderView.show(parentOf(route.path));
    keyView.create(route.path);
    folderView.select(undefined);
  }
  document.body.dataset.view = route.kind === 'folder' ? 'folder' : 'key';
  document.title =
    route.kind === 'folder' ? `${route.path || 'All keys'} · kv` : route.kind === 'key' ? `${route.path} · kv` : 'New key · kv';
  if (!moveFocus) return;
  if (route.kind === 'folder') folderView.focusList();
  else keyView.focus();
}

async function onHashChange(): Promise<void> {
  const route = parseRoute(location.hash);
  const staysOnKey = route.kind === 'key' && route.path === keyView.openKey;
  if (keyView.dirty && !staysOnKey) {
    const discard = await confirmAction('Discard your edits?', 'The value you changed is not saved.', 'Discard edits');
    if (!discard) {
      history.replaceState(null, '', shownHash);
      return;
    }
  }
  shownHash = location.hash;
  apply(route, true);
}

function setStatus(which: 'folder' | 'key', status: WatchStatus | 'idle'): void {
  statuses[which] = status;
  const all = [statuses.folder, statuses.key].filter((s) => s !== 'idle');
  let text = '';
  if (all.includes('unavailable')) text = 'Live updates off';
  else if (all.includes('retrying')) text = 'Reconnecting…';
  else if (all.includes('connecting')) text = 'Connecting…';
  else if (all.length > 0) text = 'Live';
  if (live.textContent !== text) live.textContent = text;
  live.dataset.status = text === 'Live' ? 'live' : text === '' ? 'idle' : 'waiting';
}

function toast(message: string): void {
  toastBox.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toastBox.textContent = '';
  }, 6000);
}

function syncTokenButton(): void {
  tokenButton.hidden = currentToken() === null;
}

tokenButton.addEventListener('click', () => {
  forgetToken();
  location.reload();
});
onTokenChange(syncTokenButton);
syncTokenButton();
window.addEventListener('hashchange', () => void onHashChange());
window.addEventListener('beforeunload', (event) => {
  if (keyView.dirty) event.preventDefault();
});
if (location.hash === '') history.replaceState(null, '', '#/f/');
shownHash = location.hash;
apply(parseRoute(location.hash), false);
