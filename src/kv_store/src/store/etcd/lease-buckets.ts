/*
 * TTLs on etcd leases, shared. A key with a TTL is attached to the lease of its expiry bucket,
 * never to a lease of its own, so a million keys with TTLs need a few hundred leases, not a
 * million (etcd revokes at most 1,000 leases a second, and every lease is a raft entry).
 *
 * Buckets: a key that expires `r` ms from now goes into a bucket `w` ms wide, aligned to
 * multiples of `w`, where `w` is 1 s for r <= 64 s and otherwise the power of two seconds at
 * most r / 64 (so a key stays in etcd at most 1/64 of its TTL past its expiry, and at most 1 s
 * for short TTLs). The lease of the bucket ending at E lives until E + slack, so it outlives
 * every key in the bucket; etcd removes the keys when it revokes the lease.
 *
 * How many leases at once: a width of 2^k s (k >= 1) is used only for keys that expire between
 * 64 * 2^k and 128 * 2^k s away, so only bucket ends within 128 * 2^k s of now can be live for it:
 * at most 129 leases per width in use, whatever the number of keys. TTLs up to an hour use the
 * widths 1 to 32 s, at most 6 * 129 = 774 leases; up to a day, 1 to 1,024 s, at most 1,419
 * (test/etcd-lease-buckets.test.ts counts a million keys' buckets).
 *
 * The node hides a key once its `expiresAt` passes, whatever the lease says: the lease only
 * removes it from etcd later (bucket end, plus slack, plus etcd's revoke loop of 500 ms). In etcd
 * 3.4 a new leader renews every lease to its full TTL, so after an election a key can linger
 * longer still; it stays hidden.
 */

import type { EtcdGrpc } from './etcd-grpc.js';

/** Bucket widths and lease lifetimes. */
const ONE_SECOND = 1000;
const FINE_HORIZON_MS = 64 * ONE_SECOND;

/** The end (ms) of the expiry bucket of a key expiring at `expiresAt`, written at `now`. */
export function bucketEnd(expiresAt: number, now: number): number {
  const remaining = expiresAt - now;
  let width = ONE_SECOND;
  if (remaining > FINE_HORIZON_MS) width = ONE_SECOND * 2 ** Math.floor(Math.log2(remaining / FINE_HORIZON_MS));
  return Math.ceil(expiresAt / width) * width;
}

interface Lease {
  readonly id: string;
  /** When etcd will revoke it (store clock, ms). */
  readonly deadline: number;
}

export class LeaseBuckets {
  private readonly leases = new Map<number, Lease>();
  private readonly granting = new Map<number, Promise<Lease>>();

  constructor(
    private readonly etcd: EtcdGrpc,
    /** How long a lease outlives its bucket (ms). */
    private readonly slackMs: number,
  ) {}

  /** Leases held (live or not yet pruned). */
  get size(): number {
    return this.leases.size;
  }

  /** The id of the lease for a key expiring at `expiresAt`, granting the bucket's lease if it has none. */
  async leaseFor(expiresAt: number, now: number): Promise<string> {
    const end = bucketEnd(expiresAt, now);
    const held = this.leases.get(end);
    if (held !== undefined && held.deadline > now) return held.id;
    let grant = this.granting.get(end);
    if (grant === undefined) {
      grant = this.grant(end, now).finally(() => this.granting.delete(end));
      this.granting.set(end, grant);
    }
    return (await grant).id;
  }

  /** Forgets a lease etcd no longer has (a put was refused with "requested lease not found"). */
  forget(id: string): void {
    for (const [end, lease] of this.leases) if (lease.id === id) this.leases.delete(end);
  }

  /** Drops leases etcd has revoked by now. */
  prune(now: number): void {
    for (const [end, lease] of this.leases) if (lease.deadline <= now) this.leases.delete(end);
  }

  private async grant(end: number, now: number): Promise<Lease> {
    const ttlSeconds = Math.max(2, Math.ceil((end - now + this.slackMs) / ONE_SECOND));
    const answer = await this.etcd.call<{ ID?: string; TTL?: string }>('/v3/lease/grant', { TTL: String(ttlSeconds) });
    if (answer.ID === undefined) throw new Error('etcd granted a lease without an id');
    const lease = { id: answer.ID, deadline: now + Number(answer.TTL ?? ttlSeconds) * ONE_SECOND };
    this.prune(now);
    this.leases.set(end, lease);
    return lease;
  }
}
