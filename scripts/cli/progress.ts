import { SingleBar } from 'cli-progress';

/**
 * Progress of long work, on stderr so that stdout stays clean for data: a progress bar
 * (cli-progress) when stderr is a terminal, else plain lines (at most one per
 * `minLineIntervalMs`, and the last one always).
 */
export interface ProgressOutput {
  /** `value` of `total` done, with a few words after the figures. */
  update(value: number, total: number, detail: string): void;
  /** Ends the bar or writes the last line not written yet; nothing is drawn afterwards. */
  stop(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Plain lines: the shortest time between two (default 1 s). */
  minLineIntervalMs?: number;
}

export function progressOutput(options: ProgressOptions = {}): ProgressOutput {
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? barOutput(stream) : lineOutput(stream, options.minLineIntervalMs ?? 1000);
}

function barOutput(stream: NodeJS.WriteStream): ProgressOutput {
  const bar = new SingleBar({ stream, format: '{bar} {value}/{total} {detail}', barsize: 30, hideCursor: true, fps: 5, clearOnComplete: false });
  let started = false;
  let stopped = false;
  return {
    update(value, total, detail) {
      if (stopped) return;
      if (!started) {
        bar.start(total, value, { detail });
        started = true;
        return;
      }
      bar.setTotal(total);
      bar.update(value, { detail });
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}

function lineOutput(stream: NodeJS.WriteStream, minIntervalMs: number): ProgressOutput {
  let written = '';
  let pending: string | undefined;
  let writtenAt = 0;
  let stopped = false;
  const write = (line: string) => {
    stream.write(`${line}\n`);
    written = line;
    pending = undefined;
    writtenAt = Date.now();
  };
  return {
    update(value, total, detail) {
      if (stopped) return;
      const line = `${value}/${total} ${detail}`;
      if (line === written) return;
      if (value >= total || Date.now() - writtenAt >= minIntervalMs) write(line);
      else pending = line;
    },
    stop() {
      if (!stopped && pending !== undefined) write(pending);
      stopped = true;
    },
  };
}
