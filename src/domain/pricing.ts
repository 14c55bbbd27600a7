import type { TemplateCategory } from './delivery-policy.js';

/** How messages inside an open window are charged in a period of the rate card. */
export type InWindowCharge = 'free' | 'utility';

export interface RatePeriod {
  /** The first day (UTC) these rates apply. */
  effectiveFrom: Date;
  /** Calling code without `+` (`49`), or `*` for every country not listed. */
  country: string;
  rates: Readonly<Record<'MARKETING' | 'UTILITY' | 'AUTHENTICATION', number>>;
  /** Free-form session messages inside the window. */
  sessionInWindow: InWindowCharge;
  /** Utility templates delivered inside an open window. */
  utilityTemplateInWindow: InWindowCharge;
}

export interface RateCard {
  currency: string;
  periods: readonly RatePeriod[];
}

export interface PricedMessage {
  kind: 'session' | 'template';
  category?: TemplateCategory;
  /** Whether the contact's window is open when the message is delivered. */
  inWindow: boolean;
  /** E.164 number of the contact. */
  phone: string | undefined;
  at: Date;
}

/** The rate period for a number at a time: the longest matching calling code, the latest start. */
export function ratePeriodFor(card: RateCard, phone: string | undefined, at: Date): RatePeriod | undefined {
  const digits = (phone ?? '').replace(/\D/g, '');
  let best: RatePeriod | undefined;
  for (const period of card.periods) {
    if (period.effectiveFrom.getTime() > at.getTime()) continue;
    const matches = period.country === '*' || digits.startsWith(period.country);
    if (!matches) continue;
    const length = period.country === '*' ? 0 : period.country.length;
    const bestLength = best === undefined ? -1 : best.country === '*' ? 0 : best.country.length;
    if (length > bestLength || (length === bestLength && best !== undefined && period.effectiveFrom > best.effectiveFrom)) best = period;
  }
  return best;
}

/**
 * The number a delivery to this contact key is priced by: the key of a contact known by number
 * (`+4915…`); none for one known only by a BSUID (`user:DE.1423…`), which the card prices at
 * `*`, as the estimate does for a contact without a number.
 */
export function pricedNumber(contactKey: string): string | undefined {
  return contactKey.startsWith('+') ? contactKey : undefined;
}

/** The most digits a calling code of the card has: all of a number its prices depend on. */
export function callingCodeDigits(card: RateCard): number {
  return Math.max(0, ...card.periods.map((period) => (period.country === '*' ? 0 : period.country.length)));
}

/** What one message is expected to cost under the rate card (0 when it is free). */
export function priceOf(card: RateCard, message: PricedMessage): number {
  const period = ratePeriodFor(card, message.phone, message.at);
  if (!period) return 0;
  if (message.kind === 'session') return message.inWindow && period.sessionInWindow === 'utility' ? period.rates.UTILITY : 0;
  const category = message.category ?? 'UTILITY';
  if (category === 'UTILITY' && message.inWindow) return period.utilityTemplateInWindow === 'utility' ? period.rates.UTILITY : 0;
  return period.rates[category];
}

/** What Meta's reported pricing costs under the rate card (as `npm run publish -- --status` reports it). */
export function reportedPrice(card: RateCard, category: string | undefined, phone: string | undefined, at: Date): number {
  const upper = (category ?? 'utility').toUpperCase();
  const priced = upper === 'MARKETING' || upper === 'UTILITY' || upper === 'AUTHENTICATION' ? upper : 'UTILITY';
  return priceOf(card, { kind: 'template', category: priced, inWindow: false, phone, at });
}
