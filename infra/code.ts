/**
 * Where the code comes from: functions bundled by esbuild, the poller's image from the Dockerfile.
 *
 * Tasks:
 * 1. Build a Node 22 / ARM64 function from a TypeScript entry with local esbuild (never Docker),
 *    with the options dev mode bundles with (`handlerBuildOptions`, lib/bundling.ts), mapped onto
 *    `NodejsFunction`'s bundling options.
 * 2. Stage the poller's container image from this package's Dockerfile and `dist/container/cli.mjs`:
 *    in a checkout of this repository the bundle is rebuilt from the sources first (so `cdk deploy`
 *    ships the work tree); an installed package ships it built. The image is built at deploy time.
 * 3. Name the scheduler's entry: `functions/scheduler.ts` here, `dist/scheduler.js` when installed.
 * 4. For template tests, the same calls with placeholder code and image (`skipBundling`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { Duration } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { containerBuildOptions, handlerBuildOptions } from '../lib/bundling.js';
import { isSourceCheckout, packageRoot } from '../lib/package.js';

/** This package's root: the repository, or `node_modules/sidekiq-lambda` (the Dockerfile and `dist/` are there). */
export const PACKAGE_ROOT = packageRoot();

export const RUNTIME = lambda.Runtime.NODEJS_22_X;
export const ARCHITECTURE = lambda.Architecture.ARM_64;

const PLACEHOLDER =
  "exports.handler = async () => { throw new Error('sidekiq-lambda: placeholder code from skipBundling; never deploy it'); };";
const PLACEHOLDER_IMAGE = 'public.ecr.aws/docker/library/node:22-alpine';

/** `handlerBuildOptions` in `NodejsFunction`'s terms: the same target, format, fields, banner and loaders. */
function bundlingOptions(): nodejs.BundlingOptions {
  const o = handlerBuildOptions('-');
  return {
    forceDockerBundling: false,
    format: o.format === 'esm' ? nodejs.OutputFormat.ESM : nodejs.OutputFormat.CJS,
    target: String(o.target),
    mainFields: o.mainFields ? [...o.mainFields] : undefined,
    banner: o.banner?.js,
    loader: o.loader ? { ...o.loader } : undefined,
    sourceMap: true,
  };
}

/** The esbuild options of every function the construct bundles. */
export const BUNDLING: nodejs.BundlingOptions = bundlingOptions();

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

/**
 * Makes sure `dist/container/cli.mjs` is there: rebuilt once per process from the sources in a
 * checkout of this repository, as shipped in an installed package.
 */
export function buildContainerBundle(root: string = PACKAGE_ROOT): void {
  if (containerBundleBuilt) return;
  if (isSourceCheckout(root)) {
    try {
      buildSync(containerBuildOptions(root));
    } catch (e) {
      throw new Error(`sidekiq-lambda: bundling the poller (lib/cli.ts -> dist/container/cli.mjs) failed:\n${(e as Error).message}`);
    }
  } else if (!existsSync(join(root, 'dist/container/cli.mjs'))) {
    throw new Error(`sidekiq-lambda: ${join(root, 'dist/container/cli.mjs')} is missing from the installed package; reinstall sidekiq-lambda`);
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

/** The scheduler function's entry: its TypeScript source here, its ESM build in an installed package. */
export function schedulerEntry(root: string = PACKAGE_ROOT): string {
  return isSourceCheckout(root) ? join(root, 'functions/scheduler.ts') : join(root, 'dist/scheduler.js');
}

/** A duration in whole seconds. */
export const seconds = (n: number): Duration => Duration.seconds(n);
