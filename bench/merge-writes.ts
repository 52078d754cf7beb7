// What the lookup-key merges write as a log grows: a real LedgerStore in a
// temporary directory, N entries (random hashes, 100-byte leaves) appended in
// transactions of 4,096, every complete chunk merged after each as the server
// merges it. Bytes written are /proc/self/io's wchar (the WAL and the WAL
// checkpoint's copies into the database file alike), so Linux only.
//
//   node dist/bench/merge-writes.js N [MIN_CHUNK]     (MIN_CHUNK: keyMergeEntries, default 65,536)
//
// Prints one JSON line: merges, bytes written per entry by appends and by
// merges (over the whole run and over its second half), merge seconds.

import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_CHUNK } from '../storage/sqlite/recent-keys.js';
import { LedgerStore } from '../storage/sqlite/store.js';

const written = (): number => Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  const min = Number(process.argv[3] ?? KEY_CHUNK);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(min) || min < 1) {
    console.error('usage: node dist/bench/merge-writes.js N [MIN_CHUNK]');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ledger-merges-'));
  const store = new LedgerStore(join(dir, 'ledger.db'), { keyChunk: min });
  const go = () => Promise.resolve(true);
  let appendBytes = 0;
  let mergeBytes = 0;
  let lateBytes = 0;
  let lateFrom = -1;
  let merges = 0;
  let mergeMs = 0;
  const t0 = performance.now();
  try {
    for (let done = 0; done < n; ) {
      const batch = Array.from({ length: Math.min(4096, n - done) }, () => ({
        leaf: randomFillSync(new Uint8Array(100)),
        digest: randomFillSync(new Uint8Array(32)),
        leafHash: randomFillSync(new Uint8Array(32)),
      }));
      let w = written();
      store.write(() => store.appendInTx(batch));
      appendBytes += written() - w;
      done += batch.length;
      w = written();
      const t = performance.now();
      while (await store.mergeRecentKeys(go)) merges++;
      mergeMs += performance.now() - t;
      mergeBytes += written() - w;
      if (lateFrom >= 0) lateBytes += written() - w;
      else if (done >= n / 2) lateFrom = store.keysMerged();
    }
    const merged = store.keysMerged();
    console.log(
      JSON.stringify({
        entries: n,
        minChunk: min,
        merges,
        keysMerged: merged,
        appendBytesPerEntry: Math.round(appendBytes / n),
        mergeBytesPerEntry: Math.round(mergeBytes / Math.max(1, merged)),
        secondHalfMergeBytesPerEntry: lateFrom >= 0 && merged > lateFrom ? Math.round(lateBytes / (merged - lateFrom)) : null,
        mergeSeconds: +(mergeMs / 1000).toFixed(1),
        seconds: +((performance.now() - t0) / 1000).toFixed(1),
      }),
    );
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
