/**
 * What a save does to the key's expiry. A PUT without `ttl` clears it (as Redis SET does), so a
 * key that expires keeps its expiry on save unless the user chooses otherwise: "keep" sends the
 * seconds left, rounded up.
 */
import { h } from './dom.js';

let nextId = 0;

export class ExpiryField {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly secondsInput: HTMLInputElement;
  private expiresAt: string | null;

  constructor(expiresAt: string | null) {
    const id = ++nextId;
    this.expiresAt = expiresAt;
    this.select = h('select', { id: `expiry-${id}` });
    this.secondsInput = h('input', {
      id: `ttl-${id}`,
      type: 'number',
      min: '1',
      step: '1',
      inputmode: 'numeric',
      'aria-label': 'Seconds until it expires',
    });
    this.select.addEventListener('change', () => this.sync());
    this.element = h(
      'div',
      { class: 'expiry' },
      h('label', { for: `expiry-${id}` }, 'Expiry'),
      this.select,
      this.secondsInput,
      h('span', { class: 'unit', 'aria-hidden': 'true' }, 'seconds'),
    );
    this.update(expiresAt);
  }

  /** The entry was written: offer to keep its new expiry. */
  update(expiresAt: string | null): void {
    this.expiresAt = expiresAt;
    const options = [h('option', { value: 'none' }, 'Never expires'), h('option', { value: 'ttl' }, 'Expires in…')];
    if (expiresAt !== null) options.unshift(h('option', { value: 'keep' }, 'Keep its expiry'));
    this.select.replaceChildren(...options);
    this.select.value = expiresAt === null ? 'none' : 'keep';
    this.secondsInput.value = '';
    this.sync();
  }

  /** The ttl to send: seconds, undefined for none, false when the seconds typed are not usable. */
  seconds(): number | undefined | false {
    if (this.select.value === 'none') return undefined;
    if (this.select.value === 'keep' && this.expiresAt !== null) {
      return Math.max(1, Math.ceil((Date.parse(this.expiresAt) - Date.now()) / 1000));
    }
    const n = Number(this.secondsInput.value);
    return Number.isInteger(n) && n > 0 ? n : false;
  }

  private sync(): void {
    const show = this.select.value === 'ttl';
    this.secondsInput.hidden = !show;
    (this.element.querySelector('.unit') as HTMLElement).hidden = !show;
  }
}
