// The package ships no types; this is the part of its output dr-bot reads (prom2json's shape, values as text).
declare module 'parse-prometheus-text-format' {
  /** One sample of a family: untyped and counter families carry `value` and `labels`. */
  interface ParsedSample {
    value?: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
  }

  /** One metric family, in the order the exposition lists them. */
  interface ParsedFamily {
    name: string;
    help: string;
    type: string;
    metrics: ParsedSample[];
  }

  /** Parses the Prometheus text exposition format; throws InvalidLineError on a malformed line. */
  function parsePrometheusTextFormat(text: string): ParsedFamily[];
  export = parsePrometheusTextFormat;
}
