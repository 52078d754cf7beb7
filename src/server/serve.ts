// Runs the ledger: opens the data directory, starts integration, listens.

import { serve, type ServerType } from '@hono/node-server';
import { attachAnchoring } from '../anchoring/anchorer.js';
import { Ledger } from '../log/ledger.js';
import { createApp } from './app.js';

export function parseListen(s: string): { hostname: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new Error(`--listen must be HOST:PORT, got ${s}`);
  return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export interface Running {
  ledger: Ledger;
  server: ServerType;
  port: number;
  close(): Promise<void>;
}

export async function startServer(dir: string, listen?: string): Promise<Running> {
  const ledger = new Ledger(dir);
  const { hostname, port } = parseListen(listen ?? ledger.config.listen);
  const app = createApp(ledger);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname, port }, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  ledger.start();
  const anchorer = await attachAnchoring(ledger);
  return {
    ledger,
    server,
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        anchorer?.stop();
        server.close(() => resolve());
        ledger.close();
      }),
  };
}
