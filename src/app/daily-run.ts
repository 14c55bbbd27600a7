import type { DailyRunSettings } from '../../config/daily-runs.js';
import { formatWallTime } from '../domain/cron-schedule.js';
import { broadcastKeyOf, datasetKey, mapAnswer, retryDelay, runKey, type DailyOutcome, type DailyRunTopic } from '../domain/daily-run.js';
import { PermanentError, TransientError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { PlanSummary } from '../store/broadcast-repository.js';
import type { DailyRun, DailyRunRepository, DailyRunResult, DailyTrigger, PublishedDataset } from '../store/daily-run-repository.js';
import { fetchSourceJson, type DataSourceRequest } from './data-source-client.js';
import type { RunAttempt } from './daily-runner.js';
import type { Services } from './deps.js';
import { createBroadcast, planBroadcast, prepareBroadcast, type PreparedBroadcast } from './publish.js';

/** A run that stopped answering (its process died) may be taken over after this long. */
export const DAILY_RUN_LEASE_MS = 5 * 60_000;

/** What a daily run needs: the app's services, its own records, and how to reach the source. */
export interface DailyRunDeps {
  services: Services;
  runs: DailyRunRepository;
  settings: DailyRunSettings;
  /** Schedules the plan-broadcast job of a new broadcast at once, as `npm run publish` does. */
  schedulePlan(broadcastId: string): Promise<void>;
  /** The built-in sandbox, for `sandbox:/` sources; undefined when none runs. */
  sandboxUrl: string | undefined;
  logger: Logger;
  /** Default: the axios client. */
  fetchJson?: (request: DataSourceRequest) => Promise<unknown>;
  /** In [0, 1), for the backoff's jitter. */
  random?: () => number;
  /** Told about every run that finished here (metrics). */
  onFinished?: (run: DailyRun) => void;
}

/** The topic's daily run as configured; a PermanentError when it has none. */
export function dailyTopic(settings: DailyRunSettings, topic: string): DailyRunTopic {
  const found = settings.topics.get(topic);
  if (!found) throw new PermanentError(`topic "${topic}" has no daily run in ${settings.file} (configured: ${[...settings.topics.keys()].join(', ') || 'none'})`, { code: 'invalid-input' });
  return found;
}

/** The request for the topic's source; a `sandbox:/` URL needs the built-in sandbox. */
export function sourceRequest(topic: DailyRunTopic, sandboxUrl: string | undefined): DataSourceRequest {
  const { url, headers, timeoutMs } = topic.source;
  if (!url.startsWith('sandbox:/')) return { url, headers, timeoutMs };
  if (sandboxUrl === undefined) throw new PermanentError(`the source of ${topic.topic} is the built-in sandbox (${url}), which does not run here`, { code: 'no-sandbox' });
  return { url: `${sandboxUrl.replace(/\/+$/, '')}${url.slice('sandbox:'.length)}`, headers, timeoutMs };
}

type Evaluation =
  | { kind: 'fetch-failed'; error: Error }
  | { kind: 'refused'; reason: string }
  | { kind: 'unchanged'; reason: string }
  | { kind: 'over-budget'; reason: string; plan: PlanSummary }
  | { kind: 'new'; prepared: PreparedBroadcast; plan: PlanSummary; key: string; data: Record<string, unknown> };

function recipients(plan: PlanSummary): DailyRunResult['recipients'] {
  return { session: plan.session, template: plan.template, skipped: Object.values(plan.skipped).reduce((a, b) => a + b, 0) };
}

function sameAs(published: PublishedDataset, timeZone: string): string {
  return `same data as published by the run of ${formatWallTime(timeZone, published.slot)}${published.broadcastId ? ` (broadcast ${published.broadcastId})` : ''}`;
}

/** Fetches, maps, renders and plans; decides nothing it would have to undo. */
async function evaluate(deps: DailyRunDeps, topic: DailyRunTopic, slot: Date, published: PublishedDataset | undefined, now: Date): Promise<Evaluation> {
  const { services } = deps;
  let answer: unknown;
  try {
    answer = await (deps.fetchJson ?? fetchSourceJson)(sourceRequest(topic, deps.sandboxUrl));
  } catch (err) {
    if (err instanceof PermanentError || err instanceof TransientError) return { kind: 'fetch-failed', error: err };
    throw err;
  }
  const content = services.contents.get(topic.topic);
  if (!content) return { kind: 'refused', reason: `topic ${topic.topic} is not in the broadcasts file` };
  const mapped = mapAnswer(answer, topic.fields, content.fields);
  if (!mapped.ok) return { kind: 'refused', reason: `the answer does not map: ${mapped.reason}` };
  const key = datasetKey(mapped.data, topic.version);
  if (published && published.key === key) return { kind: 'unchanged', reason: sameAs(published, services.config.timezone) };
  let prepared: PreparedBroadcast;
  try {
    prepared = prepareBroadcast(services, { topic: topic.topic, data: mapped.data, key: broadcastKeyOf(topic.topic, slot), ...(topic.template ? { templateName: topic.template } : {}) });
  } catch (err) {
    if (err instanceof PermanentError) return { kind: 'refused', reason: `the data cannot be published: ${err.message}` };
    throw err;
  }
  const plan = await planBroadcast(services, prepared, now);
  const budget = topic.budget ?? services.config.fanOut.budget;
  if (plan.estimatedCost > budget) {
    const whose = topic.budget === undefined ? `PUBLISH_BUDGET ${budget.toFixed(2)}` : `the topic's budget ${budget.toFixed(2)} (${deps.settings.file})`;
    return { kind: 'over-budget', plan, reason: `estimated cost ${plan.estimatedCost.toFixed(2)} ${plan.currency} is above ${whose}: not sent` };
  }
  return { kind: 'new', prepared, plan, key, data: mapped.data };
}

/**
 * Runs the daily run of one topic's slot once, whoever else tries: claims it (a unique insert
 * per topic and slot), fetches, and publishes through the same path as `npm run publish`
 * (render, plan, budget, broadcast under the slot's idempotency key, plan job) when the data
 * differs from what the topic's daily run last published. A failing fetch is retried with
 * backoff until the slot's grace period ends (`retrying`: call again after `retryInMs`); an
 * answer that does not map fails the run at once. Safe to call again at any point: a run that
 * chose its data and stopped finishes publishing that data under the same key.
 */
export async function runSlot(deps: DailyRunDeps, request: { topic: string; slot: Date; trigger: DailyTrigger; owner: string }): Promise<RunAttempt> {
  const { services, runs } = deps;
  const topic = dailyTopic(deps.settings, request.topic);
  const id = runKey(topic.topic, request.slot);
  const now = services.clock.now();
  const claim = await runs.claim({ id, topic: topic.topic, slot: request.slot, trigger: request.trigger, owner: request.owner, now, leaseMs: DAILY_RUN_LEASE_MS });
  if (!claim.claimed) return { kind: 'not-claimed', run: claim.run };
  const { run } = claim;
  const logger = deps.logger.child({ topic: topic.topic, slot: request.slot.toISOString(), attempt: run.attempts });
  const deadline = new Date(request.slot.getTime() + topic.graceMs);

  const finish = async (outcome: DailyOutcome, result: DailyRunResult): Promise<RunAttempt> => {
    const at = services.clock.now();
    if (!(await runs.finish(id, request.owner, outcome, result, at))) {
      logger.warn('daily run taken over by another worker before it finished');
      return { kind: 'not-claimed', run: (await runs.get(id)) ?? run };
    }
    const done = (await runs.get(id)) ?? { ...run, ...result, state: outcome, finishedAt: at };
    (outcome === 'failed' ? logger.warn : logger.info).call(logger, `daily run ${outcome}`, { outcome, ...result });
    deps.onFinished?.(done);
    return { kind: 'finished', run: done };
  };
  const publish = async (prepared: PreparedBroadcast, plan: PlanSummary): Promise<RunAttempt> => {
    const { broadcast } = await createBroadcast(services, prepared, plan, now);
    if (broadcast.status === 'planning') await deps.schedulePlan(broadcast.id);
    await runs.setPublishedBroadcast(topic.topic, id, broadcast.id);
    return finish('published', { broadcastId: broadcast.id, estimatedCost: plan.estimatedCost, currency: plan.currency, recipients: recipients(plan) });
  };

  let published = await runs.published(topic.topic);
  if (published?.runId === id) {
    // This run chose its data and stopped before it finished: publish that data, not a newer one.
    const prepared = prepareBroadcast(services, { topic: topic.topic, data: published.data, key: broadcastKeyOf(topic.topic, request.slot), ...(topic.template ? { templateName: topic.template } : {}) });
    return publish(prepared, await planBroadcast(services, prepared, now));
  }
  if (run.attempts > 1 && now > deadline) {
    return finish('failed', { reason: `not finished within the grace period (it ended ${formatWallTime(services.config.timezone, deadline)})${run.lastError ? `; last error: ${run.lastError}` : ''}` });
  }

  const evaluation = await evaluate(deps, topic, request.slot, published, now);
  switch (evaluation.kind) {
    case 'fetch-failed': {
      const delay = retryDelay(run.attempts, evaluation.error, (deps.random ?? Math.random)(), now, deadline);
      if (delay === null) {
        const why = evaluation.error instanceof TransientError ? ` (gave up after ${run.attempts} ${run.attempts === 1 ? 'attempt' : 'attempts'}: the grace period ends ${formatWallTime(services.config.timezone, deadline)})` : '';
        return finish('failed', { reason: `${evaluation.error.message}${why}` });
      }
      await runs.retryLater(id, request.owner, new Date(now.getTime() + delay), evaluation.error.message);
      logger.warn('daily run fetch failed, retrying', { err: evaluation.error.message, retryInMs: delay });
      return { kind: 'retrying', run: (await runs.get(id)) ?? run, retryInMs: delay, error: evaluation.error.message };
    }
    case 'refused':
      return finish('failed', { reason: evaluation.reason });
    case 'unchanged':
      return finish('unchanged', { reason: evaluation.reason });
    case 'over-budget':
      return finish('skipped-budget', { reason: evaluation.reason, estimatedCost: evaluation.plan.estimatedCost, currency: evaluation.plan.currency, recipients: recipients(evaluation.plan) });
    case 'new':
      break;
  }
  // Make this data the topic's published data, unless another run of the topic did so first.
  for (;;) {
    const won = await runs.replacePublished(published?.key, { topic: topic.topic, key: evaluation.key, data: evaluation.data, runId: id, slot: request.slot, publishedAt: now });
    if (won) return publish(evaluation.prepared, evaluation.plan);
    published = await runs.published(topic.topic);
    if (published?.key === evaluation.key) return finish('unchanged', { reason: sameAs(published, services.config.timezone) });
  }
}

/** What a run would do now, with nothing claimed, stored or sent. */
export interface DryRunReport {
  topic: string;
  outcome: DailyOutcome;
  reason?: string;
  data?: Record<string, unknown>;
  plan?: PlanSummary;
}

/** Fetches, maps and plans like a run, and reports what it would do: `published` means it would publish. */
export async function dryRun(deps: DailyRunDeps, topicName: string, now: Date): Promise<DryRunReport> {
  const topic = dailyTopic(deps.settings, topicName);
  const evaluation = await evaluate(deps, topic, now, await deps.runs.published(topic.topic), now);
  switch (evaluation.kind) {
    case 'fetch-failed':
      return { topic: topic.topic, outcome: 'failed', reason: evaluation.error.message };
    case 'refused':
      return { topic: topic.topic, outcome: 'failed', reason: evaluation.reason };
    case 'unchanged':
      return { topic: topic.topic, outcome: 'unchanged', reason: evaluation.reason };
    case 'over-budget':
      return { topic: topic.topic, outcome: 'skipped-budget', reason: evaluation.reason, plan: evaluation.plan };
    case 'new':
      return { topic: topic.topic, outcome: 'published', data: evaluation.data, plan: evaluation.plan };
  }
}
