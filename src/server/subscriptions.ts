/**
 * `resources/subscribe` and `resources/unsubscribe` for one session (a stateful Streamable
 * HTTP session, an SSE connection or stdio): `notes://all` and `notes://{title}` can be
 * watched; the ResourceChangeHub sends `notifications/resources/updated` when they change —
 * a note that does not exist yet can be watched too, and is announced when it is created.
 * The session joins the hub once its client has initialized and leaves it when it closes.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { MAX_TITLE_LENGTH } from './notes-tools.ts';
import {
  ALL_NOTES,
  MAX_SUBSCRIPTIONS_PER_SESSION,
  type ResourceChangeHub,
  type SessionSubscriptions,
  type SubscriptionKey,
} from './notifications.ts';
import { reachesClient } from './standalone-stream.ts';

const NOTES_SCHEME = 'notes://';

/** The key a subscribable URI is indexed by; throws -32602 for anything else. */
export function subscriptionKeyOf(uri: string): SubscriptionKey {
  const refuse = (why: string) =>
    new McpError(
      ErrorCode.InvalidParams,
      `Cannot subscribe to ${uri}: ${why}. Subscribable resources are notes://all and notes://{title}.`,
    );
  if (!uri.startsWith(NOTES_SCHEME)) throw refuse('not a notes resource');
  const rest = uri.slice(NOTES_SCHEME.length);
  if (rest === 'all') return ALL_NOTES;
  let title: string;
  try {
    title = decodeURIComponent(rest);
  } catch {
    throw refuse('the title is not valid percent-encoding');
  }
  if (title.length === 0 || title.length > MAX_TITLE_LENGTH) {
    throw refuse(`a title has 1-${MAX_TITLE_LENGTH} characters`);
  }
  return title;
}

export function registerSubscriptions(server: McpServer, hub: ResourceChangeHub): void {
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  let subscriptions: SessionSubscriptions | undefined;
  let closed = false;
  const joined = () => {
    subscriptions ??= hub.attach({
      sendResourceListChanged: () => server.sendResourceListChanged(),
      sendResourceUpdated: (uri) => server.server.sendResourceUpdated({ uri }),
      reachable: () => reachesClient(server.server.transport),
    });
    return subscriptions;
  };

  const previousInitialized = server.server.oninitialized;
  server.server.oninitialized = () => {
    if (!closed) joined();
    previousInitialized?.();
  };
  const previousClose = server.server.onclose;
  server.server.onclose = () => {
    closed = true;
    subscriptions?.detach();
    previousClose?.();
  };

  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const { uri } = request.params;
    const key = subscriptionKeyOf(uri);
    if (!joined().subscribe(key, uri)) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Cannot subscribe to ${uri}: this session already holds ${MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions`,
      );
    }
    return {};
  });

  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    // Unsubscribing what was never subscribed (or cannot be) is already true: no error.
    let key: SubscriptionKey;
    try {
      key = subscriptionKeyOf(request.params.uri);
    } catch {
      return {};
    }
    subscriptions?.unsubscribe(key);
    return {};
  });
}
