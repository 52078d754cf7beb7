// The package's command-line entry points (package.json "bin") are executable
// scripts once built, so that `npx ledger`, `npx ledger-verify` and `npx witness`
// run them directly.

import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bins = Object.entries(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin as Record<string, string>);

describe('package bins', () => {
  it('names the three commands', () => {
    expect(bins.map(([name]) => name).sort()).toEqual(['ledger', 'ledger-verify', 'witness']);
  });

  it.each(bins)('%s is an executable node script that runs by itself', (name, file) => {
    const path = join(root, file);
    expect(statSync(path).mode & 0o111).toBe(0o111);
    expect(readFileSync(path, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    // Run as a program, not through node: the kernel reads the shebang.
    let out = '';
    try {
      out = execFileSync(path, [], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    }
    expect(out).toMatch(new RegExp(`usage:[\\s\\S]*${name}`));
  });
});
