import type { PeerCertificate } from 'node:tls';

/** A client certificate's CN and its DNS and URI subject alternative names (a SPIFFE id is a URI SAN). */
export function certificateNames(certificate: PeerCertificate): string[] {
  const out = certificate.subject?.CN ? [String(certificate.subject.CN)] : [];
  for (const san of (certificate.subjectaltname ?? '').split(', ')) {
    const m = /^(DNS|URI):(.+)$/.exec(san);
    if (m) out.push(m[2]!);
  }
  return [...new Set(out)];
}

/**
 * The names a listener's `clients.certificateNames` lists (xDS, ext_proc): a client
 * certificate is admitted when its CN or a DNS / URI SAN is one of them; an empty list
 * admits any certificate the client CA signed.
 */
export class CertificateNameList {
  private readonly names: ReadonlySet<string>;

  constructor(names: readonly string[]) {
    this.names = new Set(names);
  }

  /** True when the list restricts nothing (no names configured). */
  get any(): boolean {
    return this.names.size === 0;
  }

  /** Whether the certificate carries a listed name (any certificate when none is listed). */
  admits(certificate: PeerCertificate): boolean {
    return this.names.size === 0 || certificateNames(certificate).some((n) => this.names.has(n));
  }
}
