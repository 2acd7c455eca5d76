import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** One sample line of a Prometheus exposition: `name{labels} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** What a scrape of the DMS's metrics endpoint holds. */
export interface Exposition {
  samples: MetricSample[];
  /** Family names the exposition declares (`# TYPE` / `# HELP`) or has samples of: a family with no series yet is still known. */
  names: Set<string>;
}

/**
 * Parses the Prometheus text exposition format. Sample lines (label escapes, timestamps, special values)
 * are read by parse-prometheus-text-format; the `# TYPE` and `# HELP` lines are read here and not handed
 * to it, because the library folds every series of a histogram into one bucket map and so loses labelled
 * histograms (yunyu/parse-prometheus-text-format#8). Read untyped, `x_bucket{le=…}` stays one series each.
 */
export function parseExposition(text: string): Exposition {
  const names = new Set<string>();
  const sampleLines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const declared = /^#\s+(?:TYPE|HELP)\s+(\S+)/.exec(line);
      if (declared?.[1]) names.add(declared[1]);
      continue;
    }
    sampleLines.push(line);
  }
  // The library only emits a family when a later line starts another: the final newline closes the last one.
  const families = parsePrometheusTextFormat(`${sampleLines.join('\n')}\n`);
  const samples: MetricSample[] = [];
  for (const family of families) {
    names.add(family.name);
    for (const sample of family.metrics) {
      if (sample.value === undefined) continue;
      samples.push({ name: family.name, labels: sample.labels ?? {}, value: promNumber(sample.value) });
    }
  }
  return { samples, names };
}

/** A Prometheus sample value or `le` bound as a number: Go's float text plus `+Inf`, `-Inf` and `NaN`. */
export function promNumber(text: string): number {
  const trimmed = text.trim();
  if (/^\+?inf$/i.test(trimmed)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(trimmed)) return Number.NEGATIVE_INFINITY;
  return trimmed === '' ? Number.NaN : Number(trimmed);
}
