/**
 * A real browser for tests that need one (CORS, what a page may read): headless Chromium through
 * playwright-core, which drives a browser already installed and downloads none. The Debian
 * package's binary by default (`make deps` installs it); WEFT_CHROMIUM overrides. A missing
 * browser fails the test rather than skipping it: a skipped CORS test proves nothing.
 *
 * `pageServer` serves one HTML page from its own loopback origin, so a test can make the page's
 * origin differ from the server it fetches.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium with a fresh profile (playwright's temporary one), nothing running in the background. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
}

export interface PageServer {
  readonly port: number;
  /** `http://<host>:<port>`, the Origin the page's requests carry. */
  readonly origin: string;
  /** The page's URL. */
  readonly url: string;
  close(): Promise<void>;
}

/** A loopback server answering every GET with `html`; its origin names `host` (127.0.0.1 or localhost). */
export async function pageServer(html: string, host: '127.0.0.1' | 'localhost' = '127.0.0.1'): Promise<PageServer> {
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  const origin = `http://${host}:${port}`;
  return {
    port,
    origin,
    url: `${origin}/`,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}
