# The helpdesk: one image for every role. `docker run IMAGE` alone runs web and workers in one process on
# an embedded Postgres (PGlite) and a private redis-server, both keeping their files in the /data volume;
# set DATABASE_URL and REDIS_URL for real ones (see docker-compose.yml).
FROM node:20-bookworm-slim

# Only for the image used alone: with REDIS_URL unset the app starts a redis-server of its own.
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000

# Dependencies first, so that a change in src/ does not reinstall them. tsx (which runs the TypeScript) is a
# runtime dependency; the compiler, vitest and pg's types are not needed here.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY migrations ./migrations
COPY src ./src

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000

# Liveness only; /readyz also checks Postgres and Redis. The worker role serves no HTTP: compose disables this
# check for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Node itself is the process that gets `docker stop`'s SIGTERM, so the app shuts down in order. (Under
# `npx tsx`, npm would take the signal and exit at once, and the app would be killed mid-shutdown.)
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
# The role: all, web or worker.
CMD ["all"]
