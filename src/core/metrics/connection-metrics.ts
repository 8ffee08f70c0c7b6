import type { Registry } from 'prom-client';
import { counterFrom, gaugeFrom } from './scraped.js';

/** The node's client connections, as the metrics read them at each scrape (what INFO shows). */
export interface ConnectionReadings {
  /** Clients connected now. */
  connected: number;
  /** Connections accepted by the listener since the start, the rejected ones included. */
  received: number;
  /** Connections refused since the start (over --maxclients, or by protected mode). */
  rejected: number;
}

/** Registers the connected clients and the connections received and rejected. */
export function registerConnectionMetrics(registry: Registry, read: () => ConnectionReadings): void {
  gaugeFrom(registry, 'bitraft_connected_clients', 'Clients connected now.', () => read().connected);
  counterFrom(registry, 'bitraft_connections_received_total', 'Client connections accepted by the listener, the rejected ones included.', () => read().received);
  counterFrom(registry, 'bitraft_connections_rejected_total', 'Client connections refused: over --maxclients, or by protected mode.', () => read().rejected);
}
