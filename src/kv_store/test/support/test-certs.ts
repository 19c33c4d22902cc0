// Certificates for TLS tests against a real etcd, made with the openssl command line (Debian's
// openssl package; .ci/run installs it when missing): a CA, a server certificate for 127.0.0.1 and
// localhost (which etcd also presents as a client, to its own gRPC server behind the JSON
// gateway, so it carries both uses), and client certificates signed by that CA, with and
// without a Common Name. Keys are 2048-bit RSA, valid for two days. Files only: PEM paths.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key, as PEM file paths. */
export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCertificates {
  /** The CA that signed every certificate below. */
  readonly ca: string;
  /** etcd's: SAN IP:127.0.0.1 and DNS:localhost, serverAuth and clientAuth. */
  readonly server: CertPair;
  /** A client certificate without a Common Name (subject O=kv-node). */
  readonly client: CertPair;
  /** A client certificate with the Common Name `kv-node`. */
  readonly clientWithCn: CertPair;
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl not found on PATH: apt-get install openssl (.ci/run installs it)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** Signs a new key's certificate with the CA in `dir`; `extensions` is an openssl extfile's text. */
function issue(dir: string, name: string, subject: string, extensions: string): CertPair {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

/** Makes the CA and the certificates in `dir` (an existing, empty directory). */
export function makeTestCertificates(dir: string): TestCertificates {
  const ca = join(dir, 'ca.crt');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    ca,
    '-days',
    '2',
    '-subj',
    '/CN=kv test CA',
  ]);
  const server = issue(
    dir,
    'server',
    '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  const client = issue(dir, 'client', '/O=kv-node', 'extendedKeyUsage=clientAuth\n');
  const clientWithCn = issue(dir, 'client-cn', '/CN=kv-node', 'extendedKeyUsage=clientAuth\n');
  return { ca, server, client, clientWithCn };
}
