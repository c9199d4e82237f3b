import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ExtProcClientsConfig, TlsConfig, XdsClientsConfig } from '../config/config';
import type { ConnectionAdmission } from '../extproc/call-layer';
import type { Logger } from '../log/logger';
import { CertificateFiles } from '../tls/certificate-files';
import { bearerToken, TokenDigests } from '../model/bearer';
import { CertificateNameList, certificateNames } from '../tls/client-names';

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
  const names = new CertificateNameList(clients.certificateNames);
  const admitted = (metadata: grpc.Metadata, certificate: PeerCertificate | undefined): boolean => {
    if (mutual && certificate?.subject && names.admits(certificate)) return true;
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

/** A connection the ext_proc client check turned away: who, with which certificate names. */
export interface ExtProcRefusal {
  readonly peer: string;
  readonly certificate: string[] | undefined;
}

/**
 * The ext_proc client check, with mutual TLS and `extProc.clients.certificateNames`: a
 * connection whose certificate has a listed CN or DNS / URI SAN is served; every stream of any
 * other ends with PERMISSION_DENIED before it is read. Asked once per connection (call-layer.ts
 * keeps the answer), so `refused` hears of each refused connection once, not of each stream.
 * Undefined without names: the handshake already required a certificate the CA signed.
 */
export function extProcClientCheck(clients: ExtProcClientsConfig, tls: TlsConfig | undefined, refused: (refusal: ExtProcRefusal) => void): ConnectionAdmission['check'] | undefined {
  const names = new CertificateNameList(clients.certificateNames);
  if (!tls?.clientCaFile || names.any) return undefined;
  return (call) => {
    const certificate = call.getAuthContext().sslPeerCertificate;
    if (certificate?.subject && names.admits(certificate)) return undefined;
    const presented = certificate?.subject ? certificateNames(certificate) : undefined;
    refused({ peer: call.getPeer(), certificate: presented });
    return { code: grpc.status.PERMISSION_DENIED, details: `ext_proc: the client certificate (${presented?.join(', ') ?? 'none'}) has none of the names in extProc.clients.certificateNames` };
  };
}
