// A real three-member etcd cluster for tests: Debian's `etcd` binary (package etcd-server), each
// member on free loopback ports with its own data directory under one temp directory.
//
//   const cluster = await startEtcdCluster();   // formed and healthy (it has a leader)
//   afterAll(() => cluster.close());            // or onTestFinished: kills every member, removes the dirs
//
// Faults: `kill(i)` (SIGKILL), `stop(i)` (SIGTERM), `start(i)` (same data dir, same ports),
// `stopAll()` / `startAll()`; `leader()` names the member the running ones agree leads.
//
// TLS and auth, as a production cluster has them: `tls` serves the client URLs over https with
// the given certificates (and, with `clientCertAuth`, asks every client for one signed by the
// CA); `enableAuth()` adds root and users limited to a prefix, then turns auth on.
//
// No member outlives the test run: each is started under `setpriv --pdeathsig SIGKILL` (the kernel
// kills it when the thread that spawned it ends, however it ends), and a process 'exit' hook kills
// any left. The harness talks to etcd through its JSON gateway with node:http and node:https, so it does not
// depend on the client the backend uses.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rangeEnd } from '../../src/store/etcd/stored-record.js';

/** Options for startEtcdCluster. */
export interface EtcdClusterOptions {
  /** How long formation, an election or a restart may take before the harness gives up (hang guard; 20 s). */
  readonly healthyWithinMs?: number;
  /** Extra etcd flags for every member, e.g. ['--quota-backend-bytes', '16777216']. */
  readonly extraArgs?: readonly string[];
  /** Client URLs over https with these PEM files (peers stay on plain HTTP). */
  readonly tls?: EtcdClusterTls;
}

/** TLS on the members' client URLs. */
export interface EtcdClusterTls {
  /** The CA that signed etcd's certificate (the harness trusts it) and, with clientCertAuth, the clients'. */
  readonly ca: string;
  /** etcd's certificate and key (with clientCertAuth it needs clientAuth use too: the gateway presents it to etcd itself). */
  readonly server: { readonly cert: string; readonly key: string };
  /** etcd asks every client for a certificate signed by `ca` (--client-cert-auth); the harness presents this one. */
  readonly clientCertAuth?: { readonly cert: string; readonly key: string };
}

/** A user `enableAuth` makes: read and write on one prefix, nothing else. */
export interface EtcdUser {
  readonly name: string;
  readonly password: string;
  readonly prefix: string;
}

/** What a test may read about one member. */
export interface EtcdMemberView {
  readonly name: string;
  /** The member's client URL, http://127.0.0.1:PORT. */
  readonly endpoint: string;
  readonly running: boolean;
  /** The etcd process id while it runs. */
  readonly pid: number | undefined;
}

interface Member {
  readonly name: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** etcd's member id (decimal, as the JSON gateway writes uint64), known once the cluster formed. */
  id: string;
  process: ChildProcess | undefined;
  exited: Promise<void>;
}

const SIZE = 3;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts three etcd members on free loopback ports and waits until the cluster has a leader.
 * A port taken by someone else between choosing and binding it costs one more try (three in all).
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const etcd = findEtcd();
  let failure: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cluster = new EtcdCluster(etcd, await mkdtemp(join(tmpdir(), 'kv-etcd-')), await freePorts(SIZE * 2), options);
    try {
      await cluster.startAll();
      return cluster;
    } catch (error) {
      failure = error;
      await cluster.close();
    }
  }
  throw failure;
}

/** A running three-member etcd cluster; `close()` ends it and removes its files. */
export class EtcdCluster {
  private readonly all: Member[] = [];
  private readonly healthyWithinMs: number;
  private closed = false;
  /** Set by enableAuth: the harness then calls etcd as root. */
  private rootPassword: string | undefined;
  private readonly tlsFiles: { ca: string; cert?: string; key?: string } | undefined;

  constructor(
    private readonly etcd: string,
    /** The temp directory holding every member's data directory and log. */
    readonly root: string,
    ports: number[],
    private readonly options: EtcdClusterOptions,
  ) {
    this.healthyWithinMs = options.healthyWithinMs ?? 20_000;
    const tls = options.tls;
    this.tlsFiles =
      tls === undefined
        ? undefined
        : {
            ca: readFileSync(tls.ca, 'utf8'),
            ...(tls.clientCertAuth
              ? { cert: readFileSync(tls.clientCertAuth.cert, 'utf8'), key: readFileSync(tls.clientCertAuth.key, 'utf8') }
              : {}),
          };
    for (let i = 0; i < SIZE; i++) {
      const name = `m${i + 1}`;
      this.all.push({
        name,
        endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${ports[2 * i]}`,
        peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: join(root, name),
        logFile: join(root, `${name}.log`),
        id: '',
        process: undefined,
        exited: Promise.resolve(),
      });
    }
  }

  /** Every member's client URL, in member order (m1, m2, m3). */
  get endpoints(): string[] {
    return this.all.map((m) => m.endpoint);
  }

  /** Name, endpoint, whether it runs and its pid, for each member. */
  get members(): EtcdMemberView[] {
    return this.all.map((m) => ({ name: m.name, endpoint: m.endpoint, running: m.process !== undefined, pid: m.process?.pid }));
  }

  /** The index of the member that every running member names as leader (waits for one, hang guard). */
  async leader(): Promise<number> {
    const leaderId = await this.waitHealthy();
    return this.all.findIndex((m) => m.id === leaderId);
  }

  /** Kills member `index` with SIGKILL (no clean shutdown) and waits until it is gone. */
  async kill(index: number): Promise<void> {
    await this.signal(this.member(index), 'SIGKILL');
  }

  /** Stops member `index` with SIGTERM (etcd's clean shutdown) and waits until it is gone. */
  async stop(index: number): Promise<void> {
    await this.signal(this.member(index), 'SIGTERM');
  }

  /** Restarts member `index` on its data directory and ports; waits for health if a majority then runs. */
  async start(index: number): Promise<void> {
    this.spawn(this.member(index));
    if (this.runningCount() > SIZE / 2) await this.waitHealthy();
  }

  /**
   * Stops every running member (an outage of the whole cluster): with SIGTERM (the default), the
   * followers first, then the leader, which so has no one to hand leadership to. If leadership
   * moves meanwhile, etcd may wait out its leadership-transfer timeout (7 s seen here); SIGKILL
   * (a power cut) never waits.
   */
  async stopAll(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const leaderId = await this.checkHealthy().catch(() => undefined);
    await Promise.all(this.all.filter((m) => m.id !== leaderId).map((m) => this.signal(m, signal)));
    await Promise.all(this.all.map((m) => this.signal(m, signal)));
  }

  /** Starts every stopped member and waits until the cluster is healthy with all three running. */
  async startAll(): Promise<void> {
    for (const m of this.all) if (!m.process) this.spawn(m);
    await this.waitHealthy();
    const down = this.all.filter((m) => !m.process).map((m) => m.name);
    if (down.length > 0) throw new Error(`etcd members ${down.join(', ')} exited while starting\n${this.logTails()}`);
  }

  /**
   * Waits until every running member answers, all name the same leader, that leader is running,
   * and each serves a linearizable read; returns the leader's member id. Throws, with the
   * members' log tails, after `healthyWithinMs`.
   */
  async waitHealthy(): Promise<string> {
    const deadline = Date.now() + this.healthyWithinMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.closed) throw new Error('etcd cluster closed');
      // Only this harness starts members: without a majority running, no leader can come.
      if (this.runningCount() <= SIZE / 2) break;
      try {
        return await this.checkHealthy();
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`etcd cluster not healthy (${this.runningCount()} of ${SIZE} members run): ${last}\n${this.logTails()}`);
  }

  /**
   * Turns etcd's auth on: root (role root) with `rootPassword`, and each user with a role of its
   * own granting readwrite on its prefix. From then on the harness's own calls authenticate as root.
   */
  async enableAuth(rootPassword: string, users: readonly EtcdUser[]): Promise<void> {
    const endpoint = this.member(0).endpoint;
    await this.gateway(endpoint, '/v3/auth/user/add', { name: 'root', password: rootPassword });
    await this.gateway(endpoint, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    for (const user of users) {
      const role = `${user.name}-role`;
      await this.gateway(endpoint, '/v3/auth/role/add', { name: role });
      const perm = { permType: 'READWRITE', key: btoa(user.prefix), range_end: rangeEnd(user.prefix).toString('base64') };
      await this.gateway(endpoint, '/v3/auth/role/grant', { name: role, perm });
      await this.gateway(endpoint, '/v3/auth/user/add', { name: user.name, password: user.password });
      await this.gateway(endpoint, '/v3/auth/user/grant', { user: user.name, role });
    }
    await this.gateway(endpoint, '/v3/auth/enable', {});
    this.rootPassword = rootPassword;
    await this.waitHealthy();
  }

  /** Kills every member and removes the cluster's directory; safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.all.map((m) => this.signal(m, 'SIGKILL')));
    await rm(this.root, { recursive: true, force: true });
  }

  private member(index: number): Member {
    const m = this.all[index];
    if (!m) throw new Error(`no etcd member ${index} (0..${SIZE - 1})`);
    return m;
  }

  private runningCount(): number {
    return this.all.filter((m) => m.process).length;
  }

  private async checkHealthy(): Promise<string> {
    const running = this.all.filter((m) => m.process);
    if (running.length <= SIZE / 2) throw new Error(`only ${running.length} of ${SIZE} members run`);
    const statuses = await Promise.all(running.map((m) => this.gateway(m.endpoint, '/v3/maintenance/status', {})));
    const leaders = new Set<string>();
    statuses.forEach((status, i) => {
      const m = running[i]!;
      m.id = String(status.header?.member_id ?? '');
      leaders.add(String(status.leader ?? '0'));
    });
    const [leader] = leaders;
    if (leaders.size !== 1 || !leader || leader === '0') throw new Error(`members name leaders ${[...leaders].join(', ')}`);
    if (!running.some((m) => m.id === leader)) throw new Error(`the leader ${leader} named is not running`);
    await Promise.all(running.map((m) => this.gateway(m.endpoint, '/v3/kv/range', { key: btoa('kv-harness-health') })));
    return leader;
  }

  private spawn(m: Member): void {
    if (this.closed) throw new Error('etcd cluster closed');
    if (m.process) return;
    const initialCluster = this.all.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const args = [
      ...['--name', m.name, '--data-dir', m.dataDir, '--logger', 'zap', '--log-outputs', 'stderr'],
      ...['--listen-client-urls', m.endpoint, '--advertise-client-urls', m.endpoint],
      ...['--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl],
      ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', this.root],
      ...(this.options.tls ? ['--cert-file', this.options.tls.server.cert, '--key-file', this.options.tls.server.key] : []),
      ...(this.options.tls?.clientCertAuth ? ['--client-cert-auth', '--trusted-ca-file', this.options.tls.ca] : []),
      ...(this.options.extraArgs ?? []),
    ];
    const log = openSync(m.logFile, 'a');
    const [command, argv] = existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', this.etcd, ...args]]
      : [this.etcd, args];
    const child = spawn(command, argv, { stdio: ['ignore', log, log] });
    closeSync(log);
    installExitHook();
    live.add(child);
    m.process = child;
    m.exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (m.process === child) m.process = undefined;
        resolve();
      });
      child.once('error', () => {
        live.delete(child);
        if (m.process === child) m.process = undefined;
        resolve();
      });
    });
  }

  private async signal(m: Member, signal: NodeJS.Signals): Promise<void> {
    const child = m.process;
    if (!child) return;
    child.kill(signal);
    await m.exited;
  }

  /**
   * POSTs `body` to etcd's JSON gateway at `endpoint` (over https with the harness's TLS files,
   * as root once auth is on) and returns the parsed answer; throws on anything but 200.
   */
  private async gateway(endpoint: string, path: string, body: unknown): Promise<EtcdStatus> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.rootPassword !== undefined) {
      const { token } = (await this.post(endpoint, '/v3/auth/authenticate', { name: 'root', password: this.rootPassword }, headers)) as {
        token?: string;
      };
      if (token === undefined) throw new Error(`${endpoint}: authenticating as root gave no token`);
      headers.authorization = token;
    }
    return (await this.post(endpoint, path, body, headers)) as EtcdStatus;
  }

  private post(endpoint: string, path: string, body: unknown, headers: Record<string, string>): Promise<unknown> {
    const url = new URL(path, endpoint);
    const tls = this.tlsFiles;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: 'POST', headers, timeout: 2000, ...(tls ?? {}) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(text));
          else reject(new Error(`${endpoint}${path}: ${res.statusCode} ${text}`));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${endpoint}${path}: no answer within 2 s`)));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  private logTails(): string {
    return this.all
      .map((m) => {
        const text = existsSync(m.logFile) ? readFileSync(m.logFile, 'utf8') : '(no log)';
        return `--- ${m.name} (${m.process ? 'running' : 'stopped'}) ${m.logFile}:\n${text.split('\n').slice(-8).join('\n')}`;
      })
      .join('\n');
  }
}

interface EtcdStatus {
  header?: { member_id?: string };
  leader?: string;
}

/** `count` distinct free TCP ports on 127.0.0.1 (held open together so they differ, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** The etcd binary on PATH, or an error that says how to install it. */
function findEtcd(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'etcd');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('etcd not found on PATH: apt-get install etcd-server etcd-client (.ci/run installs them)');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}
