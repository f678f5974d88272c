/** The dashboard's entry point (bundled into dist/dashboard/app.js by scripts/build-dashboard.mjs). */
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
