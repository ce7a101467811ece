# syntax=docker/dockerfile:1
# One image for every role (ROLE=web | worker | all). Build: docker build -t mlops-chatops .

# Build: compile TypeScript with all dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci runs the preinstall check (the Node version) first.
COPY scripts/preflight.cjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
COPY jobs ./jobs
RUN npm run build

# Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/preflight.cjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime: tini as PID 1 so SIGTERM reaches node and zombies are reaped; no package managers (the bot
# runs `node` directly); a numeric non-root user (1000 = `node`) so Kubernetes can verify runAsNonRoot.
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
ENV NODE_ENV=production PORT=3000 MLOPS_CONFIG=/etc/mlops/mlops.yaml
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json carries "type": "module", which Node needs to load dist/ as ES modules.
COPY package.json ./
USER 1000:1000
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
