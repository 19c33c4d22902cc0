import { type Change, NEVER } from '../../store/store.js';
import { jsonString } from '../answers.js';
import { isoTime } from '../iso-time.js';

/*
 * How a watch writes what it sees. One message per revision, in two forms:
 *
 *   Server-Sent Events (text/event-stream):      NDJSON (application/x-ndjson):
 *     id: 4821                                      {"type":"change","revision":4821,"changes":[...]}
 *     event: change
 *     data: {"revision":4821,"changes":[...]}
 *
 * and `progress` (everything up to R has been sent), `compacted` (the history no longer holds
 * what this watcher needs; then the stream ends) and `error` (slow_consumer, with where to
 * resume; then the stream ends). Data is one line of JSON: keys hold no control characters and
 * values are JSON text, whose newlines are whitespace and are folded to spaces here (a value
 * like {"a":\n1} is kept as written; only the message's one line has them folded).
 */

/** The two stream forms; a long-poll answers one JSON document. */
export type StreamForm = 'sse' | 'ndjson';

/** What each change shows. */
export interface ChangeView {
  /** The value of a put (values=false leaves it out). */
  readonly values: boolean;
  /** The key's previous value (prev=true). */
  readonly prev: boolean;
}

/** A change as the contract's JSON object. */
export function changeJson(change: Change, view: ChangeView): string {
  let text = `{"type":"${change.type}","key":${jsonString(change.key)}`;
  if (change.type === 'put') {
    if (view.values) text += `,"value":${oneLine(change.value)}`;
    const expiresAt = change.expiresAt === NEVER ? 'null' : `"${isoTime(change.expiresAt)}"`;
    text += `,"version":${change.version},"revision":${change.revision},"expiresAt":${expiresAt}`;
    if (change.reason !== undefined) text += `,"reason":"${change.reason}"`;
  } else {
    text += `,"revision":${change.revision},"reason":"${change.reason}"`;
  }
  if (view.prev) {
    const prev = change.prev;
    text +=
      prev == null ? ',"prev":null' : `,"prev":{"value":${oneLine(prev.value)},"version":${prev.version},"revision":${prev.revision}}`;
  }
  return `${text}}`;
}

/** `[change, ...]` for the changes of one revision. */
export function changesJson(changes: readonly Change[], view: ChangeView): string {
  let text = '[';
  for (let i = 0; i < changes.length; i++) text += (i === 0 ? '' : ',') + changeJson(changes[i] as Change, view);
  return `${text}]`;
}

/** The message of one revision's changes (`changes` is their JSON array). */
export function changeMessage(form: StreamForm, revision: number, changes: string): string {
  return form === 'sse'
    ? `id: ${revision}\nevent: change\ndata: {"revision":${revision},"changes":${changes}}\n\n`
    : `{"type":"change","revision":${revision},"changes":${changes}}\n`;
}

/** Everything up to `revision` has been sent. SSE adds a keepalive comment, for proxies. */
export function progressMessage(form: StreamForm, revision: number): string {
  return form === 'sse'
    ? `: keepalive\nid: ${revision}\nevent: progress\ndata: {"revision":${revision}}\n\n`
    : `{"type":"progress","revision":${revision}}\n`;
}

/** The history no longer holds what the watcher needs; the stream ends after it. */
export function compactedMessage(form: StreamForm, message: string, oldestRevision: number): string {
  const data = `"code":"history_compacted","message":${JSON.stringify(message)},"oldestRevision":${oldestRevision}}`;
  return form === 'sse' ? `event: compacted\ndata: {${data}\n\n` : `{"type":"compacted",${data}\n`;
}

/** The watcher was cut off (slow_consumer); it may resume after `resumeAfter`. The stream ends after it. */
export function errorMessage(form: StreamForm, code: string, message: string, resumeAfter: number): string {
  const data = `"code":"${code}","message":${JSON.stringify(message)},"resumeAfter":${resumeAfter}}`;
  return form === 'sse' ? `event: error\ndata: {${data}\n\n` : `{"type":"error",${data}\n`;
}

/** What an SSE stream starts with: the reconnection delay for EventSource, and a comment that opens the stream through proxies. */
export const SSE_PREAMBLE = 'retry: 1000\n: keepalive\n\n';

/** The content types of the two forms. */
export const STREAM_TYPES: Readonly<Record<StreamForm, string>> = {
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson',
};

/** JSON text on one line: its line breaks (whitespace, outside strings, in valid JSON) become spaces. */
function oneLine(json: string): string {
  return json.indexOf('\n') === -1 && json.indexOf('\r') === -1 ? json : json.replace(/[\r\n]/g, ' ');
}
