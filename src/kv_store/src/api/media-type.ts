import { HttpError } from './errors.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/** Throws 415 unless the request says its body is JSON (a charset parameter is fine). */
export function requireJson(type: string | undefined): void {
  if (type === undefined || !JSON_MEDIA_TYPE.test(type)) {
    throw new HttpError(
      'unsupported_media_type',
      type === undefined
        ? 'Content-Type must be application/json; the request has none'
        : `Content-Type must be application/json, got '${type}'`,
    );
  }
}
