// Credentials for the API-gateway benchmark (bench/weft-api.sh), made with jose:
//   node bench/api-credentials.mjs DIR
// writes DIR/jwks.json (the public half of a new ES256 key, kid "bench", as a JWKS for the
// JwtPolicy's inline key set) and DIR/token.jwt (a token it signs: iss https://issuer.bench,
// aud bench-api, sub bench-user, valid for a day).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/api-credentials.mjs DIR');
const { publicKey, privateKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
const token = await new SignJWT({ scope: 'orders:read' })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
  .setIssuer('https://issuer.bench')
  .setAudience('bench-api')
  .setSubject('bench-user')
  .setIssuedAt()
  .setExpirationTime('1d')
  .sign(privateKey);
writeFileSync(join(dir, 'token.jwt'), token);
