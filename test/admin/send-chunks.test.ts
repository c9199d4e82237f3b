import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { sendChunks } from '../../src/admin/http';
import { until } from '../support/app';

/** A server answering with `sendChunks` over `chunks`, on a port the OS picks. */
async function serve(chunks: () => Iterable<string>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => void sendChunks(res, chunks()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('each chunk is taken in a turn of its own, however fast the client reads (a pipeline wrote them all in one)', async () => {
  let turn = 0;
  let ticking = true;
  const tick = () => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const takenIn: number[] = [];
  const chunk = 'x'.repeat(64 * 1024);
  const server = await serve(function* () {
    for (let i = 0; i < 40; i++) {
      takenIn.push(turn);
      yield chunk;
    }
  });
  try {
    const text = await (await fetch(server.url)).text();
    expect(text.length).toBe(40 * chunk.length);
    expect(new Set(takenIn).size).toBe(40);
  } finally {
    ticking = false;
    await server.close();
  }
});

test('a client that goes away ends the answer: no chunk is taken after it', async () => {
  let taken = 0;
  let gone!: () => void;
  const clientGone = new Promise<void>((resolve) => (gone = resolve));
  const server = await serve(function* () {
    for (let i = 0; i < 100_000; i++) {
      taken++;
      yield 'y'.repeat(64 * 1024);
    }
  });
  try {
    const request = http.get(server.url, (res) => {
      res.once('data', () => {
        request.destroy();
        gone();
      });
    });
    request.on('error', () => undefined);
    await clientGone;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = taken;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(taken).toBe(after);
    expect(taken).toBeLessThan(100_000);
  } finally {
    await server.close();
  }
});

test('a pipelined request whose connection closes before its turn: its answer ends too', async () => {
  const finished: boolean[] = [];
  const server = await serve(function* () {
    const at = finished.push(false) - 1;
    try {
      for (let i = 0; i < 2000; i++) yield 'p'.repeat(64 * 1024);
    } finally {
      finished[at] = true;
    }
  });
  try {
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    socket.destroy();
    await until(() => finished.length === 2 && finished.every(Boolean), 'both answers to end', 3000);
  } finally {
    await server.close();
  }
});

test('a HEAD request gets the headers alone: no chunk is taken', async () => {
  let taken = 0;
  const server = await serve(function* () {
    for (let i = 0; i < 10; i++) {
      taken++;
      yield 'h'.repeat(1024);
    }
  });
  try {
    const response = await fetch(server.url, { method: 'HEAD' });
    expect([response.status, response.headers.get('content-type'), await response.text()]).toEqual([200, 'application/json', '']);
    expect(taken).toBe(0);
  } finally {
    await server.close();
  }
});
