import { defineConfig } from 'vite';

// Dev-only: the API (Fastify) listens on 127.0.0.1:3000. The H5 talks to it
// same-origin, so in dev the Vite server proxies these prefixes to it.
const API_TARGET = 'http://127.0.0.1:3000';

const proxy = Object.fromEntries(
  ['/health', '/api', '/wecom', '/h5/api'].map((prefix) => [prefix, { target: API_TARGET, changeOrigin: false }]),
);

export default defineConfig({
  // In production the API serves the built files under /h5/.
  base: '/h5/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    // Two pages: the in-WeCom shell (index.html) and the candidate's offer acceptance page
    // (offer.html, no WeCom login; its token travels in the URL fragment). Paths are relative to
    // this folder, where `npm run build` runs.
    rolldownOptions: {
      input: {
        main: 'index.html',
        offer: 'offer.html',
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy,
  },
  preview: {
    host: '127.0.0.1',
    port: 4173,
    proxy,
  },
});
