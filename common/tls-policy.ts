/**
 * The mesh's TLS floor, shared by the translator (what it asks for) and the sidecar (what it
 * accepts): TLS 1.3 by default; when MeshConfig explicitly allows TLS 1.2, only forward-secret
 * AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), never CBC or RSA key exchange.
 * Names are OpenSSL's, which are also BoringSSL's (Envoy's) for these suites.
 */
export const MESH_TLS12_CIPHERS: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
]);
