// A fresh log for the security tests: `ledger init`, producers registered with
// the CLI, config fields overridden, and small HTTP helpers.

import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import type { LedgerConfig } from '../../src/log/config.js';
import { BIN, cliOk, tmp } from '../helpers/procs.js';
import { TestProducer } from '../helpers/producer.js';

export interface TestLog {
  dir: string;
  vkey: string;
  origin: string;
  producers: TestProducer[];
}

/** Creates a log in `parent` (a new temporary directory by default) with `n` registered producers. */
export function makeLog(config: Partial<LedgerConfig> = {}, n = 1, parent = tmp()): TestLog {
  const dir = join(parent, 'data');
  const origin = 'security.test/log';
  const vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', origin]).trim();
  const producers: TestProducer[] = [];
  for (let i = 0; i < n; i++) {
    const p = new TestProducer();
    const pub = join(parent, `p${i}.pub`);
    writeFileSync(pub, formatPublicKeyPem(p.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', `p${i}`, '--key', pub]);
    producers.push(p);
  }
  setConfig(dir, config);
  return { dir, vkey, origin, producers };
}

export function setConfig(dir: string, config: Partial<LedgerConfig>): void {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...config }, null, 2));
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

export interface RawAnswer {
  /** 0 when the connection closed without an answer. */
  status: number;
  head: string;
  body: string;
  /** ms from the first byte written to the connection's close. */
  ms: number;
  /** How many of the chunks were written before the connection closed, and before the first byte of the answer came. */
  written: number;
  writtenBeforeAnswer: number;
}

/**
 * Writes `chunks` to a new connection (`pauseMs` between them; the connection
 * stays open for writing unless `end`) and collects what comes back until the
 * server closes it or `timeoutMs` passes.
 */
export function raw(port: number, chunks: (string | Uint8Array)[], opts: { pauseMs?: number; end?: boolean; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const got: Buffer[] = [];
    const s = connect(port, '127.0.0.1');
    let done = false;
    let written = 0;
    let writtenBeforeAnswer = -1;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = Buffer.concat(got).toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      const head = i < 0 ? text : text.slice(0, i);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      let body = i < 0 ? '' : text.slice(i + 4);
      if (/\r\ntransfer-encoding: chunked/i.test(head)) body = dechunk(body);
      resolve({ status: m ? Number(m[1]) : 0, head, body: Buffer.from(body, 'latin1').toString('utf8'), ms: Date.now() - t0, written, writtenBeforeAnswer });
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 10_000);
    s.on('data', (d) => {
      if (writtenBeforeAnswer < 0) writtenBeforeAnswer = written;
      got.push(d);
      if (answerComplete(Buffer.concat(got).toString('latin1'))) finish(); // a kept-alive connection stays open
    });
    s.on('close', finish);
    s.on('error', finish);
    s.on('connect', async () => {
      for (let k = 0; k < chunks.length; k++) {
        if (done) return;
        if (k > 0 && opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
        s.write(typeof chunks[k] === 'string' ? Buffer.from(chunks[k] as string, 'latin1') : (chunks[k] as Uint8Array));
        written++;
      }
      if (opts.end) s.end();
    });
  });
}

/** Whether `text` holds a whole response (by Content-Length, or the last chunk). */
function answerComplete(text: string): boolean {
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return false;
  const head = text.slice(0, i);
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (cl) return text.length - (i + 4) >= Number(cl[1]);
  return /\r\ntransfer-encoding: chunked/i.test(head) && text.endsWith('\r\n0\r\n\r\n');
}

function dechunk(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    const j = s.indexOf('\r\n', i);
    if (j < 0) break;
    const n = parseInt(s.slice(i, j), 16);
    if (!(n > 0)) break;
    out += s.slice(j + 2, j + 2 + n);
    i = j + 2 + n + 2;
  }
  return out;
}
