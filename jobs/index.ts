import type { AppDeps } from '../src/app/deps.js';
import type { JobDefinition } from './job-definition.js';

/** Every job the worker runs. */
export const JOBS: readonly JobDefinition<never, AppDeps>[] = [];
