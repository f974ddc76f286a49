# syntax=docker/dockerfile:1
# One image, two roles chosen by command: the API (default, `node dist/server/main.js`), the edge proxy
# (`node dist/proxy/main.js`) and the one-shot migration (`node dist/scripts/db-migrate.js`). No secrets
# and no certificates are built in: configuration is environment variables (and files compose mounts).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- build: every dependency, the generated Prisma client, TypeScript compiled to dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts are skipped: the postinstall (prisma generate) needs the schema, and Prisma's own postinstall
# would try to download engines the adapter-based client does not use.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY common ./common
COPY server ./server
COPY proxy ./proxy
COPY scripts ./scripts
RUN npm run db:generate && npm run build

# --- production dependencies only
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: node, tini, production node_modules, dist/ (which holds the generated client) and migrations
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to node (close-with-grace then drains requests) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PROXY_HOST=0.0.0.0 \
    PROXY_METRICS_HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY prisma/migrations ./prisma/migrations
COPY ops/docker/healthcheck.mjs ./ops/docker/healthcheck.mjs
# The image's files stay root-owned (read-only to the process); only the data folder is writable.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# API 3000; proxy HTTPS 8443, HTTP 8080 (unprivileged: compose maps 443 and 80), metrics 9464.
EXPOSE 3000 8443 8080 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "ops/docker/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server/main.js"]
