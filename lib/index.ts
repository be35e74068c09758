/**
 * sidekiq-lambda's library entry point: the producer, the protocol layer and the job declarations.
 * Handler authors import `sidekiq-lambda/handler`; CDK users import `sidekiq-lambda/infra`.
 */
export { Client, defineJob, getClient, type ClientOptions, type PushItem, type BulkItem, type JobOptions, type JobHandle } from './client.js';
export { producerMiddleware, useProducer, ProducerChain, propagateTrace, type ProducerMiddleware, type OutgoingJob } from './client.js';
export { parseTraceparent, readTraceContext, xrayHeader, xrayTraceId, type TraceContext } from './protocol/trace.js';
export { defineJobs, type JobDeclaration, type ResolvedJob, type JobList, type DefineJobsOptions } from './jobs.js';
export { CronDeclarationError, type CronEntry, type CronEntryDeclaration, type CronField, type CronSchedule } from './periodic.js';
export * from './protocol/job.js';
export * from './protocol/time.js';
export * from './protocol/validate.js';
export * from './protocol/activejob.js';
export { keys, type Keys } from './protocol/keys.js';
