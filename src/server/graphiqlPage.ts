// GraphiQL's page with everything it runs inlined (@graphql-yoga/render-graphiql): it works with no
// internet, where yoga's own page loads its scripts and styles from a CDN.
import type { GraphiQLOptions } from "graphql-yoga";

/** What GraphiQL shows and how it subscribes: over the WebSocket, where a subscription's token goes in its Headers tab. */
export const GRAPHIQL_OPTIONS = { title: "Story Spark", subscriptionsProtocol: "WS" } as const satisfies GraphiQLOptions;

/**
 * The page is some 9 MB: its renderer is loaded on the first visit (never when GraphiQL is off), and
 * the page rendered once, as its options never change.
 */
export function graphiqlRenderer(): (options: GraphiQLOptions) => Promise<string> {
  let page: Promise<string> | null = null;
  return (options) => {
    page ??= import("@graphql-yoga/render-graphiql").then(({ renderGraphiQL }) => renderGraphiQL(options));
    // a failed load is tried again at the next visit
    page.catch(() => (page = null));
    return page;
  };
}
