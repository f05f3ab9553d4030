# The payments CLI as an image: `payments node` (deploy/kubernetes) and `payments submit` (a Job).
#   docker build -t payments:0.1.0 .
# Node 20 pinned to a patch release on Debian 12 slim; pin the digest too (node:…@sha256:…) where
# builds must be reproducible. Three stages: build (TypeScript, with dev dependencies), deps
# (production dependencies only, with better-sqlite3's native module), and the runtime, which gets
# only dist/ and node_modules/ and runs as an unprivileged user.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off: `prepare` builds, and the sources are not copied yet.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts/render-help.mjs scripts/
COPY src src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off for `prepare` (no TypeScript here); better-sqlite3's install script is run on its own.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json LICENSE ./
# The image's `node` user, by number: Kubernetes' runAsNonRoot can only check a numeric user.
USER 1000:1000
EXPOSE 9464
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli/bin.js"]
CMD ["--help"]
