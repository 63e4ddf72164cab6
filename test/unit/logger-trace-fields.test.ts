import { context, propagation } from '@opentelemetry/api';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindsJobID } from '../../src/observability/logger.ts';
import {
  initTracing,
  JOB_ID_BAGGAGE_KEY,
  type Tracing,
  traceLogFields,
} from '../../src/observability/tracing.ts';

describe("log lines name the job's jobID once", () => {
  let tracing: Tracing;
  beforeAll(() => {
    tracing = initTracing({ serviceName: 'test' });
  });
  afterAll(async () => {
    await tracing.shutdown();
  });

  it("tells whether a logger's own bindings name jobID, without parsing them", () => {
    const root = pino({ level: 'silent' });
    expect(bindsJobID(root)).toBe(false);
    expect(bindsJobID(root.child({ jobType: 'tool-call', title: '"jobID":' }))).toBe(false);
    expect(bindsJobID(root.child({ jobID: 'j1' }))).toBe(true);
    expect(bindsJobID(root.child({ component: 'x' }).child({ jobID: 'j1', offset: '3' }))).toBe(true);
  });

  it("adds the baggage's jobID unless the line or the logger already names it", () => {
    const baggage = propagation.createBaggage({ [JOB_ID_BAGGAGE_KEY]: { value: 'from-baggage' } });
    context.with(propagation.setBaggage(context.active(), baggage), () => {
      expect(traceLogFields({}, () => false)).toEqual({ jobID: 'from-baggage' });
      expect(traceLogFields({}, () => true)).toEqual({});
      expect(traceLogFields({ jobID: 'own' }, () => false)).toEqual({});
    });
    expect(traceLogFields({}, () => false)).toEqual({});
  });
});
