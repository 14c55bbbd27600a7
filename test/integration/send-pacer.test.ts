import { expect } from 'chai';
import { MongoClient } from 'mongodb';
import { SendPacer } from '../../src/store/send-pacer.js';
import { useTestDatabase } from '../support/test-server.js';

/** Sends in the pacer's slots like the fan-out does, until `until`; returns the send times. */
async function sendLoop(pacer: SendPacer, until: number, block: number): Promise<number[]> {
  const sent: number[] = [];
  while (Date.now() < until) {
    const slot = await pacer.next(block);
    await pacer.waitFor(slot);
    if (pacer.isLate(slot)) continue; // a late slot is given up, like the fan-out does
    sent.push(Date.now());
  }
  return sent;
}

function worstSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < sorted.length; i += 1) {
    while (j < sorted.length && (sorted[j] as number) - (sorted[i] as number) < 1000) j += 1;
    worst = Math.max(worst, j - i);
  }
  return worst;
}

describe('SendPacer: one rate for all workers, through unique slot documents', function () {
  this.timeout(30_000);
  const database = useTestDatabase(import.meta.url);

  it('three workers on separate connections together send at the rate, never above it in any second', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => new MongoClient(database.uri).connect()));
    try {
      const until = Date.now() + 4000;
      const results = await Promise.all(clients.map((c) => sendLoop(new SendPacer(c.db(database.name), 50), until, 12)));
      const all = results.flat();
      expect(worstSecond(all), 'sends in the busiest second').to.be.at.most(51);
      const span = (Math.max(...all) - Math.min(...all)) / 1000;
      expect((all.length - 1) / span, 'sends per second over the run (at most 85 % of the rate)').to.be.at.most(44);
      expect(results.every((r) => r.length > 0), 'every worker got slots').to.equal(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('hands out distinct slots to concurrent callers, and reserves in blocks when the sends are slower than the pace', async () => {
    const client = new MongoClient(database.uri, { monitorCommands: true });
    let inserts = 0;
    client.on('commandStarted', (event) => {
      if (event.commandName === 'insert' && event.command.insert === 'send_slots') inserts += 1;
    });
    try {
      const pacer = new SendPacer((await client.connect()).db(database.name), 1000, Date.now, 'block-test');
      const together = await Promise.all(Array.from({ length: 20 }, () => pacer.next(50)));
      expect(new Set(together).size, 'distinct slots').to.equal(20);
      // One send every 5 ms against a pace of 1,000/s: most reserved slots go by unused. A block
      // of 50 serves many sends; a reservation per late send would be one insert per message.
      inserts = 0;
      for (let i = 0; i < 100; i += 1) {
        await pacer.waitFor(await pacer.next(50));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(inserts, 'slot inserts for 100 slow sends').to.be.at.most(25);
    } finally {
      await client.close();
    }
  });

  it('after a throughput error everyone slows down for a while', async () => {
    const pacer = new SendPacer(database.db, 100, Date.now, 'slow-test');
    await pacer.slowDown(10_000, 4, 200);
    const start = Date.now();
    const sent = await sendLoop(pacer, start + 2000, 10);
    expect(sent[0] ?? 0, 'first send after the pause').to.be.at.least(start + 150);
    expect(worstSecond(sent), 'a quarter of the rate').to.be.at.most(25);
  });
});
