// Witness processes for tests: `witness init`, `witness logs add` and
// `witness serve` as PROTOCOL.md gives them, restartable on the same port,
// and the log's side configured with `ledger witnesses add|policy`.

import { toHex, utf8 } from '../../src/core/bytes.js';
import { sha256 } from '../../src/core/crypto.js';
import { BIN, cliOk, startServe, type Server } from './procs.js';

/** The monitoring path of tlog-witness: /<lowercase hex SHA-256 of the origin>/checkpoint. */
export function witnessCheckpointPath(origin: string): string {
  return `/${toHex(sha256(utf8(origin)))}/checkpoint`;
}

export class TestWitness {
  server: Server | undefined;
  /** 0 until first started; then kept, so a restarted witness is where the log expects it. */
  port = 0;

  private constructor(
    readonly dir: string,
    /** The key name, which is also the name the log configures it under. */
    readonly name: string,
    /** cosignature/v1 vkey. */
    readonly vkey: string,
  ) {}

  /** `witness init` in dir, then `witness logs add` for each log it is to follow. */
  static create(dir: string, name: string, logs: { origin: string; vkey: string }[]): TestWitness {
    const vkey = cliOk(BIN.witness, ['init', '--data', dir, '--name', name]).trim();
    for (const l of logs) cliOk(BIN.witness, ['logs', 'add', '--data', dir, '--origin', l.origin, '--vkey', l.vkey]);
    return new TestWitness(dir, name, vkey);
  }

  get url(): string {
    if (this.port === 0) throw new Error(`witness ${this.name} was never started`);
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    const p = this.server?.proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Starts (or restarts, on the same port) `witness serve`. */
  async start(): Promise<Server> {
    this.server = await startServe(BIN.witness, this.dir, this.port);
    this.port = this.server.port;
    return this.server;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.server?.kill(signal);
  }

  /** The latest checkpoint the witness cosigned for origin (its monitoring endpoint), or undefined (404). */
  async checkpoint(origin: string): Promise<string | undefined> {
    const res = await fetch(`${this.url}${witnessCheckpointPath(origin)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) throw new Error(`witness ${this.name}: GET checkpoint answered ${res.status}`);
    return res.text();
  }
}

/**
 * Configures a log's witnesses with the CLI (`ledger witnesses add` for each,
 * then `ledger witnesses policy --quorum K`) and returns the policy it wrote,
 * which is also the policy an auditor of this log uses.
 */
export function configureLogWitnesses(logDir: string, witnesses: readonly TestWitness[], quorum: number): string {
  for (const w of witnesses) cliOk(BIN.ledger, ['witnesses', 'add', '--data', logDir, '--name', w.name, '--url', w.url, '--vkey', w.vkey]);
  cliOk(BIN.ledger, ['witnesses', 'policy', '--data', logDir, '--quorum', String(quorum)]);
  return cliOk(BIN.ledger, ['witnesses', 'policy', '--data', logDir]);
}
