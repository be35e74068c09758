# The poller's image: one self-contained bundle on Node 22. Build the bundle first
# (`npm run build -- --package`, or `npm pack`; the CDK construct rebuilds it from the sources
# of a checkout before staging this context, and an installed package ships it built).
# No npm install here: dist/container/cli.mjs inlines every dependency.
FROM public.ecr.aws/docker/library/node:22-alpine

ENV NODE_ENV=production
WORKDIR /app
COPY dist/container/ ./

USER node
EXPOSE 8080
# ECS uses the task definition's health check; this one is for `docker run` on a laptop.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SIDEKIQ_LAMBDA_HEALTH_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# SIGTERM goes straight to node (exec form, PID 1): the poller drains in-flight jobs, then exits.
ENTRYPOINT ["node", "--enable-source-maps", "cli.mjs"]
CMD ["poller"]
