import { expect } from 'chai';
import { INBOUND } from '../../src/store/webhook-event-repository.js';
import { waitFor } from '../support/wait-for.js';
import { useWorker } from '../support/worker-harness.js';

const PHONE = '+4915112345678';
const WA_ID = '4915112345678';

describe('conversation end to end: worker, real database, sandbox over HTTP', function () {
  this.timeout(30_000);
  const h = useWorker(import.meta.url);
  const sent = () => h.sandbox.messages({ to: WA_ID });
  const contact = () => h.worker.deps.contacts.get(PHONE);

  it('"Fallzahlen" makes the contact pending and asks the consent question with Yes / No buttons', async () => {
    await h.sandbox.inbound({ from: WA_ID, text: 'Fallzahlen', name: 'Alex' });
    const [question] = await waitFor('the consent question', () => (sent().length === 1 ? sent() : undefined));
    expect(question?.type).to.equal('interactive');
    expect(question?.body).to.include('Möchtest du informiert werden, wenn neue Zahlen vorliegen?');
    const stored = await contact();
    expect(stored?.subscriptions.fallzahlen?.state).to.equal('pending');
    expect(stored?.profileName).to.equal('Alex');
    expect(stored?.lastInboundAt?.getTime()).to.equal(Math.floor(h.clock.now().getTime() / 1000) * 1000);
  });

  it('tapping Yes subscribes with a consent record and confirms', async () => {
    h.clock.advance(30_000);
    const { id } = await h.sandbox.inbound({ from: WA_ID, button: { id: 'yes:fallzahlen', title: 'Ja' } });
    await waitFor('the confirmation', () => sent().length === 2);
    expect(sent()[1]?.body).to.match(/^Danke!/);
    const subscription = (await contact())?.subscriptions.fallzahlen;
    expect(subscription?.state).to.equal('subscribed');
    expect(subscription?.consent).to.deep.include({ source: 'button', messageId: id, language: 'de', wording: 'Möchtest du informiert werden, wenn neue Zahlen vorliegen?' });
    expect(subscription?.consent?.at).to.be.instanceOf(Date);
    expect(await h.worker.deps.suppressions.isSuppressed(PHONE)).to.equal(false);
  });

  it('STOP unsubscribes from every topic, writes the suppression record and confirms once', async () => {
    h.clock.advance(30_000);
    await h.sandbox.inbound({ from: WA_ID, text: 'STOP' });
    await waitFor('the stop confirmation', () => sent().length === 3);
    expect(sent()[2]?.body).to.include('abgemeldet');
    const stored = await contact();
    expect(Object.values(stored?.subscriptions ?? {}).map((s) => s.state)).to.deep.equal(['unsubscribed']);
    expect(stored?.subscriptions.fallzahlen?.consent?.source, 'earlier consent kept as evidence').to.equal('button');
    const suppression = await h.worker.deps.suppressions.find(PHONE);
    expect(suppression?.reason).to.equal('opt-out');
    // The suppression holds a keyed hash, never the number.
    const raw = await h.worker.deps.db.collection('suppressions').find().toArray();
    expect(JSON.stringify(raw)).not.to.include(WA_ID);
    await h.worker.deps.inbound.idle();
    expect(sent()).to.have.length(3);
  });

  it('"Stop sending me the bill" is not an opt-out: it gets the help text once per window', async () => {
    h.clock.advance(30_000);
    await h.sandbox.inbound({ from: WA_ID, text: 'Fallzahlen' });
    await waitFor('the question', () => sent().length === 4);
    await h.sandbox.inbound({ from: WA_ID, text: 'Stop sending me the bill' });
    await waitFor('the help text', () => sent().length === 5);
    expect(sent()[4]?.body).to.match(/^Hallo!/);
    expect((await contact())?.subscriptions.fallzahlen?.state).to.equal('pending');
    await h.sandbox.inbound({ from: WA_ID, text: 'hello?' });
    await waitFor('the second message to be handled', async () => (await h.worker.deps.events.countInbound({ state: 'done' })) === 6);
    expect(sent(), 'no second help text in the same window').to.have.length(5);
  });

  it('a reaction neither replies nor moves the window', async () => {
    const before = (await contact())?.lastInboundAt;
    h.clock.advance(60_000);
    const payload = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000001', phone_number_id: h.worker.deps.config.whatsapp.phoneNumberId },
      contacts: [{ profile: { name: 'Alex' }, wa_id: WA_ID }],
      messages: [{ from: WA_ID, id: 'wamid.REACTION1', timestamp: String(Math.floor(h.clock.now().getTime() / 1000)), type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '👍' } }],
    } }] }] };
    expect((await h.postWebhook(payload)).status).to.equal(200);
    await waitFor('the reaction to be handled', async () => (await h.worker.deps.events.inbound('wamid.REACTION1'))?.state === 'done');
    expect((await contact())?.lastInboundAt).to.deep.equal(before);
    expect(sent()).to.have.length(5);
    expect(await h.worker.deps.db.collection(INBOUND).countDocuments({ 'event.id': 'wamid.REACTION1' })).to.equal(1);
  });
});
