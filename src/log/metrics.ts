// A small Prometheus text-format registry: counters (with labels), gauges read
// at scrape time, and fixed-bucket histograms.

type Labels = Record<string, string>;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmtLabels = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(name: string): string[];
}

export class Counter {
  private values = new Map<string, { labels: Labels; value: number }>();
  inc(labels: Labels = {}, by = 1): void {
    const k = fmtLabels(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(fmtLabels(labels))?.value ?? 0;
  }
  render(name: string): string[] {
    return [...this.values.values()].map((v) => `${name}${fmtLabels(v.labels)} ${v.value}`);
  }
}

export class Histogram {
  private counts: number[];
  private sum = 0;
  private count = 0;
  constructor(private readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
  render(name: string): string[] {
    const out = this.buckets.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`);
    out.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return out;
  }
}

export class Metrics {
  private families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    const c = new Counter();
    this.families.set(name, { help, type: 'counter', render: (n) => c.render(n) });
    return c;
  }

  gauge(name: string, help: string, read: () => number | Array<{ labels: Labels; value: number }>): void {
    this.families.set(name, {
      help,
      type: 'gauge',
      render: (n) => {
        const v = read();
        return typeof v === 'number' ? [`${n} ${v}`] : v.map((x) => `${n}${fmtLabels(x.labels)} ${x.value}`);
      },
    });
  }

  histogram(name: string, help: string, buckets: number[]): Histogram {
    const h = new Histogram(buckets);
    this.families.set(name, { help, type: 'histogram', render: (n) => h.render(n) });
    return h;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.render(name));
    }
    return lines.join('\n') + '\n';
  }
}
