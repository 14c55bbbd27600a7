import type { Db } from 'mongodb';
import { insertUnique } from './database.js';
import { DELIVERIES, DELIVERY_ATTEMPTS, DeliveryRepository } from './delivery-repository.js';
import { SETTINGS } from './pseudonyms.js';

/** Set in SETTINGS once no delivery id of the old form is left. */
const MIGRATED = 'delivery-ids-pseudonymized';
/** An id of the old form, `dl:<broadcast id>:<contact key>`: anything after the broadcast id but a pseudonym. */
const LEGACY_ID = '^dl:[^:]+:(?![A-Za-z0-9_-]{22}$)';
const PAGE = 500;

interface LegacyDelivery {
  _id: string;
  broadcastId: string;
  contactKey: string;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Renames the deliveries of a database written before delivery ids were pseudonymized (their
 * id held the phone number, `dl:<broadcast>:+49…`) to the id the code now computes, with their
 * attempt claims (`<id>#n`), so that a broadcast that was running or paused goes on without
 * sending anyone a second message. Each record is copied under its new id by a unique insert,
 * then the old one deleted: workers starting at the same time may both do it, and a process
 * that dies half-way is finished by the next start. Runs once per database (a mark in
 * SETTINGS); returns how many deliveries were renamed.
 */
export async function migrateLegacyDeliveryIds(db: Db): Promise<number> {
  const settings = db.collection<{ _id: string }>(SETTINGS);
  if (await settings.findOne({ _id: MIGRATED })) return 0;
  const deliveries = db.collection<LegacyDelivery>(DELIVERIES);
  const attempts = db.collection<{ _id: string }>(DELIVERY_ATTEMPTS);
  const idOf = await new DeliveryRepository(db).ids();
  let renamed = 0;
  for (;;) {
    const page = await deliveries.find({ _id: { $regex: LEGACY_ID } }).limit(PAGE).toArray();
    if (page.length === 0) break;
    for (const doc of page) {
      const id = idOf(doc.broadcastId, doc.contactKey);
      const claims = await attempts.find({ _id: { $regex: `^${escapeRegex(doc._id)}#` } }).toArray();
      await insertUnique(attempts, claims.map((claim) => ({ ...claim, _id: `${id}${claim._id.slice(doc._id.length)}` })));
      await insertUnique(deliveries, [{ ...doc, _id: id }]);
      if (claims.length > 0) await attempts.deleteMany({ _id: { $in: claims.map((claim) => claim._id) } });
      await deliveries.deleteOne({ _id: doc._id });
      renamed += 1;
    }
  }
  await insertUnique(settings, [{ _id: MIGRATED }]);
  return renamed;
}
