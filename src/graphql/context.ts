// The request context, built by one function for HTTP and WebSocket alike.
import type { Database } from "../database/connect.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { LivePubSub } from "../live/pubsub.ts";
import type { GenerationService } from "../ai/generations.ts";
import type { ClientInfo } from "../server/clientInfo.ts";
import { createLoaders, type Loaders } from "./loaders.ts";

export type Viewer = { readonly id: string };

export type AppServices = {
  readonly db: Database;
  readonly tokens: TokenService;
  readonly pubsub: LivePubSub;
  readonly ai: GenerationService;
};

export type GraphQLContext = AppServices & {
  /** the client's token and address, as sent */
  readonly client: ClientInfo;
  readonly viewer: Viewer | null;
  /** a token was sent but is invalid or expired */
  readonly tokenRejected: boolean;
  /** replaced per live message by loaders shared with every subscriber of that message */
  loaders: Loaders;
};

/** The viewer comes from the client's bearer token: the Authorization header (HTTP) or connection parameter (WebSocket). */
export async function createContext(services: AppServices, client: ClientInfo): Promise<GraphQLContext> {
  const token = bearerToken(client.authorization);
  const userId = token === null ? null : await services.tokens.verify(token);
  const viewer = userId === null ? null : { id: userId };
  return { ...services, client, viewer, tokenRejected: token !== null && userId === null, loaders: createLoaders(services.db, viewer) };
}

function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] ?? authorization.trim();
}
