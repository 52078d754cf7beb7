// Runs the ledger: opens the data directory, starts integration, listens.

import type { ServerType } from '@hono/node-server';
import { Ledger } from '../log/ledger.js';
import { attachWitnessing } from '../witnessing/witnessing.js';
import { createApp } from './app.js';
import { parseListen } from './http.js';
import { listen as listenWithLimits } from './limits.js';

export interface Running {
  ledger: Ledger;
  server: ServerType;
  port: number;
  close(): Promise<void>;
}

export async function startServer(dir: string, listen?: string): Promise<Running> {
  const ledger = new Ledger(dir);
  const { hostname, port } = parseListen(listen ?? ledger.config.listen);
  // Before start(): no checkpoint may be published without the witness round.
  const witnessing = attachWitnessing(ledger);
  let server: ServerType;
  try {
    server = await listenWithLimits(createApp(ledger).fetch, { hostname, port }, ledger.config);
  } catch (e) {
    ledger.close(); // a refused start (read token missing, address in use) leaves nothing running
    throw e;
  }
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  ledger.start();
  witnessing?.start();
  // The AWS SDK is loaded only when anchoring is configured (it costs tens of MB of memory).
  const anchorer = ledger.config.s3 ? await (await import('../anchoring/anchorer.js')).attachAnchoring(ledger) : undefined;
  return {
    ledger,
    server,
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        anchorer?.stop();
        witnessing?.stop();
        server.close(() => resolve());
        ledger.close();
      }),
  };
}
