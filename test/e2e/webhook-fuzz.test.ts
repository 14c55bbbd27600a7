import { expect } from 'chai';
import { FUZZ_KINDS, WebhookFuzzer } from '../support/webhook-fuzz.js';
import { checkAnswer, checkFuzzState, runFuzz } from '../support/webhook-fuzz-run.js';
import { useWorker } from '../support/worker-harness.js';

/** Replay a failure with the seed it printed: FUZZ_SEED=<seed> npx mocha ... this file. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_260_501);
const REQUESTS = 2000;
const CONCURRENCY = 4;
const BODY_LIMIT = 256 * 1024;

describe('webhook fuzz: generated hostile requests against a running worker', function () {
  this.timeout(180_000);
  // Every reply is taken by the sandbox (and reported failed later), so a reply to anyone shows up there.
  const h = useWorker(import.meta.url, { SANDBOX_OUTSIDE_WINDOW: 'failed-status', WEBHOOK_BODY_LIMIT_BYTES: String(BODY_LIMIT) });

  it(`answers ${REQUESTS} requests as expected; only accepted events change state or reach the sandbox (seed ${SEED})`, async () => {
    const { config } = h.worker.deps;
    const fuzzer = new WebhookFuzzer({
      seed: SEED, appSecret: config.whatsapp.appSecret, verifyToken: config.whatsapp.verifyToken,
      now: h.clock.now(), bodyLimit: BODY_LIMIT, maxValueChars: 32 * 1024,
    });
    const runs = await runFuzz(h.worker.url, fuzzer, REQUESTS, CONCURRENCY);
    const requests = runs.map((r) => r.request);
    const wrongAnswers = runs.map(({ request, result }) => checkAnswer(request, result)).filter((problem) => problem !== undefined);
    const replay = `replay with FUZZ_SEED=${SEED}`;
    expect(wrongAnswers.slice(0, 5), `${wrongAnswers.length} wrong answers (${replay})`).to.deep.equal([]);
    expect(new Set(requests.map((r) => r.kind)), 'every kind of request was made').to.have.property('size', FUZZ_KINDS.length);

    await h.worker.deps.webhookBatches.idle(); // the events of every answered batch are stored
    await h.worker.deps.inbound.idle(); // the replies to what was accepted have all been sent
    const latestAllowed = new Date(h.clock.now().getTime() + config.webhook.maxClockSkewMs);
    expect(await checkFuzzState(h.worker.deps.db, h.sandbox.messages(), requests, latestAllowed), replay).to.deep.equal([]);
    expect((await fetch(`${h.worker.url}/healthz`)).status).to.equal(200);
  });
});
