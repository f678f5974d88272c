/**
 * The result of decoding one xDS resource: its name, the validated message, and every error with
 * its field path. A response with any error is NACKed whole; the last good config stays.
 */
import type { FieldError } from '../../../common/errors.js';

export interface Decoded<T> {
  name: string;
  value?: T;
  errors: FieldError[];
}

export class Problems {
  readonly errors: FieldError[] = [];
  constructor(readonly resource: string) {}
  add(path: string, message: string): void {
    this.errors.push({ resource: this.resource, path, message });
  }
}

/** A JS-compilable regex; Envoy's RE2 syntax is a subset for what Weft generates. */
export function checkRegex(p: Problems, path: string, regex: string): void {
  try {
    new RegExp(regex);
  } catch (e) {
    p.add(path, `invalid regex: ${(e as Error).message}`);
  }
}
