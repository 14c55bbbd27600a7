import { createRequire } from 'node:module';

/**
 * A repair of the MongoDB Node driver (found in 6.22.0, unchanged in 7.9.0). A command larger
 * than what the socket takes at once waits for the socket's `drain` event before its answer is
 * read. When the driver drops that connection meanwhile (it clears the pool after a heartbeat
 * timed out, or the client closes), it destroys the socket without an error: neither `drain`
 * nor `error` ever comes, and the operation never settles. A fan-out batch waited on such a
 * write for good and kept renewing its job lock, so its subscribers never got the broadcast.
 * The repair hands the connection's error to a write still waiting for `drain` when the
 * connection is dropped, so it ends with that error as any other request on a dropped
 * connection ends.
 */
interface DriverConnection {
  closed: boolean;
  socket?: { listenerCount(event: string): number; emit(event: string, error: Error): boolean };
  cleanup(error?: Error): void;
}

const REPAIRED = Symbol.for('optin-broadcast-worker.driver-repair');

/** Installs the repair once per process; false when the driver no longer has the code it mends. */
export function repairDroppedConnectionWrites(): boolean {
  const require = createRequire(import.meta.url);
  let prototype: (DriverConnection & { [REPAIRED]?: true }) | undefined;
  try {
    prototype = (require('mongodb/lib/cmap/connection.js') as { Connection?: { prototype: DriverConnection } }).Connection?.prototype;
  } catch {
    return false;
  }
  if (!prototype || typeof prototype.cleanup !== 'function') return false;
  if (prototype[REPAIRED]) return true;
  const cleanup = prototype.cleanup;
  prototype.cleanup = function (this: DriverConnection, error?: Error) {
    const socket = this.socket;
    // Only the driver's own write waits listen for `drain` on its socket.
    const writeWaiting = !this.closed && error !== undefined && socket !== undefined && socket.listenerCount('drain') > 0;
    cleanup.call(this, error);
    if (writeWaiting) socket.emit('error', error);
  };
  prototype[REPAIRED] = true;
  return true;
}
