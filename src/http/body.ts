import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Reads a body up to `limit` bytes. A longer one (announced by Content-Length, or streamed past the limit) is
 * 'too large' and is never buffered beyond the limit: answer it with `refuse`, which closes the connection.
 */
export async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  if (Number(req.headers['content-length']) > limit) return 'too large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return 'too large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Refuses a request whose body was not (fully) read: the answer goes out at once with `Connection: close`, so
 * Node drops the socket after it instead of reading the rest of a body nobody will look at.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  if (!req.complete) {
    res.setHeader('connection', 'close');
    // Whatever is already in flight is discarded, never buffered.
    req.resume();
  }
  sendJson(res, status, body);
}

/** Constant-time comparison of two strings (digested first, so neither length nor content leaks through timing). */
export function sameSecret(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The value of a header sent once; undefined when absent or repeated (a repeated signature header is not trusted). */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}
