/**
 * The job types this worker runs. To add one, write a handler next to these (see
 * docs/worker.md, "Adding a job type") and list it here.
 */
import { JobRegistry } from '../registry.ts';
import { serverInitHandler } from './server-init.ts';
import { toolCallHandler } from './tool-call.ts';

export const JOB_HANDLERS = [serverInitHandler, toolCallHandler] as const;

export function createDefaultJobRegistry(): JobRegistry {
  return new JobRegistry(JOB_HANDLERS);
}
