import { expect } from 'chai';
import type { FieldSpec } from '../../src/domain/broadcast-content.js';
import { datasetKey, manualSlot, mapAnswer, parsePath, retryDelay } from '../../src/domain/daily-run.js';
import { PermanentError, TransientError } from '../../src/domain/errors.js';

const FIELDS: Record<string, FieldSpec> = { date: { type: 'date', format: 'dd.MM.yyyy' }, cases: { type: 'number' }, new_cases: { type: 'number' }, region: { type: 'text' } };
const PATHS = { date: 'meta.date', cases: 'series[0].cases', new_cases: 'series[0].new', region: 'meta.region' };
const ANSWER = { meta: { date: '2026-11-20', region: 'Berlin', generatedAt: '2026-11-20T06:01:02Z' }, series: [{ cases: 123456, new: 89 }] };

describe('daily run rules: mapping a source answer, what counts as new, retries', () => {
  it('maps each field from its path, as --data takes it', () => {
    expect(mapAnswer(ANSWER, PATHS, FIELDS)).to.deep.equal({ ok: true, data: { date: '2026-11-20', cases: 123456, new_cases: 89, region: 'Berlin' } });
    expect(mapAnswer([{ n: 1 }], { cases: '[0].n' }, FIELDS)).to.deep.equal({ ok: true, data: { cases: 1 } });
  });

  it('refuses an answer with a missing field or a value of the wrong type, naming the field and the path', () => {
    const without = { ...ANSWER, series: [{ cases: 123456 }] };
    expect(mapAnswer(without, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'new_cases: series[0].new is missing in the answer' });
    expect(mapAnswer({ ...ANSWER, series: [] }, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'cases: series[0].cases is missing in the answer' });
    expect(mapAnswer({ ...ANSWER, series: [{ cases: '123456', new: 89 }] }, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'cases: series[0].cases is "123456" (text), expected a number' });
    expect(mapAnswer({ ...ANSWER, meta: { ...ANSWER.meta, date: 'yesterday' } }, PATHS, FIELDS)).to.include({ ok: false, reason: 'date: meta.date is "yesterday" (text), expected a date (such as "2026-11-20" or an ISO timestamp)' });
    expect(mapAnswer({ ...ANSWER, meta: { ...ANSWER.meta, region: { name: 'x' } } }, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'region: meta.region is an object, expected text or a number' });
    expect(mapAnswer({ ...ANSWER, series: [{ cases: null, new: 1 }] }, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'cases: series[0].cases is null, expected a number' });
    expect(mapAnswer('<html>', PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'date: meta.date is missing in the answer' });
    expect(mapAnswer({ meta: { date: '2026-11-20', region: 'x' }, series: { 0: { cases: 1, new: 1 } } }, PATHS, FIELDS)).to.deep.equal({ ok: false, reason: 'cases: series[0].cases is missing in the answer' });
  });

  it('reads paths with keys and indexes, and refuses what is not one', () => {
    expect(parsePath('data.series[2].value')).to.deep.equal(['data', 'series', 2, 'value']);
    expect(parsePath('[0][1]')).to.deep.equal([0, 1]);
    for (const bad of ['', 'a..b', '.a', 'a.', 'a[x]', 'a[]']) expect(parsePath(bad), bad).to.equal(undefined);
  });

  it('data is new when any mapped field differs; with a version field, only when the version does', () => {
    const data = { date: '2026-11-20', cases: 100, new_cases: 5 };
    expect(datasetKey(data, undefined)).to.equal(datasetKey({ new_cases: 5, cases: 100, date: '2026-11-20' }, undefined));
    expect(datasetKey(data, undefined)).not.to.equal(datasetKey({ ...data, cases: 101 }, undefined));
    expect(datasetKey(data, 'date')).to.equal(datasetKey({ ...data, cases: 101 }, 'date'));
    expect(datasetKey(data, 'date')).not.to.equal(datasetKey({ ...data, date: '2026-11-21' }, 'date'));
  });

  it('retries a transient failure with backoff until the grace period ends; never a permanent one', () => {
    const now = new Date('2026-11-20T08:00:00Z');
    const deadline = new Date('2026-11-20T09:00:00Z');
    const transient = new TransientError('HTTP 503', { code: 'source-http-503' });
    expect(retryDelay(1, transient, 0.5, now, deadline)).to.equal(750);
    expect(retryDelay(3, transient, 0, now, deadline)).to.equal(2000);
    expect(retryDelay(20, transient, 0.99, now, deadline)).to.be.at.most(5 * 60_000);
    expect(retryDelay(1, transient, 0.5, new Date(deadline.getTime() - 500), deadline), 'the next try would come after the grace period').to.equal(null);
    expect(retryDelay(1, new PermanentError('HTTP 404', { code: 'source-http-404' }), 0.5, now, deadline)).to.equal(null);
  });

  it('a run by hand takes the slot of the minute it starts in', () => {
    expect(manualSlot(new Date('2026-11-20T08:59:59.999Z')).toISOString()).to.equal('2026-11-20T08:59:00.000Z');
  });
});
