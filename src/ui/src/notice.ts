/** The key pane's message line: what just happened, what went wrong, and what can be done about it. */
import { ApiError } from './api.js';
import { askForToken } from './auth.js';
import { h } from './dom.js';

export type NoticeKind = 'info' | 'warn' | 'error';

export class Notice {
  /** A live region: an info is announced politely, a warning or an error as an alert. */
  readonly element = h('div', { class: 'notice', role: 'status' });

  say(kind: NoticeKind, ...content: (Node | string)[]): void {
    this.element.replaceChildren(h('p', { class: kind, role: kind === 'info' ? undefined : 'alert' }, ...content));
  }

  clear(): void {
    this.element.replaceChildren();
  }

  /** Says why `what` failed; a missing token offers to enter one and then `retry`. */
  fail(what: string, err: unknown, retry?: () => void): void {
    if (err instanceof ApiError && err.status === 401) {
      const enter = async (): Promise<void> => {
        if ((await askForToken(false, true)) && retry !== undefined) retry();
      };
      this.say(
        'error',
        `${what}: this store needs an access token. `,
        h('button', { type: 'button', onclick: () => void enter() }, 'Enter token'),
      );
    } else if (err instanceof ApiError && err.status === 403) {
      this.say('error', `${what}: the token may only read (403 forbidden).`);
    } else {
      this.say('error', `${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
