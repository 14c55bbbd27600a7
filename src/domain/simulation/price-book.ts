import type { TemplateCategory } from '../delivery-policy.js';
import type { priceOf as PriceOf, RateCard } from '../pricing.js';

/**
 * The prices of the simulated messages, asked of the pricing function (`priceOf`) once per kind
 * of message and per stretch of time between the rate card's `effectiveFrom` dates: a price
 * depends on the time only through which periods have begun, and a run prices millions of
 * messages.
 */
export class PriceBook {
  readonly #priceOf: typeof PriceOf;
  readonly #card: RateCard;
  readonly #phone: string;
  readonly #starts: readonly number[];
  readonly #known = new Map<number, number>();

  constructor(priceOf: typeof PriceOf, card: RateCard, phone: string) {
    this.#priceOf = priceOf;
    this.#card = card;
    this.#phone = phone;
    this.#starts = [...new Set(card.periods.map((p) => p.effectiveFrom.getTime()))].sort((a, b) => a - b);
  }

  /** A session message inside the window (a news item or a nudge) at `at`. */
  session(at: number): number {
    const key = this.#key(0, at);
    let price = this.#known.get(key);
    if (price === undefined) {
      price = this.#priceOf(this.#card, { kind: 'session', inWindow: true, phone: this.#phone, at: new Date(at) });
      this.#known.set(key, price);
    }
    return price;
  }

  /** A template of this category at `at`, inside the window or not. */
  template(category: TemplateCategory, inWindow: boolean, at: number): number {
    const key = this.#key(1 + CATEGORIES.indexOf(category) * 2 + (inWindow ? 1 : 0), at);
    let price = this.#known.get(key);
    if (price === undefined) {
      price = this.#priceOf(this.#card, { kind: 'template', category, inWindow, phone: this.#phone, at: new Date(at) });
      this.#known.set(key, price);
    }
    return price;
  }

  /** The kind of message and the number of period starts at or before `at`. */
  #key(kind: number, at: number): number {
    let stretch = 0;
    while (stretch < this.#starts.length && (this.#starts[stretch] as number) <= at) stretch += 1;
    return stretch * 16 + kind;
  }
}

const CATEGORIES: readonly TemplateCategory[] = ['MARKETING', 'UTILITY', 'AUTHENTICATION'];
