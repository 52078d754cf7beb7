// Command-line plumbing shared by ledger, ledger-verify and witness:
// flag parsing with clear usage errors and the exit-code convention.

import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export class UsageError extends Error {}

export function flags<T extends Options>(argv: string[], options: T, allowPositionals = false): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Runs a parse step whose error is a usage error (exit 2). */
export function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function required(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** Runs a CLI main: exit 2 for usage and I/O errors, 1 for failures the command reports. */
export async function runMain(main: () => Promise<number | void>): Promise<void> {
  try {
    const code = await main();
    process.exitCode = code ?? 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`error: ${err.message}\n`);
    // 2: usage and I/O errors (a Node system error carries `syscall`); 1: the command's own failures.
    const io = typeof (e as { syscall?: unknown }).syscall === 'string';
    process.exitCode = e instanceof UsageError || io ? 2 : 1;
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const ch of process.stdin) chunks.push(ch as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The main of a program with subcommands: `--help` prints the usage (exit 0),
 * no command prints it with exit 2, an unknown command is a usage error.
 */
export function runCommands(usageText: string, commands: Record<string, (argv: string[]) => Promise<void | number>>, setup: () => void = () => {}): void {
  void runMain(async () => {
    setup();
    const [cmd, ...argv] = process.argv.slice(2);
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(usageText);
      return cmd === undefined ? 2 : 0;
    }
    const run = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
    if (!run) throw new UsageError(`unknown command ${cmd}\n${usageText}`);
    return run(argv);
  });
}
