# syntax=docker/dockerfile:1
# Order-status agent service image.
#
#   docker build -t order-status-agent:local .
#   docker run --rm -p 127.0.0.1:8080:8080 --env-file .env -e HOST=0.0.0.0 order-status-agent:local
# (or `docker compose --profile app up -d --build`, see docker-compose.yml)
#
# Node 24 (current LTS) on Debian bookworm, slim variant. Override with
# --build-arg NODE_IMAGE=node:24.x.y-bookworm-slim@sha256:... to pin a digest.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: full install (dev deps for tsc), compile to dist/ ------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CI=true \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
# Manifest first so the dependency layer is cached across source changes.
# `npm ci` honours package.json "allowScripts" (npm 11) and "overrides".
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
# tsc -p tsconfig.build.json → dist/ (rootDir ".", so the entry is dist/src/server.js)
RUN npm run build && test -f dist/src/server.js

# --- prod-deps: production dependencies only ------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV CI=true \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# --- runtime ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
# Files stay owned by root (read-only for the app); the process runs as `node`.
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Local prompt templates (PROMPT_SOURCE=local and the offline fallback file).
COPY prompts ./prompts
# The model price catalog (MODEL_PRICES_FILE), loaded and validated at start-up.
COPY config ./config
# The only writable path: the prompt snapshot (PROMPT_SNAPSHOT_FILE, default .cache/prompt-snapshot.json).
RUN mkdir -p /app/.cache && chown node:node /app/.cache
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as the direct process (no npm/sh wrapper) so SIGTERM reaches the server.
CMD ["node", "dist/src/server.js"]
