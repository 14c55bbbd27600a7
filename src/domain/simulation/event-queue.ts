/**
 * The simulation's events in time order: a binary min-heap on (time, order of scheduling), so
 * events at the same instant run in the order they were scheduled and a run is repeatable.
 * Kept as parallel typed arrays rather than objects: a run of 10,000 subscribers over 90 days
 * schedules millions of events.
 */
export class EventQueue {
  #time = new Float64Array(1024);
  #seq = new Float64Array(1024);
  #type = new Uint8Array(1024);
  #subject = new Int32Array(1024);
  #value = new Float64Array(1024);
  #size = 0;
  #next = 0;

  /** The popped event's fields, valid until the next `pop`. */
  time = 0;
  type = 0;
  subject = 0;
  value = 0;

  get size(): number {
    return this.#size;
  }

  /** The time of the earliest event, or Infinity when there is none. */
  peekTime(): number {
    return this.#size > 0 ? (this.#time[0] as number) : Infinity;
  }

  /** Schedules an event: `type` says what, `subject` usually whom, `value` a time it refers to. */
  push(time: number, type: number, subject: number, value: number): void {
    if (this.#size === this.#time.length) this.#grow();
    let i = this.#size++;
    const seq = this.#next++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(time, seq, parent)) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#set(i, time, seq, type, subject, value);
  }

  /** Takes the earliest event into `time`, `type`, `subject` and `value`; false when empty. */
  pop(): boolean {
    if (this.#size === 0) return false;
    this.time = this.#time[0] as number;
    this.type = this.#type[0] as number;
    this.subject = this.#subject[0] as number;
    this.value = this.#value[0] as number;
    const last = --this.#size;
    if (last === 0) return true;
    const [time, seq, type, subject, value] = [this.#time[last] as number, this.#seq[last] as number, this.#type[last] as number, this.#subject[last] as number, this.#value[last] as number];
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= last) break;
      const right = left + 1;
      const child = right < last && this.#earlier(right, left) ? right : left;
      if (this.#before(time, seq, child)) break;
      this.#move(child, i);
      i = child;
    }
    this.#set(i, time, seq, type, subject, value);
    return true;
  }

  #before(time: number, seq: number, j: number): boolean {
    const other = this.#time[j] as number;
    return time < other || (time === other && seq < (this.#seq[j] as number));
  }

  #earlier(a: number, b: number): boolean {
    return this.#before(this.#time[a] as number, this.#seq[a] as number, b);
  }

  #move(from: number, to: number): void {
    this.#time[to] = this.#time[from] as number;
    this.#seq[to] = this.#seq[from] as number;
    this.#type[to] = this.#type[from] as number;
    this.#subject[to] = this.#subject[from] as number;
    this.#value[to] = this.#value[from] as number;
  }

  #set(i: number, time: number, seq: number, type: number, subject: number, value: number): void {
    this.#time[i] = time;
    this.#seq[i] = seq;
    this.#type[i] = type;
    this.#subject[i] = subject;
    this.#value[i] = value;
  }

  #grow(): void {
    const size = this.#time.length * 2;
    const grow = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.#time = grow(this.#time, (n) => new Float64Array(n));
    this.#seq = grow(this.#seq, (n) => new Float64Array(n));
    this.#type = grow(this.#type, (n) => new Uint8Array(n));
    this.#subject = grow(this.#subject, (n) => new Int32Array(n));
    this.#value = grow(this.#value, (n) => new Float64Array(n));
  }
}
