/** The RBAC translation moved to filters/rbac.ts; this name stays for test/unit/sidecar/rbac.test.ts. */
export { rbacFilters, policiesFor } from './filters/rbac.js';
