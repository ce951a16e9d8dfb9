// The request context, built by one function for HTTP and WebSocket alike.
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { AuthThrottle } from "../auth/throttle.ts";
import type { AuthMode } from "../auth/authMode.ts";
import { authenticate, type AuthServices, type SupabaseAuth } from "../auth/authentication.ts";
import type { User } from "../generated/prisma/client.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { Presence } from "../live/presence.ts";
import type { StoryPresenceFeeds } from "../live/storyPresenceFeed.ts";
import type { GenerationService } from "../ai/generations.ts";
import type { Logger } from "../server/logger.ts";
import type { ClientInfo } from "../server/clientInfo.ts";
import { createLoaders, type Loaders } from "./loaders.ts";

export type Viewer = {
  readonly id: string;
  /** what signing out of this device revokes: our token's `jti`, a Supabase token's `session_id` */
  readonly tokenId: string;
  /** when the token expires, in ms since the epoch: a subscription ends then */
  readonly tokenExpiresAt: number;
  /** until when signing out of this device must be remembered: a Supabase session outlives its tokens */
  readonly revokedUntil: number;
  /** when the token was issued (`iat`), in ms since the epoch: deleteAccount wants a fresh one from a user without a password here */
  readonly tokenIssuedAt: number;
};

export type AppServices = {
  readonly db: Database;
  /** our own tokens: issued by signUp and signIn */
  readonly tokens: TokenService;
  /** whose tokens are accepted (AUTH_MODE) */
  readonly authMode: AuthMode;
  /** the Supabase project whose access tokens are accepted; null in `local` mode */
  readonly supabase: SupabaseAuth | null;
  readonly pubsub: LivePubSub;
  /** who is in which story now (setPresence), and its subscribers' lists (storyPresence) */
  readonly presence: { readonly store: Presence; readonly feeds: StoryPresenceFeeds };
  readonly ai: GenerationService;
  readonly throttle: AuthThrottle;
  /** the server's log; entries made while serving a request carry its id */
  readonly logger: Logger;
  /** how long a story stays in the trash before the sweep erases it (TRASH_DAYS) */
  readonly trashDays: number;
};

export type GraphQLContext = AppServices & {
  /** the client's token and address, as sent */
  readonly client: ClientInfo;
  readonly viewer: Viewer | null;
  /** a token was sent but is invalid, expired, signed out, or its user is gone */
  readonly tokenRejected: boolean;
  /** the viewer's row, read by the token check */
  readonly user: User | null;
  /**
   * Where resolvers read: a query's snapshot transaction (readSnapshot.ts), else the shared client.
   * Writes go through `db`, never through this.
   */
  readonly reader: DbClient;
  /** read through `reader`; replaced per live message by loaders shared with every subscriber of that message */
  loaders: Loaders;
};

/** The context of a field that requires a signed-in viewer (the `signedIn` scope): its viewer is there. */
export type SignedInContext = GraphQLContext & { readonly viewer: Viewer };

export type VerifiedViewer = {
  readonly viewer: Viewer | null;
  readonly tokenRejected: boolean;
  /** the viewer's row, read by the same statement that checked the token */
  readonly user: User | null;
};

/**
 * Who the client's bearer token (Authorization header over HTTP, connection parameter over WebSocket)
 * says it is, if the token still counts: the one place that decides, for every transport, at
 * connection and at each re-check of a long-lived subscription.
 */
export async function verifyViewer(services: AuthServices, authorization: string | null | undefined): Promise<VerifiedViewer> {
  const token = bearerToken(authorization);
  if (token === null) return { viewer: null, tokenRejected: false, user: null };
  const authenticated = await authenticate(services, token);
  if (authenticated === null) return { viewer: null, tokenRejected: true, user: null };
  const { user, tokenId, expiresAt, revokedUntil, issuedAt } = authenticated;
  return { viewer: { id: user.id, tokenId, tokenExpiresAt: expiresAt, revokedUntil, tokenIssuedAt: issuedAt }, tokenRejected: false, user };
}

export async function createContext(services: AppServices, client: ClientInfo): Promise<GraphQLContext> {
  const { viewer, tokenRejected, user } = await verifyViewer(services, client.authorization);
  const reader = services.db.prisma;
  return { ...services, client, viewer, tokenRejected, user, reader, loaders: loadersReadingThrough(reader, viewer, user) };
}

/** The same context with every read, by loaders and resolvers alike, going through `reader`. */
export function readingThrough(context: GraphQLContext, reader: DbClient): GraphQLContext {
  return { ...context, reader, loaders: loadersReadingThrough(reader, context.viewer, context.user) };
}

function loadersReadingThrough(reader: DbClient, viewer: Viewer | null, user: User | null): Loaders {
  const loaders = createLoaders(reader, viewer);
  if (user) loaders.user.prime(user.id, user);
  return loaders;
}

/** The token of an Authorization value, with or without its `Bearer ` scheme; null when there is none. */
export function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] ?? authorization.trim();
}
