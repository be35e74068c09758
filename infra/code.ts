/**
 * Where the code comes from: functions bundled by esbuild, the poller's image from the Dockerfile.
 *
 * Tasks:
 * 1. Build a Node 22 / ARM64 function from a TypeScript entry with local esbuild (never Docker),
 *    with the same loader and format the dev-mode bundler uses (ESM, `.lua` as text).
 * 2. Stage the poller's container image from this package's Dockerfile, after bundling
 *    `dist/container/cli.mjs` (`scripts/build-container.mjs`); the image is built at deploy time.
 * 3. For template tests, the same calls with placeholder code and image (`skipBundling`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';

/** This package's root: the Dockerfile, `functions/` and `scripts/` live here. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const RUNTIME = lambda.Runtime.NODEJS_22_X;
export const ARCHITECTURE = lambda.Architecture.ARM_64;

const PLACEHOLDER =
  "exports.handler = async () => { throw new Error('sidekiq-lambda: placeholder code from skipBundling; never deploy it'); };";
const PLACEHOLDER_IMAGE = 'public.ecr.aws/docker/library/node:22-alpine';

/** The esbuild options shared with `scripts/build-container.mjs` and dev mode's bundler. */
export const BUNDLING: nodejs.BundlingOptions = {
  forceDockerBundling: false,
  format: nodejs.OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  // Bundled CommonJS dependencies (ioredis) call require(); ESM output needs one.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  loader: { '.lua': 'text' },
  sourceMap: true,
};

export interface NodeFunctionOptions extends Omit<lambda.FunctionOptions, 'runtime' | 'architecture'> {
  /** The TypeScript entry file (absolute). */
  readonly entry: string;
  /** @default - 'handler' */
  readonly handlerExport?: string;
  readonly skipBundling: boolean;
}

/** A Node 22 ARM64 function from a TypeScript entry, or placeholder code when bundling is skipped. */
export function nodeFunction(scope: Construct, id: string, options: NodeFunctionOptions): lambda.Function {
  const { entry, handlerExport = 'handler', skipBundling, ...rest } = options;
  const common = { ...rest, runtime: RUNTIME, architecture: ARCHITECTURE };
  if (skipBundling) {
    return new lambda.Function(scope, id, { ...common, code: lambda.Code.fromInline(PLACEHOLDER), handler: 'index.handler' });
  }
  return new nodejs.NodejsFunction(scope, id, { ...common, entry, handler: handlerExport, bundling: BUNDLING });
}

let containerBundleBuilt = false;

/** Runs `scripts/build-container.mjs` once per process: `dist/container/cli.mjs`, everything inlined. */
export function buildContainerBundle(root: string = PACKAGE_ROOT): void {
  if (containerBundleBuilt) return;
  const result = spawnSync(process.execPath, [resolve(root, 'scripts/build-container.mjs')], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`sidekiq-lambda: bundling the poller (scripts/build-container.mjs) failed:\n${result.stderr || result.error?.message}`);
  }
  containerBundleBuilt = true;
}

/** The poller's image: this package's Dockerfile for the given architecture, or a placeholder. */
export function pollerImage(architecture: ecs.CpuArchitecture, skipBundling: boolean): ecs.ContainerImage {
  if (skipBundling) return ecs.ContainerImage.fromRegistry(PLACEHOLDER_IMAGE);
  buildContainerBundle();
  const platform = architecture === ecs.CpuArchitecture.X86_64 ? ecr.Platform.LINUX_AMD64 : ecr.Platform.LINUX_ARM64;
  // .dockerignore keeps the build context to the Dockerfile and dist/container/.
  return ecs.ContainerImage.fromAsset(PACKAGE_ROOT, { file: 'Dockerfile', platform });
}

/** A duration in whole seconds. */
export const seconds = (n: number): Duration => Duration.seconds(n);
