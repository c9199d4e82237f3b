import { etcdMessage } from '../../src/store/etcd-message';

describe('etcdMessage', () => {
  test('drops the empty resolution note grpc-js ends a failed connection with', () => {
    const grpc = new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: ');
    expect(etcdMessage(grpc)).toBe('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379.');
  });

  test('keeps a resolution note that says something, and any other message as it is', () => {
    const noted = '14 UNAVAILABLE: No connection established. Last error: Failed to connect. Resolution note: DNS resolution failed for etcd-0';
    expect(etcdMessage(new Error(noted))).toBe(noted);
    expect(etcdMessage(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe('4 DEADLINE_EXCEEDED: Deadline exceeded');
    expect(etcdMessage('not an Error')).toBe('not an Error');
  });
});
