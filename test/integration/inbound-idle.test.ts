import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { InboundProcessor, type ReplyRecipient } from '../../src/app/inbound-processor.js';
import { buildServices, loadContentConfig } from '../../src/app/services.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { Reply } from '../../src/domain/conversation.js';
import type { InboundMessageEvent } from '../../src/whatsapp/webhook-parser.js';
import { captureLogger, testConfig } from '../support/test-config.js';
import { useTestDatabase } from '../support/test-server.js';

const NOW = new Date('2026-11-20T09:00:00Z');

describe('waiting for the inbound handling', function () {
  this.timeout(30_000);
  const database = useTestDatabase(import.meta.url);

  it('also waits for a message the sweep job is handling, until its reply went', async () => {
    const config = testConfig();
    const services = buildServices(config, captureLogger('warn').logger, new ManualClock(NOW), database.db, loadContentConfig(config));
    const sent: string[] = [];
    // The sandbox takes its time to accept the reply.
    const replies = {
      async sendReply(_to: ReplyRecipient, reply: Reply): Promise<void> {
        await sleep(300);
        sent.push(reply.kind);
      },
    };
    const inbound = new InboundProcessor({ ...services, replies, logger: captureLogger('warn').logger, staleMs: 60_000 });
    const event: InboundMessageEvent = {
      type: 'message', id: 'wamid.SWEPT', kind: 'text', text: 'Fallzahlen', timestamp: NOW, from: '4915112340001', phone: '+4915112340001' as InboundMessageEvent['phone'],
      messageType: 'text', wabaId: 'waba', phoneNumberId: 'pnid',
    };
    await services.events.addInbound([{ contactKey: '+4915112340001', event }], NOW);
    // The sweep job runs the drain itself (a worker died before handling the message, or the
    // webhook's own kick found it claimed); the background drain then has nothing to do.
    const sweep = inbound.drain();
    await inbound.idle();
    expect(sent, 'replies sent when idle() returned').to.deep.equal(['buttons']);
    expect(await sweep).to.equal(1);
  });
});
