import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions, TlsOptions } from 'node:tls';

/** A key pair and its self-signed certificate, made for one plugin start (AutoMTLS). */
export interface TlsIdentity {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

/**
 * Makes a one-off ECDSA P-256 key and a self-signed certificate for `localhost`, valid for
 * 30 days, usable as its own CA for both server and client auth (what go-plugin's AutoMTLS
 * generates). `selfsigned` builds it with WebCrypto; it takes a few tens of milliseconds.
 * `selfsigned` (and its ASN.1 and crypto dependencies) is loaded here, on first use: loading
 * it at import time cost every plugin and host ~150 ms of startup and ~18 MiB of RSS.
 */
export async function generateIdentity(): Promise<TlsIdentity> {
  const { default: selfsigned } = await import('selfsigned');
  const notBefore = new Date(Date.now() - 60_000); // tolerate small clock differences
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    days: 30,
    notBeforeDate: notBefore,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      {
        name: 'keyUsage',
        digitalSignature: true,
        keyEncipherment: true,
        keyCertSign: true,
        critical: true,
      },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  } as Parameters<typeof selfsigned.generate>[1]);
  return { cert: pems.cert, key: pems.private };
}

/** The handshake's sixth field: the certificate as base64 DER. */
export function certToBase64Der(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

/** Back from base64 DER to PEM. Throws on anything that is not a certificate. */
export function base64DerToPem(b64: string): string {
  return new X509Certificate(Buffer.from(b64, 'base64')).toString();
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Host side: trust exactly the plugin's certificate, present ours. The plugin's identity is
 * pinned by fingerprint, not by name: any other certificate is refused.
 */
export function hostTlsOptions(own: TlsIdentity, pluginCertPem: string): ConnectionOptions {
  const expected = fingerprint(pluginCertPem);
  return {
    key: own.key,
    cert: own.cert,
    ca: [pluginCertPem],
    servername: 'localhost',
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === expected
        ? undefined
        : new Error(
            `the plugin presented certificate ${cert.fingerprint256}, expected ${expected}`,
          ),
  };
}

/** Plugin side: present our certificate, require the host's exact certificate. */
export function pluginTlsOptions(own: TlsIdentity, hostCertPem: string): TlsOptions {
  return {
    key: own.key,
    cert: own.cert,
    ca: [hostCertPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}

/** True when the peer's certificate on a verified TLS socket is exactly `pem`. */
export function presentedCertificateIs(
  peerCert: { fingerprint256?: string } | undefined,
  pem: string,
): boolean {
  return !!peerCert?.fingerprint256 && peerCert.fingerprint256 === fingerprint(pem);
}
