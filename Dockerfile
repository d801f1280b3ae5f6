# syntax=docker/dockerfile:1
#
# HireLedger — one image for every Node process:
#   API (default):  node dist/src/main.js
#   worker:         node dist/src/worker.js
#   migrations:     node dist/scripts/migrate.js     (as the owner: MIGRATION_DATABASE_URL)
#   database roles: node dist/scripts/db-roles.js    (once, by a DBA; docs/operations.md)
#   legal export:   node dist/scripts/evidence-export.js --candidate … --out … --as …
#   WeCom sandbox:  node dist/sandbox/main.js
#
# Debian (glibc) on purpose, not Alpine: WeCom's chat-archive (会话内容存档)
# SDK ships glibc-only shared objects.

# Node 24 LTS (supported until April 2028); package.json engines says >=22.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# ---------------------------------------------------------------------------
# All backend dependencies (incl. dev: typescript is needed to build).
FROM base AS deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci

# ---------------------------------------------------------------------------
# Backend build: tsc -p tsconfig.build.json -> dist/{src,sandbox,scripts}
FROM deps AS build
COPY . .
RUN npm run build \
 && test -f dist/src/main.js \
 && test -f dist/src/worker.js \
 && test -f dist/scripts/migrate.js \
 && test -f dist/scripts/db-roles.js \
 && test -f dist/scripts/evidence-export.js \
 && test -f dist/sandbox/main.js

# ---------------------------------------------------------------------------
# WeCom H5 front end (own package.json / lock) -> wecom-h5/dist, base /h5/
FROM base AS h5
WORKDIR /app/wecom-h5
COPY wecom-h5/package.json wecom-h5/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci
COPY wecom-h5/ ./
RUN npm run build && test -f dist/index.html

# ---------------------------------------------------------------------------
# Production dependencies only, resolved from the same lockfile.
FROM base AS prod-deps
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev

# ---------------------------------------------------------------------------
FROM base AS runtime

# tini as PID 1 forwards SIGTERM/SIGINT to node and reaps zombies, so plain
# `docker run` behaves. docker-compose additionally sets `init: true`; with
# -s tini registers as a subreaper and stays quiet when it is not PID 1.
# chromium + fonts-noto-cjk: the legal export (evidence:export) prints the
# Chinese timeline to PDF with headless Chromium (CHROMIUM_PATH=/usr/bin/chromium).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates chromium fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TZ=UTC

COPY --chown=node:node package.json package-lock.json ./
COPY --from=prod-deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node migrations ./migrations
# The legal export puts the format and the browser verifier into every bundle.
COPY --chown=node:node docs/evidence-format.md ./docs/evidence-format.md
COPY --chown=node:node verifier ./verifier
COPY --from=h5 --chown=node:node /app/wecom-h5/dist ./wecom-h5/dist

USER node

EXPOSE 3000

# API health. Worker/migrate/sandbox containers override or disable this
# (see docker-compose.yml). No curl in the slim image, so node does the GET.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:Number(process.env.PORT)||3000,path:'/health',timeout:4000},r=>{r.resume();process.exit(r.statusCode===200?0:1)}).on('timeout',function(){this.destroy();process.exit(1)}).on('error',()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["node", "dist/src/main.js"]
