/**
 * The event store of one Streamable HTTP session: what makes a dropped SSE stream resumable.
 * The SDK transport stores every message it sends on an SSE stream here (plus a priming
 * event that hands the client an id before anything else), writes the event id on the
 * stream, and on `GET /mcp` with `Last-Event-ID` asks for the events of that stream after
 * that id — so a client whose stream broke mid-call still receives the result.
 *
 * Bounded: at most `maxEvents` events and `maxBytes` of serialised messages per session,
 * oldest dropped first (a message larger than `maxBytes` is not kept at all). Resuming from
 * a dropped event id is refused (the SDK answers 400) rather than silently skipping messages.
 * The store lives and dies with its session.
 *
 * `answeredAt` lets the HTTP layer answer 204 to a resume from the last event of a request
 * stream that already carried its response: nothing more will ever come on it. (SDK v1
 * clients resume after an *error* response too; without this, each such resume would hold an
 * empty stream open until the session ends.)
 */
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface EventStoreLimits {
  maxEvents: number;
  maxBytes: number;
}

interface StoredEvent {
  streamId: StreamId;
  message: JSONRPCMessage;
  bytes: number;
}

export class SessionEventStore implements EventStore {
  /** Insertion order is event order. */
  readonly #events = new Map<EventId, StoredEvent>();
  readonly #limits: EventStoreLimits;
  #bytes = 0;
  #sequence = 0;

  constructor(limits: EventStoreLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#events.size;
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    const id = String(++this.#sequence);
    const bytes = Buffer.byteLength(JSON.stringify(message), 'utf8');
    if (bytes <= this.#limits.maxBytes) {
      this.#events.set(id, { streamId, message, bytes });
      this.#bytes += bytes;
      this.#evict();
    }
    return id;
  }

  /** True when `eventId` is the newest event of a request stream and is that request's response. */
  answeredAt(eventId: EventId): boolean {
    const event = this.#events.get(eventId);
    if (!event || !('id' in event.message) || !('result' in event.message || 'error' in event.message)) {
      return false;
    }
    let newest: EventId | undefined;
    for (const [id, e] of this.#events) if (e.streamId === event.streamId) newest = id;
    return newest === eventId;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.#events.get(eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const last = this.#events.get(lastEventId);
    if (!last) throw new Error(`event ${lastEventId} is not (or no longer) stored`);
    let after = false;
    for (const [id, event] of [...this.#events]) {
      if (id === lastEventId) after = true;
      // Priming events carry no message; only JSON-RPC messages are replayed.
      else if (after && event.streamId === last.streamId && 'jsonrpc' in event.message) {
        await send(id, event.message);
      }
    }
    return last.streamId;
  }

  #evict(): void {
    for (const [id, event] of this.#events) {
      if (this.#events.size <= this.#limits.maxEvents && this.#bytes <= this.#limits.maxBytes) return;
      this.#events.delete(id);
      this.#bytes -= event.bytes;
    }
  }
}
