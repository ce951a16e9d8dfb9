// What a live client may hold open, and how long the server waits on it (read in src/config.ts; README lists the variables).
// The largest WebSocket message is the HTTP body limit (MAX_BODY_BYTES), not a limit of its own.

export type LiveLimits = {
  /** open subscriptions on one WebSocket (MAX_SUBSCRIPTIONS_PER_SOCKET) */
  maxSubscriptionsPerSocket: number;
  /** open subscriptions of one user over all sockets and SSE streams (MAX_SUBSCRIPTIONS_PER_USER) */
  maxSubscriptionsPerUser: number;
  /** how often an open subscription's token is asked again whether it is still good (SUBSCRIPTION_RECHECK_MS) */
  viewerRecheckMs: number;
  /** a socket must send connection_init within this (WS_CONNECTION_INIT_TIMEOUT_MS) */
  connectionInitWaitMs: number;
  /** a socket without a token is closed when it has had nothing running for this long (WS_ANONYMOUS_IDLE_MS) */
  anonymousIdleMs: number;
  /** every socket is pinged this often and dropped when the previous ping got no pong (WS_PING_INTERVAL_MS) */
  pingIntervalMs: number;
  /** history page reads for subscribers that are behind, at once in the process; 0 = unbounded (CATCHUP_CONCURRENCY) */
  catchUpConcurrency: number;
};

export const DEFAULT_LIVE_LIMITS: LiveLimits = {
  maxSubscriptionsPerSocket: 50,
  maxSubscriptionsPerUser: 200,
  viewerRecheckMs: 30_000,
  connectionInitWaitMs: 3_000,
  anonymousIdleMs: 10_000,
  pingIntervalMs: 30_000,
  catchUpConcurrency: 2,
};
