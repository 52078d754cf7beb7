// A small HTTP/1.1 keep-alive client for load generation: pre-serialised request
// bytes go straight to a socket and only the status line, the framing headers and
// the body are parsed, so the load generator costs the shared CPU as little as it can
// (node:http and fetch cost several times more per request than the server under test).

import { connect, type Socket } from 'node:net';

export interface Response {
  status: number;
  body: Buffer;
}

interface InFlight {
  resolve: (r: Response) => void;
  reject: (e: Error) => void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection; requests are sent one at a time (no pipelining).
 * A connection the server closed while idle (its keep-alive timeout) is opened
 * again on the next request.
 */
export class Connection {
  private socket!: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private current: InFlight | null = null;
  private open = false;
  ready!: Promise<void>;
  /** Connections opened again after the server closed them (idle keep-alive timeout). */
  reconnects = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.connect();
  }

  private connect(): void {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.ready = new Promise((resolve, reject) => {
      socket.once('connect', () => {
        this.open = true;
        resolve();
      });
      socket.once('error', reject);
    });
    this.ready.catch(() => {});
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    const fail = (e: Error) => {
      this.open = false;
      const c = this.current;
      this.current = null;
      c?.reject(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  /** Sends one complete request (head and body) and resolves with the response. */
  async send(request: Buffer | string): Promise<Response> {
    if (this.current) throw new Error('connection busy');
    if (!this.open) {
      this.reconnects++;
      this.connect();
      await this.ready;
    }
    return new Promise((resolve, reject) => {
      this.current = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      if (!this.current) return;
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let body: Buffer;
      let used: number;
      if (cl) {
        const n = Number(cl[1]);
        if (this.buf.length < end + 4 + n) return;
        body = this.buf.subarray(end + 4, end + 4 + n);
        used = end + 4 + n;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const r = dechunk(this.buf, end + 4);
        if (!r) return;
        body = r.body;
        used = r.used;
      } else {
        this.current.reject(new Error(`response without a length: ${head.split('\r\n')[0]}`));
        this.current = null;
        return;
      }
      this.buf = this.buf.subarray(used);
      const c = this.current;
      this.current = null;
      c.resolve({ status, body });
    }
  }
}

function dechunk(buf: Buffer, start: number): { body: Buffer; used: number } | null {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) return null;
    const size = parseInt(buf.toString('latin1', pos, eol), 16);
    if (buf.length < eol + 2 + size + 2) return null;
    if (size === 0) return { body: Buffer.concat(parts), used: eol + 4 };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

export async function openConnections(host: string, port: number, n: number): Promise<Connection[]> {
  const conns = Array.from({ length: n }, () => new Connection(host, port));
  await Promise.all(conns.map((c) => c.ready));
  return conns;
}

export function getRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
}

export function postHead(path: string, length: number): string {
  return `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
}
