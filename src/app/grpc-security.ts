import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsConfig, XdsClientsConfig } from '../config/config';
import type { Logger } from '../log/logger';
import { CertificateFiles } from '../tls/certificate-files';
import { bearerToken, TokenDigests } from '../model/bearer';

/**
 * Plaintext, TLS, or mutual TLS (a client certificate signed by `clientCaFile` is required at
 * the handshake), from files read again every `reloadSeconds` (`CertificateFiles`).
 */
export function serverCredentials(tls: TlsConfig | undefined, listener: string, log: Logger): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const files = new CertificateFiles(tls, listener, log);
  // grpc-js 1.14 gives its first argument the identity role and its second the CA's, whatever its
  // typings name them (package.json holds it to 1.14.x; the TLS tests fail if that changes).
  return grpc.experimental.createCertificateProviderServerCredentials(files, tls.clientCaFile ? files : null, tls.clientCaFile !== undefined);
}

/** A call the xDS client check turned away: who asked, with which certificate names, and whether it sent a token. */
export interface XdsRefusal {
  readonly method: string;
  readonly peer: string;
  readonly certificate: string[] | undefined;
  readonly token: boolean;
}

const HEALTH_PREFIX = '/grpc.health.v1.Health/';

/**
 * The xDS client identity check, as a server interceptor: a call (but gRPC health) is
 * admitted with a verified client certificate (mutual TLS; when `certificateNames` is set,
 * its CN or a DNS/URI SAN must be listed) or a listed bearer token in its `authorization`
 * metadata (Envoy: `grpc_service.initial_metadata`). Anything else ends with UNAUTHENTICATED
 * before the handler runs, so a stranger never sees a resource; `refused` hears of each such
 * call. Undefined: xDS is open.
 */
export function xdsClientCheck(clients: XdsClientsConfig, tls: TlsConfig | undefined, refused: (refusal: XdsRefusal) => void): grpc.ServerInterceptor | undefined {
  const mutual = tls?.clientCaFile !== undefined;
  if (clients.tokens.length === 0 && !mutual) return undefined;
  const tokens = new TokenDigests(clients.tokens, (t) => t);
  const names = new Set(clients.certificateNames);
  const admitted = (metadata: grpc.Metadata, certificate: PeerCertificate | undefined): boolean => {
    if (mutual && certificate?.subject && (names.size === 0 || certificateNames(certificate).some((n) => names.has(n)))) return true;
    const token = bearerToken(String(metadata.get('authorization')[0] ?? ''));
    return token !== undefined && tokens.find(token) !== undefined;
  };
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const certificate = call.getAuthContext().sslPeerCertificate;
            if (method.path.startsWith(HEALTH_PREFIX) || admitted(metadata, certificate)) return pass(metadata);
            refused({ method: method.path, peer: call.getPeer(), certificate: certificate?.subject ? certificateNames(certificate) : undefined, token: metadata.get('authorization').length > 0 });
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'xDS needs a client identity: a client certificate or authorization: Bearer <token> metadata' });
          },
        }),
    });
}

/** A certificate's CN and its DNS and URI subject alternative names (a SPIFFE id is a URI SAN). */
function certificateNames(certificate: PeerCertificate): string[] {
  const out = certificate.subject?.CN ? [String(certificate.subject.CN)] : [];
  for (const san of (certificate.subjectaltname ?? '').split(', ')) {
    const m = /^(DNS|URI):(.+)$/.exec(san);
    if (m) out.push(m[2]!);
  }
  return [...new Set(out)];
}
