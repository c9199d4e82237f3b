/**
 * An etcd call's error as text for logs and answers. grpc-js ends a failed connection's message
 * with its resolver's note, empty for a fixed address (`... Last error: Failed to connect.
 * Resolution note: `), and that dangling label reached logs and 503 answers: it is dropped. A
 * note with something in it is kept.
 */
export function etcdMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(EMPTY_RESOLUTION_NOTE, '');
}

const EMPTY_RESOLUTION_NOTE = /\s*Resolution note:\s*$/;
