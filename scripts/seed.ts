import { loadConfig, readEnvFile } from '../config/index.js';
import { openAppDatabase } from '../src/app/app-database.js';
import { Releasers } from '../src/app/lifecycle.js';
import { createLogger } from '../src/app/logger.js';
import { sandboxOverHttp, seedSubscribers, testNumberCapacity, testNumbers } from '../src/app/seed-subscribers.js';
import { buildServices, loadContentConfig } from '../src/app/services.js';
import { systemClock } from '../src/app/system-clock.js';
import { progressOutput } from './cli/progress.js';
import { runCommand, UsageError } from './cli/run-command.js';

const HELP = `Usage: npm run seed -- --count N [--topic T] [--sandbox URL] [--json]

Makes N confirmed test subscribers of topic T the way real ones are made, through the built-in
WhatsApp sandbox of a RUNNING worker (npm start): each test number writes the topic's subscribe
keyword, then taps Yes on the consent question. Waits until each is confirmed in the database.
The numbers are +1 NPA 555-0100 to 555-0199, a range kept for fiction (no real phone has one);
the same N numbers every time, so a second run creates only those not subscribed yet.
  --count     how many test subscribers (1 to the number of test numbers)
  --topic     the topic (default: the first in TOPICS_FILE)
  --sandbox   the worker's sandbox URL; the worker logs it at start ("WhatsApp sandbox listening on
              http://127.0.0.1:PORT"). Default: http://127.0.0.1:SANDBOX_PORT when SANDBOX_PORT is set
  --json      print {"topic","created","alreadySubscribed","first","last"} instead of text
Progress goes to stderr: a bar on a terminal, plain lines otherwise.`;

const FLAGS = { count: { type: 'string' }, topic: { type: 'string' }, sandbox: { type: 'string' } } as const;

/** How long one test number may take for each step (the consent question, then the confirmation). */
const STEP_TIMEOUT_MS = 60_000;
/** Test numbers seeded at the same time. */
const CONCURRENCY = 4;

runCommand({ name: 'npm run seed', help: HELP, flags: FLAGS, json: true }, async ({ values: args, print }) => {
  const capacity = testNumberCapacity();
  if (args.count === undefined) throw new UsageError('give --count N');
  if (!/^\d+$/.test(args.count) || Number(args.count) < 1 || Number(args.count) > capacity) throw new UsageError(`--count: expected a whole number from 1 to ${capacity}, got ${JSON.stringify(args.count)}`);
  const count = Number(args.count);

  const config = loadConfig(process.env, readEnvFile());
  const content = loadContentConfig(config);
  const topic = args.topic ?? content.conversation.topics[0]?.id;
  if (topic === undefined || !content.conversation.topics.some((t) => t.id === topic)) {
    throw new UsageError(`--topic: unknown topic ${JSON.stringify(topic)} (known: ${content.conversation.topics.map((t) => t.id).join(', ') || 'none'})`);
  }
  let url = args.sandbox;
  if (url === undefined) {
    if (config.sandbox.port === 0) throw new UsageError('give --sandbox URL: the running worker logs it at start ("WhatsApp sandbox listening on http://127.0.0.1:PORT"), or start the worker with SANDBOX_PORT set');
    url = `http://127.0.0.1:${config.sandbox.port}`;
  }
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new UsageError(`--sandbox: expected an http(s) URL, got ${JSON.stringify(url)}`);
  const sandbox = sandboxOverHttp(url);
  await sandbox.messages(testNumbers(1)[0]?.slice(1) ?? ''); // is a sandbox there? before anything is started

  const logger = createLogger({ level: 'warn', json: config.env === 'production', pii: false, stream: process.stderr });
  const releasers = new Releasers(logger);
  const progress = progressOutput();
  try {
    const database = await openAppDatabase(config, logger);
    releasers.add('database', () => database.close());
    const services = buildServices(config, logger, systemClock, database.db, content);
    progress.update(0, count, `test subscribers of ${topic}`);
    const result = await seedSubscribers(
      { contacts: services.contacts, conversation: services.conversation, sandbox },
      { count, topic, stepTimeoutMs: STEP_TIMEOUT_MS, concurrency: CONCURRENCY, onProgress: (done, total) => progress.update(done, total, `test subscribers of ${topic}`) },
    );
    progress.stop();
    const already = result.alreadySubscribed > 0 ? ` (${result.alreadySubscribed} of the ${count} test numbers were subscribed already)` : '';
    print(`created ${result.created} confirmed test subscribers of topic ${topic}${already}: ${result.first} to ${result.last}`, result);
    return 0;
  } finally {
    progress.stop();
    await releasers.releaseAll();
  }
});
