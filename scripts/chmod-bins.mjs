// After a build: makes the package's command-line entry points (package.json
// "bin") executable. tsc writes them 0644, and `npx ledger` runs the file itself;
// npm sets the mode only when it links the bins, which a later rebuild can undo.
import { chmodSync, readFileSync } from 'node:fs';

const pkg = new URL('../package.json', import.meta.url);
const { bin } = JSON.parse(readFileSync(pkg, 'utf8'));
for (const file of Object.values(bin)) chmodSync(new URL(file, pkg), 0o755);
