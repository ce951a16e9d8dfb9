// The request context, built by one function for HTTP and WebSocket alike.
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { AuthThrottle } from "../auth/throttle.ts";
import { userOfLiveToken } from "../auth/sessions.ts";
import type { User } from "../generated/prisma/client.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { GenerationService } from "../ai/generations.ts";
import type { Logger } from "../server/logger.ts";
import type { ClientInfo } from "../server/clientInfo.ts";
import { createLoaders, type Loaders } from "./loaders.ts";

export type Viewer = {
  readonly id: string;
  /** the token's `jti`: what signing out of this device revokes */
  readonly tokenId: string;
  /** when the token expires, in ms since the epoch: a subscription ends then */
  readonly tokenExpiresAt: number;
};

export type AppServices = {
  readonly db: Database;
  readonly tokens: TokenService;
  readonly pubsub: LivePubSub;
  readonly ai: GenerationService;
  readonly throttle: AuthThrottle;
  /** the server's log; entries made while serving a request carry its id */
  readonly logger: Logger;
};

export type GraphQLContext = AppServices & {
  /** the client's token and address, as sent */
  readonly client: ClientInfo;
  readonly viewer: Viewer | null;
  /** a token was sent but is invalid, expired, signed out, or its user is gone */
  readonly tokenRejected: boolean;
  /** replaced per live message by loaders shared with every subscriber of that message */
  loaders: Loaders;
};

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
export async function verifyViewer(services: Pick<AppServices, "db" | "tokens">, authorization: string | null | undefined): Promise<VerifiedViewer> {
  const token = bearerToken(authorization);
  if (token === null) return { viewer: null, tokenRejected: false, user: null };
  const claims = await services.tokens.verify(token);
  const user = claims === null ? null : await userOfLiveToken(services.db, claims);
  if (claims === null || user === null) return { viewer: null, tokenRejected: true, user: null };
  return { viewer: { id: claims.userId, tokenId: claims.tokenId, tokenExpiresAt: claims.expiresAt }, tokenRejected: false, user };
}

export async function createContext(services: AppServices, client: ClientInfo): Promise<GraphQLContext> {
  const { viewer, tokenRejected, user } = await verifyViewer(services, client.authorization);
  const loaders = createLoaders(services.db, viewer);
  if (user) loaders.user.prime(user.id, user);
  return { ...services, client, viewer, tokenRejected, loaders };
}

function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] ?? authorization.trim();
}
