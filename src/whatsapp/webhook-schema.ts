import { z } from 'zod';

/**
 * The parts of Meta's WhatsApp Business Account webhook the worker reads. Objects are
 * loose: fields Meta adds later pass through untouched; only what we use is required.
 * Timestamps are seconds since the epoch, as a string (messages, statuses) or a number
 * (user_preferences); both are accepted.
 */

const seconds = z.union([
  z.string().regex(/^\d{1,12}$/, 'expected seconds since the epoch'),
  z.number().int().nonnegative().max(1e12),
]).transform((value) => new Date(Number(value) * 1000));

const nonEmpty = z.string().min(1);

export const envelopeSchema = z.looseObject({
  object: z.literal('whatsapp_business_account', { error: 'expected "whatsapp_business_account"' }),
  entry: z.array(z.looseObject({
    id: z.string(),
    changes: z.array(z.looseObject({
      field: nonEmpty,
      value: z.unknown(),
    })),
  })),
});

const metadataSchema = z.looseObject({
  display_phone_number: z.string().optional(),
  phone_number_id: nonEmpty,
});

export const contactSchema = z.looseObject({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  profile: z.looseObject({ name: z.string().optional(), username: z.string().optional() }).optional(),
});

export const messageSchema = z.looseObject({
  id: nonEmpty,
  from: z.string().optional(),
  from_user_id: z.string().optional(),
  timestamp: seconds,
  type: nonEmpty,
  context: z.looseObject({ from: z.string().optional(), id: z.string().optional() }).optional(),
  text: z.looseObject({ body: z.string() }).optional(),
  interactive: z.looseObject({
    type: z.string(),
    button_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
    list_reply: z.looseObject({ id: z.string(), title: z.string() }).optional(),
  }).optional(),
  button: z.looseObject({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  reaction: z.looseObject({ message_id: z.string().optional(), emoji: z.string().optional() }).optional(),
});

const statusErrorSchema = z.looseObject({
  code: z.number().int(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.looseObject({ details: z.string().optional() }).optional(),
  href: z.string().optional(),
});

export const statusSchema = z.looseObject({
  id: nonEmpty,
  status: nonEmpty,
  timestamp: seconds,
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  biz_opaque_callback_data: z.string().optional(),
  pricing: z.looseObject({
    billable: z.boolean().optional(),
    pricing_model: z.string().optional(),
    type: z.string().optional(),
    category: z.string().optional(),
  }).optional(),
  errors: z.array(statusErrorSchema).optional(),
});

export const messagesValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema,
  contacts: z.array(contactSchema).optional(),
  messages: z.array(messageSchema).optional(),
  statuses: z.array(statusSchema).optional(),
  errors: z.array(statusErrorSchema).optional(),
});

export const userPreferencesValueSchema = z.looseObject({
  metadata: metadataSchema,
  contacts: z.array(contactSchema).optional(),
  user_preferences: z.array(z.looseObject({
    wa_id: z.string().optional(),
    user_id: z.string().optional(),
    detail: z.string().optional(),
    category: nonEmpty,
    value: nonEmpty,
    timestamp: seconds,
  })),
});

export type RawContact = z.infer<typeof contactSchema>;
export type RawMessage = z.infer<typeof messageSchema>;
export type RawStatus = z.infer<typeof statusSchema>;
