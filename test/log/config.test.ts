// config.json: defaults, and the refusal of a keyMergeEntries the store cannot use.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/log/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function withConfig(cfg: object): string {
  const d = mkdtempSync(join(tmpdir(), 'ledger-config-'));
  dirs.push(d);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ origin: 'example.com/log', ...cfg }));
  return d;
}

describe('loadConfig', () => {
  it('fills in the defaults, keyMergeEntries 65,536 among them', () => {
    const cfg = loadConfig(withConfig({}));
    expect(cfg.keyMergeEntries).toBe(65_536);
    expect(cfg.checkpointIntervalMs).toBe(DEFAULTS.checkpointIntervalMs);
    expect(loadConfig(withConfig({ keyMergeEntries: 64 })).keyMergeEntries).toBe(64);
  });

  it.each([0, -1, 1.5, 2 ** 21 + 1, '64', null])('refuses keyMergeEntries %j', (v) => {
    const dir = withConfig({ keyMergeEntries: v });
    expect(() => loadConfig(dir)).toThrow(ConfigError);
    expect(() => loadConfig(dir)).toThrow(/keyMergeEntries must be an integer from 1 to 2097152/);
  });
});
