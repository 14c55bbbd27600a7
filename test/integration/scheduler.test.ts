import { expect } from 'chai';
import type { JobDefinition } from '../../src/app/job-definition.js';
import { createScheduler, JOBS_COLLECTION, type Scheduler } from '../../src/app/scheduler.js';
import { PermanentError, TransientError } from '../../src/domain/errors.js';
import { captureLogger } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';
import { waitFor } from '../support/wait-for.js';

describe('scheduler (Agenda on the real database)', function () {
  this.timeout(30_000);
  let started: Scheduler | undefined;
  const database = useTestDatabase(import.meta.url, async () => started?.stop(5000));
  const scheduler = { get agenda() {
    if (!started) throw new Error('scheduler not started');
    return started.agenda;
  } };
  const runs: { name: string; data: unknown; attempt: number }[] = [];
  const { logger, lines } = captureLogger('debug');

  const definitions: JobDefinition<never, { tag: string }>[] = [
    {
      name: 'ok-job',
      async handle(data, ctx) {
        runs.push({ name: 'ok-job', data, attempt: ctx.attempt });
        expect(ctx.deps.tag).to.equal('deps-passed');
      },
    },
    {
      name: 'permanent-job',
      async handle(data, ctx) {
        runs.push({ name: 'permanent-job', data, attempt: ctx.attempt });
        throw new PermanentError('template missing', { code: '132001' });
      },
    },
    {
      name: 'flaky-job',
      maxRetries: 3,
      async handle(data, ctx) {
        runs.push({ name: 'flaky-job', data, attempt: ctx.attempt });
        if (ctx.attempt < 2) throw new TransientError('timeout', { code: 'timeout' });
      },
    },
  ];

  before(async () => {
    started = createScheduler({ db: database.db, logger, pollIntervalMs: 100, lockLifetimeMs: 2000, jobs: definitions, deps: { tag: 'deps-passed' } });
    await started.start();
  });

  it('runs a job with its data, attempt and the app deps, and logs start and end', async () => {
    await scheduler.agenda.now('ok-job', { n: 1 });
    await waitFor('ok-job to run', () => runs.find((r) => r.name === 'ok-job'));
    expect(runs.find((r) => r.name === 'ok-job')).to.deep.include({ data: { n: 1 }, attempt: 1 });
    await waitFor('the job-done log line', () => lines.some((l) => l.includes('"job done"') && l.includes('"job":"ok-job"')));
  });

  it('does not retry a permanent error', async () => {
    await scheduler.agenda.now('permanent-job', {});
    await waitFor('the failure to be recorded', async () => {
      const job = await database.db.collection(JOBS_COLLECTION).findOne({ name: 'permanent-job' });
      return job?.failCount === 1 && job.lockedAt == null ? job : undefined;
    });
    // Poll for a while longer: a retry would show up as a second run.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(runs.filter((r) => r.name === 'permanent-job')).to.have.length(1);
    const job = await database.db.collection(JOBS_COLLECTION).findOne({ name: 'permanent-job' });
    expect(job?.failReason).to.equal('template missing');
  });

  it('retries a transient error with backoff until it succeeds', async function () {
    this.timeout(20_000);
    await scheduler.agenda.now('flaky-job', {});
    await waitFor('the retry to succeed', () => runs.filter((r) => r.name === 'flaky-job').length === 2, 15_000);
    expect(runs.filter((r) => r.name === 'flaky-job').map((r) => r.attempt)).to.deep.equal([1, 2]);
  });
});
