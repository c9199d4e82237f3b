import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The console (served by metaroute's admin server at /ui/): Preact, JSX compiled by Vite's
// own transformer, everything bundled into dist/console (nothing fetched at run time).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The admin server's Content-Security-Policy allows no inline script.
    modulePreload: { polyfill: false },
  },
});
