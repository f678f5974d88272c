/** Configuration: parse and validate user YAML into the model. The public surface. */
export { parseDocuments, type RawDocument } from './parse.js';
export { validateApply, validateDocument, validateStoredResource, checkDelete, referenceErrors } from './validate.js';
export { parseDuration } from './schema.js';
export * from './types.js';
