import { broadcastIndexes } from './broadcast-repository.js';
import { contactIndexes } from './contact-repository.js';
import { dailyRunIndexes } from './daily-run-repository.js';
import type { IndexDeclaration } from './database.js';
import { deliveryIndexes, erasedDeliveryIndexes } from './delivery-repository.js';
import { identityIndexes } from './identity-repository.js';
import { mergeIndexes } from './merge-repository.js';
import { sandboxStateIndexes } from './sandbox-state-repository.js';
import { nudgeIndexes } from './nudge-repository.js';
import { webhookBatchIndexes } from './webhook-batch-repository.js';
import { webhookEventIndexes } from './webhook-event-repository.js';

/** The indexes of every repository; the worker creates them all at start. */
export const INDEX_DECLARATIONS: readonly IndexDeclaration[] = [contactIndexes, ...webhookEventIndexes, ...broadcastIndexes, deliveryIndexes, erasedDeliveryIndexes, ...sandboxStateIndexes, webhookBatchIndexes, ...dailyRunIndexes, nudgeIndexes, identityIndexes, mergeIndexes];
