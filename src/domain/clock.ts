/** Where time comes from. Inject it; the only `new Date()` lives in the system clock. */
export interface Clock {
  now(): Date;
}

/** A clock that stands still until moved: for tests and for replaying decisions. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: Date) {
    this.#now = start.getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  set(to: Date): void {
    this.#now = to.getTime();
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}
