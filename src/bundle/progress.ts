// A progress bar on stderr for the long phases of export and verification.
// On a terminal it redraws one line; otherwise it writes a line at every tenth
// of a large job, so logs stay short; --quiet silences it.

export interface Progress {
  update(label: string, done: number, total: number): void;
  /** Ends the bar (on a terminal: clears its line). */
  done(): void;
}

/** Jobs smaller than this are not worth a progress line when stderr is not a terminal. */
const LARGE = 20_000;

export function progressBar(quiet: boolean, out: NodeJS.WriteStream = process.stderr): Progress {
  if (quiet) return { update: () => {}, done: () => {} };
  const tty = out.isTTY === true;
  let drawn = false;
  let lastTenth = -1;
  let lastLabel = '';
  let lastDraw = 0;
  return {
    update(label, done, total) {
      if (total <= 0) return;
      if (label !== lastLabel) {
        lastLabel = label;
        lastTenth = -1;
      }
      const frac = Math.min(1, done / total);
      if (tty) {
        const now = Date.now();
        if (done < total && now - lastDraw < 100) return;
        lastDraw = now;
        const width = 30;
        const fill = Math.round(frac * width);
        out.write(`\r${label.padEnd(16)} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${total}`);
        drawn = true;
      } else if (total >= LARGE) {
        const tenth = Math.floor(frac * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          out.write(`${label}: ${done}/${total} (${tenth * 10}%)\n`);
        }
      }
    },
    done() {
      if (tty && drawn) out.write('\r\x1b[K');
      drawn = false;
    },
  };
}
