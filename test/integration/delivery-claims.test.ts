import { expect } from 'chai';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { DeliveryRepository } from '../../src/store/delivery-repository.js';
import { useTestDatabase } from '../support/test-server.js';

/**
 * A fan-out's lanes claim deliveries right before their requests and mark them sent right after.
 * Claims and marks made at the same moment share one command, and each claim is still won by
 * exactly one worker.
 */
describe('delivery claims and sent marks', function () {
  this.timeout(60_000);
  const database = useTestDatabase(import.meta.url);
  const T = new Date('2026-11-23T12:00:00Z');
  const clients: MongoClient[] = [];
  const commands: CommandStartedEvent[] = [];

  /** A worker's repository on a connection of its own. */
  const worker = async (): Promise<DeliveryRepository> => {
    const client = new MongoClient(database.uri, { monitorCommands: true });
    client.on('commandStarted', (event) => {
      if (event.commandName !== 'find') commands.push(event);
    });
    clients.push(client);
    return new DeliveryRepository((await client.connect()).db(database.name));
  };
  after(() => Promise.all(clients.map((client) => client.close())));

  it('claims and marks made at the same moment go in one command; a claim of a delivery on record is lost', async () => {
    const deliveries = await worker();
    const claim = (key: string) => deliveries.claim('c1', key, 'session', 0, T, undefined);
    expect(await claim('+4915100000101')).to.equal(true);
    expect(await claim('+4915100000102')).to.equal(true);
    await deliveries.skip('c1', '+4915100000103', 'not subscribed', T);
    commands.splice(0);

    const marked = await deliveries.idOf('c1', '+4915100000101');
    const outcomes = await Promise.all([
      claim('+4915100000102'), // claimed before: another lane or worker has it
      claim('+4915100000103'), // skipped: on record, not to be sent
      claim('+4915100000104'),
      deliveries.markSent(marked, 'wamid.101', T).then(() => 'marked'),
    ]);
    expect(outcomes).to.deep.equal([false, false, true, 'marked']);
    expect(commands.map((c) => `${c.commandName} ${String(c.command[c.commandName])}`)).to.deep.equal(['update deliveries']);
    expect(await deliveries.get(marked)).to.deep.include({ state: 'sent', wamid: 'wamid.101' });
    expect(await deliveries.get(await deliveries.idOf('c1', '+4915100000103'))).to.deep.include({ state: 'skipped', attempts: 0 });
    expect(await deliveries.get(await deliveries.idOf('c1', '+4915100000104'))).to.deep.include({ state: 'sending', kind: 'session', attempts: 1, contactKey: '+4915100000104' });
  });

  it('two workers claiming the same deliveries at the same moment: each delivery is won once', async () => {
    const [one, two] = [await worker(), await worker()];
    const keys = Array.from({ length: 40 }, (_, i) => `+49151000002${String(i).padStart(2, '0')}`);
    const [won1, won2] = await Promise.all([one, two].map((deliveries) => Promise.all(keys.map((key) => deliveries.claim('c2', key, 'template', 0.1, T, undefined)))));
    expect(keys.filter((_, i) => won1?.[i] === won2?.[i]), 'won by both or by neither').to.deep.equal([]);
  });
});
