/**
 * Decodes one Kafka message value into a job envelope: `{jobID, jobType, payload}` where
 * `payload` is a JSON string (as in the seed) or an object. Every way a value can be wrong
 * becomes a PermanentError with a reason (`message-too-large`, `invalid-json`,
 * `invalid-envelope`, `invalid-payload`), so a poison message is dead-lettered, never retried.
 * The payload's own shape is checked later by the job type's handler (see registry.ts).
 */
import { z } from 'zod';
import { PermanentError } from '../retry/errors.ts';

export const MAX_JOB_ID_LENGTH = 256;

const jsonObject = z.record(z.string(), z.unknown());

export const jobEnvelopeSchema = z.object({
  jobID: z.string().trim().min(1, 'must be a non-empty string').max(MAX_JOB_ID_LENGTH),
  jobType: z.string().trim().min(1, 'must be a non-empty string').max(128),
  payload: z.union([z.string(), jsonObject], {
    error: 'must be a JSON string or an object',
  }),
});

/** An envelope as a producer writes it (payload still a string or an object). */
export type JobEnvelopeInput = z.input<typeof jobEnvelopeSchema>;

/** A decoded job: the payload is parsed (an object), not yet validated by its handler. */
export interface JobEnvelope {
  jobID: string;
  jobType: string;
  payload: Record<string, unknown>;
}

export function formatZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Validates an already-parsed value as an envelope and parses a string payload. */
export function toJobEnvelope(value: unknown): JobEnvelope {
  const result = jobEnvelopeSchema.safeParse(value);
  if (!result.success) {
    throw new PermanentError('invalid-envelope', `invalid job envelope: ${formatZodIssues(result.error)}`);
  }
  const { jobID, jobType, payload } = result.data;
  if (typeof payload !== 'string') return { jobID, jobType, payload };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (err) {
    throw new PermanentError('invalid-payload', `payload is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new PermanentError('invalid-payload', 'payload must encode a JSON object');
  }
  return { jobID, jobType, payload: parsed as Record<string, unknown> };
}

/** Decodes a Kafka message value (bytes) into a job envelope, or throws a PermanentError. */
export function decodeJobMessage(value: Buffer | null, maxBytes: number): JobEnvelope {
  if (value === null || value.length === 0) {
    throw new PermanentError('invalid-envelope', 'message has no value');
  }
  if (value.length > maxBytes) {
    throw new PermanentError(
      'message-too-large',
      `message is ${value.length} bytes, larger than WORKER_MAX_MESSAGE_BYTES (${maxBytes})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new PermanentError('invalid-json', `message value is not JSON: ${(err as Error).message}`);
  }
  return toJobEnvelope(parsed);
}

/**
 * Best-effort identity of a message that failed to decode, for the dead-letter headers and
 * the outcome event: `jobID`/`jobType` when the value is JSON carrying them as strings.
 */
export function peekJobIdentity(
  value: Buffer | null,
  maxBytes: number,
): { jobID?: string; jobType?: string } {
  if (value === null || value.length === 0 || value.length > maxBytes) return {};
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
    if (parsed === null || typeof parsed !== 'object') return {};
    const jobID =
      typeof parsed.jobID === 'string' && parsed.jobID.trim() !== '' ? parsed.jobID.trim() : undefined;
    const jobType = typeof parsed.jobType === 'string' ? parsed.jobType : undefined;
    return {
      ...(jobID !== undefined && { jobID: jobID.slice(0, MAX_JOB_ID_LENGTH) }),
      ...(jobType !== undefined && { jobType: jobType.slice(0, 128) }),
    };
  } catch {
    return {};
  }
}

/** A message value read once: the job, or why it is not one; with the identity either way. */
export type ReadJobMessage =
  | { ok: true; job: JobEnvelope; identity: { jobID: string; jobType: string } }
  | { ok: false; error: PermanentError; identity: { jobID?: string; jobType?: string } };

/**
 * Decodes a message value once for everything that needs it (the job span's identity, then the
 * job itself); only a value that fails to decode is parsed again, best effort, for its identity.
 */
export function readJobMessage(value: Buffer | null, maxBytes: number): ReadJobMessage {
  try {
    const job = decodeJobMessage(value, maxBytes);
    return { ok: true, job, identity: { jobID: job.jobID, jobType: job.jobType } };
  } catch (err) {
    if (!(err instanceof PermanentError)) throw err;
    return { ok: false, error: err, identity: peekJobIdentity(value, maxBytes) };
  }
}
