import type { Entry, ListItem, ListItemVisitor, ListPage } from '../store.js';
import { type OrderTree, type ScanResult, treeAddresses, treeWalk } from './ordered-index.js';
import type { RecordAddress, RecordImage, RecordTable } from './record-table.js';

/*
 * Reading entries out of records, for answers, listings and snapshots. A record is read by its
 * address, which for a listing's later page or a durable snapshot may be one retired from the
 * index but kept for the snapshot (see snapshot-pins.ts): these functions never touch the index.
 */

/** The entry of `key` held in the record at `address`. */
export function readEntry(table: RecordTable, key: string, address: RecordAddress): Entry {
  return {
    key,
    value: table.value(address),
    version: table.version(address),
    revision: table.revision(address),
    createdAt: table.createdAt(address),
    updatedAt: table.updatedAt(address),
    expiresAt: table.expiresAt(address),
  };
}

/**
 * The entry of `key` in the record at `address`, its numbers read now and its value decoded only
 * if asked for: for a plan (TxnView.peek), which mostly needs the version and times of the entry
 * it overwrites and not its value. Valid only until the table next changes.
 */
export class PeekedEntry implements Entry {
  readonly version: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;

  constructor(
    private readonly table: RecordTable,
    readonly key: string,
    private readonly address: RecordAddress,
  ) {
    this.version = table.version(address);
    this.revision = table.revision(address);
    this.createdAt = table.createdAt(address);
    this.updatedAt = table.updatedAt(address);
    this.expiresAt = table.expiresAt(address);
  }

  get value(): string {
    return this.table.value(this.address);
  }
}

/**
 * A listing's page at `revision` from what a scan found, each item read from its record: handed
 * to `visitor` as the record's bytes and numbers when there is one (no object or string made for
 * an item), else made an object of `items`.
 */
export function readPage(
  table: RecordTable,
  revision: number,
  scan: ScanResult,
  values: boolean,
  count: number | undefined,
  visitor?: ListItemVisitor,
): ListPage {
  const next = scan.resumeAfter === undefined ? undefined : { revision, after: scan.resumeAfter };
  const addresses = scan.addresses;
  if (visitor !== undefined) {
    visitor.begin(revision);
    for (let i = 0; i < addresses.length; i++) table.visit(addresses[i] as RecordAddress, visitor);
    return { revision, items: [], prefixes: scan.prefixes, next, count, visited: true };
  }
  const items: ListItem[] = [];
  for (let i = 0; i < addresses.length; i++) {
    const address = addresses[i] as RecordAddress;
    items.push({
      key: table.key(address),
      version: table.version(address),
      revision: table.revision(address),
      createdAt: table.createdAt(address),
      updatedAt: table.updatedAt(address),
      expiresAt: table.expiresAt(address),
      size: table.valueBytes(address),
      value: values ? table.value(address) : undefined,
    });
  }
  return { revision, items, prefixes: scan.prefixes, next, count };
}

/** Every entry of a (frozen) ordered index, in key order, read one at a time as it is iterated. */
export function treeEntries(table: RecordTable, tree: OrderTree): Iterable<Entry> {
  return {
    [Symbol.iterator]: () => {
      const walk = treeWalk(tree);
      return {
        next: (): IteratorResult<Entry> => {
          const step = walk.next();
          if (step.done === true) return { done: true, value: undefined };
          const [key, address] = step.value;
          return { done: false, value: readEntry(table, key, address) };
        },
      };
    },
  };
}

/** The records of `tree`'s entries as images, in key order (for a durable snapshot's RECORDS). */
export function* treeRecords(table: RecordTable, tree: OrderTree): Generator<RecordImage> {
  for (const address of treeAddresses(tree)) yield table.image(address);
}
