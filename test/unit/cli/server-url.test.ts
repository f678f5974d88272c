// Regression: `--server 127.0.0.1:15014` (no scheme) failed with ERR_INVALID_URL, and pointing the
// CLI at the wrong port or scheme said only "cannot reach".
import { describe, expect, it } from 'vitest';
import { adminServerUrl, connectionHint } from '../../../control-plane/cli/server-url.js';

describe('--server', () => {
  it('takes HOST:PORT (http:// assumed) or an http(s) URL', () => {
    expect(adminServerUrl('127.0.0.1:15014')).toBe('http://127.0.0.1:15014');
    expect(adminServerUrl('localhost:15014')).toBe('http://localhost:15014'); // not scheme "localhost:"
    expect(adminServerUrl('[::1]:15014')).toBe('http://[::1]:15014');
    expect(adminServerUrl('http://cp.example:15014/')).toBe('http://cp.example:15014');
    expect(adminServerUrl('https://cp.example')).toBe('https://cp.example');
    // Behind a reverse proxy at a path: the prefix is kept.
    expect(adminServerUrl('https://gw.example/weft/')).toBe('https://gw.example/weft');
  });

  it('refuses what it cannot use, naming the flag and the form it wants', () => {
    expect(() => adminServerUrl('grpc://127.0.0.1:15010')).toThrow(/--server "grpc:\/\/127\.0\.0\.1:15010" has scheme grpc; the admin API is http:\/\/HOST:PORT/);
    expect(() => adminServerUrl('http://cp:15014/v1', 'WEFT_SERVER')).toThrow(/WEFT_SERVER "http:\/\/cp:15014\/v1" has the API path \/v1; give only the address/);
    expect(() => adminServerUrl('http://cp:15014/?x=1')).toThrow(/has a query/);
    expect(() => adminServerUrl('127.0.0.1:99999')).toThrow(/is not HOST:PORT or a URL; want the control plane's admin address, e\.g\. 127\.0\.0\.1:15014/);
  });

  it('hints at the admin port and scheme when a connection fails', () => {
    expect(connectionHint('http://127.0.0.1:15010', { code: 'UND_ERR_SOCKET', message: 'other side closed' })).toContain('port 15010 is xDS (proxies connect there), not the admin API');
    expect(connectionHint('http://127.0.0.1:4318', { code: 'ECONNREFUSED' })).toContain('OTLP trace receiver');
    expect(connectionHint('https://127.0.0.1:15014', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })).toContain('try --server http://127.0.0.1:15014');
    expect(connectionHint('http://127.0.0.1:8080', { code: 'HPE_INVALID_CONSTANT' })).toContain('does not answer as the admin API');
    expect(connectionHint('http://127.0.0.1:15015', { code: 'ECONNREFUSED' })).toContain("nothing listens on port 15015; the admin API's default port is 15014");
    expect(connectionHint('http://127.0.0.1:15014', { code: 'ECONNREFUSED' })).toBe('');
  });
});
