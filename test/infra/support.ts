/**
 * Factories for the infra tests: declarations, a synthesized stack, and readers for the template.
 */
import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { JobDeclaration } from '../../lib/jobs.js';
import { SidekiqLambda } from '../../infra/construct.js';
import type { SidekiqLambdaProps } from '../../infra/props.js';

/** The example jobs' shape: one plain job, one that enqueues back, two on one queue. */
export const DECLARATIONS: readonly JobDeclaration[] = [
  { class: 'TrackUserJob', queue: 'track', entry: 'functions/track-user.ts', concurrency: 20, batchSize: 10 },
  { class: 'SudokuSolver', queue: 'unsolved_puzzles', entry: 'functions/sudoku.ts', timeoutSeconds: 60, memoryMb: 1024, needsRedis: true },
  { class: 'EchoJob', queue: 'diagnostics', entry: 'functions/diagnostics.ts', handlerExport: 'echo', timeoutSeconds: 10, concurrency: 5, needsRedis: true },
  { class: 'FailJob', queue: 'diagnostics', entry: 'functions/diagnostics.ts', handlerExport: 'fail', timeoutSeconds: 10, concurrency: 5 },
];

export interface Synth {
  readonly stack: Stack;
  readonly sidekiq: SidekiqLambda;
  readonly template: Template;
}

/** One construct in a fresh stack, without bundling unless asked. */
export function makeSidekiq(
  props: Partial<SidekiqLambdaProps> = {},
  configure?: (stack: Stack) => Partial<SidekiqLambdaProps>,
  after?: (sidekiq: SidekiqLambda, stack: Stack) => void,
): Synth {
  // CloudFormation's own schema validation doubles synth time; the app stack's test keeps it on.
  const app = new App({ builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Test');
  const sidekiq = new SidekiqLambda(stack, 'Sidekiq', { jobs: DECLARATIONS, skipBundling: true, ...props, ...configure?.(stack) });
  after?.(sidekiq, stack);
  return { stack, sidekiq, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource (its default child, or itself). */
export function idOf(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

/** A value computed once, on first use: for read-only templates shared by several tests. */
export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** Renders an `Fn::Join` of literals and `Ref`s as text, each Ref as its logical id. */
export function joinToText(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not a string or Fn::Join: ${JSON.stringify(value)}`);
  return join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = (part as { Ref?: string }).Ref;
      if (!ref) throw new Error(`unexpected part ${JSON.stringify(part)}`);
      return ref;
    })
    .join(join[0]);
}

/** The warnings a synth prints for this stack, without the `[ack: …]` suffix CDK appends. */
export function warnings(stack: Stack): string[] {
  return Annotations.fromStack(stack)
    .findWarning('*', Match.anyValue())
    .map((m) => String(m.entry.data).replace(/ \[ack: [^\]]+\]$/, ''));
}
