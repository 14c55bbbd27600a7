import { Readable } from 'node:stream';
import { expect } from 'chai';
import { importContacts } from '../../src/app/import.js';
import { broadcastReport, createBroadcast, planBroadcast, prepareBroadcast } from '../../src/app/publish.js';
import { CONTACT_IDENTITIES } from '../../src/store/identity-repository.js';
import { CONTACT_MERGES } from '../../src/store/merge-repository.js';
import { contact, entry, envelope, messagesChange } from '../support/meta-webhooks.js';
import { waitFor } from '../support/wait-for.js';
import { personSteps } from '../support/person-steps.js';
import { useWorker } from '../support/worker-harness.js';

const DATA = { date: '2026-11-20T09:00:00Z', cases: 12345, new_cases: 67 };

describe('one contact per person: numbers and business-scoped user ids (usernames), with the worker, the database and the sandbox', function () {
  this.timeout(90_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, new Date('2026-11-20T12:00:00Z'));
  const { services, waId, userIdOf, liveContactsOf, sentTo, nextTimestamp, subscribe, write, publishAndRun, deliveryOf } = personSteps(h);

  const csv = (header: string, ...rows: string[]) => Readable.from([[header, ...rows].join('\n')]);
  const importRows = (text: Readable) => importContacts(services(), text, { topic: 'fallzahlen', consentSource: 'web-form', dryRun: false });

  const numberThenUsername = '+4915120000001';
  const usernameOnly = '+4915120000002';
  const refused = '+4915120000003';
  const learnsNumber = '+4915120000004';
  const stopsAsUsername = '+4915120000005';
  const stopsByNumber = '+4915120000006';
  const twoContacts = '+4915120000007';

  it('a person who writes first with the number, then as a username contact (no number), is one contact and gets each broadcast once', async () => {
    await subscribe(numberThenUsername);
    await h.sandbox.setContact({ phone: numberThenUsername, username: true });
    const written = await write(numberThenUsername, 'Hallo');
    const [one, ...others] = await liveContactsOf(numberThenUsername);
    expect(others, 'other contacts of the same person').to.deep.equal([]);
    expect(one?._id).to.equal(numberThenUsername);
    expect(one?.lastInboundAt?.getTime(), 'the window moved with the username message').to.equal(written.getTime());
    const identities = await h.worker.deps.db.collection(CONTACT_IDENTITIES).find({ contactKey: numberThenUsername }).toArray();
    expect(identities.map((i) => i._id).sort()).to.deep.equal([numberThenUsername, `user:${userIdOf(numberThenUsername)}`].sort());

    const before = sentTo(numberThenUsername).length;
    const broadcast = await publishAndRun('number-then-username');
    const news = sentTo(numberThenUsername).slice(before);
    expect(news, 'messages of this broadcast').to.have.length(1);
    expect(news[0]?.byUserId, 'the number is known: it goes there').to.not.equal(true);
    expect((await broadcastReport(services(), broadcast.id)).byKind).to.deep.include({ session: 1 });
  });

  it('a username contact known only by the user id subscribes, gets the conversation replies and the broadcast through `recipient`', async () => {
    await h.sandbox.setContact({ phone: usernameOnly, username: true });
    await subscribe(usernameOnly);
    const [one, ...others] = await liveContactsOf(usernameOnly);
    expect(others).to.deep.equal([]);
    expect(one?._id).to.equal(`user:${userIdOf(usernameOnly)}`);
    expect(one?.phone, 'no number was ever shown').to.equal(undefined);
    expect(one?.subscriptions?.fallzahlen?.state).to.equal('subscribed');
    expect(sentTo(usernameOnly).length, 'the confirmation question and the welcome').to.be.greaterThan(0);
    expect(sentTo(usernameOnly).every((m) => m.byUserId === true), 'every reply went to the user id').to.equal(true);

    const before = sentTo(usernameOnly).length;
    const broadcast = await publishAndRun('username-only');
    const news = sentTo(usernameOnly).slice(before);
    expect(news.map((m) => [m.type, m.byUserId])).to.deep.equal([['text', true]]);
    const delivery = await deliveryOf(broadcast.id, `user:${userIdOf(usernameOnly)}`);
    expect(['sent', 'delivered', 'read']).to.include(delivery?.state);
  });

  it('131062 for a user id recipient fails only that delivery, with its reason', async () => {
    await h.sandbox.setContact({ phone: refused, username: true });
    await subscribe(refused);
    await h.sandbox.setContact({ phone: refused, username: true, forceError: { code: 131062, via: 'response' } });
    const broadcast = await publishAndRun('refused-user-id');
    const delivery = await deliveryOf(broadcast.id, `user:${userIdOf(refused)}`);
    expect(delivery).to.deep.include({ state: 'failed', errorCode: '131062' });
    expect(delivery?.reason).to.match(/business-scoped user id/);
    // The others of the topic got it.
    const report = await broadcastReport(services(), broadcast.id);
    expect((report.deliveries as Record<string, number>).failed).to.equal(1);
    expect(Object.values(report.byKind as Record<string, number>).reduce((a, b) => a + b, 0)).to.be.greaterThan(1);
    await h.sandbox.setContact({ phone: refused, username: true });
  });

  it('131062 while the number became known meanwhile: the message goes to the number instead', async () => {
    await h.sandbox.setContact({ phone: learnsNumber, username: true });
    await subscribe(learnsNumber);
    const key = `user:${userIdOf(learnsNumber)}`;
    // The send to the user id waits in the sandbox, then fails with 131062.
    await h.sandbox.setContact({ phone: learnsNumber, username: true, forceError: { code: 131062, times: 1, via: 'response' }, delayMs: 1500 });
    const prepared = prepareBroadcast(services(), { topic: 'fallzahlen', data: DATA, key: 'learns-number' });
    const { broadcast } = await createBroadcast(services(), prepared, await planBroadcast(services(), prepared, h.clock.now()), h.clock.now());
    await h.worker.scheduler.scheduleUnique('plan-broadcast', { broadcastId: broadcast.id }, 'broadcastId', h.clock.now());
    await waitFor('the send to the user id to be under way', async () => (await deliveryOf(broadcast.id, key))?.state === 'sending', 30_000, 20);
    // Meanwhile a message shows the person's number with the same user id.
    const body = envelope(entry(messagesChange({
      contacts: [contact(waId(learnsNumber), 'Lea', { user_id: userIdOf(learnsNumber) })],
      messages: [{ from: waId(learnsNumber), from_user_id: userIdOf(learnsNumber), id: 'wamid.LEARNS1', timestamp: String(nextTimestamp()), type: 'text', text: { body: 'ok' } }],
    })));
    expect((await h.postWebhook(body)).status).to.equal(200);
    await waitFor('the number to be on the contact', async () => (await services().contacts.get(key))?.phone === learnsNumber, 30_000, 20);
    await waitFor('the broadcast to finish', async () => (await broadcastReport(services(), broadcast.id)).status === 'done', 60_000, 100);
    const delivery = await deliveryOf(broadcast.id, key);
    expect(['sent', 'delivered', 'read']).to.include(delivery?.state);
    expect(delivery?.attempts, 'the user id, then the number').to.equal(2);
    const news = sentTo(learnsNumber).filter((m) => m.callbackData === delivery?.id);
    expect(news.map((m) => m.byUserId === true)).to.deep.equal([false]);
    await h.sandbox.setContact({ phone: learnsNumber });
  });

  it('an opt-out given as a username contact blocks the number too: an import by number is refused as suppressed', async () => {
    await subscribe(stopsAsUsername);
    await h.sandbox.setContact({ phone: stopsAsUsername, username: true });
    await write(stopsAsUsername, 'STOP');
    const [one] = await liveContactsOf(stopsAsUsername);
    expect(one?.subscriptions?.fallzahlen?.state).to.equal('unsubscribed');
    expect(await services().suppressions.find(stopsAsUsername), 'the number').to.deep.include({ reason: 'opt-out' });
    expect(await services().suppressions.find(`user:${userIdOf(stopsAsUsername)}`), 'the user id').to.deep.include({ reason: 'opt-out' });

    const byNumber = await importRows(csv('phone,consent_at,consent_text', `${stopsAsUsername},2026-11-01,Ja`));
    expect(byNumber.rejectedByReason).to.deep.equal({ suppressed: 1 });
    const byUserId = await importRows(csv('bsuid,consent_at,consent_text', `${userIdOf(stopsAsUsername)},2026-11-01,Ja`));
    expect(byUserId.rejectedByReason).to.deep.equal({ suppressed: 1 });
    await h.sandbox.setContact({ phone: stopsAsUsername });
  });

  it('an opt-out given by number blocks the user id: an import by user id alone is refused as suppressed', async () => {
    await importRows(csv('phone,consent_at,consent_text', `${stopsByNumber},2026-11-01,Ja`));
    await write(stopsByNumber, 'STOP');
    const byUserId = await importRows(csv('bsuid,consent_at,consent_text', `${userIdOf(stopsByNumber)},2026-11-02,Ja`));
    expect(byUserId.rejectedByReason).to.deep.equal({ suppressed: 1 });
    expect(await liveContactsOf(stopsByNumber)).to.have.length(1);
  });

  it('two contacts that turn out to be one person are merged once: the later window, both consents on record, each broadcast once', async () => {
    // Known as a username contact (subscribed over WhatsApp), and by number from a list.
    await h.sandbox.setContact({ phone: twoContacts, username: true });
    await subscribe(twoContacts);
    const userKey = `user:${userIdOf(twoContacts)}`;
    const subscribedOverWhatsApp = (await services().contacts.get(userKey))?.subscriptions.fallzahlen;
    expect(subscribedOverWhatsApp?.consent).to.deep.include({ source: 'button' });
    const imported = await importRows(csv('phone,consent_at,consent_text', `${twoContacts},2026-11-01,Ja bitte`));
    expect(imported.imported).to.equal(1);
    expect(await liveContactsOf(twoContacts), 'two contacts so far').to.have.length(2);
    const usernameWindow = (await services().contacts.get(userKey))?.lastInboundAt;

    // Then a message shows the number and the user id together.
    await h.sandbox.setContact({ phone: twoContacts });
    await write(twoContacts, 'Danke');
    const live = await liveContactsOf(twoContacts);
    expect(live.map((c) => c._id)).to.deep.equal([twoContacts]);
    const merged = await services().contacts.get(twoContacts);
    expect(merged?.mergedFrom).to.deep.equal([userKey]);
    expect(merged?.lastInboundAt?.getTime()).to.be.greaterThan(usernameWindow?.getTime() ?? Infinity);
    expect(merged?.subscriptions.fallzahlen?.state).to.equal('subscribed');
    expect(merged?.userId).to.equal(userIdOf(twoContacts));
    const record = await h.worker.deps.db.collection(CONTACT_MERGES).findOne({ _id: userKey } as never);
    expect(record).to.deep.include({ into: twoContacts, state: 'done' });
    // Both consents stay on record: one on the contact, the other in the merge record.
    const consents = [merged?.subscriptions.fallzahlen?.consent, (record?.contact as { subscriptions: Record<string, { consent?: unknown }> }).subscriptions.fallzahlen?.consent];
    expect(consents.map((c) => (c as { source?: string } | undefined)?.source).sort()).to.deep.equal(['button', 'import']);
    expect(await services().contacts.current(userKey)).to.deep.include({ key: twoContacts });

    const before = sentTo(twoContacts).length;
    await publishAndRun('after-merge');
    expect(sentTo(twoContacts).slice(before), 'one message for the person').to.have.length(1);
  });
});
