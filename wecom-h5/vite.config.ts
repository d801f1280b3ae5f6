import { defineConfig } from 'vite';

// Dev-only: the API (Fastify) listens on 127.0.0.1:3000. The H5 talks to it
// same-origin, so in dev the Vite server proxies these prefixes to it.
const API_TARGET = 'http://127.0.0.1:3000';

const proxy = Object.fromEntries(
  ['/health', '/api', '/wecom'].map((prefix) => [prefix, { target: API_TARGET, changeOrigin: false }]),
);

export default defineConfig({
  // In production the API serves the built files under /h5/.
  base: '/h5/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
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
