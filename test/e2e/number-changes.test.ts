import { expect } from 'chai';
import { CONTACTS } from '../../src/store/contact-repository.js';
import { IdentityChangeRepository } from '../../src/store/identity-change-repository.js';
import { CONTACT_IDENTITIES } from '../../src/store/identity-repository.js';
import type { NumberChangeResult } from '../../src/whatsapp/sandbox/control-routes.js';
import { entry, envelope, messagesChange } from '../support/meta-webhooks.js';
import { sandboxCall } from '../support/sandbox-http.js';
import { waitFor } from '../support/wait-for.js';
import { personSteps } from '../support/person-steps.js';
import { useWorker } from '../support/worker-harness.js';


describe('a person changes their number (user_changed_number, user_changed_user_id), with the worker, the database and the sandbox', function () {
  this.timeout(90_000);
  const h = useWorker(import.meta.url, { SEND_RATE_MPS: '1000' }, new Date('2026-11-20T12:00:00Z'));
  const { services, waId, userIdOf, liveContactsOf, sentTo, nextTimestamp, subscribe, write, publishAndRun, deliveryOf } = personSteps(h);
  const identitiesOf = async (contactKey: string) => (await h.worker.deps.db.collection(CONTACT_IDENTITIES).find({ contactKey } as never).toArray()).map((i) => String(i._id)).sort();
  const identity = (name: string) => h.worker.deps.db.collection(CONTACT_IDENTITIES).findOne({ _id: name } as never);
  const changes = () => new IdentityChangeRepository(h.worker.deps.db);

  /** The sandbox's number change over its control API; resolves once the worker stored what the system message carried. */
  async function changeNumber(phone: string, newPhone: string): Promise<NumberChangeResult> {
    const answer = await sandboxCall<NumberChangeResult>(h.sandbox.url, 'POST', '/_sandbox/contacts', { phone, newPhone, name: 'Ada' });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.delivered, 'the worker took the system message').to.equal(true);
    await h.worker.deps.webhookBatches.idle();
    return answer.body;
  }

  /** The system message of a number change as the sandbox sends it, to post again (Meta retries). */
  const systemMessage = (change: NumberChangeResult, timestamp: number) => envelope(entry(messagesChange({
    messages: [{
      from: change.previous.waId, id: change.id, timestamp: String(timestamp), type: 'system',
      system: { body: `User Ada changed from ${change.previous.waId} to ${change.waId}`, wa_id: change.waId, type: 'user_changed_number', user_id: change.userId, previous_user_id: change.previous.userId },
    }],
  })));


  /**
   * The messages of a contact's delivery the sandbox accepted for this number, once one of them
   * got through. The platform's window does not move with the number (the sandbox plays that):
   * a session message the worker sends in the window it knows is refused (131047), and the
   * template goes instead; only the one that got through reaches the person.
   */
  async function reached(broadcastId: string, key: string, phone: string) {
    const id = await services().deliveries.idOf(broadcastId, key);
    const forIt = () => sentTo(phone).filter((m) => m.callbackData === id);
    const through = (m: { status: string }) => ['sent', 'delivered', 'read'].includes(m.status);
    await waitFor('a message of the delivery to get through', () => forIt().some(through), 30_000);
    await waitFor('the delivery to be sent', async () => ['sent', 'delivered', 'read'].includes((await services().deliveries.get(id))?.state ?? ''), 30_000);
    return { through: forIt().filter(through), all: forIt() };
  }

  const [moves, movesTo] = ['+4915120000101', '+4915120000102'];
  const [wroteFirst, wroteFirstTo] = ['+4915120000103', '+4915120000104'];
  const [twice, twiceTo, twiceAgain] = ['+4915120000105', '+4915120000106', '+4915120000107'];
  const [hidden, hiddenTo] = ['+4915120000108', '+4915120000109'];
  const [wasShown, wasShownTo] = ['+4915120000110', '+4915120000111'];
  const [recycled, recycledTo] = ['+4915120000113', '+4915120000114'];
  const [unknown, unknownTo] = ['+4915120000115', '+4915120000116'];
  const [halfWay, halfWayTo] = ['+4915120000117', '+4915120000118'];
  const everyNumber = [moves, movesTo, wroteFirst, wroteFirstTo, twice, twiceTo, twiceAgain, hidden, hiddenTo, wasShown, wasShownTo, recycled, recycledTo, unknown, unknownTo, halfWay, halfWayTo];

  it('a subscriber who changes number stays one subscribed contact; the next broadcast goes to the new number once, not to the old one', async () => {
    await subscribe(moves);
    const before = await services().contacts.get(moves);
    const change = await changeNumber(moves, movesTo);

    const [one, ...others] = await liveContactsOf(moves, movesTo);
    expect(others, 'other contacts of the same person').to.deep.equal([]);
    expect(one?._id, 'the contact keeps its key').to.equal(moves);
    const after = await services().contacts.get(moves);
    expect(after).to.deep.include({ phone: movesTo, waId: waId(movesTo), userId: userIdOf(movesTo) });
    expect(after?.subscriptions.fallzahlen?.state).to.equal('subscribed');
    expect(after?.lastInboundAt?.getTime(), 'a system message opens no window').to.equal(before?.lastInboundAt?.getTime());
    expect(await services().events.inbound(change.id), 'not a conversation message').to.equal(undefined);
    expect(await identity(moves), 'the old number may be given to someone else').to.equal(null);
    expect(await identitiesOf(moves)).to.deep.equal([movesTo, `user:${change.previous.userId}`, `user:${change.userId}`].sort());
    expect(await changes().find(change.id)).to.deep.equal({ applied: true, outcome: 'moved' });

    const toOld = sentTo(moves).length;
    const broadcast = await publishAndRun('after-number-change');
    const { through } = await reached(broadcast.id, moves, movesTo);
    expect(through, 'the broadcast reaches the new number once').to.have.length(1);
    expect(sentTo(moves).length, 'nothing for the old number').to.equal(toOld);
    expect((await deliveryOf(broadcast.id, moves))?.errorCode, 'no 131026').to.equal(undefined);
  });

  it('a person who wrote from the new number before the system message came: the two contacts are merged into the old one, still subscribed', async () => {
    await subscribe(wroteFirst);
    await write(wroteFirstTo, 'Hallo');
    expect((await liveContactsOf(wroteFirst, wroteFirstTo)).map((c) => c._id).sort(), 'two contacts so far').to.deep.equal([wroteFirst, wroteFirstTo].sort());
    const change = await changeNumber(wroteFirst, wroteFirstTo);

    expect((await liveContactsOf(wroteFirst, wroteFirstTo)).map((c) => c._id)).to.deep.equal([wroteFirst]);
    const merged = await services().contacts.get(wroteFirst);
    expect(merged?.mergedFrom).to.deep.equal([wroteFirstTo]);
    expect(merged).to.deep.include({ phone: wroteFirstTo, userId: change.userId });
    expect(merged?.subscriptions.fallzahlen?.state).to.equal('subscribed');
    expect(await identitiesOf(wroteFirst)).to.deep.equal([wroteFirstTo, `user:${change.previous.userId}`, `user:${change.userId}`].sort());

    const broadcast = await publishAndRun('after-merge');
    const { through, all } = await reached(broadcast.id, wroteFirst, wroteFirstTo);
    expect(through, 'one message for the person').to.have.length(1);
    expect(all, 'in the window the new number opened: nothing refused').to.have.length(1);
    expect(await services().deliveries.idOf(broadcast.id, wroteFirstTo).then((id) => services().deliveries.get(id)), 'none for the merged contact').to.equal(undefined);
  });

  it('a system message posted again after a second change changes nothing: the contact keeps the latest number', async () => {
    await subscribe(twice);
    const first = await changeNumber(twice, twiceTo);
    await changeNumber(twiceTo, twiceAgain);
    const stored = () => h.worker.deps.db.collection(CONTACTS).findOne({ _id: twice } as never);
    const before = await stored();
    expect(before).to.deep.include({ phone: twiceAgain, userId: userIdOf(twiceAgain) });

    // Meta delivers the first one again.
    const replayed = await h.postWebhook(systemMessage(first, nextTimestamp()));
    expect(replayed.status).to.equal(200);
    // Nothing moves back (the sandbox may still deliver its own copies of the second change, which set the same values).
    const after = await stored();
    expect(after).to.deep.include({ phone: twiceAgain, waId: twiceAgain.slice(1), userId: userIdOf(twiceAgain) });
    expect(await identity(twiceTo), 'the number in between stays released').to.equal(null);
    expect(await identitiesOf(twice)).to.deep.equal([twiceAgain, `user:${userIdOf(twice)}`, `user:${userIdOf(twiceTo)}`, `user:${userIdOf(twiceAgain)}`].sort());
    expect((await liveContactsOf(twice, twiceTo, twiceAgain)).map((c) => c._id)).to.deep.equal([twice]);
  });

  it('a username contact (no number shared) who changes number: user_changed_user_id links the new user id, the broadcast goes to it', async () => {
    await h.sandbox.setContact({ phone: hidden, username: true });
    await subscribe(hidden);
    const key = `user:${userIdOf(hidden)}`;
    const change = await changeNumber(hidden, hiddenTo);
    expect(change.userId).to.not.equal(change.previous.userId);

    expect((await liveContactsOf(hidden, hiddenTo)).map((c) => c._id)).to.deep.equal([key]);
    const after = await services().contacts.get(key);
    expect(after?.userId).to.equal(change.userId);
    expect(after?.phone, 'no number was ever shown').to.equal(undefined);
    expect(after?.subscriptions.fallzahlen?.state).to.equal('subscribed');
    expect(await identitiesOf(key)).to.deep.equal([key, `user:${change.userId}`].sort());
    expect(await changes().find(change.id)).to.deep.equal({ applied: true, outcome: 'moved' });

    const broadcast = await publishAndRun('after-user-id-change');
    const { through } = await reached(broadcast.id, key, hiddenTo);
    expect(through.map((m) => m.byUserId), 'once, to the new user id').to.deep.equal([true]);
  });

  it('a person known by number who hides it and then changes number: the old number is dropped, the broadcast goes to the new user id', async () => {
    await subscribe(wasShown);
    await h.sandbox.setContact({ phone: wasShown, username: true });
    await write(wasShown, 'Hallo');
    expect(await services().contacts.get(wasShown)).to.deep.include({ phone: wasShown, userId: userIdOf(wasShown) });
    const change = await changeNumber(wasShown, wasShownTo);

    const after = await services().contacts.get(wasShown);
    expect(after?.userId).to.equal(change.userId);
    expect(after, 'the old number no longer reaches them').to.not.have.any.keys('phone', 'waId');
    expect(await identity(wasShown)).to.equal(null);
    expect(after?.subscriptions.fallzahlen?.state).to.equal('subscribed');

    const toOld = sentTo(wasShown).length;
    const broadcast = await publishAndRun('after-hidden-change');
    const { through } = await reached(broadcast.id, wasShown, wasShownTo);
    expect(through.map((m) => m.byUserId), 'once, to the new user id').to.deep.equal([true]);
    expect(sentTo(wasShown).length, 'nothing for the old number').to.equal(toOld);
  });

  it('a new number that was another contact\'s before (a new user id that nobody had): that contact is not merged, the number points to the person who has it now', async () => {
    await subscribe(recycled);
    await write(recycledTo, 'Hallo'); // the number's earlier owner, another person
    // Meta gives the new owner a user id of their own (the sandbox would reuse the number's).
    const change: NumberChangeResult = { ok: true, id: 'wamid.RECYCLED1', delivered: true, waId: waId(recycledTo), userId: 'DE.NewOwner1', previous: { waId: waId(recycled), userId: userIdOf(recycled) } };
    expect((await h.postWebhook(systemMessage(change, nextTimestamp()))).status).to.equal(200);

    expect((await liveContactsOf(recycled, recycledTo)).map((c) => c._id).sort()).to.deep.equal([recycled, recycledTo].sort());
    expect(await services().contacts.get(recycledTo), 'the earlier owner is left as they were').to.not.have.property('mergedFrom');
    expect(await services().contacts.get(recycled)).to.deep.include({ phone: recycledTo, userId: 'DE.NewOwner1' });
    expect(await identitiesOf(recycled)).to.deep.equal([recycledTo, `user:${userIdOf(recycled)}`, 'user:DE.NewOwner1'].sort());
    expect(await identitiesOf(recycledTo), 'the earlier owner keeps their user id').to.deep.equal([`user:${userIdOf(recycledTo)}`]);
    const earlier = await services().contacts.get(recycledTo);
    expect(earlier, 'the earlier owner no longer has the number: nothing of theirs goes to the new owner').to.not.have.any.keys('phone', 'waId');
  });

  it('a change recorded by a process killed before it was applied is applied when Meta delivers it again', async () => {
    await subscribe(halfWay);
    const change: NumberChangeResult = { ok: true, id: 'wamid.HALFWAY1', delivered: true, waId: waId(halfWayTo), userId: userIdOf(halfWayTo), previous: { waId: waId(halfWay), userId: userIdOf(halfWay) } };
    const recorded = await changes().begin([{ id: change.id, change: 'user_changed_number' }], h.clock.now());
    expect([...recorded.fresh]).to.deep.equal([change.id]);
    expect(await changes().find(change.id)).to.deep.equal({ applied: false });

    expect((await h.postWebhook(systemMessage(change, nextTimestamp()))).status).to.equal(200);
    expect(await services().contacts.get(halfWay)).to.deep.include({ phone: halfWayTo, userId: userIdOf(halfWayTo) });
    expect(await identity(halfWay)).to.equal(null);
    expect(await changes().find(change.id)).to.deep.equal({ applied: true, outcome: 'moved' });
  });

  it('the number change of a person the worker does not know changes nothing and logs no number', async () => {
    const change = await changeNumber(unknown, unknownTo);
    expect(await liveContactsOf(unknown, unknownTo)).to.deep.equal([]);
    expect(await identity(unknownTo)).to.equal(null);
    expect(await changes().find(change.id)).to.deep.equal({ applied: true, outcome: 'unknown-person' });
    expect(h.logLines.some((line) => line.includes('number change of a person without a contact'))).to.equal(true);
  });

  it('no log line of this file holds a full number', () => {
    const digits = everyNumber.map(waId);
    expect(h.logLines.filter((line) => digits.some((d) => line.includes(d)))).to.deep.equal([]);
  });
});
