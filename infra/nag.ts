/**
 * cdk-nag acknowledgments, each on the exact CloudFormation resource and finding it is about.
 *
 * An acknowledgment covers the construct it is recorded on and everything below it, so one on an L2
 * construct (a task definition, a role) also silences the same rule on its children (the task
 * role's policy, a default policy). Recording it on the construct's own resource (`defaultChild`)
 * and naming the finding (`AwsSolutions-IAM5[Resource::*]`, as cdk-nag's `appliesTo`) keeps it from
 * covering anything added later.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges a finding on a construct's own CloudFormation resource, not on its children.
 *
 * @example
 * acknowledge(fn, { id: 'AwsSolutions-L1', reason: 'The project targets Node 22 on purpose: …' });
 */
export function acknowledge(construct: IConstruct, ack: { id: string; reason: string }): void {
  Validations.of(construct.node.defaultChild ?? construct).acknowledge(ack);
}
