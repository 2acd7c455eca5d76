import { DrError } from '../../domain/errors.ts';
import type { DmsEndpoints, HealthFacts } from '../../ports/dms.ts';

// A health or metrics answer larger than this is not what the DMS sends; refuse rather than buffer it.
const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** The DMS's health and Prometheus endpoints over HTTP. */
export class HttpDmsEndpoints implements DmsEndpoints {
  constructor(private readonly healthUrl: string, private readonly metricsUrl: string) {}

  async health(signal: AbortSignal): Promise<HealthFacts> {
    const response = await fetchText(this.healthUrl, signal);
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      return { httpStatus: response.status, status: 'unparseable answer (not JSON)', components: {} };
    }
    const record = (body ?? {}) as { status?: unknown; components?: unknown };
    const components: HealthFacts['components'] = {};
    if (record.components && typeof record.components === 'object') {
      for (const [name, value] of Object.entries(record.components as Record<string, unknown>)) {
        const c = (value ?? {}) as { status?: unknown; error?: unknown; detail?: unknown; message?: unknown };
        const detail = [c.error, c.detail, c.message].find((v) => typeof v === 'string') as string | undefined;
        components[name] = { status: typeof c.status === 'string' ? c.status : 'unknown', ...(detail ? { detail } : {}) };
      }
    }
    return { httpStatus: response.status, status: typeof record.status === 'string' ? record.status : 'unknown', components };
  }

  async metrics(signal: AbortSignal): Promise<{ httpStatus: number; samples: number }> {
    const response = await fetchText(this.metricsUrl, signal);
    const samples = response.text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#')).length;
    return { httpStatus: response.status, samples };
  }

  async scrape(signal: AbortSignal): Promise<string> {
    const response = await fetchText(this.metricsUrl, signal);
    // An error page is not an exposition: parsing it would read as "no traffic".
    if (response.status < 200 || response.status >= 300) throw new DrError('PROBE_FAILED', `${this.metricsUrl} answered HTTP ${response.status}`);
    return response.text;
  }
}

async function fetchText(url: string, signal: AbortSignal): Promise<{ status: number; text: string }> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow', headers: { 'user-agent': 'dr-bot' } });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${url} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_BODY_BYTES) throw new Error(`${url} answered ${length} bytes, more than the ${MAX_BODY_BYTES} allowed`);
  // Chunked answers carry no length: count while reading and stop at the cap.
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body ?? []) {
    received += chunk.length;
    if (received > MAX_BODY_BYTES) {
      await response.body?.cancel();
      throw new Error(`${url} answered more than the ${MAX_BODY_BYTES} bytes allowed`);
    }
    chunks.push(chunk);
  }
  return { status: response.status, text: Buffer.concat(chunks).toString('utf8') };
}
