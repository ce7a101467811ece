import type { IncomingMessage } from 'node:http';
import { MlopsError } from '../errors.js';

/**
 * Reads a request body up to `limit` bytes. A declared or actual size over the limit is refused with
 * PAYLOAD_TOO_LARGE (413) as soon as it is known, without buffering the rest.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new MlopsError('PAYLOAD_TOO_LARGE', `body of ${declared} bytes is over the ${limit} byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limit) {
      req.resume();
      throw new MlopsError('PAYLOAD_TOO_LARGE', `body is over the ${limit} byte limit`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
