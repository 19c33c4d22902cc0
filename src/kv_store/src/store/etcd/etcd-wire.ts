/*
 * What kv_store and etcd say to each other: the shapes of etcd's v3 requests and answers as the
 * backend reads and writes them, what a failed call means (EtcdError), and the connection options.
 * etcd-grpc.ts carries them over etcd's gRPC API.
 *
 * The shapes are those of the proto3 JSON mapping etcd's own JSON gateway speaks: keys and values
 * base64, int64 fields decimal strings, enums by name, and fields at their default value left out
 * (`succeeded` of a failed txn, `kvs` of an empty range, an event's `type` when it is a PUT). The
 * types below say so.
 */

/** How to reach an etcd cluster. */
export interface EtcdConnectionOptions {
  /** Client URLs of the members, http:// or https://. */
  readonly endpoints: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** PEM contents for https endpoints: the CA to trust, and a client certificate and key. */
  readonly tls?: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined } | undefined;
  /** How long one call may wait for an answer before it counts as ambiguous (default 2000 ms). */
  readonly attemptTimeoutMs?: number | undefined;
}

/** etcd's ResponseHeader (int64 as decimal strings). */
export interface EtcdHeader {
  readonly revision?: string;
  readonly member_id?: string;
  readonly raft_term?: string;
}

/** mvccpb.KeyValue: key and value base64; absent fields are zero. */
export interface EtcdKeyValue {
  readonly key: string;
  readonly value?: string;
  readonly create_revision?: string;
  readonly mod_revision?: string;
  readonly version?: string;
  readonly lease?: string;
}

export interface EtcdRangeResponse {
  readonly header?: EtcdHeader;
  readonly kvs?: readonly EtcdKeyValue[];
  readonly more?: boolean;
  readonly count?: string;
}

export interface EtcdTxnResponse {
  readonly header?: EtcdHeader;
  readonly succeeded?: boolean;
  readonly responses?: readonly {
    readonly response_range?: EtcdRangeResponse;
    readonly response_put?: { readonly header?: EtcdHeader };
    readonly response_delete_range?: { readonly header?: EtcdHeader; readonly deleted?: string };
  }[];
}

export interface EtcdEvent {
  /** Absent for a PUT (the enum's zero value). */
  readonly type?: 'PUT' | 'DELETE';
  readonly kv: EtcdKeyValue;
  /** The key before the event, when the watch asked for it (prev_kv). */
  readonly prev_kv?: EtcdKeyValue;
}

/** One message of a watch stream. */
export interface EtcdWatchMessage {
  readonly header?: EtcdHeader;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compact_revision?: string;
  readonly cancel_reason?: string;
  readonly events?: readonly EtcdEvent[];
}

/** What a failed call means for a write (etcd-grpc.ts's header comment says which is which). */
export type EtcdFailure = 'unreachable' | 'ambiguous' | 'refused';

/** gRPC status codes etcd answers with, by name. */
export const GRPC = {
  cancelled: 1,
  unknown: 2,
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  failedPrecondition: 9,
  resourceExhausted: 8,
  outOfRange: 11,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** A failed etcd call. */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';

  constructor(
    readonly failure: EtcdFailure,
    message: string,
    /** The gRPC code etcd answered with (refused and some ambiguous failures). */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** The base64 of a string's UTF-8. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** The UTF-8 string of a base64 field (absent: ''). */
export function unb64(field: string | undefined): string {
  return field === undefined ? '' : Buffer.from(field, 'base64').toString('utf8');
}

/** An int64 field as a number (absent: 0). Revisions and versions stay far below 2^53. */
export function int(field: string | undefined): number {
  return field === undefined ? 0 : Number(field);
}
