/**
 * Runs the calls made during one turn of the event loop as one batch: each caller gets its
 * own result, and the database sees one command instead of one per caller. Calls made while
 * a batch is being written go in the next one, so by default a batch holds only calls that were
 * ready at the same moment: nobody is held back to fill a batch. A batcher given a gathering
 * time holds its first call back that long, for the calls that follow it.
 */
export class TickBatcher<In, Out> {
  #pending: { input: In; resolve: (out: Out) => void; reject: (err: unknown) => void }[] = [];

  /**
   * `run` gets the inputs in call order and returns one output per input, in the same order.
   * With `gatherMs`, a batch also takes the calls made within that many ms of its first one.
   */
  constructor(private readonly run: (inputs: In[]) => Promise<Out[]>, private readonly gatherMs = 0) {}

  call(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      if (this.#pending.length !== 1) return;
      if (this.gatherMs > 0) setTimeout(() => void this.#flush(), this.gatherMs);
      else setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const outputs = await this.run(batch.map((b) => b.input));
      batch.forEach((b, i) => b.resolve(outputs[i] as Out));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
