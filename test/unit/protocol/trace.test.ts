import { describe, expect, it } from 'vitest';
import { freshXrayHeader, invocationTraceHeader, parseTraceparent, readTraceContext, xrayHeader, xrayTraceId } from '../../../lib/protocol/trace.js';
import { queueWaitMs } from '../../../lib/protocol/time.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('trace', () => {
  describe('parseTraceparent (as OpenTelemetry Ruby reads it)', () => {
    it.each([
      ['sampled', `00-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, sampled: true }],
      ['not sampled', `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, sampled: false }],
      ['other flag bits: only bit 0 is sampled', `00-${TRACE}-${SPAN}-02`, { traceId: TRACE, spanId: SPAN, sampled: false }],
      ['upper case, lower-cased', `00-${TRACE.toUpperCase()}-${SPAN.toUpperCase()}-03`, { traceId: TRACE, spanId: SPAN, sampled: true }],
      ['a newer version with more fields', `01-${TRACE}-${SPAN}-01-whatever`, { traceId: TRACE, spanId: SPAN, sampled: true }],
    ])('reads %s', (_name, value, expected) => {
      expect(parseTraceparent(value)).toEqual(expected);
    });

    it.each([
      ['version ff', `ff-${TRACE}-${SPAN}-01`],
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
      ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
      ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
      ['a non-hex character', `00-${TRACE.slice(1)}g-${SPAN}-01`],
      ['a missing flags field', `00-${TRACE}-${SPAN}`],
      ['not a string', 42],
      ['absent', undefined],
    ])('refuses %s', (_name, value) => {
      expect(parseTraceparent(value)).toBeUndefined();
    });
  });

  describe('readTraceContext', () => {
    it('reads traceparent, tracestate and baggage as the payload holds them', () => {
      // Prepare
      const job = { class: 'A', traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', baggage: 'tenant=acme' };
      // Act + Assess
      expect(readTraceContext(job)).toEqual({
        traceparent: `00-${TRACE}-${SPAN}-01`,
        tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
        baggage: 'tenant=acme',
        traceId: TRACE,
        spanId: SPAN,
        sampled: true,
      });
    });

    it('has no tracestate or baggage keys when the payload has none (or empty ones)', () => {
      expect(Object.keys(readTraceContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: '' })!)).toEqual(['traceparent', 'traceId', 'spanId', 'sampled']);
    });

    it('is undefined without a valid traceparent, whatever the tracestate', () => {
      expect(readTraceContext({ tracestate: 'a=b' })).toBeUndefined();
      expect(readTraceContext({ traceparent: 'garbage', tracestate: 'a=b' })).toBeUndefined();
    });
  });

  describe('X-Ray', () => {
    it("converts a W3C trace id as AWS documents it (X-Ray's PutTraceSegments example)", () => {
      expect(xrayTraceId('4efaaf4d1e8720b39541901950019ee5')).toBe('1-4efaaf4d-1e8720b39541901950019ee5');
    });

    it('builds the X-Amzn-Trace-Id header: Root, the enqueuing span as Parent, Sampled', () => {
      expect(xrayHeader({ traceId: '5759e988bd862e3fe1be46a994272793', spanId: '53995c3f42cd8ad8', sampled: true })).toBe('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
      expect(xrayHeader({ traceId: TRACE, spanId: SPAN, sampled: false })).toBe(`Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${SPAN};Sampled=0`);
    });

    it("an Invoke of a batch carries the first traced job's header (none when no job has one)", () => {
      const jobs = [{ class: 'A' }, { traceparent: 'bad' }, { traceparent: `00-${TRACE}-${SPAN}-01` }, { traceparent: `00-${'1'.repeat(32)}-${SPAN}-01` }];
      expect(invocationTraceHeader(jobs)).toBe(`Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${SPAN};Sampled=1`);
      expect(invocationTraceHeader(jobs.slice(0, 2))).toBeUndefined();
    });

    it('makes a fresh unsampled header from the time and 160 random bits', () => {
      expect(freshXrayHeader(1_480_615_200_010, 'a006649127e371903a2de979' + '53995c3f42cd8ad8')).toBe('Root=1-58406520-a006649127e371903a2de979;Parent=53995c3f42cd8ad8;Sampled=0');
    });
  });

  describe('queueWaitMs', () => {
    it('is the time from enqueued_at to the start, in either timestamp format', () => {
      expect(queueWaitMs({ enqueued_at: 1795334852.25 }, 1795334853000)).toBe(750);
      expect(queueWaitMs({ enqueued_at: 1795334852250 }, 1795334853000)).toBe(750);
    });

    it('is never negative (clocks differ between hosts), and undefined without enqueued_at', () => {
      expect(queueWaitMs({ enqueued_at: 1795334860 }, 1795334853000)).toBe(0);
      expect(queueWaitMs({}, 1795334853000)).toBeUndefined();
    });
  });
});
