// config.json: defaults, and the refusal of unknown settings and of values the server cannot use.

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

  it.each([
    [{ checkpointIntervalMS: 500 }, /unknown setting "checkpointIntervalMS"/],
    [{ witness: [] }, /unknown setting "witness"/],
    [{ checkpointIntervalMs: 0 }, /checkpointIntervalMs must be a whole number of at least 1/],
    [{ checkpointIntervalMs: '500' }, /checkpointIntervalMs must be a whole number of at least 1/],
    [{ checkpointIntervalMs: 2.5 }, /checkpointIntervalMs must be a whole number of at least 1/],
    [{ maxBatch: -1 }, /maxBatch must be a whole number of at least 1/],
    [{ busyTimeoutMs: null }, /busyTimeoutMs must be a whole number of at least 0/],
    [{ maxDatabaseBytes: 0 }, /maxDatabaseBytes must be a whole number of at least 1/],
    [{ producerRatePerSecond: -0.5 }, /producerRatePerSecond must be a number of at least 0/],
    [{ listen: 8080 }, /listen must be a string/],
    [{ witnesses: {} }, /witnesses must be a list/],
  ])('refuses %j, naming the setting', (cfg, message) => {
    const dir = withConfig(cfg);
    expect(() => loadConfig(dir)).toThrow(ConfigError);
    expect(() => loadConfig(dir)).toThrow(message);
  });

  it('takes every known setting, and a fractional producer rate', () => {
    const cfg = loadConfig(withConfig({ checkpointIntervalMs: 250, producerRatePerSecond: 0.5, producerBurst: 2, maxDatabaseBytes: 1 << 30, readTokenEnv: 'T', adminTokenEnv: 'A' }));
    expect(cfg.checkpointIntervalMs).toBe(250);
    expect(cfg.producerRatePerSecond).toBe(0.5);
    expect(cfg.maxDatabaseBytes).toBe(1 << 30);
  });

  it('refuses a config.json that is not an object', () => {
    const d = mkdtempSync(join(tmpdir(), 'ledger-config-'));
    dirs.push(d);
    writeFileSync(join(d, 'config.json'), '[]');
    expect(() => loadConfig(d)).toThrow(/must be a JSON object/);
  });
});
