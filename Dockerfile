# The poller's image: one self-contained bundle on Node 22. Build the bundle first
# (`npm run build -- --package`, or `npm pack`; the CDK construct rebuilds it from the sources
# of a checkout before staging this context, and an installed package ships it built).
# No npm install here: dist/container/cli.mjs inlines every dependency.
#
# The base image is pinned by digest, so a deploy builds on exactly the image that was reviewed: the
# multi-platform index of the official node:22-alpine (Node 22.23.3, Alpine 3.24.2, built 2026-09-23;
# amd64 and arm64 among its platforms), as recorded by docker-library/repo-info in
# repos/node/remote/22-alpine.md at commit 4211a1635d906d705a873434b7336b27c7678802. ECR Public's
# docker/library mirror serves the official images' manifests unchanged. To move to a newer build,
# take the index digest from a newer repo-info commit (or `docker buildx imagetools inspect node:22-alpine`).
FROM public.ecr.aws/docker/library/node:22-alpine@sha256:0a7108bf6c7bf5de370ffb1a3ed6be93d405b43ff159f681a8d18c0e2bc2e402

ENV NODE_ENV=production
WORKDIR /app
COPY dist/container/ ./

USER node
# ECS runs this container with a read-only root file system (and a writable /tmp volume).
EXPOSE 8080
# ECS uses the task definition's health check; this one is for `docker run` on a laptop.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SIDEKIQ_LAMBDA_HEALTH_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# SIGTERM goes straight to node (exec form, PID 1): the poller drains in-flight jobs, then exits.
ENTRYPOINT ["node", "--enable-source-maps", "cli.mjs"]
CMD ["poller"]
