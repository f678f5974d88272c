/** Configuration: parse and validate user YAML into the model. The public surface. */
export { parseDocuments, parseDocumentStream, PARSE_LIMITS, type ParseLimits, type DocumentBudget, type RawDocument } from './parse.js';
export { validateApply, validateFiles, checkApply, checkApplySteps, MAX_LISTED_ERRORS, validateDocument, validateStoredResource, checkDelete, referenceErrors, type ValidatedDocument, type Where } from './validate.js';
export { parseDuration } from './schema.js';
export * from './types.js';
export { buildModel, KINDS, DEFAULT_MESH_CONFIG, resourceKey } from './model.js';
