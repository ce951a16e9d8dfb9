// Every open subscription, over WebSocket or SSE, in one place: counted per socket and per
// user, ended when its token runs out or stops being good, and all ended when the server stops.
import { GraphQLError, getOperationAST, type DocumentNode, type ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { StorySparkError } from "../domain/errors.ts";
import type { GraphQLContext, Viewer } from "../graphql/context.ts";
import type { ClientInfo } from "../server/clientInfo.ts";
import type { LiveLimits } from "./limits.ts";

/** Whose a token is and when it runs out (ms since epoch; null: never). */
export type TokenHolder = { userId: string; expiresAt: number | null };

/** Asks the context again whether a client's token is still good: null when it is not. */
export type CheckClient = (client: ClientInfo) => Promise<TokenHolder | null>;

/** One WebSocket, as the caps and re-checks see it. */
export type LiveSocket = {
  /** subscriptions admitted on it, counted against its cap whoever's token signed them in; some may still be starting */
  admitted: number;
  /** its watched token, when connection_init carried one */
  readonly connection: LiveConnection | null;
};

/** What a WebSocket adds to yoga's initial context. */
export type LiveInitialContext = { liveSocket?: LiveSocket };

const RECHECK_CONCURRENCY = 8;
/** setTimeout's longest delay; a later expiry is re-armed when it fires */
const LONGEST_TIMER_MS = 2_147_483_647;

/**
 * One client's token, watched while it has subscriptions open: a WebSocket signed in at
 * connection_init (all its subscriptions share that token), or one subscription that brought its
 * own token (an SSE request, a WebSocket operation with `extensions.headers`).
 */
export class LiveConnection {
  readonly subscriptions = new Set<LiveSubscription>();
  private expiryTimer: NodeJS.Timeout | null = null;
  private ended = false;

  private readonly registry: LiveSubscriptions;
  readonly client: ClientInfo;
  readonly holder: TokenHolder;
  private readonly onRevoked: () => void;

  constructor(registry: LiveSubscriptions, client: ClientInfo, holder: TokenHolder, onRevoked: () => void) {
    this.registry = registry;
    this.client = client;
    this.holder = holder;
    this.onRevoked = onRevoked;
    this.armExpiry();
  }

  /** The token is no longer good: the transport ends what runs on it (WebSocket close 4403, SSE error). */
  revoke(): void {
    if (this.ended) return;
    this.close();
    this.onRevoked();
  }

  /** Stops watching the token; the transport ends the subscriptions itself. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.registry.forget(this);
  }

  private armExpiry(): void {
    const { expiresAt } = this.holder;
    if (expiresAt === null) return;
    const delay = expiresAt - Date.now();
    if (delay <= 0) {
      queueMicrotask(() => this.revoke());
      return;
    }
    this.expiryTimer = setTimeout(() => (delay > LONGEST_TIMER_MS ? this.armExpiry() : this.revoke()), Math.min(delay, LONGEST_TIMER_MS));
    this.expiryTimer.unref();
  }
}

export class LiveSubscriptions {
  private readonly connections = new Set<LiveConnection>();
  private readonly perUser = new Map<string, number>();
  private readonly recheckTimer: NodeJS.Timeout | null;
  private rechecking = false;
  private closed = false;

  readonly limits: LiveLimits;
  /** the context's verdict on a client's token (src/graphql/context.ts decides, nothing here) */
  readonly check: CheckClient;
  private readonly log: (message: string, error: unknown) => void;

  constructor(limits: LiveLimits, check: CheckClient, log: (message: string, error: unknown) => void = () => {}) {
    this.limits = limits;
    this.check = check;
    this.log = log;
    this.recheckTimer = limits.viewerRecheckMs > 0 ? setInterval(() => void this.recheck(), limits.viewerRecheckMs) : null;
    this.recheckTimer?.unref();
  }

  /** Subscriptions open now, over every transport. */
  get size(): number {
    let open = 0;
    for (const connection of this.connections) open += connection.subscriptions.size;
    return open;
  }

  /** Subscriptions open now, counted by transport and subscription field (the metrics' gauge). */
  openByKind(): { transport: LiveTransport; field: string; open: number }[] {
    const counts = new Map<string, { transport: LiveTransport; field: string; open: number }>();
    for (const connection of this.connections) {
      for (const { kind } of connection.subscriptions) {
        const key = `${kind.transport} ${kind.field}`;
        const entry = counts.get(key) ?? { ...kind, open: 0 };
        entry.open++;
        counts.set(key, entry);
      }
    }
    return [...counts.values()];
  }

  /** Starts watching a client's token until `close()` or `revoke()`. */
  connect(client: ClientInfo, holder: TokenHolder, onRevoked: () => void): LiveConnection {
    const connection = new LiveConnection(this, client, holder, onRevoked);
    this.connections.add(connection);
    return connection;
  }

  forget(connection: LiveConnection): void {
    this.connections.delete(connection);
  }

  /** The plugin that puts every subscription of the yoga instance (SSE and WebSocket alike) under watch. */
  plugin(): Plugin {
    return {
      onSubscribe: ({ args, subscribeFn, setSubscribeFn, setResultAndStopExecution }) => {
        // yoga's context: the initial one (with a WebSocket's connection) extended by createContext's
        const context = args.contextValue as unknown as GraphQLContext & LiveInitialContext;
        const viewer = context.viewer;
        if (viewer === null) return; // scope auth answers UNAUTHENTICATED
        const socket = context.liveSocket ?? null;
        const refused = this.refusal(viewer.id, socket);
        if (refused) {
          setResultAndStopExecution({ errors: [graphQLErrorOf(refused)] });
          return;
        }
        // counted from now, so that subscriptions starting together can't slip past the caps
        this.admit(viewer.id, socket);
        setSubscribeFn(async (subscribeArgs) => {
          let result: Awaited<ReturnType<typeof subscribeFn>>;
          try {
            result = await subscribeFn(subscribeArgs);
          } catch (error) {
            this.release(viewer.id, socket);
            throw error;
          }
          if (!isAsyncIterable(result)) {
            this.release(viewer.id, socket); // refused by its resolver (NOT_FOUND …): nothing to watch
            return result;
          }
          const kind: SubscriptionKind = { transport: socket ? "websocket" : "sse", field: rootFieldOf(args.document, args.operationName) };
          return this.track(result, viewer, context.client, socket, kind);
        });
      },
    };
  }

  /** Ends every subscription and stops watching: the server is stopping. */
  close(): void {
    this.closed = true;
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    for (const connection of [...this.connections]) {
      for (const subscription of [...connection.subscriptions]) subscription.end(null);
      connection.close();
    }
  }

  private refusal(userId: string, socket: LiveSocket | null): StorySparkError | null {
    const { maxSubscriptionsPerSocket, maxSubscriptionsPerUser } = this.limits;
    if (socket && socket.admitted >= maxSubscriptionsPerSocket) {
      return new StorySparkError("RATE_LIMITED", `at most ${maxSubscriptionsPerSocket} subscriptions per connection`, {
        limit: "subscriptionsPerSocket",
        maximum: maxSubscriptionsPerSocket,
      });
    }
    if ((this.perUser.get(userId) ?? 0) >= maxSubscriptionsPerUser) {
      return new StorySparkError("RATE_LIMITED", `at most ${maxSubscriptionsPerUser} open subscriptions per user`, {
        limit: "subscriptionsPerUser",
        maximum: maxSubscriptionsPerUser,
      });
    }
    return null;
  }

  private admit(userId: string, socket: LiveSocket | null): void {
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1);
    if (socket) socket.admitted++;
  }

  private release(userId: string, socket: LiveSocket | null): void {
    const left = (this.perUser.get(userId) ?? 1) - 1;
    if (left > 0) this.perUser.set(userId, left);
    else this.perUser.delete(userId);
    if (socket) socket.admitted--;
  }

  /**
   * On a socket signed in at connection_init, the socket's token is watched (revoked: the socket
   * closes). A subscription that brought its own token (SSE, a WebSocket operation's headers) is a
   * connection of its own, watched and re-checked the same way, and revoked with UNAUTHENTICATED.
   */
  private track(
    source: AsyncIterable<ExecutionResult>,
    viewer: Viewer,
    client: ClientInfo,
    socket: LiveSocket | null,
    kind: SubscriptionKind,
  ): AsyncIterableIterator<ExecutionResult> {
    const socketConnection = socket?.connection && socket.connection.client.authorization === client.authorization ? socket.connection : null;
    const subscription = new LiveSubscription(source[Symbol.asyncIterator](), kind, () => {
      connection.subscriptions.delete(subscription);
      if (socketConnection === null) connection.close();
      this.release(viewer.id, socket);
    });
    const connection =
      socketConnection ?? this.connect(client, tokenHolderOf(viewer), () => subscription.end({ errors: [graphQLErrorOf(UNAUTHENTICATED())] }));
    connection.subscriptions.add(subscription);
    if (this.closed) subscription.end(null);
    return subscription;
  }

  /** Asks once per distinct token, not once per connection: a thousand sockets of one token cost one check. */
  private async recheck(): Promise<void> {
    if (this.rechecking || this.connections.size === 0) return;
    this.rechecking = true;
    try {
      const byToken = new Map<string | null, LiveConnection[]>();
      for (const connection of this.connections) {
        const key = connection.client.authorization;
        byToken.set(key, [...(byToken.get(key) ?? []), connection]);
      }
      const groups = [...byToken.values()];
      for (let i = 0; i < groups.length; i += RECHECK_CONCURRENCY) {
        await Promise.all(
          groups.slice(i, i + RECHECK_CONCURRENCY).map(async (group) => {
            let holder: TokenHolder | null;
            try {
              holder = await this.check(group[0]!.client);
            } catch (error) {
              this.log("could not re-check a subscriber's token", error); // keep it; the next round asks again
              return;
            }
            for (const connection of group) if (holder === null || holder.userId !== connection.holder.userId) connection.revoke();
          }),
        );
      }
    } finally {
      this.rechecking = false;
    }
  }
}

/**
 * A subscription's results as the transport reads them, endable from the server's side at
 * any moment (even while the source waits), with a last result when there is something to
 * say. A source that fails with one of our errors (the story was deleted) ends the same way.
 */
class LiveSubscription implements AsyncIterableIterator<ExecutionResult> {
  private finished = false;
  private ending: { last: ExecutionResult | null } | null = null;
  private wake: () => void = () => {};
  private readonly endRequested = new Promise<null>((resolve) => (this.wake = () => resolve(null)));

  private readonly source: AsyncIterator<ExecutionResult>;
  private readonly onFinish: () => void;
  readonly kind: SubscriptionKind;

  constructor(source: AsyncIterator<ExecutionResult>, kind: SubscriptionKind, onFinish: () => void) {
    this.source = source;
    this.kind = kind;
    this.onFinish = onFinish;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends it: `last` is sent before the end (an error saying why), or nothing when null. */
  end(last: ExecutionResult | null): void {
    if (this.finished || this.ending) return;
    this.ending = { last };
    this.wake();
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.finished) return { value: undefined, done: true };
    if (this.ending) return this.deliverEnd();
    let step: IteratorResult<ExecutionResult> | null;
    try {
      step = await Promise.race([this.source.next(), this.endRequested]);
    } catch (error) {
      this.finish();
      if (error instanceof StorySparkError) return { value: { errors: [graphQLErrorOf(error)] }, done: false };
      throw error;
    }
    if (step === null || this.ending) return this.deliverEnd();
    if (step.done) this.finish();
    return step;
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    throw error;
  }

  private deliverEnd(): IteratorResult<ExecutionResult> {
    const last = this.ending?.last ?? null;
    this.finish();
    return last ? { value: last, done: false } : { value: undefined, done: true };
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.wake();
    // the source stops at once (its feeds are Repeaters); a late failure has nobody to reach
    void Promise.resolve(this.source.return?.()).catch(() => {});
    this.onFinish();
  }
}

export type LiveTransport = "websocket" | "sse";
type SubscriptionKind = { transport: LiveTransport; field: string };

/** The subscription's field (`storyEvents`, `moduleUpdated` …): a subscription has exactly one root field. */
function rootFieldOf(document: DocumentNode, operationName: string | null | undefined): string {
  const selection = getOperationAST(document, operationName)?.selectionSet.selections[0];
  return selection?.kind === "Field" ? selection.name.value : "unknown";
}

/** Whose the viewer's token is and when it runs out, as the context decided. */
export function tokenHolderOf(viewer: Viewer): TokenHolder {
  return { userId: viewer.id, expiresAt: viewer.tokenExpiresAt };
}

const UNAUTHENTICATED = () => new StorySparkError("UNAUTHENTICATED", "the token is invalid or expired");

function graphQLErrorOf(error: StorySparkError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { ...error.extensions, code: error.code } });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}
